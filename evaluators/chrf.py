"""chrf: sacrebleu chrF (0-100), character n-gram F-score, per example and for the corpus.

Characters rather than words make it kinder to inflection and spelling variants ("Pemberley's"
vs "Pemberley"), and it works for languages without spaces between words: it needs no tokenizer,
so Chinese and Japanese are scored as they are (chrF++'s word n-grams split at spaces only).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from ftx.errors import require
from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.options import bound_problems, option
from ftx.types import Scores


@dataclass
class ChrfOptions:
    word_order: int = option(0, "word n-gram order added to the character n-grams (2 gives chrF++)")

    def validate(self) -> list[str]:
        return bound_problems(self, at_least={"word_order": 0})


class Chrf(Evaluator):
    name = "chrf"
    description = "sacrebleu chrF, 0-100: character n-gram F-score (chrF++ with word_order=2)"
    metrics = ("chrf",)
    Options = ChrfOptions

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        if not predictions:
            return Scores({"chrf": []}, {"chrf": 0.0})
        metric = self._metric
        # [hypothesis, reference, matching] n-gram counts for each character then word order;
        # one example's vector gives its sentence chrF, their sum the corpus chrF
        stats = [list(row) for row in metric._extract_corpus_statistics(predictions, [references])]
        signature = str(metric.get_signature())
        per_example = [self.corpus_value("chrf", row) for row in stats]
        totals = [sum(column) for column in zip(*stats)]
        return Scores(
            {"chrf": per_example},
            {"chrf": self.corpus_value("chrf", totals)},
            corpus_stats={"chrf": stats},
            signatures={"chrf": signature},
        )

    def corpus_value(self, metric: str, totals: list[float]) -> float:
        """chrF from summed statistics, as sacrebleu's ``corpus_score`` computes it."""
        return self._metric._compute_score_from_stats(list(totals)).score

    @functools.cached_property
    def _metric(self) -> Any:
        sacrebleu = require("sacrebleu", extra="eval", purpose="The chrf evaluator")
        return sacrebleu.metrics.CHRF(word_order=self.options.word_order)


@hookimpl
def ftx_register_evaluators(register):
    register(Chrf)
