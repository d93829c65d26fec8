"""What the hosted backends share: their prices (a table entry with the user's overrides), and
answering the eval prompts many at a time, keeping each answer and adding up what it cost."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ftx.backend import BackendContext
from ftx.prices import Prices
from ftx.types import Completion, Message


def resolve(table: Prices | None, opts: Any) -> Prices | None:
    """``table`` with any ``training_price``, ``input_price``, ``output_price`` options put over
    it; None when neither says what answers cost."""
    training = getattr(opts, "training_price", None)
    if table is None and None in (opts.input_price, opts.output_price):
        return None
    table = table or (0.0, 0.0, 0.0)
    return Prices(
        training if training is not None else table[0],
        opts.input_price if opts.input_price is not None else table[1],
        opts.output_price if opts.output_price is not None else table[2],
    )


def usage_cost(prompt_tokens: float, completion_tokens: float, prices: Prices) -> float:
    """Dollars for that many prompt and completion tokens at ``prices``."""
    return (prompt_tokens * prices[1] + completion_tokens * prices[2]) / 1e6


def add_eval_cost(
    state: dict[str, Any], completions: list[Completion], prices: Prices | None
) -> None:
    """Add what ``completions`` cost to ``state["eval_cost_usd"]``: a resumed evaluation asks
    only the prompts not answered before, so the costs add up."""
    if not prices:
        return
    cost = usage_cost(
        sum(c.prompt_tokens for c in completions),
        sum(c.completion_tokens for c in completions),
        prices,
    )
    state["eval_cost_usd"] = round(state.get("eval_cost_usd", 0.0) + cost, 6)


def answer_concurrently(
    prompts: list[list[Message]],
    ask: Callable[[list[Message]], Completion],
    *,
    ctx: BackendContext,
    label: str,
    info: str,
    concurrency: int,
    prices: Prices | None,
    on_answer: Callable[[int, Completion], None] | None = None,
) -> list[Completion]:
    """``ask`` every prompt, ``concurrency`` requests at a time, with a progress bar. Each answer
    goes to ``on_answer`` the moment it exists (a killed run does not pay for it again); what the
    answers cost is added to the backend's state."""
    task = ctx.task(f"{label}: answering", total=len(prompts), info=info)

    def one(index: int, messages: list[Message]) -> Completion:
        completion = ask(messages)
        task.advance()
        if on_answer is not None:
            on_answer(index, completion)
        return completion

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        completions = list(pool.map(one, range(len(prompts)), prompts))
    add_eval_cost(ctx.state, completions, prices)
    ctx.save_state()
    return completions
