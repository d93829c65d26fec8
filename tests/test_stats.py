"""Bootstrap intervals and paired tests: reproducible, shrinking with data, right verdicts."""

import random

import pytest

from ftx.stats import bootstrap_ci, paired_test


def test_interval_contains_the_mean_and_is_seeded():
    rng = random.Random(4)
    values = [rng.random() for _ in range(50)]
    low, high = bootstrap_ci(values, seed=3)
    assert low < sum(values) / 50 < high
    assert bootstrap_ci(values, seed=3) == (low, high)


def test_interval_shrinks_with_more_examples():
    rng = random.Random(0)
    small = [rng.random() for _ in range(20)]
    large = [rng.random() for _ in range(2000)]
    w_small = bootstrap_ci(small)[1] - bootstrap_ci(small)[0]
    w_large = bootstrap_ci(large)[1] - bootstrap_ci(large)[0]
    assert w_large < w_small / 5  # ~ 1/sqrt(n): sqrt(100) = 10


def test_paired_verdicts():
    rng = random.Random(0)
    base = [rng.random() * 0.3 for _ in range(40)]
    better = [b + 0.2 + rng.random() * 0.05 for b in base]
    noise = [b + rng.uniform(-0.01, 0.01) for b in base]
    assert paired_test(better, base).verdict == "better"
    assert paired_test(base, better).verdict == "worse"
    assert paired_test(noise, base).verdict == "no significant difference"
    assert paired_test(better, base, higher_is_better=False).verdict == "worse"  # e.g. perplexity
    assert paired_test(base, base).verdict == "no significant difference"
    assert paired_test([1.0] * 5, [0.0] * 5).p_value == 0.0


def test_edge_cases():
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert paired_test([], []).verdict == "no significant difference"


# --- corpus metrics ------------------------------------------------------------------------------


def ratio(totals):
    """A corpus statistic for tests: matches over attempts, in percent."""
    return 100 * totals[0] / totals[1] if totals[1] else 0.0


def test_corpus_bootstrap_pairs_the_resamples_and_is_seeded():
    from ftx.stats import corpus_bootstrap

    rng = random.Random(0)
    a = [[rng.randrange(5), 5] for _ in range(30)]
    b = [[rng.randrange(5), 5] for _ in range(30)]
    first, second = corpus_bootstrap([a, b], ratio, seed=1)
    assert corpus_bootstrap([a, b], ratio, seed=1) == [first, second]
    assert corpus_bootstrap([b], ratio, seed=1) == [
        second
    ]  # the resamples depend only on n and the seed
    assert corpus_bootstrap([a], ratio, seed=2) != [first]


def test_integer_and_float_statistics_give_the_same_interval():
    from ftx.stats import corpus_bootstrap_ci

    rng = random.Random(0)
    counts = [
        [rng.randrange(3), rng.randrange(1, 4), 10**9] for _ in range(40)
    ]  # packed into one int per example
    floats = [[float(x) for x in row] for row in counts]  # summed a column at a time
    assert corpus_bootstrap_ci(counts, ratio, seed=4) == pytest.approx(
        corpus_bootstrap_ci(floats, ratio, seed=4)
    )


def test_corpus_paired_verdicts():
    from ftx.stats import corpus_paired_test

    rng = random.Random(0)
    base = [[rng.randrange(3), 4] for _ in range(60)]
    better = [[min(4, m + 1 + rng.randrange(2)), n] for m, n in base]
    assert corpus_paired_test(better, base, ratio).verdict == "better"
    assert corpus_paired_test(base, better, ratio).verdict == "worse"
    assert corpus_paired_test(better, base, ratio, higher_is_better=False).verdict == "worse"
    same = corpus_paired_test(base, base, ratio)
    assert (same.diff, same.p_value, same.verdict) == (0.0, 1.0, "no significant difference")
    assert corpus_paired_test(better, base, ratio).diff == pytest.approx(
        ratio([sum(c) for c in zip(*better)]) - ratio([sum(c) for c in zip(*base)])
    )


def test_corpus_edge_cases():
    from ftx.stats import corpus_bootstrap_ci, corpus_paired_test

    assert corpus_bootstrap_ci([[1, 4]], ratio) == (25.0, 25.0)
    assert all(v != v for v in corpus_bootstrap_ci([], ratio))  # nan
    assert corpus_paired_test([], [], ratio).verdict == "no significant difference"
    assert corpus_bootstrap_ci([[0, 0], [0, 0]], ratio) == (0.0, 0.0)


# --- every interval a report shows contains the value it shows -----------------------------------


def pride_and_prejudice_answers():
    """45 bundled questions answered as a tiny model does, before and after tuning: short
    answers, where corpus BLEU is far below the mean of sentence BLEU."""
    import json
    from importlib.resources import files

    rows = [
        json.loads(line)
        for line in files("ftx")
        .joinpath("bundled/pride_and_prejudice.jsonl")
        .read_text()
        .splitlines()
    ]
    rng = random.Random(4)
    references = [r["answer"] for r in rng.sample(rows, 45)]

    def tuned(answer):
        x = rng.random()
        return answer if x < 0.25 else answer.split()[0] if x < 0.5 else rng.choice(rows)["answer"]

    def untuned(answer):
        x = rng.random()
        if x < 0.5:
            return f"The answer is {rng.choice(rows)['answer']}."
        return f"I believe it is {answer}, as the novel says." if x < 0.7 else "I don't know."

    return references, {
        "lora": [tuned(a) for a in references],
        "base": [untuned(a) for a in references],
    }


def score_like_a_run(references, answers):
    """BackendResults as load_result builds them from scores.json, for every built-in evaluator
    that needs neither a model nor a network (perplexity from made-up log-probabilities)."""
    import json

    from ftx.evaluators.bleu import Bleu
    from ftx.evaluators.chrf import Chrf, ChrfOptions
    from ftx.evaluators.exact_match import ExactMatch
    from ftx.evaluators.jaccard import Jaccard
    from ftx.evaluators.length_ratio import LengthRatio
    from ftx.evaluators.perplexity import Perplexity
    from ftx.evaluators.rouge import Rouge
    from ftx.results import BackendResult, MetricInfo

    evaluators = [
        Rouge(),
        Bleu(),
        Chrf(ChrfOptions(word_order=2)),
        Jaccard(),
        ExactMatch(),
        LengthRatio(),
        Perplexity(),
    ]
    metrics = [
        MetricInfo(m, e.name, m not in e.lower_is_better, e.targets.get(m))
        for e in evaluators
        for m in e.metrics
    ]
    rng = random.Random(4)
    backends = []
    for name, predictions in answers.items():
        rows = [
            {"reference_logprob": -rng.uniform(1, 30), "reference_tokens": rng.randint(1, 8)}
            for _ in references
        ]
        scored = {"per_example": {}, "corpus": {}, "corpus_stats": {}}
        for e in evaluators:
            s = e.score(
                predictions,
                references,
                [""] * len(references),
                **({"rows": rows} if e.needs else {}),
            )
            scored["per_example"].update(s.per_example)
            scored["corpus"].update(s.corpus)
            scored["corpus_stats"].update(s.corpus_stats)
        scored = json.loads(json.dumps(scored))  # as stored in scores.json
        backends.append(BackendResult(name, "done", baseline=name == "base", **scored))
    return backends, metrics


def test_every_interval_contains_its_estimate():
    from types import SimpleNamespace

    from ftx.results import add_statistics, corpus_scorers

    references, answers = pride_and_prejudice_answers()
    backends, metrics = score_like_a_run(references, answers)
    lora = backends[0]
    old_low, old_high = bootstrap_ci(lora.per_example["bleu"], seed=42)
    assert not old_low <= lora.value("bleu") <= old_high  # the old bug: 17.7 outside [31.2, 58.0]

    run = SimpleNamespace(meta={"config": {"sections": {"chrf": {"word_order": 2}}}})
    scorers = corpus_scorers(run, metrics)
    assert set(scorers) == {"bleu", "chrf", "perplexity"}
    add_statistics(backends, metrics, "base", 42, scorers)
    for b in backends:
        for m in metrics:
            low, high = b.ci[m.name]
            assert low <= b.value(m.name) <= high, (b.name, m.name, b.value(m.name), (low, high))
    bleu = lora.vs_baseline["bleu"]
    assert bleu.diff == pytest.approx(
        lora.corpus["bleu"] - backends[1].corpus["bleu"]
    )  # of the corpus values
    assert bleu.verdict == "better"


def test_scores_without_corpus_statistics_keep_the_old_intervals():
    from ftx.results import add_statistics, corpus_scorers

    references, answers = pride_and_prejudice_answers()
    backends, metrics = score_like_a_run(references, answers)
    for b in backends:
        b.corpus_stats = {}  # a scores.json written before they were kept
    from types import SimpleNamespace

    add_statistics(backends, metrics, "base", 42, corpus_scorers(SimpleNamespace(meta={}), metrics))
    assert backends[0].ci["bleu"] == bootstrap_ci(backends[0].per_example["bleu"], seed=42)
    expected = paired_test(
        backends[0].per_example["bleu"], backends[1].per_example["bleu"], seed=42
    )
    got = backends[0].vs_baseline["bleu"]
    assert (got.diff, got.p_value, got.verdict) == (
        expected.diff,
        expected.p_value,
        expected.verdict,
    )
    assert got.p_adjusted == got.p_value  # one backend against the baseline: Holm changes nothing


def test_corpus_scorers_use_the_options_the_run_was_scored_with():
    from types import SimpleNamespace

    from ftx.evaluators.chrf import Chrf, ChrfOptions
    from ftx.results import MetricInfo, corpus_scorers

    scores = Chrf(ChrfOptions(word_order=2)).score(
        ["Elizabeth walked to Netherfield"], ["Elizabeth walked to Longbourn"], [""]
    )
    totals = scores.corpus_stats["chrf"][0]
    metrics = [MetricInfo("chrf", "chrf"), MetricInfo("rouge1", "rouge")]
    scorer = corpus_scorers(
        SimpleNamespace(meta={"config": {"sections": {"chrf": {"word_order": 2}}}}), metrics
    )
    assert scorer["chrf"](totals) == scores.corpus["chrf"] and "rouge1" not in scorer
    assert (
        corpus_scorers(
            SimpleNamespace(meta={"config": {"sections": {"chrf": {"word_order": "many"}}}}),
            metrics,
        )
        == {}
    )


def test_a_run_directory_with_corpus_statistics(tmp_path):
    """load_result reads the statistics from scores.json and rebuilds chrf with the run's
    options."""
    import json

    from click.testing import CliRunner

    from ftx.cli import cli
    from ftx.evaluators.bleu import Bleu
    from ftx.evaluators.chrf import Chrf, ChrfOptions
    from ftx.results import load_result
    from ftx.store import RunStore
    from ftx.testing import registered, sample_rows, write_jsonl
    from tests.plugins import ftx_echo

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(30))
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(data),
                "--backend",
                "echo",
                "--eval-size",
                "12",
                "--name",
                "r",
                "--evaluator",
                "bleu",
                "--evaluator",
                "chrf",
                "--set",
                "chrf.word_order=2",
                "--set",
                "run.reporters=json",
            ],
        )
        assert result.exit_code == 0, result.output
        run = RunStore(tmp_path / "runs").open("r")
        references = [
            json.loads(line)["messages"][-1]["content"]
            for line in (run.path / "data" / "eval.jsonl").open()
        ]
        predictions = [r["prediction"] for r in run.read_predictions("echo")]
        scores = json.loads((run.path / "scores.json").read_text())
        for evaluator in (
            Bleu(),
            Chrf(ChrfOptions(word_order=2)),
        ):  # what the runner keeps of Scores
            s = evaluator.score(predictions, references, [""] * len(references))
            scores["backends"]["echo"].setdefault("corpus_stats", {}).update(s.corpus_stats)
            scores["backends"]["echo"].setdefault("signatures", {}).update(s.signatures)
        (run.path / "scores.json").write_text(json.dumps(scores))
        echo = load_result(run).backends[0]
    assert "tok:13a" in echo.signatures["bleu"] and "nw:2" in echo.signatures["chrf"]
    for metric in ("bleu", "chrf"):
        low, high = echo.ci[metric]
        assert low <= echo.value(metric) <= high
        assert (low, high) != bootstrap_ci(
            echo.per_example[metric], seed=42
        )  # resampled as a corpus value


# --- several backends against one baseline: Holm, and the winner against the runner-up ---------


def test_holm_adjusts_as_computed_by_hand():
    from ftx.stats import holm

    # sorted: 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04, raised to the running 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2]) == [0.2]
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []


def test_a_mark_that_does_not_survive_the_correction_is_dropped():
    from ftx.stats import Comparison, adjust

    raw = [
        Comparison(0.10, 0.001, "better"),  # x3 = 0.003
        Comparison(0.05, 0.03, "better"),  # x2 = 0.06: no longer significant
        Comparison(-0.2, 0.04, "worse"),  # x1 = 0.04, raised to the running 0.06
    ]
    adjusted = adjust(raw)
    assert [c.p_adjusted for c in adjusted] == pytest.approx([0.003, 0.06, 0.06])
    verdicts = ["better", "no significant difference", "no significant difference"]
    assert [c.verdict for c in adjusted] == verdicts
    assert [c.p_value for c in adjusted] == [0.001, 0.03, 0.04]  # the raw p is kept


def results_with(**per_example):
    from ftx.results import BackendResult, MetricInfo, RunResult, add_statistics

    metric = MetricInfo("exact_match", "exact_match", True, None)
    backends = [
        BackendResult(name=name, status="done", per_example={"exact_match": values})
        for name, values in per_example.items()
    ]
    add_statistics(backends, [metric], "base", seed=3)
    return RunResult("r", None, "done", [metric], backends, baseline="base", seed=3)


def test_every_backend_against_the_baseline_is_holm_corrected():
    from ftx.stats import holm

    result = results_with(
        base=[0.0] * 30, a=[1.0] * 10 + [0.0] * 20, b=[1.0] * 3 + [0.0] * 27, c=[0.0] * 30
    )
    compared = [b.vs_baseline["exact_match"] for b in result.backends[1:]]
    assert [c.p_adjusted for c in compared] == pytest.approx(holm([c.p_value for c in compared]))
    assert compared[0].verdict == "better"  # 10 of 30 against none: p ~ 0
    assert compared[2].verdict == "no significant difference"  # identical to the baseline


def test_the_winner_is_tested_against_the_runner_up():
    from ftx.report import winner_notes

    clear = results_with(base=[0.0] * 40, a=[1.0] * 30 + [0.0] * 10, b=[1.0] * 10 + [0.0] * 30)
    w = clear.winners["exact_match"]
    assert (w.best, w.runner_up, w.comparison.verdict) == ("a", "b", "better")
    assert w.comparison.diff == pytest.approx(0.5)
    assert winner_notes(clear) == [
        f"best exact_match: a, significantly better than the runner-up b (+0.500, "
        f"p = {w.comparison.p_value:.3f})"
    ]

    close = results_with(base=[0.0] * 40, a=[1.0] * 11 + [0.0] * 29, b=[1.0] * 10 + [0.0] * 30)
    w = close.winners["exact_match"]
    assert (w.best, w.runner_up, w.comparison.verdict) == ("a", "b", "no significant difference")
    assert "not significantly better than the runner-up b" in winner_notes(close)[0]

    # Against the baseline alone, the mark says it all: no note.
    assert winner_notes(results_with(base=[0.0] * 10, a=[1.0] * 10)) == []


def test_ftx_report_ranks_the_backends_best_first():
    from ftx.results import BackendResult, ranked

    result = results_with(base=[0.0] * 10, a=[1.0] * 3 + [0.0] * 7, b=[1.0] * 6 + [0.0] * 4)
    result.backends.insert(0, BackendResult(name="failed", status="failed"))
    ranked(result)
    assert [b.name for b in result.backends] == ["b", "a", "base", "failed"]


def test_report_html_plots_the_metric_against_each_swept_option():
    from ftx.report.html import render

    result = results_with(
        base=[0.0] * 10,
        **{
            "lora-r8-lr1": [1.0] * 2 + [0.0] * 8,
            "lora-r8-lr2": [1.0] * 4 + [0.0] * 6,
            "lora-r32-lr1": [1.0] * 6 + [0.0] * 4,
        },
    )
    result.swept = {
        "lora-r8-lr1": {"lora_r": "8", "learning_rate": "1"},
        "lora-r8-lr2": {"lora_r": "8", "learning_rate": "2"},
        "lora-r32-lr1": {"lora_r": "32", "learning_rate": "1"},
    }
    page = render(result)
    assert "<h2>Sweep</h2>" in page
    assert "exact_match by lora_r" in page and "exact_match by learning_rate" in page
    assert page.count("<circle") == 6  # every variant once in each of the two charts
    assert "<title>lora-r32-lr1: 0.600</title>" in page
    assert "significantly better than the runner-up" in page or "not told apart" in page
    result.swept = {}
    assert "<h2>Sweep</h2>" not in render(result)
