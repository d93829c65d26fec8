"""exact_match: 1 if the prediction equals the reference after normalising case, whitespace
and punctuation, else 0."""

from __future__ import annotations

from ftx.evaluator import Evaluator
from ftx.evaluators.text import normalize
from ftx.hookspecs import hookimpl
from ftx.types import Scores


class ExactMatch(Evaluator):
    name = "exact_match"
    description = "normalised exact match (case, whitespace and punctuation ignored)"
    metrics = ("exact_match",)

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        values = [float(normalize(p) == normalize(r)) for p, r in zip(predictions, references)]
        return Scores({"exact_match": values})


@hookimpl
def ftx_register_evaluators(register):
    register(ExactMatch)
