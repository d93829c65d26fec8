"""Examples in Together's conversational fine-tuning JSONL, checked against its rules; what
Together's jobs say in the lifecycle's words; and the prices ftx assumes where Together's own
estimate is not at hand.

One line per example::

    {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}]}

What Together's documentation said when read on 2026-11-30 (docs.together.ai: fine-tuning data
preparation, pricing, LoRA inference, dedicated endpoints) and how ftx uses it:
- A conversation starts with a system or user message, then user and assistant alternate. By
  default every assistant message is trained on; a message may carry ``weight`` 0 or 1, and a
  file with weights trains exactly the messages weighted 1.
- Fine-tuning is billed per token processed: epochs x training tokens + evaluations x
  validation tokens, at a rate set by the model's size bracket, the method (SFT or DPO) and LoRA
  or full training. The pages link to together.ai/pricing for the rates and quote none, so the
  rates below are ftx's record of that price list, not re-checked that day: Together's
  estimate endpoint gives the price of a job once its file is uploaded, and ftx uses it there.
- Serverless LoRA inference was documented for the bases in ``SERVERLESS_LORA``; the newer LoRA
  page says to serve a fine-tune on a dedicated endpoint. ftx asks serverless only for a LoRA of
  one of those bases (``serverless`` overrides), else needs a dedicated endpoint.
- Dedicated endpoints bill per minute by hardware while they run; the overview quoted
  ``ENDPOINT_HOURLY``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ftx.prices import Prices
from ftx.tokens import approximate
from ftx.types import Example, Message, Problem

# --- the data ----------------------------------------------------------------------------------


def to_jsonl(examples: list[Example]) -> str:
    """The examples as Together's conversational JSONL. ftx trains the final answer (and the
    turns weighted 1); Together trains every assistant message unless weights say otherwise, so
    where any example has an assistant turn ftx would not train, every message of the file gets
    a weight (with weights in a file Together trains exactly the messages weighted 1)."""
    weighted = any(_needs_weights(e) for e in examples)
    return "".join(
        json.dumps({"messages": messages(e, weighted)}, ensure_ascii=False) + "\n" for e in examples
    )


def messages(example: Example, weighted: bool = False) -> list[dict[str, Any]]:
    turns = set(example.trained_turns())
    return [
        {"role": m.role, "content": m.content} | ({"weight": int(i in turns)} if weighted else {})
        for i, m in enumerate(example.messages)
    ]


def _needs_weights(example: Example) -> bool:
    assistant = [i for i, m in enumerate(example.messages) if m.role == "assistant"]
    return example.trained_turns() != assistant


def validate(examples: list[Example], backend: str, validation: int = 0) -> list[Problem]:
    """Every rule an upload would break, with the example ids, before anything is uploaded;
    ``validation`` of the examples go to the validation file."""
    problems = []
    if len(examples) - validation < 1:
        problems.append(
            Problem(
                "Together fine-tuning needs at least 1 training example; there are "
                f"{len(examples) - validation}",
                backend,
                hint="add examples, or lower --eval-size or validation_size",
            )
        )
    for e in examples:
        wrong = _order_problem(e.messages)
        if wrong:
            problems.append(Problem(f"example {e.id} {wrong}", e.source or backend))
    return problems


def _order_problem(turns: tuple[Message, ...]) -> str:
    """What breaks Together's conversation order (system or user first, then user and assistant
    alternating, ending with the answer), or ''."""
    roles = [m.role for m in turns]
    if roles and roles[0] == "system":
        roles = roles[1:]
    if not roles or roles[-1] != "assistant":
        return "does not end with an assistant message"
    for i, role in enumerate(roles):
        if role != ("user" if i % 2 == 0 else "assistant"):
            return (
                "does not alternate user and assistant messages after an optional system one, "
                "as Together requires"
            )
    return ""


def tokens(example: Example) -> int:
    """Approximate tokens of one example as Together bills them (the chat template adds a few
    per message)."""
    return sum(approximate(m.content) + 4 for m in example.messages)


# --- the job -----------------------------------------------------------------------------------

STATES = {  # Together's job statuses in the lifecycle's words
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",  # becomes cancelled
    "cancelled": "cancelled",
    "error": "failed",
    "user_error": "failed",
    "completed": "succeeded",
}
NANODOLLARS = 1e9  # a job's total_price is in nanodollars (the SDK's finetune_price_to_dollars)


def metric(row: dict[str, Any]) -> dict[str, Any] | None:
    """One row of ``GET /fine-tunes/{id}/metrics`` as a train_log entry: keys are logged as
    ``train/global_step``, ``train/loss``, ``eval/loss`` (the SDK plots them by
    ``train/global_step``)."""
    step = row.get("train/global_step", row.get("global_step", row.get("step")))
    if step is None:
        return None
    entry: dict[str, Any] = {"step": int(step)}
    for key, name in (("train/loss", "loss"), ("eval/loss", "eval_loss"), ("train/epoch", "epoch")):
        value = row.get(key, row.get(name))
        if isinstance(value, (int, float)):
            entry[name] = float(value)
    return entry


# --- prices ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Base:
    """A model Together tunes or serves: its size (training is priced by size bracket), what
    asking it serverless costs, and whether Together serves LoRA fine-tunes of it serverless."""

    billions: float
    input: float  # dollars per 1M prompt tokens, serverless
    output: float  # dollars per 1M completion tokens, serverless
    serverless_lora: bool = False


# Bases whose LoRA fine-tunes Together documented as served serverless (the LoRA inference and
# adapter upload pages).
SERVERLESS_LORA = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference",
    "Qwen/Qwen2.5-72B-Instruct",
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-tput",
)

# Models ftx has prices for; a LoRA fine-tune is asked at its base's price. Anything else needs
# training_price, input_price and output_price.
MODELS: dict[str, Base] = {
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": Base(8, 0.18, 0.18, True),
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference": Base(70, 0.88, 0.88, True),
    "Qwen/Qwen2.5-72B-Instruct": Base(72, 1.20, 1.20, True),
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo": Base(8, 0.18, 0.18),
    "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo": Base(70, 0.88, 0.88),
    "Qwen/Qwen2.5-72B-Instruct-Turbo": Base(72, 1.20, 1.20),
}

# Supervised fine-tuning, dollars per 1M tokens processed: (largest size in billions, LoRA, full).
TRAINING_BRACKETS = ((16, 0.48, 0.54), (69, 1.50, 1.65), (100, 2.90, 3.20))

# Dedicated endpoint hardware, dollars per hour (the dedicated endpoints overview).
ENDPOINT_HOURLY = {"1x H100 80GB": 3.99, "1x H200 141GB": 5.49, "1x B200 180GB": 9.95}
DEFAULT_ENDPOINT_HARDWARE = "1x H100 80GB"
# Minutes an endpoint is expected to run (start-up, then answering) where endpoint_minutes is
# not set: ftx's allowance, not Together's figure.
ENDPOINT_MINUTES = 30.0


def table_prices(model: str, lora: bool = True) -> Prices | None:
    """ftx's prices for ``model``: training (LoRA or full), prompt and completion; None when
    the table does not know it."""
    base = MODELS.get(model)
    if base is None:
        return None
    training = next(
        (lo if lora else full for top, lo, full in TRAINING_BRACKETS if base.billions <= top), None
    )
    if training is None:
        return None
    return Prices(training, base.input, base.output)
