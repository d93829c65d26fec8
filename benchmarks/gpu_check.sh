#!/usr/bin/env bash
# One script for a lent GPU: the GPU tests, then training throughput against the naive recipe
# for LoRA, QLoRA and full fine-tuning at 8 and 32 examples a step and with steps sized in
# tokens (ftx's CUDA default), and LoRA with compiled layers. Prints the ratios last.
#
#   bash benchmarks/gpu_check.sh            # on a CUDA machine: about 4 minutes on an H200
#   bash benchmarks/gpu_check.sh --smoke    # anywhere: the same runs at the smallest size, on
#                                           # the CPU, timing nothing (tests/test_benchmarks.py)
#
# Results go to benchmarks/results/ (or $FTX_BENCH_OUT): train_throughput-cuda*.json.
set -uo pipefail  # a failed run is reported and the others still run
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
out=${FTX_BENCH_OUT:-benchmarks/results}
models=$(mktemp -d)
trap 'rm -rf "$models"' EXIT
mkdir -p "$out"

if [[ ${1:-} == --smoke ]]; then
    device=cpu suffix=-smoke budget=256 compile=default big=4
    size=(--shape tiny --steps 3 --warmup 1 --mean-length 32)
    tests=(tests/test_gpu.py tests/test_fsdp.py)  # skipped without a GPU: checks that they still collect
else
    # 4,096: what batch_tokens=auto gives 8 examples a step on CUDA with data of 205k tokens or
    # more (the benchmark's few hundred examples would keep auto at 50 steps an epoch)
    device=cuda suffix="" budget=4096 compile=reduce-overhead big=32
    size=(--steps 12 --warmup 4)
    tests=(tests/test_gpu.py tests/test_fsdp.py tests/test_attention.py)
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
common=(--device "$device" --model-dir "$models" "${size[@]}")
failed=()

echo "== 8 examples a step, and steps of up to $budget tokens"
"$python" benchmarks/train_throughput.py "${common[@]}" --methods lora,qlora,full --batch 8 \
    --batch-tokens "$budget" --out "$out/train_throughput-$device$suffix.json" ||
    failed+=("8 examples a step")

echo "== $big examples a step"
"$python" benchmarks/train_throughput.py "${common[@]}" --methods lora,qlora,full --batch "$big" \
    --out "$out/train_throughput-$device-batch$big$suffix.json" || failed+=("$big examples a step")

echo "== GPU tests"
"$python" -m pytest -q -p no:cacheprovider "${tests[@]}" || failed+=("GPU tests")

echo "== LoRA with compile=$compile (steps sized in tokens)"
"$python" benchmarks/train_throughput.py "${common[@]}" --methods lora --batch 8 \
    --batch-tokens "$budget" --compile "$compile" \
    --out "$out/train_throughput-$device-compile$suffix.json" || failed+=("compile")

echo "== ratios against the naive recipe (same run)"
"$python" - "$out" "$device" "$suffix" <<'PY'
import json, sys
from pathlib import Path

out, device, suffix = sys.argv[1:]
print(f"{'run':12s} {'method':6s} {'side':50s} {'tok/s':>9s} {'GiB':>6s} {'speed':>6s} "
      f"{'memory':>6s} {'MFU':>6s} {'warm-up':>8s}")
for run in ("", "-batch32", "-batch4", "-compile"):
    path = Path(out) / f"train_throughput-{device}{run}{suffix}.json"
    if not path.exists():
        continue
    report = json.loads(path.read_text())
    for row in report["results"]:
        naive = row["naive"]
        sides = {"naive": naive, f"ftx, {report['batch']} examples": row["ftx"], **{
            f"ftx, {name}": side for name, side in row["variants"].items()}}
        for name, side in sides.items():
            speed = side["tokens_per_s"] / naive["tokens_per_s"]
            memory = side["peak_gib"] / naive["peak_gib"] if naive["peak_gib"] else 0
            mfu = f"{side['mfu']:.1%}" if "mfu" in side else "-"
            warm = f"{side['warmup_seconds']:.1f}s" + (
                f" {side['compiled_graphs']} graphs" if "compiled_graphs" in side else "")
            print(f"batch {report['batch']:<6d} {row['method']:6s} {name:50s} "
                  f"{side['tokens_per_s']:9.0f} {side['peak_gib']:6.2f} x{speed:5.2f} x{memory:5.2f} "
                  f"{mfu:>6s} {warm:>8s}")
PY

if ((${#failed[@]})); then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
