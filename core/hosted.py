"""What the hosted backends share: their prices (a table entry with the user's overrides), and
answering the eval prompts many at a time, keeping each answer and recording what it cost
(``BackendContext.add_cost``)."""

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


def answering_cost(completions: list[Completion], prices: Prices | None) -> float | None:
    """What ``completions`` cost at ``prices`` (None when the prices are unknown)."""
    if not prices:
        return None
    return usage_cost(
        sum(c.prompt_tokens for c in completions),
        sum(c.completion_tokens for c in completions),
        prices,
    )


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
    answers cost is recorded with ``ctx.add_cost("answering", ...)``: a resumed evaluation asks
    only the prompts not answered before, so the costs add up."""
    task = ctx.task(f"{label}: answering", total=len(prompts), info=info)

    def one(index: int, messages: list[Message]) -> Completion:
        completion = ask(messages)
        task.advance()
        if on_answer is not None:
            on_answer(index, completion)
        return completion

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        completions = list(pool.map(one, range(len(prompts)), prompts))
    cost = answering_cost(completions, prices)
    if cost is None:
        ctx.save_state()
    else:
        ctx.add_cost("answering", cost)
    return completions
