"""What local-dpo changes in TRL's DPOTrainer: ftx's data, checkpoints, training log and quiet.

``PreferenceTrainer`` is TRL's DPOTrainer (its losses, reference and reward figures) fed the
pairs ftx tokenized, writing checkpoints whole or not at all as every local trainer does
(``trainer.WholeCheckpoints``), and writing no model card and sending no telemetry.
``PreferenceLog`` adds DPO's reward figures to each entry of ``train_log.jsonl``. This module
imports transformers and TRL: ``dpo.train_pairs`` imports it only when a training starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from transformers import TrainingArguments
from trl import DPOConfig, DPOTrainer

from .trainer import TrainingLog, WholeCheckpoints

# --- arguments -----------------------------------------------------------------------------------


def preference_arguments(args: TrainingArguments, opts: Any, *, max_length: int) -> DPOConfig:
    """``args`` (every local trainer's, ``train.build_arguments``) as TRL's DPOConfig, with the
    backend's DPO options. Pairs are tokenized by ftx, so TRL truncates only: each sequence
    keeps its first ``max_length`` tokens, as ``fit`` decided."""
    same = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingArguments) if f.init}
    return DPOConfig(
        **same,
        beta=opts.beta,
        loss_type=[opts.loss_type],
        label_smoothing=opts.label_smoothing,
        max_length=max_length,
        truncation_mode="keep_start",
    )


# --- the trainer ---------------------------------------------------------------------------------


class PreferenceTrainer(WholeCheckpoints, DPOTrainer):
    """TRL's DPOTrainer on ftx's tokenized pairs, with ftx's checkpoints and token count."""

    trained_tokens = 0  # real tokens of the batches this process has trained on

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        # The pairs are token ids already (dpo.encode_pair), made with the backend's template
        # as SFT and generation make theirs; TRL would render them with the chat template.
        return dataset

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.model.training:  # not a validation batch
            self.trained_tokens += int(inputs["attention_mask"].sum())
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """No README.md in the checkpoints folder: the run's own files say what trained."""

    def _send_telemetry(self) -> None:
        """TRL reports each training to the Hugging Face Hub; ftx sends nothing anywhere."""


def build_trainer(
    model: Any,
    tokenizer: Any,
    args: DPOConfig,
    dataset: Any,
    eval_dataset: Any,
    log: TrainingLog,
    early_stopping: bool,
    opts: Any,
) -> PreferenceTrainer:
    """The trainer with the training log (in place of transformers' printed logs) and, with
    validation and a patience, early stopping. ``model`` carries its adapter; TRL keeps a
    frozen copy of it as the reference (for a new adapter: the base)."""
    from transformers import EarlyStoppingCallback, PrinterCallback

    callbacks: list[Any] = [log]
    if early_stopping:
        callbacks.append(
            EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience)
        )
    trainer = PreferenceTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)
    log.trainer = trainer  # its trained tokens feed the log and tok/s
    return trainer


def drop_reference(model: Any) -> None:
    """Remove the frozen copy of the adapter TRL kept as the reference, so that what is saved,
    answers and is scored is the trained adapter alone."""
    if "ref" in getattr(model, "peft_config", {}):
        model.delete_adapter("ref")


# --- the training log ----------------------------------------------------------------------------


class PreferenceLog(TrainingLog):
    """The training log with DPO's figures for each logged step, under TRL's names and over the
    step's pairs: ``rewards/accuracies``, how often the chosen answer's reward beat the rejected
    one's, and ``rewards/margins``, by how much on average (beta times the log-ratio margin,
    against the model training started from); validation entries get ``eval_rewards/...``."""

    FIGURES = ("rewards/accuracies", "rewards/margins")

    logs: dict[str, float] = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.logs = dict(logs or {})
        super().on_log(args, state, control, logs=logs, **kwargs)

    def write(self, entry: dict[str, Any]) -> None:
        prefix = "eval_" if "eval_loss" in entry else ""
        figures = {
            prefix + key: round(self.logs[prefix + key], 6)
            for key in self.FIGURES
            if isinstance(self.logs.get(prefix + key), (int, float))
        }
        super().write({**entry, **figures})
