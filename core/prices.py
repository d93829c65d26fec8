"""What hosted models cost: one price table that backends and evaluators share.

Prices are US dollars per million tokens, for training, input (prompt) and output (completion),
as each provider's price list gave them on the date an entry says it was checked. Price lists
change, and compatible services charge differently: the ``training_price``, ``input_price`` and
``output_price`` options of a backend or evaluator override this table
(``--set openai.training_price=4``, ``--set llm_judge.input_price=0.5``), and are the only way
to price a model the table does not know (without them its cost is not estimated).
``ftx.hosted.resolve`` puts the options over a table entry; ``ftx.hosted.usage_cost`` prices
token usage.

    >>> from ftx.prices import openai_prices
    >>> openai_prices("ft:gpt-4.1-mini-2025-04-14:acme::abc123")
    Prices(training=5.0, input=0.8, output=3.2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Prices(NamedTuple):
    """Dollars per 1M tokens: training, input (prompt), output (completion)."""

    training: float
    input: float
    output: float


@dataclass(frozen=True)
class ModelPrice:
    """One model's entry in a provider's price list, and when it was checked against it."""

    training: float
    input: float
    output: float
    checked: str  # YYYY-MM-DD: the day the entry was taken from the provider's price list

    @property
    def prices(self) -> Prices:
        return Prices(self.training, self.input, self.output)


# --- the tables --------------------------------------------------------------------------------

# OpenAI (platform.openai.com/docs/pricing), by model prefix: a dated snapshot of a model
# (gpt-4.1-mini-2025-04-14) and a fine-tune of it cost the same.
OPENAI: dict[str, ModelPrice] = {
    "gpt-4.1-nano": ModelPrice(1.50, 0.20, 0.80, checked="2026-11-23"),
    "gpt-4.1-mini": ModelPrice(5.00, 0.80, 3.20, checked="2026-11-23"),
    "gpt-4.1": ModelPrice(25.00, 3.00, 12.00, checked="2026-11-23"),
    "gpt-4o-mini": ModelPrice(3.00, 0.30, 1.20, checked="2026-11-23"),
    "gpt-4o": ModelPrice(25.00, 3.75, 15.00, checked="2026-11-23"),
    "gpt-3.5-turbo": ModelPrice(8.00, 3.00, 6.00, checked="2026-11-23"),
}

# Gemini on Vertex AI (list prices), by the exact name of a base model Vertex AI can tune.
GEMINI: dict[str, ModelPrice] = {
    "gemini-2.5-pro": ModelPrice(25.0, 1.25, 10.0, checked="2026-11-23"),
    "gemini-2.5-flash": ModelPrice(5.0, 0.30, 2.50, checked="2026-11-23"),
    "gemini-2.5-flash-lite": ModelPrice(1.5, 0.10, 0.40, checked="2026-11-23"),
    "gemini-2.0-flash-001": ModelPrice(3.0, 0.15, 0.60, checked="2026-11-23"),
    "gemini-2.0-flash-lite-001": ModelPrice(1.0, 0.075, 0.30, checked="2026-11-23"),
}


# --- lookups -----------------------------------------------------------------------------------


def openai_entry(model: str) -> ModelPrice | None:
    """OpenAI's entry for ``model``, a dated snapshot of it, or a fine-tune of it
    (``ft:BASE:org::id``): the longest prefix in the table wins; None if none matches."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    for prefix in sorted(OPENAI, key=len, reverse=True):
        if base.startswith(prefix):
            return OPENAI[prefix]
    return None


def openai_prices(model: str) -> Prices | None:
    """What ``model`` costs on OpenAI (see ``openai_entry``); None when the table has no price."""
    entry = openai_entry(model)
    return entry.prices if entry else None


def gemini_prices(model: str) -> Prices | None:
    """What the Vertex AI base model ``model`` costs, by its exact name; None when unknown."""
    entry = GEMINI.get(model)
    return entry.prices if entry else None
