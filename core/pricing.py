"""What hosted backends charge: a price-table entry with the user's overrides, and the running
cost of evaluation answers."""

from __future__ import annotations

from typing import Any

from ftx.types import Completion

Prices = tuple[float, float, float]  # dollars per 1M tokens: training, input, output


def resolve(table: Prices | None, opts: Any) -> Prices | None:
    """``table`` with any ``training_price``, ``input_price``, ``output_price`` options put over
    it; None when neither says what answers cost."""
    training = getattr(opts, "training_price", None)
    if table is None and None in (opts.input_price, opts.output_price):
        return None
    table = table or (0.0, 0.0, 0.0)
    return (training if training is not None else table[0], opts.input_price if opts.input_price is not None else table[1],
            opts.output_price if opts.output_price is not None else table[2])


def add_eval_cost(state: dict[str, Any], completions: list[Completion], prices: Prices | None) -> None:
    """Add what ``completions`` cost to ``state["eval_cost_usd"]``: a resumed evaluation asks
    only the prompts not answered before, so the costs add up."""
    if not prices:
        return
    cost = (sum(c.prompt_tokens for c in completions) * prices[1] + sum(c.completion_tokens for c in completions) * prices[2]) / 1e6
    state["eval_cost_usd"] = round(state.get("eval_cost_usd", 0.0) + cost, 6)
