"""chrf: sacrebleu chrF (0-100), character n-gram F-score, per example and for the corpus.

Characters rather than words make it kinder to inflection and spelling variants ("Pemberley's"
vs "Pemberley"), and it works for languages without spaces between words.
"""

from __future__ import annotations

from dataclasses import dataclass

from ftx.errors import require
from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.options import option
from ftx.types import Scores


@dataclass
class ChrfOptions:
    word_order: int = option(0, "word n-gram order added to the character n-grams (2 gives chrF++)")


class Chrf(Evaluator):
    name = "chrf"
    description = "sacrebleu chrF, 0-100: character n-gram F-score (chrF++ with word_order=2)"
    metrics = ("chrf",)
    Options = ChrfOptions

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        sacrebleu = require("sacrebleu", extra="eval", purpose="The chrf evaluator")
        metric = sacrebleu.metrics.CHRF(word_order=self.options.word_order)
        per_example = [metric.sentence_score(p, [r]).score for p, r in zip(predictions, references)]
        corpus = metric.corpus_score(predictions, [references]).score if predictions else 0.0
        return Scores({"chrf": per_example}, {"chrf": corpus})


@hookimpl
def ftx_register_evaluators(register):
    register(Chrf)
