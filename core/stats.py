"""Confidence intervals and paired tests, seeded and reproducible.

Two kinds of metric: those whose value is the mean of per-example scores (ROUGE, exact match),
resampled as means; and corpus metrics (BLEU, chrF, perplexity), whose value is computed from
statistics summed over all examples. Those are resampled the way sacrebleu's paired bootstrap
does it: draw examples, sum their statistics, recompute the corpus value, so that the interval
is around the value the report shows and not around some other average.

Pure Python (no numpy in the core): a run has tens to thousands of examples, and 2,000
resamples of that take milliseconds for a mean and well under a second for corpus BLEU.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

RESAMPLES = 2000
ALPHA = 0.05

CorpusScore = Callable[[list[float]], float]  # summed statistics -> corpus value


@dataclass(frozen=True)
class Comparison:
    """A backend against the baseline on one metric, over the same examples."""

    # backend - baseline: of the means, or of the corpus values (in closeness terms: higher is
    # better)
    diff: float
    p_value: float  # two-sided paired bootstrap
    verdict: str  # "better", "worse" or "no significant difference"
    # Holm-adjusted for the backends compared with the baseline on the same metric (the
    # verdict is the adjusted one); the p-value itself where there is one comparison
    p_adjusted: float | None = None


def bootstrap_ci(
    values: list[float], *, seed: int = 0, resamples: int = RESAMPLES, alpha: float = ALPHA
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if not values:
        return (float("nan"), float("nan"))
    if all(
        v == values[0] for v in values
    ):  # also exact: n copies summed and divided can miss by an ulp
        return (values[0], values[0])
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return interval(means, alpha)


def paired_test(
    values: list[float],
    baseline: list[float],
    *,
    higher_is_better: bool = True,
    seed: int = 0,
    resamples: int = RESAMPLES,
    alpha: float = ALPHA,
) -> Comparison:
    """Paired bootstrap of the per-example differences: is the backend's mean different from the
    baseline's on the same examples?"""
    diffs = [a - b for a, b in zip(values, baseline)]
    if not diffs:
        return Comparison(0.0, 1.0, "no significant difference")
    mean = statistics.fmean(diffs)
    if all(d == diffs[0] for d in diffs):  # no variation: the difference is exact
        p = 0.0 if mean != 0 else 1.0
    else:
        rng = random.Random(seed)
        n = len(diffs)
        below = above = 0
        for _ in range(resamples):
            m = sum(diffs[rng.randrange(n)] for _ in range(n)) / n
            below += m <= 0
            above += m >= 0
        p = min(1.0, 2 * min(below, above) / resamples)
    return _compared(mean, p, higher_is_better, alpha)


def corpus_bootstrap(
    systems: Sequence[Sequence[Sequence[float]]],
    score: CorpusScore,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
) -> list[list[float]]:
    """Each system's corpus value on each bootstrap resample of the examples.

    ``systems`` holds, per system, each example's additive statistics (the same examples, in
    the same order); ``score`` turns their element-wise sum into the corpus value. Every system
    gets the same resamples, so value ``k`` of two systems can be paired, as sacrebleu's
    ``paired_bs`` does; the resamples depend only on the number of examples and the seed."""
    n = len(systems[0]) if systems else 0
    if any(len(s) != n for s in systems):
        raise ValueError("corpus_bootstrap needs the same examples for every system")
    if n == 0:
        return [[] for _ in systems]
    summers = [_Summer(s) for s in systems]
    out: list[list[float]] = [[] for _ in systems]
    rng = random.Random(seed)
    population = range(n)
    for _ in range(resamples):
        pick = (
            itemgetter(*rng.choices(population, k=n)) if n > 1 else _every
        )  # one example: every resample is it
        for summer, values in zip(summers, out):
            values.append(score(summer.totals(pick)))
    return out


def corpus_bootstrap_ci(
    stats: Sequence[Sequence[float]],
    score: CorpusScore,
    *,
    seed: int = 0,
    resamples: int = RESAMPLES,
    alpha: float = ALPHA,
) -> tuple[float, float]:
    """Percentile bootstrap interval of one system's corpus value."""
    if not stats:
        return (float("nan"), float("nan"))
    return interval(corpus_bootstrap([stats], score, seed=seed, resamples=resamples)[0], alpha)


def corpus_paired_test(
    stats: Sequence[Sequence[float]],
    baseline: Sequence[Sequence[float]],
    score: CorpusScore,
    *,
    higher_is_better: bool = True,
    seed: int = 0,
    resamples: int = RESAMPLES,
    alpha: float = ALPHA,
) -> Comparison:
    """Paired bootstrap of the difference of two systems' corpus values on the same examples."""
    if not stats or len(stats) != len(baseline):
        return Comparison(0.0, 1.0, "no significant difference")
    ours, theirs = corpus_bootstrap([stats, baseline], score, seed=seed, resamples=resamples)
    diff = score(_Summer(stats).totals(_every)) - score(_Summer(baseline).totals(_every))
    return resampled_comparison(
        diff, [a - b for a, b in zip(ours, theirs)], higher_is_better=higher_is_better, alpha=alpha
    )


def interval(resampled: list[float], alpha: float = ALPHA) -> tuple[float, float]:
    """Percentile interval of bootstrap values."""
    values = sorted(resampled)
    n = len(values)
    return values[int(alpha / 2 * n)], values[min(n - 1, int((1 - alpha / 2) * n))]


def resampled_comparison(
    diff: float,
    resampled_diffs: list[float],
    *,
    higher_is_better: bool = True,
    alpha: float = ALPHA,
) -> Comparison:
    """The verdict on ``diff`` from its bootstrap values: two-sided, p is twice the share of
    resampled differences on the far side of zero, as in ``paired_test``."""
    below = sum(d <= 0 for d in resampled_diffs)
    above = sum(d >= 0 for d in resampled_diffs)
    return _compared(
        diff, min(1.0, 2 * min(below, above) / len(resampled_diffs)), higher_is_better, alpha
    )


class _Summer:
    """Sums the statistics of chosen examples, all statistics at once.

    Non-negative integers (BLEU's and chrF's n-gram counts) are packed into one Python int per
    example, a bit field per statistic wide enough for any resample's total, so one C-level
    ``sum`` adds every statistic (4-8x faster than a sum per column); anything else is summed
    a column at a time."""

    def __init__(self, stats: Sequence[Sequence[float]]):
        self.size = len(stats[0]) if stats else 0
        self.packed: tuple[int, ...] | None = None
        self.columns: list[tuple[float, ...]] = []
        if all(type(x) is int and x >= 0 for row in stats for x in row):
            self.width = (max(max(row, default=0) for row in stats) * len(stats)).bit_length() + 1
            self.packed = tuple(
                sum(x << (k * self.width) for k, x in enumerate(row)) for row in stats
            )
        else:
            self.columns = list(zip(*stats))

    def totals(self, pick: Callable[[Sequence[Any]], Any]) -> list[float]:
        """Totals over ``pick(examples)``: an ``itemgetter`` of the resample's indexes."""
        if self.packed is None:
            return [sum(pick(column)) for column in self.columns]
        total, mask = sum(pick(self.packed)), (1 << self.width) - 1
        return [(total >> (k * self.width)) & mask for k in range(self.size)]


def _every(examples: Sequence[Any]) -> Sequence[Any]:
    return examples


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given: comparing several backends with
    one baseline, an adjusted p below alpha keeps the chance of any false "better" under alpha
    (the family-wise error rate), where each raw p alone would not."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def adjust(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """``comparisons`` with their Holm-adjusted p-values, and verdicts from those."""
    import dataclasses

    adjusted = holm([c.p_value for c in comparisons])
    return [
        dataclasses.replace(
            c,
            p_adjusted=p,
            verdict=c.verdict
            if p < alpha or c.verdict == "no significant difference"
            else "no significant difference",
        )
        for c, p in zip(comparisons, adjusted)
    ]


def _compared(diff: float, p: float, higher_is_better: bool, alpha: float) -> Comparison:
    if p >= alpha or diff == 0:
        verdict = "no significant difference"
    else:
        verdict = "better" if (diff > 0) == higher_is_better else "worse"
    return Comparison(diff, p, verdict)
