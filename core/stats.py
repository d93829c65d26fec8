"""Confidence intervals and paired tests for per-example scores, seeded and reproducible.

Pure Python (no numpy in the core): a run has tens to thousands of examples, and 2,000
resamples of that take milliseconds.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

RESAMPLES = 2000
ALPHA = 0.05


@dataclass(frozen=True)
class Comparison:
    """A backend against the baseline on one metric, over the same examples."""

    diff: float  # mean(backend) - mean(baseline)
    p_value: float  # two-sided paired bootstrap
    verdict: str  # "better", "worse" or "no significant difference"


def bootstrap_ci(values: list[float], *, seed: int = 0, resamples: int = RESAMPLES, alpha: float = ALPHA) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if not values:
        return (float("nan"), float("nan"))
    if len(values) == 1:
        return (values[0], values[0])
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return means[int(alpha / 2 * resamples)], means[min(resamples - 1, int((1 - alpha / 2) * resamples))]


def paired_test(values: list[float], baseline: list[float], *, higher_is_better: bool = True, seed: int = 0,
                resamples: int = RESAMPLES, alpha: float = ALPHA) -> Comparison:
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
    if p >= alpha or mean == 0:
        verdict = "no significant difference"
    else:
        verdict = "better" if (mean > 0) == higher_is_better else "worse"
    return Comparison(mean, p, verdict)
