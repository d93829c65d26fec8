"""Evaluation throughput: ftx's batched generation (length-sorted, left-padded, KV cache)
against answering one prompt at a time, same model and prompts, in one process.

    python benchmarks/eval_throughput.py --device cpu     # tiny Llama shape
    python benchmarks/eval_throughput.py --device cuda    # 1B-class Llama shape
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_throughput import SHAPES, build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument(
        "--out", help="JSON file (default: benchmarks/results/eval_throughput-<device>.json)"
    )
    args = parser.parse_args()

    import random

    import torch
    from transformers import AutoModelForCausalLM

    from ftx.backends.local.generate import generate
    from ftx.templates import Template
    from ftx.types import GenerationParams, Message

    shape = "1b" if args.device == "cuda" else "tiny"
    folder = build_model(shape, args.device, Path(tempfile.mkdtemp()) / "model")
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(args.device)

    vocab = SHAPES[shape][5]

    class Tokenizer:
        """Random weights make text meaningless: prompts are token ids written as text."""

        eos_token_id, pad_token_id, bos_token = vocab - 1, 0, None

        def __call__(self, text, add_special_tokens=False):
            return type("Enc", (), {"input_ids": [int(t) for t in text.split()]})()

        def get_vocab(self):
            return {}

        def decode(self, ids, skip_special_tokens=True):
            return " ".join(map(str, ids))

    class IdsTemplate(Template):
        name = "ids"

        def prompt(self, messages, tokenizer):
            return messages[-1].content

    rng = random.Random(0)
    prompts = [
        [
            Message(
                "user",
                " ".join(str(rng.randrange(10, vocab)) for _ in range(rng.randrange(20, 200))),
            )
        ]
        for _ in range(args.prompts)
    ]
    template, tokenizer = IdsTemplate(), Tokenizer()
    params = GenerationParams(max_new_tokens=args.new_tokens)

    def timed(batch: int) -> tuple[float, int]:
        generate(
            model,
            tokenizer,
            template,
            prompts[:batch],
            params,
            batch_size=batch,
            device=args.device,
        )  # warm-up
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = generate(
            model, tokenizer, template, prompts, params, batch_size=batch, device=args.device
        )
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, sum(c.completion_tokens for c in out)

    one_s, one_tokens = timed(1)
    batched_s, batched_tokens = timed(args.batch)
    rows = {"one_at_a_time": one_tokens / one_s, "batched": batched_tokens / batched_s}
    print(f"one prompt at a time {rows['one_at_a_time']:9.0f} generated tok/s")
    print(
        f"batched ({args.batch:3d})         {rows['batched']:9.0f} generated tok/s   "
        f"x{rows['batched'] / rows['one_at_a_time']:.2f}"
    )
    out = Path(
        args.out or Path(__file__).parent / "results" / f"eval_throughput-{args.device}.json"
    )
    out.write_text(
        json.dumps(
            {
                "shape": shape,
                "device": args.device,
                "prompts": args.prompts,
                "batch": args.batch,
                "new_tokens": args.new_tokens,
                "tokens_per_s": rows,
                "speedup": rows["batched"] / rows["one_at_a_time"],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
