"""bleu: sacrebleu BLEU (0-100), per example (sentence BLEU with effective order, so short
answers are not zeroed by missing 4-grams) and for the corpus."""

from __future__ import annotations

from ftx.errors import require
from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.types import Scores


class Bleu(Evaluator):
    name = "bleu"
    description = "sacrebleu BLEU, 0-100; corpus value plus sentence BLEU per example"
    metrics = ("bleu",)

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        sacrebleu = require("sacrebleu", extra="eval", purpose="The bleu evaluator")
        sentence = sacrebleu.metrics.BLEU(effective_order=True)
        per_example = [sentence.sentence_score(p, [r]).score for p, r in zip(predictions, references)]
        corpus = sacrebleu.metrics.BLEU().corpus_score(predictions, [references]).score if predictions else 0.0
        return Scores({"bleu": per_example}, {"bleu": corpus})


@hookimpl
def ftx_register_evaluators(register):
    register(Bleu)
