"""local-dpo and local-qlora-dpo: Direct Preference Optimization (TRL's DPOTrainer) of a LoRA
adapter, on the model as it is or 4-bit quantized, from the base or from an SFT adapter.

    ftx run --data pairs.jsonl --backend local-base --backend local-lora --backend local-dpo \\
        --set local-dpo.start_from=local-lora

DPO trains on preference pairs (``ftx.preference``): each step raises the chosen answer's
log-probability and lowers the rejected one's, relative to a frozen reference, the model
training started from; ``beta`` says how far it may move from it, ``loss_type`` which of TRL's
preference losses it minimises. It starts from the base model with a new adapter, or with
``start_from=BACKEND`` from the adapter that a LoRA or QLoRA backend of the same run trained
before it (SFT on the chosen answers, then DPO: what Google recommends for Vertex AI and TRL's
recipes do). That adapter trains on, and a frozen copy of it is the reference.

What is ftx's and what is TRL's: ftx tokenizes each pair with the backend's template, as SFT
and generation do (``encode_pair``), fits the pairs to ``max_seq_length``, holds out
validation, and checkpoints, logs and resumes as the other local trainers (``train.py``,
``trainer.WholeCheckpoints``, ``checkpoints.py``); TRL computes the loss and its reward figures
(``dpo_trainer.py``). The adapter is saved where local-lora saves its own, so ``attach`` and
``ftx export`` are local-lora's.

``pair_logprobs`` is here too: what the ``reward`` evaluator reads of any local model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ftx import distributed
from ftx.backend import BackendContext
from ftx.errors import FtxError
from ftx.options import option
from ftx.preference import pairs, pairs_problem, rejected_example
from ftx.types import Example, GenerationParams, PairLogprobs, Problem, Splits, TrainStats

from . import ADAPTER_DIR, LocalLoRA, LocalModel, LocalQLoRA
from . import model as models
from .checkpoints import resume_point
from .lengths import Fitted
from .options import LoraOptions, QLoraOptions, TrainOptions
from .tokenize import IGNORE, Encoded, encode_prompt

# TRL's preference losses (DPOConfig.loss_type) that train on pairs ("sft" alone is SFT).
LOSSES = Literal[
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sigmoid_norm",
]


# --- options -------------------------------------------------------------------------------------


@dataclass
class PreferenceOptions:
    """What DPO adds to the LoRA (or QLoRA) options, and the defaults it changes."""

    start_from: str = option(
        "base",
        "where training starts: base (a new adapter), or the name of a LoRA or QLoRA backend of "
        "this run listed before this one, whose adapter this one trains further (SFT then DPO)",
    )
    beta: float = option(
        0.1, "DPO's beta: how far the model may move from where it started (higher: less far)"
    )
    loss_type: LOSSES = option(
        "sigmoid",
        "TRL's preference loss: sigmoid (DPO), ipo, hinge, robust, apo_zero, ... (TRL's docs)",
    )
    label_smoothing: float = option(
        0.0, "share of preference labels assumed flipped, for the robust and exo_pair losses"
    )
    learning_rate: float = option(
        5e-5, "peak learning rate (DPO refines a model: far lower than local-lora's)"
    )
    packing: bool = option(
        False, "must stay false: each pair is padded to its batch (no padding-free DPO yet)"
    )
    batch_tokens: int | Literal["auto"] = option(0, "must stay 0: each step holds batch_size pairs")

    def validate(self) -> list[str]:
        problems = super().validate()  # type: ignore[misc]  (LoraOptions', after it in the MRO)
        if self.beta <= 0:
            problems.append(f"beta must be above 0, got {self.beta}")
        if not 0 <= self.label_smoothing < 0.5:
            problems.append(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}")
        if self.loss_type == "exo_pair" and not self.label_smoothing:
            problems.append("loss_type=exo_pair needs a label_smoothing above 0 (the paper: 1e-3)")
        if self.packing:
            problems.append("packing is not available for preference pairs: set packing=false")
        if self.batch_tokens != 0:
            problems.append("batch_tokens is not available for preference pairs: set it to 0")
        if not self.start_from.strip():
            problems.append("start_from must be base or the name of a backend of the run")
        return problems


@dataclass
class DPOOptions(PreferenceOptions, LoraOptions):
    pass


@dataclass
class QLoraDPOOptions(PreferenceOptions, QLoraOptions):
    pass


# --- the pairs as token ids ----------------------------------------------------------------------


@dataclass
class EncodedPair:
    """A pair's prompt and both answers as token ids, tokenized as for SFT and generation: the
    prompt as the template renders it, each answer with its end-of-turn marker."""

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]

    def longer(self) -> Encoded:
        """The prompt and its longer answer, labelled: what decides whether the pair fits."""
        answer = max(self.chosen_ids, self.rejected_ids, key=len)
        return Encoded(self.prompt_ids + answer, [IGNORE] * len(self.prompt_ids) + answer)

    def row(self) -> dict[str, Any]:
        """The pair as TRL's DPOTrainer reads a tokenized dataset's rows, with the ``length``
        that batches of similar lengths are grouped by (as padded SFT batches are)."""
        return {
            "prompt_ids": self.prompt_ids,
            "chosen_ids": self.chosen_ids,
            "rejected_ids": self.rejected_ids,
            "length": len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids)),
        }


def encode_pair(example: Example, template: Any, tokenizer: Any) -> EncodedPair:
    def answer(text: str) -> list[int]:
        completion = template.completion(example.prompt, text, tokenizer)
        return tokenizer(completion, add_special_tokens=False).input_ids

    if example.rejected is None:
        raise ValueError(f"example {example.id} is not a preference pair")
    return EncodedPair(
        encode_prompt(example.prompt, template, tokenizer),
        answer(example.reference),
        answer(example.rejected),
    )


# --- the backends --------------------------------------------------------------------------------


class PreferenceTraining:
    """What local-dpo and local-qlora-dpo change in local-lora and local-qlora (before them in
    the MRO): pairs instead of examples, DPO's loop, and where the adapter starts."""

    name: str
    start: Path | None = None  # the adapter training starts from (None: a new one)

    def depends_on(self, opts: Any) -> list[str]:
        return [] if opts.start_from == "base" else [opts.start_from]

    # --- preflight ---------------------------------------------------------------------------

    def check(
        self, splits: Splits, opts: Any, generation: GenerationParams | None = None
    ) -> list[Problem]:
        problems = []
        if (problem := pairs_problem(splits.train, self.name)) is not None:
            problems.append(problem)
        problems += super().check(splits, opts, generation)  # type: ignore[misc]
        if distributed.fsdp():
            problems.append(
                Problem(
                    f"{self.name} does not train under FSDP yet",
                    self.name,
                    hint="train it with DDP: torchrun, or accelerate launch without FSDP",
                )
            )
        return problems

    # --- data: pairs, fitted to max_seq_length --------------------------------------------------

    def encode_training(
        self, examples: list[Example], template: Any, tokenizer: Any
    ) -> list[EncodedPair]:
        return [encode_pair(e, template, tokenizer) for e in pairs(examples)]

    def fit(
        self, encoded: list[EncodedPair], opts: TrainOptions, context: int | None, examples: Any
    ) -> Fitted:
        """``long_examples`` applied to pairs by their longer answer, with the message and
        counts every trainer gives. A pair kept over the limit is cut there when it is batched
        (each of its two sequences keeps its start: the prompt and its answer's beginning)."""
        longer = [pair.longer() for pair in encoded]
        fitted = super().fit(longer, opts, context, pairs(examples))  # type: ignore[misc]
        limit, policy = fitted.limit, opts.long_examples
        fitted.examples = [
            pair
            for pair, whole in zip(encoded, longer)
            if len(whole) <= limit
            or policy == "error"  # refused in preflight already
            or (policy == "truncate" and len(pair.prompt_ids) < limit)  # an answer is left
        ]
        return fitted

    # --- model: a new adapter, or the one another backend of the run trained ----------------------

    def build_model(self, opts: Any, ctx: BackendContext) -> tuple[Any, Any, str, Any]:
        self.start = starting_adapter(self.name, opts, ctx)
        if self.start is not None:
            ctx.state["start_from"] = {"backend": opts.start_from, "adapter": str(self.start)}
            ctx.save_state()
            ctx.log(
                f"trains {opts.start_from}'s adapter ({self.start}) further; its rank and "
                "modules are kept, this backend's lora_* options do not apply"
            )
        return super().build_model(opts, ctx)  # type: ignore[misc]

    def adapter(self, model: Any, opts: Any) -> Any:
        if self.start is None:
            return super().adapter(model, opts)  # type: ignore[misc]
        from peft import PeftModel

        return PeftModel.from_pretrained(model, self.start, is_trainable=True)

    def recipe(self) -> Any:
        return train_pairs


def starting_adapter(name: str, opts: Any, ctx: BackendContext) -> Path | None:
    """The folder of the adapter ``start_from`` names, in this run's folder; None for base.
    Raises, in one sentence, when it is not there or was trained on another model."""
    if opts.start_from == "base":
        return None
    source = opts.start_from
    folder = ctx.dir.parent / source / ADAPTER_DIR
    weights = ("adapter_model.safetensors", "adapter_model.bin")
    if not (folder / "adapter_config.json").is_file() or not any(
        (folder / w).is_file() for w in weights
    ):
        raise FtxError(
            f"{name} starts from {source}'s adapter, and there is none in {folder}: {source} "
            "failed, has not trained yet, or is not a LoRA or QLoRA backend of this run.",
            hint=f"Train {source} first (list it before {name}, or 'ftx resume' once it has "
            f"trained), or --set {name}.start_from=base.",
        )
    trained_on = json.loads((folder / "adapter_config.json").read_text()).get(
        "base_model_name_or_path"
    )
    here = models.materialize(models.resolve(opts.model))
    if trained_on and os.path.realpath(trained_on) != os.path.realpath(here):
        raise FtxError(
            f"{source}'s adapter was trained on {trained_on}, and {name} loads {here}.",
            hint="Give both the same model (--model sets it for every local backend).",
        )
    return folder


class LocalDPO(PreferenceTraining, LocalLoRA):
    name = "local-dpo"
    description = "DPO on preference pairs (TRL): a LoRA adapter, new or an SFT backend's"
    Options = DPOOptions


class LocalQLoRADPO(PreferenceTraining, LocalQLoRA):
    name = "local-qlora-dpo"
    description = "DPO on preference pairs (TRL): a LoRA adapter on the 4-bit quantized model"
    Options = QLoraDPOOptions


# --- the recipe ----------------------------------------------------------------------------------


def train_pairs(
    model: Any,
    tokenizer: Any,
    examples: list[EncodedPair],
    opts: Any,
    ctx: BackendContext,
    *,
    device: str,
    dtype: Any,
    seed: int,
    label: str,
    validation: list[EncodedPair] | None = None,
    optim: str | None = None,
) -> TrainStats:
    """Train ``model``'s adapter (in place) on the pairs with TRL's DPO loss, as ``train.train``
    trains on examples: resume point, data, arguments, trainer, loop, what it did."""
    from datasets import Dataset

    from .dpo_trainer import PreferenceLog, build_trainer, drop_reference, preference_arguments
    from .train import build_arguments, one_gpu_per_process, report, run

    if not examples:  # preflight refuses such data; this is a resumed run's with other options
        raise FtxError(
            f"{ctx.dir.name} has no preference pair to train on.",
            hint="Give preference data (docs/preference.md lists the forms ftx reads).",
        )

    # --- resume: the newest complete checkpoint, and the training log up to its step ---
    checkpoints = ctx.dir / "checkpoints"
    log_path = ctx.dir / "train_log.jsonl"
    resume, before = resume_point(checkpoints, log_path, ctx.log)

    # --- data: tokenized pairs, which TRL's collator pads (both sequences of a pair in a batch)
    dataset = Dataset.from_list([pair.row() for pair in examples])
    eval_dataset = Dataset.from_list([pair.row() for pair in validation]) if validation else None
    early_stopping = eval_dataset is not None and opts.early_stopping_patience > 0

    # --- arguments: every local trainer's, with DPO's own (max_length: what build_data fitted to)
    args = build_arguments(
        opts,
        checkpoints,
        device=device,
        dtype=dtype,
        seed=seed,
        validating=eval_dataset is not None,
        early_stopping=early_stopping,
        optim=optim,
    )
    args = preference_arguments(args, opts, max_length=ctx.state["max_seq_length"])
    one_gpu_per_process(args, ctx.log)
    if problem := distributed.single_process_problem():
        ctx.log(problem)

    # --- the trainer, with the progress bar and the training log ---
    log = PreferenceLog(ctx, label, log_path, before, save_on_cancel=opts.save_checkpoints)
    trainer = build_trainer(
        model, tokenizer, args, dataset, eval_dataset, log, early_stopping, opts
    )

    # --- train; then the reference's frozen copy of the adapter is no longer needed ---
    output = run(trainer, model, None, opts, resume, ctx)
    drop_reference(model)

    # --- what it did ---
    return report(trainer, output, log, ctx)


# --- what the reward evaluator reads -------------------------------------------------------------


def pair_logprobs(local: LocalModel, examples: list[Example]) -> list[PairLogprobs]:
    """Both answers of each pair under ``local``'s model and under its base: the same model with
    its adapters off, the model itself when it is the base, or (every weight tuned) the base
    loaded for this once."""
    from .generate import reference_logprobs

    answers = [*examples, *(rejected_example(e) for e in examples)]

    def score(network: Any) -> list[tuple[float, int]]:
        return reference_logprobs(
            network,
            local.tokenizer,
            local.template,
            answers,
            batch_size=local.opts.eval_batch_size,
            device=local.device,
        )

    tuned = score(local.model)
    if local.untuned:
        base = tuned
    elif hasattr(local.model, "disable_adapter"):  # peft
        with local.model.disable_adapter():
            base = score(local.model)
    else:
        base = score(_base_model(local))
    n = len(examples)
    return [
        PairLogprobs(
            chosen=tuned[i][0],
            rejected=tuned[n + i][0],
            base_chosen=base[i][0],
            base_rejected=base[n + i][0],
            chosen_tokens=tuned[i][1],
            rejected_tokens=tuned[n + i][1],
        )
        for i in range(n)
    ]


def _base_model(local: LocalModel) -> Any:
    opts = local.opts
    return models.load_model(
        models.materialize(models.resolve(opts.model)),
        device=local.device,
        dtype=models.pick_dtype(opts.dtype, local.device),
        trust_remote_code=opts.trust_remote_code,
    )
