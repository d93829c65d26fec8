"""Metric values against hand-computed references, including edge cases."""

import pytest

from ftx.evaluators.bleu import Bleu
from ftx.evaluators.exact_match import ExactMatch
from ftx.evaluators.jaccard import Jaccard
from ftx.evaluators.rouge import Rouge, RougeOptions
from ftx.evaluators.text import normalize


def test_normalize():
    assert normalize("  The  Cat, sat! ") == "the cat sat"
    assert normalize("Ｃａｆé") == "café"  # NFKC folds full-width letters


def test_exact_match():
    scores = ExactMatch().score(["Jane Austen.", "jane  austen", "Austen", ""], ["Jane Austen", "Jane Austen", "Jane Austen", ""], [""] * 4)
    assert scores.per_example == {"exact_match": [1.0, 1.0, 0.0, 1.0]}


def test_jaccard():
    scores = Jaccard().score(["the cat sat", "", "a b", "x"], ["the cat ran", "", "c d", ""], [""] * 4)
    assert scores.per_example["jaccard"] == [pytest.approx(2 / 4), 1.0, 0.0, 0.0]


def test_rouge_by_hand():
    # prediction "the cat sat down", reference "the cat sat": LCS 3, P = 3/4, R = 3/3, F = 6/7
    scores = Rouge(RougeOptions(stemmer=False)).score(["the cat sat down"], ["the cat sat"], [""])
    assert scores.per_example["rougeL"] == [pytest.approx(6 / 7)]
    assert scores.per_example["rouge1"] == [pytest.approx(6 / 7)]
    # bigrams: pred {the cat, cat sat, sat down}, ref {the cat, cat sat}: P 2/3, R 1, F 0.8
    assert scores.per_example["rouge2"] == [pytest.approx(0.8)]


def test_rouge_edge_cases():
    rouge = Rouge()
    scores = rouge.score(["", "Élisabeth Bennét", "x " * 5000, "running"], ["Jane", "élisabeth bennét", "x " * 5000, "runs"], [""] * 4)
    assert scores.per_example["rougeL"][0] == 0.0  # empty prediction
    assert scores.per_example["rougeL"][1] == pytest.approx(1.0)  # unicode kept, case folded
    assert scores.per_example["rougeL"][2] == pytest.approx(1.0)  # very long text
    assert scores.per_example["rouge1"][3] == pytest.approx(1.0)  # stemming: running ~ runs
    assert Rouge(RougeOptions(stemmer=False)).score(["running"], ["runs"], [""]).per_example["rouge1"] == [0.0]


def test_bleu():
    bleu = Bleu()
    scores = bleu.score(["the cat sat on the mat", "completely different"], ["the cat sat on the mat", "the cat"], ["", ""])
    assert scores.per_example["bleu"][0] == pytest.approx(100.0)
    assert scores.per_example["bleu"][1] == pytest.approx(0.0)
    assert 0 < scores.corpus["bleu"] < 100
    assert bleu.score([], [], []).corpus["bleu"] == 0.0
    assert bleu.score([""], ["x"], [""]).per_example["bleu"] == [0.0]
