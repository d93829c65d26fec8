"""jaccard: word-set overlap |P ∩ R| / |P ∪ R| after normalisation (1 when both are empty)."""

from __future__ import annotations

from ftx.evaluator import Evaluator
from ftx.evaluators.text import words
from ftx.hookspecs import hookimpl
from ftx.types import Scores


def jaccard(prediction: str, reference: str) -> float:
    p, r = set(words(prediction)), set(words(reference))
    if not p and not r:
        return 1.0
    return len(p & r) / len(p | r)


class Jaccard(Evaluator):
    name = "jaccard"
    description = "word-set overlap between prediction and reference"
    metrics = ("jaccard",)

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        return Scores({"jaccard": [jaccard(p, r) for p, r in zip(predictions, references)]})


@hookimpl
def ftx_register_evaluators(register):
    register(Jaccard)
