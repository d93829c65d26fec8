"""bleu: sacrebleu BLEU (0-100), per example (sentence BLEU with effective order, so short
answers are not zeroed by missing 4-grams) and for the corpus.

The tokenizer is chosen per corpus from its references, so that every backend is scored the same
way: ``13a`` (sacrebleu's default, mteval's) unless at least a tenth of the references' tokens
are Chinese or Japanese characters. Then ``zh`` (each Han character a token, the rest as 13a),
or for Japanese (kana in the references) ``ja-mecab`` when mecab-python3 and ipadic are
installed, else ``ja-char``: kana split into characters too, then ``zh``. Without it a whole
unspaced clause is one token and one changed character loses every n-gram that touches it.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Any

from ftx.errors import require
from ftx.evaluator import Evaluator
from ftx.evaluators.text import script_share
from ftx.hookspecs import hookimpl
from ftx.types import Scores

CJK_SHARE = 0.1  # of the references' tokens, for a CJK tokenizer
KANA_SHARE = 0.05  # of the Han and kana characters, for a Japanese one
_KANA = re.compile("([\u3040-\u30ff\u31f0-\u31ff])")


def choose_tokenizer(references: list[str]) -> str:
    """'13a', 'zh', 'ja-mecab' or 'ja-char' for this corpus (see the module docstring)."""
    share = script_share(references)
    if share.cjk < CJK_SHARE:
        return "13a"
    if share.kana < KANA_SHARE:
        return "zh"
    mecab = all(importlib.util.find_spec(m) is not None for m in ("MeCab", "ipadic"))
    return "ja-mecab" if mecab else "ja-char"


def _split_kana(text: str) -> str:
    return _KANA.sub(r" \1 ", text)


class Bleu(Evaluator):
    name = "bleu"
    description = "sacrebleu BLEU, 0-100; corpus value plus sentence BLEU per example"
    metrics = ("bleu",)

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        sacrebleu = require("sacrebleu", extra="eval", purpose="The bleu evaluator")
        if not predictions:
            return Scores({"bleu": []}, {"bleu": 0.0})
        tokenizer = choose_tokenizer(references)
        if tokenizer == "ja-char":  # sacrebleu's zh splits Han but not kana
            predictions, references = (
                [_split_kana(p) for p in predictions],
                [_split_kana(r) for r in references],
            )
        tokenize = "zh" if tokenizer == "ja-char" else tokenizer
        sentence = sacrebleu.metrics.BLEU(effective_order=True, tokenize=tokenize)
        per_example = [
            sentence.sentence_score(p, [r]).score for p, r in zip(predictions, references)
        ]
        corpus = sacrebleu.metrics.BLEU(tokenize=tokenize)
        # [hypothesis length, reference length, matching 1..4-grams, 1..4-grams]
        stats = [list(row) for row in corpus._extract_corpus_statistics(predictions, [references])]
        totals = [sum(column) for column in zip(*stats)]
        signature = str(corpus.get_signature()).replace(
            "tok:zh", f"tok:{tokenizer}"
        )  # known once references are read
        return Scores(
            {"bleu": per_example},
            {"bleu": self.corpus_value("bleu", totals)},
            corpus_stats={"bleu": stats},
            signatures={"bleu": signature},
        )

    def corpus_value(self, metric: str, totals: list[float]) -> float:
        """Corpus BLEU from summed statistics, as sacrebleu's ``corpus_score`` computes it."""
        return self._corpus_metric._compute_score_from_stats(list(totals)).score

    @functools.cached_property
    def _corpus_metric(self) -> Any:
        sacrebleu = require("sacrebleu", extra="eval", purpose="The bleu evaluator")
        return sacrebleu.metrics.BLEU()  # the tokenizer plays no part once the counts are taken


@hookimpl
def ftx_register_evaluators(register):
    register(Bleu)
