"""The training recipe of the local backends: transformers' Trainer with our data pipeline.

Trainer gives us, tested by many users: gradient accumulation, schedules, mixed precision,
gradient checkpointing, checkpoints and resume, and DDP under ``accelerate launch``. What it
is fed is ours: completion-only labels, length-grouped dynamic padding or packed rows, and a
rich progress bar with loss, learning rate and tokens/s.

``train()`` reads top to bottom: where to resume, the data, the arguments, the trainer, the
loop, what it did. The backend (``LocalTrainer.train`` in ``__init__.py``) builds the model
before and saves it after. The pieces live beside this file: ``loss.py`` (the loss),
``trainer.py`` (the Trainer subclass and the training log), ``checkpoints.py`` (writing and
resuming checkpoints).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftx import distributed
from ftx.backend import BackendContext, Cancelled
from ftx.types import TrainStats

from .attention import packed_rows, varlen_problem
from .batches import Ungrouping, describe, group_rows, resolve_batch_tokens, token_batches
from .checkpoints import resume_point, steps_of
from .compiled import compiled_layers
from .loss import Counting
from .loss import completion_loss as completion_loss  # imported from here by tests, benchmarks
from .options import TrainOptions
from .tokenize import Encoded, PackingCollator, PaddingCollator


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
    """Train ``model`` (in place) on ``examples``, validating on ``validation`` if given, with
    checkpoints, the training log and the progress bar under ``ctx``; returns what it did."""
    from .trainer import TrainingLog  # imports transformers: only once a training starts

    # --- resume: the newest complete checkpoint, and the training log up to its step ---
    checkpoints = ctx.dir / "checkpoints"
    log_path = ctx.dir / "train_log.jsonl"
    resume, before = resume_point(checkpoints, log_path, ctx.log)

    # --- data: completion-only labels, in packed rows or padded batches, sized in examples
    # or in tokens (as the checkpoint resumed from was) ---
    dataset, eval_dataset = rows(examples), rows(validation or [])
    collator = make_collator(tokenizer, opts, device)
    dataset, budget = size_steps(dataset, opts, device, seed, ctx.log, steps_of(resume))
    early_stopping = bool(eval_dataset) and opts.early_stopping_patience > 0

    # --- arguments ---
    args = build_arguments(
        opts,
        checkpoints,
        device=device,
        dtype=dtype,
        seed=seed,
        validating=bool(eval_dataset),
        early_stopping=early_stopping,
        optim=optim,
        grouped=bool(budget),
    )
    one_gpu_per_process(args, ctx.log)
    if problem := distributed.single_process_problem():
        ctx.log(problem)

    # --- the trainer, with the progress bar and the training log ---
    log = TrainingLog(ctx, label, log_path, before, save_on_cancel=opts.save_checkpoints)
    trainer = build_trainer(
        model, tokenizer, args, dataset, eval_dataset, collator, log, early_stopping, opts
    )
    trainer.batch_tokens = budget  # recorded in each checkpoint, for a resume

    # --- train ---
    output = run(trainer, model, collator, opts, resume, ctx)

    # --- what it did ---
    return report(trainer, output, log, ctx)


# --- data --------------------------------------------------------------------------------------


def rows(examples: list[Encoded]) -> list[dict[str, list[int]]]:
    """The dataset Trainer iterates: each example's token ids and labels (-100 on the prompt)."""
    return [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]


def make_collator(tokenizer: Any, opts: TrainOptions, device: str) -> Any:
    """Packed rows (no padding at all) or padded batches of similar lengths. On CUDA a packed row
    is rounded up to a multiple of 256 tokens, so the GPU sees few distinct shapes."""
    if opts.packing:
        return PackingCollator(tokenizer.pad_token_id, multiple=row_multiple(device))
    return PaddingCollator(tokenizer.pad_token_id)


def row_multiple(device: str) -> int:
    return 256 if device == "cuda" else 1


def size_steps(
    dataset: list[dict[str, list[int]]],
    opts: TrainOptions,
    device: str,
    seed: int,
    log: Any,
    trained: int | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """With a token budget in force (``batch_tokens``), the dataset as groups of examples, one
    micro-step each (``batches.py``); else as it is. Returns it and the budget (0: none).

    ``trained``: the budget of the checkpoint a training resumes from (``steps_of``). It wins
    over what ``batch_tokens=auto`` resolves to now (on another device, or where the checkpoint
    predates steps sized in tokens): Trainer skips the resumed epoch's first steps by count,
    so the steps must be the ones it trained."""
    lengths = [len(row["input_ids"]) for row in dataset]
    budget = resolve_batch_tokens(
        opts.batch_tokens,
        device=device,
        batch_size=opts.batch_size,
        longest=max(lengths, default=0),
        multiple=row_multiple(device) if opts.packing else 1,
        lengths=lengths,
        accumulation=opts.gradient_accumulation,
    )
    if trained is not None and trained != budget:
        log(
            f"resumed with the checkpoint's steps, of {step_size(trained, opts)}, not of "
            f"{step_size(budget, opts)} (batch_tokens={opts.batch_tokens} here), so that the "
            "training goes on where it stopped"
        )
        budget = trained
    if not budget:
        return dataset, 0
    groups = token_batches(lengths, budget, packed=opts.packing, seed=seed)
    log(describe(groups, lengths, budget))
    return group_rows(dataset, groups), budget


def step_size(budget: int, opts: TrainOptions) -> str:
    return f"up to {budget:,} tokens" if budget else f"{opts.batch_size} examples"


# --- arguments ---------------------------------------------------------------------------------


# TrainingArguments that are not options, each with its reason.
FIXED_ARGUMENTS: dict[str, Any] = {
    # The batches are ftx's (completion-only labels, example boundaries, a token count), kept
    # whole and collated in this process; validation computes the loss and nothing else.
    "remove_unused_columns": False,
    "label_names": ["labels"],
    "prediction_loss_only": True,
    "dataloader_num_workers": 0,
    # Every step is logged, by TrainingLog alone (no reporting integrations, no tqdm).
    "logging_steps": 1,
    "report_to": "none",
    "disable_tqdm": True,
    "log_level": "error",
    # Under DDP every trainable weight (LoRA's included) takes part in each step; the
    # search for unused ones costs an extra pass over the autograd graph.
    "ddp_find_unused_parameters": False,
    # Under a launcher, num_items_in_batch counts the target tokens of every process's share
    # of the step (transformers' default, made explicit: CompletionTrainer relies on it).
    "average_tokens_across_devices": True,
}


def build_arguments(
    opts: TrainOptions,
    output_dir: Path,
    *,
    device: str,
    dtype: Any,
    seed: int,
    validating: bool,
    early_stopping: bool,
    optim: str | None,
    grouped: bool = False,
) -> Any:
    """transformers' TrainingArguments from the backend's options and ``FIXED_ARGUMENTS``.
    ``grouped``: each dataset item is already a micro-step's examples (``size_steps``)."""
    import torch
    from transformers import TrainingArguments

    every = "steps" if opts.save_steps else "epoch"
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=1 if grouped else opts.batch_size,
        gradient_accumulation_steps=opts.gradient_accumulation,
        num_train_epochs=opts.epochs,
        max_steps=opts.max_steps if opts.max_steps > 0 else -1,
        learning_rate=opts.learning_rate,
        lr_scheduler_type=opts.lr_scheduler,
        warmup_steps=opts.warmup_ratio,
        weight_decay=opts.weight_decay,
        max_grad_norm=opts.max_grad_norm,
        gradient_checkpointing=opts.gradient_checkpointing,
        **({"optim": optim} if optim else {}),
        # Mixed precision: each forward runs under autocast (bf16 matmuls, float32 softmax and
        # loss), on the CPU too when bfloat16 was asked for.
        bf16=device in ("cuda", "cpu") and dtype == torch.bfloat16,
        fp16=device == "cuda" and dtype == torch.float16,
        use_cpu=device == "cpu",
        # Packed rows have no padding to save; padded batches group similar lengths (groups of
        # examples sized in tokens hold similar lengths already).
        train_sampling_strategy="random" if opts.packing or grouped else "group_by_length",
        seed=seed,
        data_seed=seed,
        # Checkpoints (with optimizer, scheduler and RNG state) let 'ftx resume' continue exactly.
        save_strategy=every if opts.save_checkpoints or early_stopping else "no",
        save_steps=opts.save_steps or 500,
        save_total_limit=opts.save_total_limit,
        # Validation: the loss on examples held out of the training split, to stop early.
        eval_strategy=every if validating else "no",
        eval_steps=opts.save_steps or None,
        per_device_eval_batch_size=opts.batch_size,
        load_best_model_at_end=early_stopping,
        metric_for_best_model="eval_loss" if validating else None,
        greater_is_better=False if validating else None,
        **FIXED_ARGUMENTS,
    )


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


# --- the trainer -------------------------------------------------------------------------------


def build_trainer(
    model: Any,
    tokenizer: Any,
    args: Any,
    dataset: list[dict[str, list[int]]],
    eval_dataset: list[dict[str, list[int]]],
    collator: Any,
    log: Any,
    early_stopping: bool,
    opts: TrainOptions,
) -> Any:
    """ftx's Trainer with the training log (in place of transformers' printed logs) and, with
    validation and a patience, early stopping."""
    from transformers import EarlyStoppingCallback, PrinterCallback

    from .trainer import CompletionTrainer

    callbacks = [log]
    if early_stopping:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience)
        )
    trainer = CompletionTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset or None,
        data_collator=Counting(Ungrouping(collator)),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    log.trainer = trainer  # its trained tokens feed the log and tok/s
    return trainer


# --- train -------------------------------------------------------------------------------------


def run(
    trainer: Any,
    model: Any,
    collator: Any,
    opts: TrainOptions,
    resume: str | None,
    ctx: BackendContext,
) -> Any:
    """Trainer's loop, from ``resume`` if given, with packed rows attended example by example
    (where the model's attention allows), LoRA inputs left uncast under mixed precision, and
    decoder layers compiled if asked; all undone when it ends, for generation."""
    packing = opts.packing
    with (
        packed_rows(model) if packing else contextlib.nullcontext(False) as per_example,
        adapter_inputs_uncast(model, trainer.args.bf16 or trainer.args.fp16),
        compiled_layers(model, opts.compile, ctx.log),
    ):
        if packing:  # the boundaries go along only where packed_attention reads them
            collator.boundaries = per_example
        output = trainer.train(resume_from_checkpoint=resume)
    if per_example and varlen_problem():
        ctx.log(
            f"flash variable-length attention unavailable ({varlen_problem()}); "
            "packed rows used SDPA with a mask"
        )
    return output


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


# --- what it did -------------------------------------------------------------------------------


def report(trainer: Any, output: Any, log: Any, ctx: BackendContext) -> TrainStats:
    """The training's figures; a Ctrl-C that stopped it is raised again, once its checkpoint is
    written, for the runner to mark the backend interrupted."""
    if ctx.cancelled.is_set():
        ctx.log(f"interrupted at step {trainer.state.global_step}; checkpoint saved")
        raise Cancelled
    if trainer.state.best_model_checkpoint:
        ctx.log(
            f"best checkpoint: {trainer.state.best_model_checkpoint} "
            f"(eval_loss {trainer.state.best_metric:.4f})"
        )
    return TrainStats(
        seconds=output.metrics.get("train_runtime", time.time() - log.started),
        train_tokens=distributed.total(trainer.trained_tokens),  # every process's share
        steps=trainer.state.global_step,
        final_loss=log.last.get("loss"),
    )
