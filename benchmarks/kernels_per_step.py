"""How many kernels does one LoRA training step launch? (naive recipe against ftx)

On a GPU, a step of 8 examples of a 1B model is bound by launching kernels, not by arithmetic
(docs/performance.md): each launch costs microseconds of Python and dispatcher time whatever
the tensor's size. The count of launches does not depend on the device or the width of the
model, so it is measured here, on any machine, on the Llama-3.2-1B layout (16 layers, grouped
heads, LoRA on all 7 linear layers of each) at a narrow width, with bf16 autocast as Trainer
uses on a GPU. Counted: ATen operators that do work (views and reshapes are left out) in one
forward and backward.

    python benchmarks/kernels_per_step.py
"""

from __future__ import annotations

import argparse
import collections
import json
import random
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import LlamaConfig, LlamaForCausalLM

from ftx.backends.local.tokenize import IGNORE, PackingCollator
from ftx.backends.local.train import adapter_inputs_uncast, completion_loss

VIEWS = {"t", "view", "_unsafe_view", "slice", "transpose", "detach", "unsqueeze", "squeeze", "expand", "alias",
         "permute", "select", "as_strided", "split", "split_with_sizes", "unbind", "reshape", "_reshape_alias"}


class Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name not in VIEWS:
            self.ops[name] += 1
        return func(*args, **(kwargs or {}))


def lora_model(layers: int, dropout: float) -> torch.nn.Module:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=layers, num_attention_heads=8,
                         num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    return get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=dropout, target_modules="all-linear",
                                            task_type="CAUSAL_LM"))


def examples(n: int, seed: int = 0) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = max(16, min(512, int(rng.lognormvariate(5.2, 0.5))))
        ids = [rng.randrange(5, 512) for _ in range(length)]
        answer = length // 4
        rows.append({"input_ids": ids, "labels": [IGNORE] * (length - answer) + ids[-answer:]})
    return rows


def naive_step(model, rows) -> Count:
    """Every example padded to 512, labels = input ids, transformers' own loss."""
    ids = torch.zeros(len(rows), 512, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row["input_ids"])] = torch.tensor(row["input_ids"])
    with Count() as count:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
    return count


def ftx_step(model, rows) -> Count:
    """One packed row, completion-only logits, uncast inputs. Attention is one call a layer, as
    the CUDA varlen kernel is (the CPU's per-example path makes one call per example instead):
    here, SDPA over the row with transformers' block-diagonal mask."""
    batch = PackingCollator(pad_id=0, boundaries=False)(rows)
    with adapter_inputs_uncast(model, mixed_precision=True), Count() as count:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = completion_loss(model, dict(batch))
        loss.backward()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kernels_per_step.json")
    args = parser.parse_args()
    rows = examples(args.batch)
    results = {}
    print(f"{args.layers}-layer Llama layout, LoRA r=16 on all linear layers, {args.batch} examples a step, bf16 autocast")
    print(f"{'':34s} {'kernels':>8s} {'casts':>6s}  vs naive")
    for dropout in (0.05, 0.0):
        for side, step in (("naive", naive_step), ("ftx", ftx_step)):
            model = lora_model(args.layers, dropout)
            step(model, rows)  # warm-up: lazy initialisation is not part of a step
            count = step(model, rows)
            total = sum(count.ops.values())
            results[f"{side}, lora_dropout={dropout}"] = {"kernels": total, "casts": count.ops["_to_copy"],
                                                          "top": dict(count.ops.most_common(8))}
            base = results[f"naive, lora_dropout={dropout}"]["kernels"]
            print(f"{side + ', lora_dropout=' + str(dropout):34s} {total:8,d} {count.ops['_to_copy']:6,d}  ×{total / base:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"layers": args.layers, "batch": args.batch, "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
