"""The training loop of the local backends: transformers' Trainer with our data pipeline.

Trainer gives us, tested by many users: gradient accumulation, schedules, mixed precision,
gradient checkpointing, checkpoints and resume, and DDP under ``accelerate launch``. What it
is fed is ours: completion-only labels, length-grouped dynamic padding, and a rich progress
bar with loss, learning rate and tokens/s.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ftx import distributed
from ftx.backend import BackendContext
from ftx.types import TrainStats

from .attention import packed_rows, varlen_problem
from .options import TrainOptions
from .tokenize import IGNORE, Encoded, PackingCollator, PaddingCollator


def completion_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """Cross-entropy on completion tokens, computing logits only where a target exists.

    The output layer is the widest matrix of a small model (49k x 576 for SmolLM2-135M), and
    most tokens are prompt; asking the model for just the positions whose next token carries
    loss (``logits_to_keep``) skips that work. The sum is divided by ``num_items_in_batch``,
    the number of target tokens in the whole accumulated batch (of every process, under a
    launcher: see ``CompletionTrainer.compute_loss``), as transformers' own loss does; without
    it, by this batch's own count.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs.pop("labels")
    targets = labels[:, 1:]  # position p predicts token p + 1
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(-1)
    outputs = model(**inputs, use_cache=False, logits_to_keep=keep)
    logits = outputs.logits
    loss = F.cross_entropy(
        logits.float().flatten(0, 1),
        targets[:, keep].flatten(),
        ignore_index=IGNORE,
        reduction="sum",
    )
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE).sum()
    return loss / torch.clamp(torch.as_tensor(count, device=loss.device), min=1)


REAL_TOKENS = "ftx_real_tokens"  # a batch's key: its tokens that are not padding


def counting(collator: Any) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    """``collator``, with each batch's real tokens under ``REAL_TOKENS``, for the trainer to count
    when it trains on the batch: the data loader collates a batch ahead (one that a training
    stopped by max_steps never trains on), and validation batches go through the collator too."""

    def collate(batch: list[dict[str, Any]]) -> dict[str, Any]:
        start = collator.real_tokens
        out = collator(batch)
        out[REAL_TOKENS] = collator.real_tokens - start
        return out

    return collate


def one_gpu_per_process(args: Any, log: Any) -> None:
    """Without a launcher, transformers' Trainer spreads each batch over every visible GPU with
    ``nn.DataParallel``, which splits tensors along their first dimension: a packed batch is
    one row (and its example boundaries would be cut apart), so that gains nothing and breaks
    per-example attention. ftx trains on one GPU per process; ``torchrun`` uses them all."""
    if not distributed.enabled() and args.n_gpu > 1:
        log(
            f"{args.n_gpu} GPUs visible: training on one. To train on all of them, launch with "
            f"torchrun --nproc_per_node {args.n_gpu} -m ftx.cli run ..."
        )
        args._n_gpu = 1


@contextlib.contextmanager
def adapter_inputs_uncast(model: Any, mixed_precision: bool) -> Iterator[None]:
    """Under mixed precision, stop peft casting each LoRA layer's input to the adapter's float32.

    Autocast casts it straight back to bfloat16 for the matmul, so the cast changes nothing but
    costs a kernel per adapted layer forward and one backward: a tenth of the ~4,400 kernels of
    a LoRA step on a 16-layer Llama, where a step of 8 examples is bound by kernel launches on
    a GPU (see docs/performance.md). peft already skips this cast under autocast for 4-bit
    layers. Outside training (generation without autocast) the cast is needed, so it comes back
    when the block ends.
    """
    if not mixed_precision:
        yield
        return
    try:
        from peft.helpers import disable_input_dtype_casting
    except ImportError:  # no peft, or one without the switch: nothing to skip
        yield
        return
    with disable_input_dtype_casting(model):
        yield


CHECKPOINT = re.compile(r"checkpoint-(\d+)")  # transformers' PREFIX_CHECKPOINT_DIR and step
STAGING = (
    ".partial"  # under checkpoints/: a checkpoint being written, renamed into place when complete
)
WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "adapter_model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
    "adapter_model.bin",
)


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

    transformers' ``get_last_checkpoint`` takes the highest step whether or not its folder was
    finished, so a process killed while writing one (or a full disk) blocked every resume. ftx
    writes checkpoints under ``.partial/`` and renames them when complete; what an older ftx
    left under the final name, and what ``.partial/`` holds, is removed here (by the main
    process), so that Trainer neither resumes from it nor counts it among the kept ones.
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
                f"removed {path.name}: it was cut off while being written (no trainer_state.json or no weights)"
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


def train(
    model: Any,
    tokenizer: Any,
    examples: list[Encoded],
    opts: TrainOptions,
    ctx: BackendContext,
    *,
    device: str,
    dtype: Any,
    seed: int,
    label: str,
    validation: list[Encoded] | None = None,
    optim: str | None = None,
) -> TrainStats:
    import torch
    from transformers import (
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.trainer_utils import rotate_checkpoints

    # --- data ---
    dataset = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    eval_dataset = [{"input_ids": e.input_ids, "labels": e.labels} for e in validation or []]
    checkpoints = ctx.dir / "checkpoints"
    early_stopping = bool(eval_dataset) and opts.early_stopping_patience > 0
    every = "steps" if opts.save_steps else "epoch"
    if opts.packing:
        collator = PackingCollator(tokenizer.pad_token_id, multiple=256 if device == "cuda" else 1)
    else:
        collator = PaddingCollator(tokenizer.pad_token_id)

    # --- arguments ---
    args = TrainingArguments(
        output_dir=str(ctx.dir / "checkpoints"),
        per_device_train_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.gradient_accumulation,
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps if opts.max_steps > 0 else -1,
        learning_rate=opts.learning_rate,
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup_ratio,
        weight_decay=opts.weight_decay,
        max_grad_norm=opts.max_grad_norm,
        gradient_checkpointing=opts.gradient_checkpointing,
        # Mixed precision: each forward runs under autocast (bf16 matmuls, float32 softmax and
        # loss), on the CPU too when bfloat16 was asked for.
        bf16=device in ("cuda", "cpu") and dtype == torch.bfloat16,
        fp16=device == "cuda" and dtype == torch.float16,
        use_cpu=device == "cpu",
        # Packed rows have no padding to save; padded batches group similar lengths.
        train_sampling_strategy="random" if opts.packing else "group_by_length",
        logging_steps=1,
        # Checkpoints (with optimizer, scheduler and RNG state) let 'ftx resume' continue exactly.
        save_strategy=every if opts.save_checkpoints or early_stopping else "no",
        save_steps=opts.save_steps or 500,
        save_total_limit=opts.save_total_limit,
        eval_strategy=every if eval_dataset else "no",
        eval_steps=opts.save_steps or None,
        per_device_eval_batch_size=opts.batch_size,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if eval_dataset else None,
        greater_is_better=False if eval_dataset else None,
        label_names=["labels"],
        prediction_loss_only=True,
        report_to="none",
        disable_tqdm=True,
        log_level="error",
        seed=seed,
        data_seed=seed,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        # Under DDP every trainable weight (LoRA's included) takes part in each step; the
        # search for unused ones costs an extra pass over the autograd graph.
        ddp_find_unused_parameters=False,
        # Under a launcher, num_items_in_batch counts the target tokens of every process's share
        # of the step (transformers' default, made explicit: CompletionTrainer relies on it).
        average_tokens_across_devices=True,
        **({"optim": optim} if optim else {}),
    )

    one_gpu_per_process(args, ctx.log)
    if problem := distributed.single_process_problem():
        ctx.log(problem)

    # --- resume: the newest complete checkpoint, and the training log up to its step ---
    log_path = ctx.dir / "train_log.jsonl"
    resume = last_checkpoint(checkpoints, ctx.log)
    if resume:
        ctx.log(f"resuming training from {resume}, the newest complete checkpoint")
    before = (
        keep_log_until(
            log_path, int(CHECKPOINT.fullmatch(Path(resume).name).group(1)) if resume else 0
        )
        if distributed.is_main()
        else {}
    )

    # --- progress and the training log ---
    started = time.time()
    last: dict[str, Any] = {}

    class Progress(TrainerCallback):
        task = None
        tokens = 0  # trained on so far in this training, by every process

        def on_train_begin(self, args, state, control, **kwargs):
            self.task = ctx.progress.add_task(label, total=state.max_steps, info="")

        def on_step_end(self, args, state, control, **kwargs):
            # Under a launcher, a sum over the processes (every one ends each step): the log and
            # tok/s are those of the whole run, not of the main process's share.
            self.tokens = distributed.total(trainer.trained_tokens)
            elapsed = max(time.time() - started, 1e-9)
            info = f"loss {last['loss']:.3f} · lr {last['learning_rate']:.1e} · " if last else ""
            ctx.progress.update(
                self.task,
                completed=state.global_step,
                info=f"{info}{self.tokens / elapsed:.0f} tok/s",
            )
            self.stop_if_cancelled(control)

        def stop_if_cancelled(self, control):
            if (
                ctx.cancelled.is_set()
            ):  # Ctrl-C: end this step with a checkpoint 'ftx resume' continues from
                control.should_training_stop = True
                control.should_save = opts.save_checkpoints

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:
                return  # under a launcher, the main process keeps the one training log
            if logs and "eval_loss" in logs:
                entry = {
                    "step": state.global_step,
                    "epoch": round(state.epoch or 0, 4),
                    "eval_loss": logs["eval_loss"],
                }
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
                ctx.emit("train_log", entry)
                return
            if not logs or "loss" not in logs:
                return
            entry = {
                "step": state.global_step,
                "epoch": round(state.epoch or 0, 4),
                "loss": logs["loss"],
                "learning_rate": logs.get("learning_rate", 0.0),
                "grad_norm": logs.get("grad_norm"),
                # Counted from the start of the training, across the resumes that continued it.
                "tokens": before.get("tokens", 0) + self.tokens,
                "seconds": round(before.get("seconds", 0) + time.time() - started, 3),
            }
            last.update(entry)
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
            ctx.emit("train_log", entry)
            self.stop_if_cancelled(control)  # the step's checkpoint is written after its log

    # --- train ---
    class CompletionTrainer(Trainer):
        staging: str | None = None  # where checkpoints go while _save_checkpoint writes one
        trained_tokens = 0  # real tokens of the batches this process has trained on

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # Trainer counts num_items_in_batch (and then leaves the loss unscaled for gradient
            # accumulation) only for models whose forward takes loss kwargs; completion_loss
            # takes it whatever the model, and shifts labels as a causal LM loss does.
            self.model_accepts_loss_kwargs = True
            self._loss_shifts_labels = True

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            tokens = inputs.pop(REAL_TOKENS, 0)
            if model.training:  # not a validation batch
                self.trained_tokens += tokens
            loss = completion_loss(model, inputs, num_items_in_batch)
            if num_items_in_batch is not None and self.args.average_tokens_across_devices:
                # Under a launcher, each process divides its own share's sum by the token count
                # of the whole step, and DDP then averages the processes' gradients: multiplied
                # by their number, the gradient (and the loss Trainer logs, a mean over the
                # processes) are those of one process on the whole step. Trainer's own
                # compute_loss does this too; overriding it, so must we.
                loss = loss * self.accelerator.num_processes
            return (loss, {"loss": loss}) if return_outputs else loss

        def _get_output_dir(self, trial):
            return self.staging or super()._get_output_dir(trial)

        def _save_checkpoint(self, model, trial, *args, **kwargs):
            # Trainer writes checkpoint-N file by file under its final name; here it writes
            # under .partial/ and the folder is renamed into place once complete, so a process
            # killed mid-write, or a full disk, never leaves a checkpoint-N that resume would
            # pick and fail to load.
            final = super()._get_output_dir(trial)
            name = f"checkpoint-{self.state.global_step}"
            self.staging = os.path.join(final, STAGING)
            staged, target = os.path.join(self.staging, name), os.path.join(final, name)
            try:
                super()._save_checkpoint(model, trial, *args, **kwargs)
                if self.state.best_model_checkpoint == staged:  # this step is the best so far
                    self.state.best_model_checkpoint = target
                    if self.args.should_save:
                        self.state.save_to_json(os.path.join(staged, "trainer_state.json"))
                distributed.barrier()  # every process has written its RNG state into it
                if self.args.should_save:
                    sync_tree(staged)
                    shutil.rmtree(target, ignore_errors=True)  # a stale copy of this same step
                    os.replace(staged, target)
                    sync(final)  # the rename itself
                    with contextlib.suppress(OSError):
                        os.rmdir(self.staging)
            except OSError as exc:
                shutil.rmtree(staged, ignore_errors=True)  # useless now; its space is needed
                if exc.errno == errno.ENOSPC:
                    from ftx.store import write_error

                    raise write_error(Path(exc.filename or staged), exc) from None
                raise
            finally:
                self.staging = None
            if self.args.should_save:  # Trainer's own rotation ran in .partial/
                rotate_checkpoints(
                    output_dir=final,
                    save_total_limit=self.args.save_total_limit,
                    best_model_checkpoint=self.state.best_model_checkpoint,
                    use_mtime=True,
                )

    callbacks = [Progress()]
    if early_stopping:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience)
        )
    trainer = CompletionTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset or None,
        data_collator=counting(collator),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    with (
        packed_rows(model) if opts.packing else contextlib.nullcontext(False) as per_example,
        adapter_inputs_uncast(model, args.bf16 or args.fp16),
    ):
        if opts.packing:
            collator.boundaries = per_example
        output = trainer.train(resume_from_checkpoint=resume)
    if per_example and varlen_problem():
        ctx.log(
            f"flash variable-length attention unavailable ({varlen_problem()}); packed rows used SDPA with a mask"
        )
    if ctx.cancelled.is_set():
        ctx.log(f"interrupted at step {trainer.state.global_step}; checkpoint saved")
        raise KeyboardInterrupt
    if trainer.state.best_model_checkpoint:
        ctx.log(
            f"best checkpoint: {trainer.state.best_model_checkpoint} (eval_loss {trainer.state.best_metric:.4f})"
        )
    return TrainStats(
        seconds=output.metrics.get("train_runtime", time.time() - started),
        train_tokens=distributed.total(trainer.trained_tokens),  # every process's share
        steps=trainer.state.global_step,
        final_loss=last.get("loss"),
    )
