"""Prices in one place, in US dollars per million tokens. Override any of them with
``--set openai.training_price=...`` (and ``input_price``, ``output_price``) when OpenAI's
price list changes or a compatible service charges differently."""

from __future__ import annotations

# model prefix: (training, input, output) per 1M tokens, from OpenAI's pricing page
PRICES: dict[str, tuple[float, float, float]] = {
    "gpt-4.1-nano": (1.50, 0.20, 0.80),
    "gpt-4.1-mini": (5.00, 0.80, 3.20),
    "gpt-4.1": (25.00, 3.00, 12.00),
    "gpt-4o-mini": (3.00, 0.30, 1.20),
    "gpt-4o": (25.00, 3.75, 15.00),
    "gpt-3.5-turbo": (8.00, 3.00, 6.00),
}


def prices_for(model: str) -> tuple[float, float, float] | None:
    """(training, input, output) dollars per 1M tokens for ``model`` or a fine-tune of it."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    for prefix in sorted(PRICES, key=len, reverse=True):
        if base.startswith(prefix):
            return PRICES[prefix]
    return None
