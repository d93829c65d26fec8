"""What ftx changes in transformers' Trainer: the loss, checkpoints, and the training log.

``CompletionTrainer`` trains on completion tokens only (``loss.completion_loss``), counts the
tokens it trains on, and writes each checkpoint whole or not at all (``checkpoints.publish``).
``TrainingLog`` is the callback behind the progress bar, ``train_log.jsonl`` and Ctrl-C.
This module imports transformers: ``train.train`` imports it only when a training starts.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import rotate_checkpoints

from ftx import distributed
from ftx.backend import BackendContext

from .checkpoints import STAGING, publish, record_steps
from .loss import REAL_TOKENS, completion_loss

# --- the trainer -------------------------------------------------------------------------------


class WholeCheckpoints(Trainer):
    """transformers' Trainer writing each checkpoint whole or not at all, with the step size it
    trained with; the base of ``CompletionTrainer`` and of local-dpo's trainer (``dpo_trainer``),
    which put it before their other base in the MRO."""

    staging: str | None = None  # where checkpoints go while _save_checkpoint writes one
    batch_tokens = 0  # the token budget of a step (0: steps of examples), kept in checkpoints

    def _get_output_dir(self, trial):
        return self.staging or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial, *args, **kwargs):
        # Trainer writes checkpoint-N file by file under its final name; here it writes under
        # .partial/ and the folder is renamed into place once complete, so a process killed
        # mid-write, or a full disk, never leaves a checkpoint-N that resume would pick and
        # fail to load.
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
            if self.args.should_save:  # a resume groups its data the same way (steps_of)
                record_steps(staged, self.batch_tokens)
            distributed.barrier()  # every process has written its RNG state into it
            if self.args.should_save:
                publish(staged, target)
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


class CompletionTrainer(WholeCheckpoints):
    """transformers' Trainer with ftx's loss, token count and whole-or-absent checkpoints."""

    trained_tokens = 0  # real tokens of the batches this process has trained on

    def __init__(self, *args: Any, **kwargs: Any):
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


# --- the progress bar and the training log -----------------------------------------------------


class TrainingLog(TrainerCallback):
    """Shows step, loss, learning rate and tok/s; appends each logged step to the training log
    (``train_log.jsonl``) and sends it as a ``train_log`` run event; on Ctrl-C (``ctx.cancelled``)
    ends the training after the step in progress, checkpointed for ``ftx resume``.

    ``before`` is the log's last loss entry of the trainings this one resumes: its tokens and
    seconds are counted on from. ``trainer`` is set once the trainer exists: the tokens it has
    trained on feed the log and tok/s.
    """

    def __init__(
        self,
        ctx: BackendContext,
        label: str,
        log_path: Path,
        before: dict[str, Any],
        *,
        save_on_cancel: bool,
    ):
        self.ctx, self.label, self.log_path, self.before = ctx, label, log_path, before
        self.save_on_cancel = save_on_cancel
        self.trainer: CompletionTrainer | None = None
        self.started = time.time()
        self.last: dict[str, Any] = {}  # the newest loss entry
        self.task: Any = None
        self.tokens = 0  # trained on so far in this training, by every process

    def on_train_begin(self, args, state, control, **kwargs):
        self.task = self.ctx.task(self.label, total=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        # Under a launcher, a sum over the processes (every one ends each step): the log and
        # tok/s are those of the whole run, not of the main process's share.
        self.tokens = distributed.total(self.trainer.trained_tokens)
        elapsed = max(time.time() - self.started, 1e-9)
        last = self.last
        info = f"loss {last['loss']:.3f} · lr {last['learning_rate']:.1e} · " if last else ""
        self.task.update(
            completed=state.global_step, info=f"{info}{self.tokens / elapsed:.0f} tok/s"
        )
        self.stop_if_cancelled(control)

    def stop_if_cancelled(self, control):
        if self.ctx.cancelled.is_set():  # Ctrl-C: end this step with a checkpoint to resume from
            control.should_training_stop = True
            control.should_save = self.save_on_cancel

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return  # under a launcher, the main process keeps the one training log
        if logs and "eval_loss" in logs:
            self.write(
                {
                    "step": state.global_step,
                    "epoch": round(state.epoch or 0, 4),
                    "eval_loss": logs["eval_loss"],
                }
            )
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
            "tokens": self.before.get("tokens", 0) + self.tokens,
            "seconds": round(self.before.get("seconds", 0) + time.time() - self.started, 3),
        }
        self.last.update(entry)
        self.write(entry)
        self.stop_if_cancelled(control)  # the step's checkpoint is written after its log

    def write(self, entry: dict[str, Any]) -> None:
        """One line of the training log, and the run event that carries it."""
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        self.ctx.emit("train_log", entry)
