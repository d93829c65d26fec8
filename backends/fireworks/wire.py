"""What the Fireworks backends know about Fireworks without asking it: the training data's
format and rules, resource names, job states, and the price table.

Every number here was read in Fireworks' documentation on the date it carries (``CHECKED``);
prices and limits change, so the options ``training_price``, ``input_price``, ``output_price``
and ``endpoint_hourly_price`` override the table, and preflight asks the API about the model
itself (tunable, served serverless, retiring) rather than trusting a list.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

from ftx.backend import BackendContext
from ftx.prices import Prices
from ftx.tokens import approximate
from ftx.types import Example, Problem

DEFAULT_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
KEY = "FIREWORKS_API_KEY"
ACCOUNT = "FIREWORKS_ACCOUNT_ID"
CHECKED = "2026-11-30"  # the day the limits and prices below were read in Fireworks' docs

# --- the data -----------------------------------------------------------------------------------

MIN_EXAMPLES = 3  # docs.fireworks.ai/fine-tuning/fine-tuning-models
MAX_EXAMPLES = 3_000_000  # per dataset, same page
MAX_UPLOAD_BYTES = 150 * 1024 * 1024  # datasets.upload, one request (the SDK's docstring)
ROLES = ("system", "user", "assistant")


def messages(example: Example) -> list[dict]:
    """Fireworks reads OpenAI's chat format, ``weight`` included (0 skips an assistant turn):
    the turns ftx trains get 1, the others 0, so the hosted job learns what a local one does."""
    turns = example.trained_turns()
    return [
        {"role": m.role, "content": m.content}
        | ({"weight": int(i in turns)} if m.role == "assistant" else {})
        for i, m in enumerate(example.messages)
    ]


def to_jsonl(examples: list[Example]) -> str:
    return "".join(
        json.dumps({"messages": messages(e)}, ensure_ascii=False) + "\n" for e in examples
    )


def tokens(example: Example) -> int:
    """ftx's approximation (Fireworks tokenizes with the base model's tokenizer)."""
    return sum(approximate(m.content) + 4 for m in example.messages)


def validate(examples: list[Example], validation: int, backend: str) -> list[Problem]:
    """Every rule of Fireworks' dataset format the training split breaks, before any upload;
    ``validation`` of the examples become the evaluation dataset."""
    problems = []
    train = len(examples) - validation
    if train < MIN_EXAMPLES or train > MAX_EXAMPLES:
        problems.append(
            Problem(
                f"Fireworks fine-tuning takes {MIN_EXAMPLES} to {MAX_EXAMPLES:,} training "
                f"examples; there are {train}",
                backend,
                hint="add examples or lower --eval-size" if train < MIN_EXAMPLES else "",
            )
        )
    size = len(to_jsonl(examples).encode())
    if size > MAX_UPLOAD_BYTES:
        problems.append(
            Problem(
                f"the training data is {size / 2**20:.0f} MB; ftx uploads it in one request, "
                f"which Fireworks takes up to {MAX_UPLOAD_BYTES // 2**20} MB",
                backend,
                hint="use fewer or shorter examples",
            )
        )
    for e in examples:
        roles = [m.role for m in e.messages]
        where = e.source or backend
        if any(r not in ROLES for r in roles):
            problems.append(Problem(f"example {e.id} has a role other than {ROLES}", where))
        elif "system" in roles[1:]:
            problems.append(Problem(f"example {e.id} has a system message after the first", where))
        if roles[-1] != "assistant":
            problems.append(
                Problem(f"example {e.id} does not end with an assistant message", where)
            )
    return problems


# --- names and states -----------------------------------------------------------------------


def account(opts: Any) -> str:
    """The account datasets, jobs and deployments live in."""
    return getattr(opts, "account_id", "") or os.environ.get(ACCOUNT, "")


def uid(ctx: BackendContext) -> str:
    """What makes the names ftx gives a backend's datasets (``ftx-<uid>-train``), job
    (``ftx-<uid>``) and deployments (``ftx-<uid>-1``) its own. Kept in the state, so a retried
    or resumed request finds what an earlier one made under the same name."""
    if "uid" not in ctx.state:
        ctx.state["uid"] = uuid.uuid4().hex[:12]
        ctx.save_state()
    return ctx.state["uid"]


def split_name(name: str) -> tuple[str, str]:
    """``accounts/A/models/M`` (any collection) as (A, M)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "accounts":
        raise ValueError(name)
    return parts[1], parts[3]


def is_model_name(model: str) -> bool:
    try:
        return split_name(model)[0] != "" and model.split("/")[2] == "models"
    except ValueError:
        return False


#: Fireworks' job states in the lifecycle's words; a state Fireworks adds later is waited through
STATES = {
    "JOB_STATE_CREATING": "queued",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_VALIDATING": "queued",
    "JOB_STATE_CREATING_INPUT_DATASET": "queued",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_IDLE": "queued",
    "JOB_STATE_PAUSED": "queued",  # an account suspended or a person pausing it: it may go on
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_WRITING_RESULTS": "running",
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_EARLY_STOPPED": "succeeded",  # stopped when validation loss stopped improving
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLING": "cancelled",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_DELETING": "cancelled",
    "JOB_STATE_DELETING_CLEANING_UP": "cancelled",
}


def amount(money: object) -> float | None:
    """A google.type.Money (``units`` as a string, ``nanos``) in dollars."""
    units, nanos = getattr(money, "units", None), getattr(money, "nanos", None)
    if units is None and nanos is None:
        return None
    return float(units or 0) + (nanos or 0) / 1e9


# --- prices -----------------------------------------------------------------------------------

# fireworks.ai/pricing (read CHECKED): dollars per 1M tokens by the base model's parameters, in
# billions: supervised fine-tuning bills "dataset tokens x epochs"; serverless inference bills
# prompt and completion tokens alike. Larger models are priced per model: not in this table.
TRAINING = ((16.0, 0.50), (80.0, 3.00))
SERVERLESS = ((16.0, 0.20), (80.0, 0.90))

# Dollars per GPU-hour of an on-demand deployment (billed by the GPU-second). Fireworks' own cost
# calculators disagree (the RFT estimator: A100 2.90, H100 4.00, H200 6.00, B200 9.00; the
# Tinker comparison: H100 7.00, H200 7.00, B200 10.00, B300 12.00); ftx takes the higher, so a
# --max-cost guard errs on the safe side.
GPU_HOUR = {
    "NVIDIA_A100_80GB": 2.90,
    "NVIDIA_H100_80GB": 7.00,
    "NVIDIA_H200_141GB": 7.00,
    "NVIDIA_B200_180GB": 10.00,
}
#: what a deployment costs before it answers (creating it, loading the model), in minutes, and
#: how long one answer takes: the estimate when ``endpoint_minutes`` is not given
STARTUP_MINUTES = 15.0
SECONDS_PER_ANSWER = 2.0


def parameters(model: str) -> float | None:
    """The base model's size in billions of parameters, from its name (``llama-v3p1-8b-...``,
    ``qwen2p5-72b-...``, ``mixtral-8x7b-...``); None when the name does not say."""
    name = model.rsplit("/", 1)[-1].lower()
    experts = re.search(r"(?<![a-z0-9])(\d+)x(\d+)b(?![a-z])", name)
    if experts:
        return float(experts.group(1)) * float(experts.group(2))
    size = re.search(r"(?<![a-z0-9])(\d+(?:p\d+)?)b(?![a-z])", name)
    return float(size.group(1).replace("p", ".")) if size else None


def _tier(table: tuple[tuple[float, float], ...], model: str) -> float | None:
    size = parameters(model)
    if size is None:
        return None
    return next((price for limit, price in table if size <= limit), None)


def training_price(model: str) -> float | None:
    return _tier(TRAINING, model)


def serverless_prices(model: str) -> Prices | None:
    """Prices(0, prompt, completion) of asking ``model`` serverless, as the table gives them."""
    price = _tier(SERVERLESS, model)
    return None if price is None else Prices(0.0, price, price)
