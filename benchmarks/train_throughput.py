"""Training throughput: ftx's local training path against the naive recipe, in one process.

    python benchmarks/train_throughput.py --device cpu
    python benchmarks/train_throughput.py --device cuda            # 1B-class Llama shape

Both sides train the same Llama-shaped model (random weights: throughput does not depend on
them) on the same examples, whose lengths spread like real instruction data (log-normal,
answers about a quarter of each example). The naive recipe is what a first script does: every
example padded to 512 tokens, labels = input ids, batch 8, transformers' Trainer. ftx's side is
``ftx.backends.local.train.train`` with its defaults: padding-free packed batches and loss
(and logits) on completion tokens only. We report real (non-padding) tokens per second, peak
memory and model FLOPs utilisation (6N FLOPs per token for full fine-tuning, 4N for LoRA and
QLoRA, N = parameters outside the input embedding), and the ratios ftx / naive.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SHAPES = {
    # name: (hidden, layers, heads, kv heads, intermediate, vocab)
    "tiny": (256, 4, 4, 2, 1024, 8192),
    "1b": (2048, 16, 32, 8, 8192, 128256),  # Llama-3.2-1B: 1.24B parameters
}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16


def make_examples(n: int, mean: float, seed: int, vocab: int) -> list[dict[str, list[int]]]:
    rng = random.Random(seed)
    sigma = 0.6
    mu = math.log(mean) - sigma**2 / 2
    out = []
    for _ in range(n):
        length = min(512, max(16, int(rng.lognormvariate(mu, sigma))))
        answer = max(4, length // 4)
        ids = [rng.randrange(10, vocab) for _ in range(length)]
        out.append(
            {"input_ids": ids, "labels": [-100] * (length - answer) + ids[length - answer :]}
        )
    return out


class PeakRSS:
    """Peak resident memory of this process while a block runs (CPU runs)."""

    def __enter__(self):
        import psutil

        self.proc, self.peak, self.stop = psutil.Process(), 0, False
        self.start = self.proc.memory_info().rss

        def sample():
            while not self.stop:
                self.peak = max(self.peak, self.proc.memory_info().rss)
                time.sleep(0.05)

        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()

    @property
    def gib(self) -> float:
        return max(self.peak - self.start, 0) / 2**30


def build_model(shape: str, device: str, folder: Path) -> Path:
    """A randomly initialised model of ``shape`` saved in ``folder`` (kept if already there:
    ``gpu_check.sh`` builds the 1B model once for its three runs)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").exists():
        return folder

    hidden, layers, heads, kv, inter, vocab = SHAPES[shape]
    config = LlamaConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        intermediate_size=inter,
        vocab_size=vocab,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device("cuda" if device == "cuda" else "cpu"):
        model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(folder)
    del model
    return folder


def flops_per_token(model: Any, method: str) -> float:
    embed = model.get_input_embeddings().weight.numel()
    total = sum(p.numel() for p in model.parameters())
    lm_head = model.get_output_embeddings().weight
    n = total - embed + (lm_head.numel() if lm_head is model.get_input_embeddings().weight else 0)
    return (6 if method == "full" else 4) * n


def load(method: str, folder: Path, device: str) -> tuple[Any, Any, Any]:
    """The model loaded as ftx's backend for ``method`` loads it (4-bit for QLoRA), with that
    backend and its default options; ``prepared`` then adds adapters."""
    import torch

    from ftx.backends.local import LocalFull, LocalLoRA, LocalQLoRA
    from ftx.backends.local import model as models
    from ftx.backends.local.options import LoraOptions, QLoraOptions, TrainOptions

    backend, opts = {
        "full": (LocalFull(), TrainOptions()),
        "lora": (LocalLoRA(), LoraOptions()),
        "qlora": (LocalQLoRA(), QLoraOptions()),
    }[method]
    opts.model, opts.device = str(folder), device
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = models.load_model(
        folder, device=device, dtype=dtype, **backend.load_kwargs(opts, device)
    )
    return model, backend, opts


def prepared(method: str, folder: Path, device: str, *, ftx_defaults: bool) -> tuple[Any, Any]:
    """The model as the backend trains it; ``ftx_defaults`` adds what ftx turns on by default."""
    from ftx.backends.local import use_liger_kernels

    model, backend, opts = load(method, folder, device)
    if ftx_defaults and device == "cuda" and opts.liger_kernels:
        use_liger_kernels(model, print)
    return backend.prepare(model, opts), opts


def clock(trainer: Any, warmup: int) -> dict[str, Any]:
    """Marks the time and token count once ``warmup`` steps are done (compilation and allocator
    warm-up excluded); the caller reads them after training."""
    from transformers import TrainerCallback

    marks: dict[str, Any] = {}
    collator = trainer.data_collator

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            marks["begin"] = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                _sync()
                marks["t"], marks["tokens"] = time.perf_counter(), collator.real_tokens

    trainer.add_callback(Clock())
    marks["collator"] = collator
    return marks


def elapsed(marks: dict[str, Any]) -> tuple[float, int]:
    _sync()
    return time.perf_counter() - marks["t"], marks["collator"].real_tokens - marks["tokens"]


class Variant:
    """A side of ftx's to measure: its step size (examples, or a token budget) and compile."""

    def __init__(self, batch_tokens: int | str = 0, compile: str = "off"):
        self.batch_tokens, self.compile = batch_tokens, compile

    @property
    def name(self) -> str:
        parts = [f"batch_tokens={self.batch_tokens}"] if self.batch_tokens else []
        parts += [f"compile={self.compile}"] if self.compile != "off" else []
        return ", ".join(parts) or "examples"


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class NaiveCollator:
    """The naive recipe: pad every example to 512, labels = input ids (padding included)."""

    def __init__(self, pad_id: int = 0, length: int = 512):
        self.pad_id, self.length, self.real_tokens = pad_id, length, 0

    def __call__(self, batch):
        import torch

        ids = [b["input_ids"] + [self.pad_id] * (self.length - len(b["input_ids"])) for b in batch]
        mask = [
            [1] * len(b["input_ids"]) + [0] * (self.length - len(b["input_ids"])) for b in batch
        ]
        self.real_tokens += sum(len(b["input_ids"]) for b in batch)
        t = torch.tensor(ids)
        return {"input_ids": t, "attention_mask": torch.tensor(mask), "labels": t.clone()}


def run_naive(
    method: str,
    folder: Path,
    device: str,
    data: list,
    steps: int,
    warmup: int,
    batch: int = 8,
    variant: Variant | None = None,
) -> tuple[float, int, Any]:
    from transformers import PrinterCallback, Trainer, TrainingArguments

    model, _ = prepared(method, folder, device, ftx_defaults=False)
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-4,
        bf16=device == "cuda",
        use_cpu=device == "cpu",
        report_to="none",
        disable_tqdm=True,
        save_strategy="no",
        logging_steps=10**6,
        remove_unused_columns=False,
        log_level="error",
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=NaiveCollator())
    trainer.remove_callback(PrinterCallback)
    marks = clock(trainer, warmup)
    trainer.train()
    return (*elapsed(marks), model, marks)


def run_ftx(
    method: str,
    folder: Path,
    device: str,
    data: list,
    steps: int,
    warmup: int,
    batch: int = 8,
    variant: Variant | None = None,
) -> tuple[float, int, Any]:
    """ftx's own training function with its default options (packing, completion-only loss),
    with the step size and compile of ``variant`` (default: ``batch`` examples a step)."""
    import torch
    import transformers
    from rich.progress import Progress

    from ftx.backend import BackendContext
    from ftx.backends.local import train as trainmod
    from ftx.backends.local.tokenize import Encoded

    model, opts = prepared(method, folder, device, ftx_defaults=True)
    variant = variant or Variant()
    opts.max_steps, opts.save_checkpoints, opts.batch_size = steps, False, batch
    opts.batch_tokens, opts.compile = variant.batch_tokens, variant.compile
    tokenizer = type("Tokenizer", (), {"pad_token_id": 0})()
    ctx = BackendContext(
        "bench",
        Path(tempfile.mkdtemp()),
        {},
        lambda: None,
        lambda line: None,
        lambda k, d: None,
        Progress(disable=True),
    )
    encoded = [Encoded(d["input_ids"], d["labels"]) for d in data]
    original = transformers.Trainer.train
    box: dict[str, Any] = {}

    def train_with_clock(trainer, *a, **k):  # the clock goes inside ftx's own Trainer
        box["marks"] = clock(trainer, warmup)
        return original(trainer, *a, **k)

    transformers.Trainer.train = train_with_clock
    try:
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        trainmod.train(
            model, tokenizer, encoded, opts, ctx, device=device, dtype=dtype, seed=0, label="bench"
        )
    finally:
        transformers.Trainer.train = original
    return (*elapsed(box["marks"]), model, box["marks"])


def measure(
    side: Any,
    method: str,
    folder: Path,
    device: str,
    data: list,
    steps: int,
    warmup: int,
    batch: int,
    variant: Variant | None = None,
) -> dict[str, float]:
    """Run one side; memory is the peak while loading and training (weights included). The
    warm-up steps' time (compiling, where asked) and the graphs compiled are kept too."""
    import ctypes
    import gc

    import torch

    gc.collect()
    graphs = _compiled_graphs()
    run = (method, folder, device, data, steps, warmup, batch, variant)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        seconds, tokens, model, marks = side(*run)
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        try:  # hand memory freed by the previous side back to the OS, so RSS starts low
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass
        with PeakRSS() as rss:
            seconds, tokens, model, marks = side(*run)
        peak = rss.gib
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    result = {
        "tokens_per_s": tokens / seconds,
        "peak_gib": peak,
        "flops_per_token": flops_per_token(base, method),
        "tokens": tokens,
        "seconds": seconds,
        "warmup_seconds": marks["t"] - marks["begin"],
    }
    if variant and variant.compile != "off":
        result["compiled_graphs"] = _compiled_graphs() - graphs
    del model, base
    return result


def _compiled_graphs() -> int:
    """Graphs torch.compile has made so far in this process (a recompile makes another)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--methods", default="lora,qlora,full")
    parser.add_argument(
        "--shape", choices=list(SHAPES), help="model shape (default: tiny on cpu, 1b on cuda)"
    )
    parser.add_argument(
        "--steps", type=int, help="optimizer steps per measurement (default: 12 cpu, 40 cuda)"
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--batch", type=int, default=8, help="examples per optimizer step, both sides"
    )
    parser.add_argument("--mean-length", type=float, default=216.0, help="mean tokens per example")
    parser.add_argument(
        "--batch-tokens",
        default="0",
        help="also measure ftx with steps sized in tokens: a budget, or auto (ftx's default: "
        "batch x 512 on CUDA); 0: not measured",
    )
    parser.add_argument(
        "--compile",
        default="off",
        help="also measure ftx with compile=MODE (default, reduce-overhead), at --batch-tokens "
        "if given",
    )
    parser.add_argument(
        "--model-dir", help="where the random model is saved, and reused from (default: a temp dir)"
    )
    parser.add_argument(
        "--peak-tflops", type=float, help="accelerator peak for MFU (default: from the GPU name)"
    )
    parser.add_argument(
        "--out",
        help="JSON file to write (default: benchmarks/results/train_throughput-<device>.json)",
    )
    args = parser.parse_args()

    import torch

    shape = args.shape or ("1b" if args.device == "cuda" else "tiny")
    steps = args.steps or (40 if args.device == "cuda" else 12)
    if steps <= args.warmup:
        parser.error(
            f"--steps ({steps}) counts the {args.warmup} warm-up steps too: give more steps than "
            f"--warmup"
        )
    peak = args.peak_tflops
    name = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else platform.processor() or platform.machine()
    )
    if peak is None and args.device == "cuda":
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    budget: int | str = args.batch_tokens if args.batch_tokens == "auto" else int(args.batch_tokens)
    variants = [Variant()]  # ftx at --batch examples a step: the naive recipe's own step size
    if budget:
        variants.append(Variant(budget))
    if args.compile != "off":
        variants.append(Variant(budget, args.compile))
    # Enough examples for the largest step (a token budget's, where one is measured).
    largest = args.batch
    if budget:
        tokens = budget if budget != "auto" else args.batch * 512
        largest = max(largest, math.ceil(tokens / args.mean_length * 1.5))
    data = make_examples(largest * steps, args.mean_length, 0, SHAPES[shape][5])
    folder = build_model(
        shape, args.device, Path(args.model_dir or tempfile.mkdtemp()) / f"model-{shape}"
    )

    rows = []
    for method in args.methods.split(","):
        naive = measure(
            run_naive, method, folder, args.device, data, steps, args.warmup, args.batch
        )
        sides = {"naive": naive}
        for variant in variants:
            sides[variant.name] = measure(
                run_ftx, method, folder, args.device, data, steps, args.warmup, args.batch, variant
            )
        ours = sides["examples"]
        row = {
            "method": method,
            "naive": naive,
            "ftx": ours,
            "speedup": ours["tokens_per_s"] / naive["tokens_per_s"],
            "memory_ratio": ours["peak_gib"] / naive["peak_gib"] if naive["peak_gib"] else None,
            "variants": {},
        }
        for name, side in sides.items():
            if peak:
                side["mfu"] = side["tokens_per_s"] * side["flops_per_token"] / (peak * 1e12)
            if name not in ("naive", "examples"):
                row["variants"][name] = {
                    **side,
                    "speedup": side["tokens_per_s"] / naive["tokens_per_s"],
                    "memory_ratio": side["peak_gib"] / naive["peak_gib"]
                    if naive["peak_gib"]
                    else None,
                }
        rows.append(row)
        for name, side in sides.items():
            label = "naive" if name == "naive" else f"ftx, {name}"
            print(
                f"{method:6s} {label:50s} {side['tokens_per_s']:9.0f} tok/s "
                f"{side['peak_gib']:6.2f} GiB | speed x"
                f"{side['tokens_per_s'] / naive['tokens_per_s']:.2f}, memory x"
                f"{side['peak_gib'] / naive['peak_gib'] if naive['peak_gib'] else 0:.2f}"
                + (f" | MFU {side['mfu']:.1%}" if peak else "")
                + f" | warm-up {side['warmup_seconds']:.1f} s"
                + (f", {side['compiled_graphs']} graphs" if "compiled_graphs" in side else ""),
                flush=True,
            )

    resolved = budget
    if budget == "auto":  # as ftx resolves it for these examples
        from ftx.backends.local.batches import resolve_batch_tokens

        resolved = resolve_batch_tokens(
            "auto",
            device=args.device,
            batch_size=args.batch,
            longest=max(len(d["input_ids"]) for d in data),
            multiple=256 if args.device == "cuda" else 1,
        )
    report = {
        "device": name,
        "shape": shape,
        "steps": steps,
        "batch": args.batch,
        "batch_tokens": budget,
        "batch_tokens_resolved": resolved,
        "compile": args.compile,
        "warmup": args.warmup,
        "mean_length": args.mean_length,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "peak_tflops": peak,
        "results": rows,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(
        args.out or Path(__file__).parent / "results" / f"train_throughput-{args.device}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
