"""The benchmark scripts keep running: each one, at the smallest size, prints its table and
writes its JSON. (Their figures are read by people, in docs/performance.md; nothing here
times anything.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
pytest.importorskip("torch")
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def bench(script: str, *args: str, out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {out}" in result.stdout
    return json.loads(out.read_text())


def test_train_throughput(tmp_path):
    report = bench(
        "train_throughput.py",
        "--methods",
        "lora,qlora,full",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--batch",
        "2",
        "--mean-length",
        "32",
        out=tmp_path / "t.json",
    )
    assert [row["method"] for row in report["results"]] == ["lora", "qlora", "full"]
    for row in report["results"]:
        assert row["naive"]["tokens"] > 0 and row["ftx"]["tokens"] > 0
        assert row["speedup"] > 0 and row["memory_ratio"] > 0


def test_train_throughput_needs_steps_after_the_warm_up(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "train_throughput.py"), "--steps", "2", "--warmup", "2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "give more steps than --warmup" in result.stderr


def test_eval_throughput(tmp_path):
    report = bench(
        "eval_throughput.py",
        "--prompts",
        "4",
        "--batch",
        "2",
        "--new-tokens",
        "4",
        out=tmp_path / "e.json",
    )
    assert report["tokens_per_s"]["one_at_a_time"] > 0 and report["tokens_per_s"]["batched"] > 0


def test_hosted_eval_throughput(tmp_path):
    report = bench(
        "hosted_eval_throughput.py",
        "--latency",
        "0.01",
        "--prompts",
        "4",
        "--concurrency",
        "1",
        "2",
        out=tmp_path / "h.json",
    )
    assert [r["concurrency"] for r in report["results"]] == [1, 2]
    assert all(r["answers_per_s"] > 0 for r in report["results"])


def test_kernels_per_step(tmp_path):
    report = bench(
        "kernels_per_step.py",
        "--layers",
        "2",
        "--batch",
        "2",
        "--batch-tokens",
        "1024",
        out=tmp_path / "k.json",
    )
    results = report["results"]
    # ftx's uncast LoRA inputs: fewer casts than the naive step, whatever the dropout
    for dropout in ("0.05", "0.0"):
        assert (
            results[f"ftx, lora_dropout={dropout}"]["casts"]
            < results[f"naive, lora_dropout={dropout}"]["casts"]
        )
    assert (
        results["naive, lora_dropout=0.0"]["kernels"]
        < results["naive, lora_dropout=0.05"]["kernels"]
    )
    assert report["host"]["eager_ms"] > 0
    # Per real token: ftx's CUDA default (a step of up to 1,024 tokens here) launches fewer
    # kernels per token than the naive recipe's step of 2 padded examples.
    sides = list(report["per_1k_real_tokens"].values())
    assert sides[2]["examples"] > sides[0]["examples"]
    assert sides[2]["kernels_per_1k_tokens"] < sides[0]["kernels_per_1k_tokens"]
    assert all(side["host_ms_per_1k_tokens"] > 0 for side in sides)


def test_gpu_check_smoke(tmp_path):
    """The GPU script's smallest mode: every run of it, on the CPU, at the smallest size."""
    result = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_check.sh"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FTX_BENCH_OUT": str(tmp_path), "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ratios against the naive recipe" in result.stdout
    tokens = json.loads((tmp_path / "train_throughput-cpu-smoke.json").read_text())
    assert [row["method"] for row in tokens["results"]] == ["lora", "qlora", "full"]
    assert all("batch_tokens=256" in row["variants"] for row in tokens["results"])
    compiled = json.loads((tmp_path / "train_throughput-cpu-compile-smoke.json").read_text())
    assert compiled["results"][0]["variants"]["batch_tokens=256, compile=default"]["tokens"] > 0
    assert (tmp_path / "train_throughput-cpu-batch4-smoke.json").exists()


def test_startup(tmp_path):
    report = bench("startup.py", "--runs", "1", out=tmp_path / "s.json")
    assert set(report["median_seconds"]) == {
        "baseline: import click, rich, pluggy",
        "ftx --help",
        "ftx plugins",
    }


def test_read_data(tmp_path):
    report = bench("read_data.py", "--records", "200", "--runs", "1", out=tmp_path / "r.json")
    assert set(report["results"]) == {"JSON Lines (baseline)", "JSON array"}
    assert report["array_over_lines"] > 0
