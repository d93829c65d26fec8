"""length_ratio: words in the answer over words in the reference; 1.0 is the target.

Not a quality score: it tells whether a model rambles (> 1) or stops short (< 1), which explains
many overlap scores. The best backend is the one closest to 1.
"""

from __future__ import annotations

from ftx.evaluator import Evaluator
from ftx.evaluators.text import words
from ftx.hookspecs import hookimpl
from ftx.types import Scores


def length_ratio(prediction: str, reference: str) -> float:
    """An empty reference counts as one word, so the ratio stays finite."""
    return len(words(prediction)) / max(1, len(words(reference)))


class LengthRatio(Evaluator):
    name = "length_ratio"
    description = "answer words / reference words; closest to 1 is best"
    metrics = ("length_ratio",)
    targets = {"length_ratio": 1.0}

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        return Scores(
            {"length_ratio": [length_ratio(p, r) for p, r in zip(predictions, references)]}
        )


@hookimpl
def ftx_register_evaluators(register):
    register(LengthRatio)
