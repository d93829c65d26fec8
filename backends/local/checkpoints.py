"""Checkpoints a killed process cannot leave half-written, and resuming from the newest one.

transformers' Trainer writes ``checkpoint-N`` file by file under its final name, and its
``get_last_checkpoint`` takes the highest step whether or not that folder was finished: a
process killed mid-write (or a full disk) then blocked every resume. ftx's Trainer
(``trainer.CompletionTrainer``) writes each checkpoint under ``checkpoints/.partial/`` and
``publish`` renames it into place once it is complete and flushed; ``last_checkpoint`` picks the
newest complete one and removes what cannot be loaded. No heavy library is imported here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftx import distributed

CHECKPOINT = re.compile(r"checkpoint-(\d+)")  # transformers' PREFIX_CHECKPOINT_DIR and step
# Under checkpoints/: a checkpoint being written, renamed into place when complete.
STAGING = ".partial"
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "adapter_model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.bin",
)


# --- which checkpoint to resume from ---------------------------------------------------------


def complete(checkpoint: Path) -> bool:
    """Whether Trainer finished writing ``checkpoint``: it writes trainer_state.json last, after
    the weights, optimizer, scheduler and RNG state."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return any((checkpoint / name).is_file() for name in WEIGHTS)


def last_checkpoint(folder: Path, log: Callable[[str], None]) -> str | None:
    """The newest complete checkpoint under ``folder``, to resume an interrupted training.

    What an older ftx left half-written under the final name, and what ``.partial/`` holds, is
    removed here (by the main process), so that Trainer neither resumes from it nor counts it
    among the kept ones.
    """
    if not folder.is_dir():
        return None
    main = distributed.is_main()
    if main:
        shutil.rmtree(folder / STAGING, ignore_errors=True)
    steps = sorted(
        (int(m.group(1)), path)
        for path in folder.iterdir()
        if (m := CHECKPOINT.fullmatch(path.name)) and path.is_dir()
    )
    for _, path in reversed(steps):
        if complete(path):
            return str(path)
        if main:
            log(
                f"removed {path.name}: it was cut off while being written "
                "(no trainer_state.json or no weights)"
            )
            shutil.rmtree(path, ignore_errors=True)
    return None


def keep_log_until(path: Path, step: int) -> dict[str, Any]:
    """Drop the training log's entries past ``step``, the checkpoint a training resumes from:
    the steps after it are trained and logged again. Returns the last kept loss entry, whose
    tokens and seconds the resumed training's entries count on from."""
    from ftx.store import atomic_write_text

    if not path.exists():
        return {}
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the line being written when the process died
        if isinstance(entry, dict) and isinstance(entry.get("step"), int) and entry["step"] <= step:
            kept.append(entry)
    atomic_write_text(path, "".join(json.dumps(e) + "\n" for e in kept))
    return next((e for e in reversed(kept) if "loss" in e), {})


def resume_point(
    folder: Path, log_path: Path, log: Callable[[str], None]
) -> tuple[str | None, dict[str, Any]]:
    """The checkpoint to resume from (None: start afresh), and the training log's last loss
    entry up to its step, which the resumed training's tokens and seconds count on from."""
    resume = last_checkpoint(folder, log)
    if resume:
        log(f"resuming training from {resume}, the newest complete checkpoint")
    if not distributed.is_main():  # the main process keeps the one training log
        return resume, {}
    step = int(CHECKPOINT.fullmatch(Path(resume).name).group(1)) if resume else 0
    return resume, keep_log_until(log_path, step)


# What a checkpoint records of the step size it was trained with (``batch_tokens`` in force).
STEPS = "ftx_steps.json"


def steps_of(checkpoint: str | None) -> int | None:
    """The token budget the training that wrote ``checkpoint`` ran with (0: steps of
    ``batch_size`` examples), for a resumed training to group its data the same way whatever
    ``batch_tokens=auto`` resolves to now (on another device, or after an upgrade); None
    without a checkpoint, or when it cannot be read. A checkpoint without the record is from
    an ftx whose steps were always ``batch_size`` examples."""
    if checkpoint is None:
        return None
    try:
        return int(json.loads((Path(checkpoint) / STEPS).read_text(encoding="utf-8"))["tokens"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_steps(checkpoint: str, budget: int) -> None:
    """Write the step size into ``checkpoint`` (``steps_of`` reads it back)."""
    (Path(checkpoint) / STEPS).write_text(json.dumps({"tokens": budget}), encoding="utf-8")


# --- writing one so that it is complete or absent --------------------------------------------


def sync(path: str) -> None:
    """Flush a file, or a folder's list of names, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(folder: str) -> None:
    """Flush every file under ``folder`` to disk, so a power cut after the rename that follows
    cannot leave a checkpoint that has its final name but not its contents."""
    for root, _, files in os.walk(folder):
        for name in [*files, "."]:
            sync(os.path.join(root, name))


def publish(staged: str, target: str) -> None:
    """Move the complete checkpoint ``staged`` (under ``.partial/``) to its final name
    ``target``: flushed first, then renamed, then the rename itself flushed."""
    final = os.path.dirname(target)
    sync_tree(staged)
    shutil.rmtree(target, ignore_errors=True)  # a stale copy of this same step
    os.replace(staged, target)
    sync(final)  # the rename itself
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(staged))
