"""The pairwise judge (llm_judge with mode=pairwise) against the fake OpenAI server, through the
real openai SDK: each comparison judged twice with the answers swapped, the tie rule that
combines the two verdicts, win rates per opponent, the cache, and what it costs.

The fake judge prefers the answer with more words and calls equal lengths a tie; with
``judge_favours_first`` it names answer A whatever it reads, as a judge biased by position does.
"""

import pytest

from ftx.evaluators.llm_judge import JudgeOptions, LLMJudge, outcome, parse_winner
from ftx.testing import check_evaluator
from ftx.types import Example, Message, Splits

from .fakes.openai_server import KEY, FakeOpenAI
from .helpers import ftx_main

pytest.importorskip("openai")

QUESTIONS = ["Who wrote it?", "When?", "Where?", "Who?", "Why?"]
# The answers of the model scored, and of the two it is compared with, to the same prompts.
DPO = ["Jane Austen wrote it", "1813", "At Longbourn", "", "Because she could"]
BASE = ["Austen", "In the year 1813", "At Netherfield", "Mr Darcy", "Because she could"]
SFT = ["Jane Austen", "1813", "Longbourn", "Darcy", "No"]
# DPO against BASE: longer, shorter, a tie said, empty (loses unasked), the same (tie unasked)
AGAINST_BASE = [1.0, 0.0, 0.5, 0.0, 0.5]
AGAINST_SFT = [1.0, 0.5, 1.0, 0.0, 1.0]  # ..., "1813" twice is the same answer: a tie


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield server


def judge(fake, **options):
    return LLMJudge(
        JudgeOptions(
            base_url=fake.base_url,
            max_retries=0,
            mode="pairwise",
            against=["local-base", "local-lora"],
            **options,
        )
    )


def rows(*others: dict[str, list[str]]) -> list[dict]:
    return [
        {"id": str(i), "other_answers": {name: answers[i] for name, answers in others[0].items()}}
        for i in range(len(QUESTIONS))
    ]


def test_win_rates_against_each_backend_with_swapped_positions(fake):
    scores = judge(fake).score(
        DPO, [""] * 5, QUESTIONS, rows=rows({"local-base": BASE, "local-lora": SFT})
    )
    assert scores.per_example == {
        "win_rate_vs_local-base": AGAINST_BASE,
        "win_rate_vs_local-lora": AGAINST_SFT,
    }
    # Each comparison the judge was needed for was asked twice, once in each order; the same
    # answer twice and an empty answer were not asked at all.
    asked = sum(bool(a != b and a and b) for a, b in [*zip(DPO, BASE), *zip(DPO, SFT)])
    assert fake.state.counts["chat"] == 2 * asked == 12
    paid = (
        fake.state.counts["chat_prompt_tokens"] * 0.80
        + fake.state.counts["chat_completion_tokens"] * 3.20
    ) / 1e6
    assert scores.cost_usd == pytest.approx(paid, abs=1e-6) and scores.cost_usd > 0


def test_a_judge_that_follows_the_position_gives_ties(fake):
    """The tie rule: a verdict that changes when the answers swap places is about the places,
    not the answers. Every comparison the judge is asked about is then a tie, even where the
    fair judge above saw a clear winner."""
    fake.behaviour.judge_favours_first = True
    scores = judge(fake).score(
        DPO, [""] * 5, QUESTIONS, rows=rows({"local-base": BASE, "local-lora": SFT})
    )
    assert scores.per_example["win_rate_vs_local-base"] == [0.5, 0.5, 0.5, 0.0, 0.5]
    assert scores.per_example["win_rate_vs_local-lora"] == [0.5, 0.5, 0.5, 0.0, 0.5]
    assert fake.state.counts["chat"] == 12  # both orders were asked: that is how it shows


@pytest.mark.parametrize(
    "first, second, value",
    [
        ("A", "B", 1.0),  # preferred in both orders: a win
        ("B", "A", 0.0),  # the other preferred in both: a loss
        ("A", "A", 0.5),  # the first position preferred both times: a tie
        ("B", "B", 0.5),
        ("tie", "tie", 0.5),
        ("A", "tie", 0.5),  # a tie said in either order is a tie
        ("tie", "A", 0.5),
    ],
)
def test_the_tie_rule(first, second, value):
    assert outcome(first, second) == value


def test_verdicts_are_cached_and_serve_the_mirrored_comparison(fake):
    first = judge(fake).score(DPO, [""] * 5, QUESTIONS, rows=rows({"local-base": BASE}))
    asked = fake.state.counts["chat"]
    # The base's answers against local-dpo's: the same two requests per comparison, answered
    # from the cache, and every value the mirror image of the first.
    mirrored = LLMJudge(
        JudgeOptions(base_url=fake.base_url, mode="pairwise", against=["local-dpo"])
    ).score(BASE, [""] * 5, QUESTIONS, rows=rows({"local-dpo": DPO}))
    assert fake.state.counts["chat"] == asked and mirrored.cost_usd == 0.0
    assert mirrored.per_example["win_rate_vs_local-dpo"] == [
        1 - v for v in first.per_example["win_rate_vs_local-base"]
    ]


def test_an_opponent_without_answers_leaves_its_metric_out(fake):
    """The backend scored is not its own opponent (the run gives it the others' answers only),
    and an opponent that failed has no answers: no win rate against either, no request."""
    scores = judge(fake).score(SFT, [""] * 5, QUESTIONS, rows=rows({"local-base": BASE}))
    assert set(scores.per_example) == {"win_rate_vs_local-base"}
    assert judge(fake).score(SFT, [""] * 5, QUESTIONS, rows=None).per_example == {}


def test_the_reference_is_shown_when_asked(fake):
    scores = judge(fake, show_reference=True).score(
        DPO, ["Jane Austen"] * 5, QUESTIONS, rows=rows({"local-base": BASE, "local-lora": SFT})
    )
    assert scores.per_example["win_rate_vs_local-base"] == AGAINST_BASE


def test_replies_the_judge_may_give():
    assert parse_winner('{"winner": "B", "reason": "clearer"}') == ("B", "clearer")
    assert parse_winner('Sure. {"winner": "Tie", "reason": ""}') == ("tie", "")
    assert parse_winner("Winner: a") == ("A", "")
    assert parse_winner("Both are fine.") is None


def test_the_pairwise_judge_declares_its_metrics_and_needs():
    pairwise = LLMJudge(JudgeOptions(mode="pairwise", against=["local-base", "local-lora"]))
    assert pairwise.metrics == ("win_rate_vs_local-base", "win_rate_vs_local-lora")
    assert pairwise.needs == ("other_answers",)
    grade = LLMJudge(JudgeOptions())
    assert grade.metrics == ("judge",) and grade.needs == ()


def test_the_pairwise_judge_and_the_reward_evaluator_conform(fake):
    from ftx.evaluators.reward import Reward

    check_evaluator(
        LLMJudge, JudgeOptions(base_url=fake.base_url, mode="pairwise", against=["other"])
    )
    check_evaluator(Reward)


def test_its_estimate_counts_both_orders_against_each_backend():
    pairs = [
        Example(str(i), (Message("user", "Who wrote it?"), Message("assistant", "Jane Austen")))
        for i in range(4)
    ]
    splits = Splits(pairs[:2], pairs[2:])
    grade = LLMJudge(JudgeOptions()).estimate_cost(splits, 6)
    pairwise = LLMJudge(JudgeOptions(mode="pairwise", against=["a", "b"])).estimate_cost(splits, 6)
    assert grade and pairwise and 3 < pairwise / grade < 5  # 4 requests an answer, shorter each


@pytest.mark.parametrize(
    "settings, message",
    [
        (
            ["llm_judge.mode=pairwise"],
            "llm_judge: mode=pairwise compares each answer with another backend's: name them in "
            "against (--set llm_judge.against=local-base,local-lora)",
        ),
        (["llm_judge.against=local-base"], "llm_judge: against is for mode=pairwise"),
    ],
)
def test_bad_pairwise_options_are_one_clear_error(settings, message, capsys, tmp_path):
    argv = ["run", "--evaluator", "llm_judge"]
    for setting in settings:
        argv += ["--set", setting]
    code, _, err = ftx_main(capsys, *argv)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code != 0 and "Traceback" not in err and len(errors) == 1, err
    assert message in errors[0]


@pytest.mark.slow
def test_a_run_reports_win_rates_against_the_base(fake, tmp_path, tiny_model, capsys):
    from pathlib import Path

    sample = Path(__file__).parent / "preference" / "pride_and_prejudice_pairs.jsonl"
    code, _, err = ftx_main(
        capsys,
        "run",
        "--data",
        str(sample),
        "--model",
        str(tiny_model),
        "--eval-size",
        "6",
        "--backend",
        "local-base",
        "--backend",
        "local-lora",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
        "--evaluator",
        "llm_judge",
        "--set",
        f"llm_judge.base_url={fake.base_url}",
        "--set",
        "llm_judge.mode=pairwise",
        "--set",
        "llm_judge.against=local-base",
        "--name",
        "r",
    )
    assert code == 0, err
    import json

    scores = json.loads((tmp_path / "runs" / "r" / "scores.json").read_text())["backends"]
    assert len(scores["local-lora"]["per_example"]["win_rate_vs_local-base"]) == 6
    assert "win_rate_vs_local-base" not in scores["local-base"]["per_example"]
