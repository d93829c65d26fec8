"""How many kernels does one LoRA training step launch? (naive recipe against ftx)

On a GPU, a step of 8 examples of a 1B model is bound by launching kernels, not by arithmetic
(docs/performance.md): each launch costs microseconds of Python and dispatcher time whatever
the tensor's size. The count of launches does not depend on the device or the width of the
model, so it is measured here, on any machine, on the Llama-3.2-1B layout (16 layers, grouped
heads, LoRA on all 7 linear layers of each) at a narrow width, with bf16 autocast as Trainer
uses on a GPU. Counted: ATen operators that do work (views and reshapes are left out) in one
forward and backward.

What each launch costs the host is measured too, on a 64-wide model with 32 tokens so that
the arithmetic is negligible: the time of a forward and backward, and where the forward's
host time goes by package; ``--compile`` adds the same step under ``torch.compile`` (about
100 s of compiling on 2 cores).

    python benchmarks/kernels_per_step.py [--compile]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from torch.utils._python_dispatch import TorchDispatchMode
from train_throughput import make_examples  # the same length spread as the throughput benchmark
from transformers import LlamaConfig, LlamaForCausalLM

from ftx.backends.local.batches import token_batches
from ftx.backends.local.tokenize import PackingCollator
from ftx.backends.local.train import adapter_inputs_uncast, completion_loss

VIEWS = {
    "t",
    "view",
    "_unsafe_view",
    "slice",
    "transpose",
    "detach",
    "unsqueeze",
    "squeeze",
    "expand",
    "alias",
    "permute",
    "select",
    "as_strided",
    "split",
    "split_with_sizes",
    "unbind",
    "reshape",
    "_reshape_alias",
}


class Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in VIEWS:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


def lora_model(layers: int, dropout: float, width: int = 64) -> torch.nn.Module:
    torch.manual_seed(0)
    config = LlamaConfig(
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=layers,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=512,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    return get_peft_model(
        model,
        LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )


def naive_step(model, rows, timing: bool = False) -> Count:
    """Every example padded to 512, labels = input ids, transformers' own loss."""
    ids = torch.zeros(len(rows), 16 if timing else 512, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row["input_ids"])] = torch.tensor(row["input_ids"])
    with contextlib.nullcontext(Count()) if timing else Count() as count:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    return count


def ftx_step(model, rows, timing: bool = False) -> Count:
    """One packed row (rounded to 256 tokens, as on CUDA), completion-only logits, uncast
    inputs. Attention is one call a layer, as the CUDA varlen kernel is (the CPU's per-example
    path makes one call per example instead): here, SDPA over the row with transformers'
    block-diagonal mask."""
    # Timed on tiny examples, the row is not rounded (256 tokens would be arithmetic again), and
    # attention is one causal call over the row: as many launches as varlen, while the CPU's
    # kernel with a block-diagonal mask spends 10x longer computing (profiled), which is
    # arithmetic, not launching.
    batch = PackingCollator(pad_id=0, multiple=1 if timing else 256, boundaries=False)(rows)
    if timing:
        del batch["position_ids"]
    # Timed, the caller leaves inputs uncast around all its steps, as training does (entering
    # and leaving walks every module: 6 ms on the host, once a training, not once a step).
    with (
        adapter_inputs_uncast(model, mixed_precision=not timing),
        contextlib.nullcontext(Count()) if timing else Count() as count,
    ):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = completion_loss(model, dict(batch))
        loss.backward()
    return count


def shrunk(row: dict[str, list[int]], length: int = 4) -> dict[str, list[int]]:
    """The example cut to ``length`` tokens, its last quarter the answer."""
    ids = row["input_ids"][:length]
    return {"input_ids": ids, "labels": [-100] * (length - length // 4) + ids[-(length // 4) :]}


def per_thousand_tokens(layers: int, batch: int, budget: int) -> dict[str, dict[str, float]]:
    """Kernels and host milliseconds per 1,000 real tokens: the naive recipe's step of ``batch``
    examples padded to 512, ftx's step of the same examples, and ftx's step as its defaults size
    it on CUDA (whole examples up to ``budget`` tokens). A step's real tokens are the average
    over 512 examples of the same spread (its last, partial token budget left out), and its
    kernels are counted on one such step: their number does not depend on the tokens.

    The host's time to launch a step's kernels does not depend on the tensors' sizes, so it is
    timed on the same step made tiny: a 16-wide model, each example cut to 4 tokens (padded to
    16 on the naive side), so that what is left is launching, not arithmetic (bf16 matmuls are
    emulated on CPUs without bf16 instructions: longer examples showed as arithmetic). Divided by
    the real tokens of the full-size step, it is the host time each 1,000 tokens cost."""
    import statistics
    import time

    pool = make_examples(512, mean=216.0, seed=0, vocab=512)  # starts with main()'s rows
    lengths = [len(r["input_ids"]) for r in pool]
    groups = token_batches(lengths, budget, packed=True, seed=0)
    full = sum(lengths[: len(lengths) - len(lengths) % batch]) // (len(lengths) // batch)
    sides = {  # the step counted, and the real tokens of such a step on average over the pool
        f"naive recipe, {batch} examples a step": (naive_step, pool[:batch], full),
        f"ftx, {batch} examples a step": (ftx_step, pool[:batch], full),
        f"ftx's CUDA default, batch_tokens={budget}": (
            ftx_step,
            [pool[i] for i in groups[0]],
            sum(lengths[i] for g in groups[:-1] for i in g) // (len(groups) - 1),
        ),
    }
    out = {}
    for name, (step, rows, real) in sides.items():
        model = lora_model(layers, 0.0)
        step(model, rows)  # warm-up: lazy initialisation is not part of a step
        kernels = sum(step(model, rows).ops.values())
        narrow, tiny = lora_model(layers, 0.0, width=16), [shrunk(row) for row in rows]
        times = []
        with adapter_inputs_uncast(narrow, mixed_precision=step is ftx_step):
            for _ in range(12):
                started = time.perf_counter()
                step(narrow, tiny, timing=True)
                times.append(time.perf_counter() - started)
        host_ms = statistics.median(times[2:]) * 1000
        out[name] = {
            "examples": len(rows),
            "real_tokens": real,
            "kernels": kernels,
            "host_ms": host_ms,
            "kernels_per_1k_tokens": kernels / real * 1000,
            "host_ms_per_1k_tokens": host_ms / real * 1000,
        }
    naive = next(iter(out.values()))
    for side in out.values():
        side["fewer_kernels_per_token"] = (
            naive["kernels_per_1k_tokens"] / side["kernels_per_1k_tokens"]
        )
        side["less_host_time_per_token"] = (
            naive["host_ms_per_1k_tokens"] / side["host_ms_per_1k_tokens"]
        )
    return out


def host_time(layers: int, compile: bool) -> dict[str, float]:
    """Milliseconds a step spends on the host, and how the forward's share splits by package."""
    import cProfile
    import pstats
    import time

    model = lora_model(layers, dropout=0.0).float()
    ids = torch.randint(5, 512, (1, 32), generator=torch.Generator().manual_seed(0))

    def step(m):
        m(input_ids=ids, labels=ids, use_cache=False).loss.backward()

    def per_step(m, n=20):
        for _ in range(3):
            step(m)
        started = time.perf_counter()
        for _ in range(n):
            step(m)
        return (time.perf_counter() - started) / n * 1000

    result = {"eager_ms": per_step(model)}
    profile = cProfile.Profile()
    profile.runcall(lambda: [model(input_ids=ids, use_cache=False) for _ in range(5)])
    shares: collections.Counter[str] = collections.Counter()
    for (path, _, _), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        package = (
            "C++ (dispatch, kernels)"
            if path == "~"
            else path.split("site-packages/")[-1].split("/")[0]
        )
        shares[package] += own
    total = sum(shares.values())
    result.update({f"forward share: {k}": v / total for k, v in shares.most_common(4)})
    if compile:
        compiled = torch.compile(model)
        started = time.perf_counter()
        step(compiled)
        result["compile_s"] = time.perf_counter() - started
        result["compiled_ms"] = per_step(compiled)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "kernels_per_step.json"
    )
    parser.add_argument(
        "--batch-tokens",
        type=int,
        default=4096,
        help="the token budget of ftx's default step on CUDA (batch_size 8 x 512)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the step under torch.compile (slow to compile)",
    )
    args = parser.parse_args()
    rows = make_examples(args.batch, mean=216.0, seed=0, vocab=512)
    results = {}
    print(
        f"{args.layers}-layer Llama layout, LoRA r=16 on all linear layers, {args.batch} examples "
        f"a step, bf16 autocast"
    )
    print(f"{'':34s} {'kernels':>8s} {'casts':>6s}  vs naive")
    for dropout in (0.05, 0.0):
        for side, step in (("naive", naive_step), ("ftx", ftx_step)):
            model = lora_model(args.layers, dropout)
            step(model, rows)  # warm-up: lazy initialisation is not part of a step
            count = step(model, rows)
            total = sum(count.ops.values())
            results[f"{side}, lora_dropout={dropout}"] = {
                "kernels": total,
                "casts": count.ops["_to_copy"],
                "top": dict(count.ops.most_common(8)),
            }
            base = results[f"naive, lora_dropout={dropout}"]["kernels"]
            print(
                f"{side + ', lora_dropout=' + str(dropout):34s} {total:8,d} "
                f"{count.ops['_to_copy']:6,d}  ×{total / base:.2f}"
            )
    tokens = per_thousand_tokens(args.layers, args.batch, args.batch_tokens)
    print(
        f"\nper 1,000 real tokens (lora_dropout=0){'':8s} examples  tokens  kernels  "
        "kernels/1k  host ms/1k  fewer kernels/token  less host time/token"
    )
    for name, side in tokens.items():
        print(
            f"{name:45s} {side['examples']:8d} {side['real_tokens']:7,d} {side['kernels']:8,d} "
            f"{side['kernels_per_1k_tokens']:11,.0f} {side['host_ms_per_1k_tokens']:11.1f} "
            f"{side['fewer_kernels_per_token']:20.2f}x {side['less_host_time_per_token']:20.2f}x"
        )
    host = host_time(args.layers, args.compile)
    print(
        f"\nhost time of a LoRA forward and backward, 64 wide, 32 tokens: {host['eager_ms']:.1f} ms"
    )
    for key, value in host.items():
        if key.startswith("forward share"):
            print(f"  {key}: {value:.0%}")
    if args.compile:
        print(
            f"under torch.compile: {host['compiled_ms']:.1f} ms "
            f"(×{host['compiled_ms'] / host['eager_ms']:.2f}),"
            f" after {host['compile_s']:.0f} s of compiling"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "layers": args.layers,
                "batch": args.batch,
                "batch_tokens": args.batch_tokens,
                "results": results,
                "per_1k_real_tokens": tokens,
                "host": host,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
