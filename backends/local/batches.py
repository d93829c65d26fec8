"""Steps sized in tokens (``batch_tokens``): each micro-step holds whole examples up to a budget.

A step of a fixed number of examples holds as many tokens as those examples happen to have:
8 short questions are a few hundred tokens, and on a GPU such a step is bound by launching
kernels, not by arithmetic (docs/performance.md). Packed training (axolotl's ``sample_packing``
with ``sequence_len``) sizes a step in tokens instead. Here the examples are grouped once,
before training, into micro-steps of at most ``budget`` tokens; each group is one item of the
dataset Trainer iterates (``per_device_train_batch_size=1``), so Trainer's own machinery stays
in charge of everything else, unchanged: the shuffled order of the groups in each epoch, the
epoch and step counts and the schedule, skipping what a resumed epoch already trained,
splitting the groups between processes under a launcher, and ``num_items_in_batch``, which
makes the loss of an accumulated step the mean over all its target tokens.

Each example keeps its own attention (the packed row's boundaries) and its completion-only
labels: grouping decides only which examples share a micro-step.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

GROUP = "ftx_examples"  # a grouped dataset item: {GROUP: [row, row, ...]}

# What ``auto`` gives each example of ``batch_size`` on CUDA: the naive recipe pads every
# example to 512 tokens, so a budget of batch_size x 512 real tokens stays within its memory.
TOKENS_PER_EXAMPLE = 512
# ... unless the data is small: an epoch keeps at least this many optimizer steps. With 24
# short examples a 4,096-token budget made one step an epoch; small data is quick to train
# anyway, and its learning needs the steps more than the GPU needs the tokens.
MIN_STEPS_PER_EPOCH = 50


def resolve_batch_tokens(
    setting: int | str,
    *,
    device: str,
    batch_size: int,
    longest: int,
    multiple: int = 1,
    lengths: Sequence[int] = (),
    accumulation: int = 1,
) -> int:
    """The token budget in force, 0 for steps of ``batch_size`` examples.

    ``auto`` sizes steps in tokens on CUDA only, where a step of a few examples is bound by
    kernel launches: ``batch_size`` x 512 tokens, less where the data (``lengths``) would then
    have fewer than ``MIN_STEPS_PER_EPOCH`` optimizer steps an epoch (but never less than
    ``batch_size`` examples take on average), and at least the longest example. On a CPU the
    arithmetic is the limit, and steps of ``batch_size`` examples keep more optimizer steps for
    small data. A budget is rounded up to ``multiple`` (the packed row's on CUDA)."""
    if setting == "auto":
        if device != "cuda":
            return 0
        budget = batch_size * TOKENS_PER_EXAMPLE
        if lengths:
            total = sum(lengths)
            examples = batch_size * total / len(lengths)  # batch_size examples, on average
            budget = min(budget, max(examples, total / (MIN_STEPS_PER_EPOCH * accumulation)))
        budget = max(int(budget), longest)
    else:
        budget = int(setting)
        if budget <= 0:
            return 0
    return -(-budget // multiple) * multiple


def token_batches(lengths: list[int], budget: int, *, packed: bool, seed: int) -> list[list[int]]:
    """Indices of the examples, grouped into micro-steps of at most ``budget`` tokens.

    Packed rows cost the sum of their examples' lengths: the examples are taken in a seeded
    random order, and a group closes when the next one would not fit (next fit). Padded
    batches cost their count times their longest: the examples are sorted by length first
    (random among equals), so a group holds similar lengths and little padding. An example
    longer than the budget forms a group of its own. Every example is in exactly one group.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not packed:
        order.sort(key=lambda i: lengths[i])  # stable: ties stay in their random order
    groups: list[list[int]] = []
    group: list[int] = []
    total = longest = 0  # of the open group
    for i in order:
        n = lengths[i]
        cost = total + n if packed else max(longest, n) * (len(group) + 1)
        if group and cost > budget:
            groups.append(group)
            group, total, longest = [], 0, 0
        group.append(i)
        total, longest = total + n, max(longest, n)
    if group:
        groups.append(group)
    return groups


def group_rows(rows: list[dict[str, Any]], groups: list[list[int]]) -> list[dict[str, Any]]:
    """The dataset of micro-steps: one item per group, holding its examples' rows."""
    return [{GROUP: [rows[i] for i in group]} for group in groups]


class Ungrouping:
    """``collator``, fed the examples of grouped items (validation items are single examples and
    pass as they are). ``real_tokens`` is the collator's running count."""

    def __init__(self, collator: Any):
        self.collator = collator

    @property
    def real_tokens(self) -> int:
        return self.collator.real_tokens

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        return self.collator([row for item in batch for row in item.get(GROUP, [item])])


def describe(groups: list[list[int]], lengths: list[int], budget: int) -> str:
    """One line for the log: the budget, and what it made of the data."""
    examples = sum(len(g) for g in groups)
    tokens = sum(lengths)
    return (
        f"steps sized in tokens: micro-steps of up to {budget:,} tokens, {len(groups):,} an "
        f"epoch, {examples / max(len(groups), 1):.1f} examples and "
        f"{tokens / max(len(groups), 1):,.0f} tokens each on average"
    )
