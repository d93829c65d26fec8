"""rouge: ROUGE-1, ROUGE-2 and ROUGE-L F-measure per example (rouge-score), with a
Unicode-aware tokenizer and optional Porter stemming."""

from __future__ import annotations

from dataclasses import dataclass

from ftx.errors import require
from ftx.evaluator import Evaluator
from ftx.evaluators.text import words
from ftx.hookspecs import hookimpl
from ftx.options import option
from ftx.types import Scores


@dataclass
class RougeOptions:
    stemmer: bool = option(True, "apply Porter stemming to ASCII words (runs ~ run)")


class _Tokenizer:
    def __init__(self, stem: bool):
        self.stemmer = None
        if stem:
            from nltk.stem import porter

            self.stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        tokens = words(text)
        if self.stemmer is None:
            return tokens
        return [self.stemmer.stem(t) if t.isascii() and len(t) > 3 else t for t in tokens]


class Rouge(Evaluator):
    name = "rouge"
    description = "ROUGE-1/2/L F1 (rouge-score)"
    metrics = ("rouge1", "rouge2", "rougeL")
    Options = RougeOptions

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        rouge_scorer = require(
            "rouge_score.rouge_scorer",
            package="rouge-score",
            extra="eval",
            purpose="The rouge evaluator",
        )
        scorer = rouge_scorer.RougeScorer(
            list(self.metrics), tokenizer=_Tokenizer(self.options.stemmer)
        )
        values: dict[str, list[float]] = {m: [] for m in self.metrics}
        for prediction, reference in zip(predictions, references):
            result = scorer.score(reference, prediction)
            for m in self.metrics:
                values[m].append(result[m].fmeasure)
        return Scores(values)


@hookimpl
def ftx_register_evaluators(register):
    register(Rouge)
