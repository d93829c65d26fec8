"""Several processes must train like one: under a launcher, N processes on a global batch take
the same step, and log the same loss, as one process on that batch.

The trainings run through the local backends' own ``train()`` on the tiny model, with plain SGD
and no clipping: an update is then ``learning_rate x gradient``, so a loss or gradient scaled by
the number of processes shows in the weights. (AdamW's first step is about
``learning_rate x sign(gradient)`` and would hide it; clipping would too.) This file is also the
script the launchers start: ``python tests/test_distributed.py MODEL OUT``.

On CPU, ``accelerate launch`` starts several processes only with ``--multi_gpu`` (its torchrun
path; the processes then talk over gloo); without it, it starts one, and ftx says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each step's global batch is four examples whose completions have 1, 2, 4 and 9 tokens: any
# two of them hold a different number of target tokens than the other two, so a mean of
# per-process means (instead of the mean over the global batch's tokens) shows too.
LENGTHS = ((5, 1), (7, 2), (6, 4), (12, 9))  # (prompt, completion) tokens
GLOBAL_BATCH = len(LENGTHS)
LEARNING_RATE = 0.5


class Setup:
    def __init__(
        self,
        packing: bool,
        steps: int,
        alone: tuple[int, int],
        shared: tuple[int, int],
        validate: bool = False,
    ):
        self.packing, self.steps, self.validate = packing, steps, validate
        self.alone, self.shared = (
            alone,
            shared,
        )  # (batch_size, gradient_accumulation) for 1 and for each of 2 processes


SETUPS = {
    # Padded batches are grouped by length within a per-process batch size, so only a step
    # over the whole data has the same global batch under two processes as under one. It also
    # measures a validation loss, on one batch of all four examples either way.
    "padded": Setup(packing=False, steps=1, alone=(4, 1), shared=(2, 1), validate=True),
    # Packed batches are drawn in a random order that the launcher does not change: process r
    # takes the r-th of every two micro-batches, so each step sees the same four examples.
    "packed+accumulation": Setup(packing=True, steps=2, alone=(4, 1), shared=(1, 2)),
}


def examples(steps: int):
    from ftx.backends.local.tokenize import IGNORE, Encoded

    out = []
    for i in range(steps * GLOBAL_BATCH):
        prompt, completion = LENGTHS[i % GLOBAL_BATCH]
        ids = [(7 * i + 3 * p) % 90 + 5 for p in range(prompt + completion)]
        out.append(Encoded(ids, [IGNORE] * prompt + ids[prompt:]))
    return out


def train_once(
    model_dir: Path, run_dir: Path, setup: Setup, batch_size: int, accumulation: int
) -> dict:
    """The setup's SGD steps; the main process returns the training log, the stats, and the
    weights before and after, as float32 tensors."""
    import torch
    import transformers
    from rich.progress import Progress

    from ftx import distributed
    from ftx.backend import BackendContext
    from ftx.backends.local.options import TrainOptions
    from ftx.backends.local.train import train

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opts = TrainOptions(
        model=str(model_dir),
        device="cpu",
        dtype="float32",
        max_steps=setup.steps,
        batch_size=batch_size,
        gradient_accumulation=accumulation,
        packing=setup.packing,
        learning_rate=LEARNING_RATE,
        lr_scheduler="constant",
        warmup_ratio=0.0,
        max_grad_norm=0.0,
        save_checkpoints=False,
    )
    ctx = BackendContext(
        "t", run_dir, {}, lambda: None, lambda line: None, lambda k, d: None, Progress(disable=True)
    )
    stats = train(
        model,
        tokenizer,
        examples(setup.steps),
        opts,
        ctx,
        device="cpu",
        dtype=torch.float32,
        seed=0,
        label="t",
        optim="sgd",
        validation=examples(1) if setup.validate else None,
    )
    if not distributed.is_main():
        return {}
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    after = {n: p.detach().clone() for n, p in model.named_parameters()}
    return {
        "log": log,
        "steps": stats.steps,
        "tokens": stats.train_tokens,
        "before": before,
        "after": after,
    }


def train_all(model_dir: Path, out: Path) -> None:
    """Every setup with this process's share (all of it without a launcher); the main process
    saves what it saw to ``out/<setup>.pt``."""
    import torch

    from ftx import distributed

    for name, setup in SETUPS.items():
        batch_size, accumulation = setup.shared if distributed.enabled() else setup.alone
        result = train_once(model_dir, out / name, setup, batch_size, accumulation)
        if result:
            torch.save({**result, "world_size": distributed.world_size()}, out / f"{name}.pt")


def launch(launcher: list[str], model_dir: Path, out: Path) -> None:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HOME": str(out / "hf"),
    }  # HF_HOME: no user accelerate config
    done = subprocess.run(
        [*launcher, __file__, str(model_dir), str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]


def agree(one: dict, two: dict, setup: Setup) -> None:
    import torch

    assert one["world_size"] == 1 and two["world_size"] == 2
    assert one["steps"] == two["steps"] == setup.steps
    assert (
        one["tokens"] == two["tokens"] == setup.steps * sum(p + c for p, c in LENGTHS)
    )  # every example, once
    assert [e["step"] for e in two["log"]] == [e["step"] for e in one["log"]]
    for first, second in zip(one["log"], two["log"]):
        assert second.keys() == first.keys()
        for key in {"loss", "grad_norm", "eval_loss"} & first.keys():
            assert second[key] == pytest.approx(first[key], rel=1e-4), (key, first, second)
        assert second.get("tokens") == first.get(
            "tokens"
        )  # of every process, not the main one's share
    assert sum("eval_loss" in e for e in one["log"]) == setup.validate
    for name, start in one["before"].items():
        assert torch.equal(start, two["before"][name])  # the same model to start from
        update1, update2 = one["after"][name] - start, two["after"][name] - start
        assert update1.norm() > 0, name
        # The update, not the weight: a wrong update is small next to the weight it changes.
        assert (update2 - update1).norm() <= 1e-4 * update1.norm(), name


@pytest.fixture(scope="module")
def alone(tiny_model, tmp_path_factory):
    """The setups in one process: the reference. A subprocess, as the launched ones, so that
    this pytest process's own torch and Trainer state play no part."""
    import torch

    out = tmp_path_factory.mktemp("alone")
    launch([sys.executable], tiny_model, out)
    return {name: torch.load(out / f"{name}.pt") for name in SETUPS}


LAUNCHERS = {
    "torchrun": [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
    ],
    # --main_process_port 0: a free port, as torchrun's --standalone takes one.
    "accelerate": [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--main_process_port",
        "0",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_two_processes_train_like_one(alone, tiny_model, tmp_path, launcher):
    import torch

    launch(LAUNCHERS[launcher], tiny_model, tmp_path)
    for name, setup in SETUPS.items():
        agree(alone[name], torch.load(tmp_path / f"{name}.pt"), setup)


def test_accelerate_launch_without_multi_gpu_is_named(monkeypatch):
    """accelerate's plain launcher starts one process whatever --num_processes says: on CPU,
    'accelerate launch --num_processes 2' trained alone, silently."""
    from ftx import distributed

    for name in ("WORLD_SIZE", "MASTER_ADDR", "ACCELERATE_MIXED_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.single_process_problem() is None  # no launcher
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    assert distributed.single_process_problem() is None  # accelerate launch --num_processes 1
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")  # what it adds for --num_processes 2
    assert distributed.single_process_problem() == (
        "accelerate launch started one process, not several: it starts several only with "
        "--multi_gpu "
        "(on CPU too). Use: accelerate launch --multi_gpu --num_processes N -m ftx.cli run ..."
    )
    monkeypatch.setenv("WORLD_SIZE", "2")  # with --multi_gpu
    assert distributed.single_process_problem() is None


if __name__ == "__main__":
    train_all(Path(sys.argv[1]), Path(sys.argv[2]))
