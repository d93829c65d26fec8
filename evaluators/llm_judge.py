"""llm_judge: a chat model grades each answer against the reference, 1-5, by a rubric; or, in
pairwise mode, says which of two models' answers to the same prompt is better.

Overlap metrics miss paraphrases and reward confident nonsense that shares words; a capable
judge model reads the answer the way a person would. Any OpenAI-compatible chat endpoint can
judge (``base_url``), with the key from ``api_key_env``. The whole prompts are ``JUDGE_PROMPT``
and ``PAIRWISE_PROMPT`` below, the one place to read or change what the judge is told. Verdicts
are cached on disk by (model, prompt, what it was shown), so a resumed or re-reported run does
not pay for them twice. What the verdicts cost (the endpoint's reported token usage at the
judge model's prices) is reported with the scores and counts towards ``--max-cost``.

``mode=grade`` (the default): the metric ``judge`` is the grade scaled to 0-1, (grade - 1) / 4.

``mode=pairwise``: each model's answer is compared with the answer of every backend named in
``against`` to the same prompt, giving ``win_rate_vs_<backend>``. Each comparison is judged
twice, the two answers swapped, because judges favour a position; ``outcome`` is the tie rule
that combines the two verdicts: 1 for a win in both orders, 0 for a loss in both, 0.5 for
anything else. The mean is the win rate with ties counted half, and reports give its interval.

    ftx run --evaluator rouge --evaluator llm_judge --set llm_judge.model=gpt-4.1-mini
    ftx run ... --evaluator llm_judge --set llm_judge.mode=pairwise \\
        --set llm_judge.against=local-base,local-lora
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ftx import secrets
from ftx.cache import cache_root
from ftx.errors import ConfigError, FtxError, require
from ftx.evaluator import Evaluator, EvaluatorFailed
from ftx.hookspecs import hookimpl
from ftx.hosted import ClientOptions, resolve, usage_cost
from ftx.options import option
from ftx.prices import Prices, openai_prices
from ftx.secrets import redact
from ftx.store import atomic_write_json
from ftx.tokens import approximate
from ftx.types import Scores, Splits

JUDGE_PROMPT = """You grade answers to questions against a reference answer.

Rubric:
5 - says what the reference says (wording may differ); nothing false added
4 - the reference's key fact, with a small omission or harmless extra detail
3 - partly right: some of the key fact, or right but mixed with a false claim
2 - on topic but wrong
1 - wrong, empty, or not an answer

Judge only agreement with the reference, not style or length.
Reply with JSON only: {"grade": <1-5>, "reason": "<one short sentence>"}"""

QUESTION = "Question: {question}\nReference answer: {reference}\nAnswer to grade: {answer}"

PAIRWISE_PROMPT = """You compare two answers to the same question and say which is better.

The better answer is the one a careful reader would rather receive: correct, relevant and to
the point. The order in which the answers are shown and their length say nothing about which is
better. If neither is better, say tie.
Reply with JSON only: {"winner": "A" or "B" or "tie", "reason": "<one short sentence>"}"""

PAIR = "Question: {question}\n{reference}Answer A: {first}\nAnswer B: {second}"
PAIR_REFERENCE = "Reference answer (a good answer, not the only one): {reference}\n"


@dataclass
class JudgeOptions(ClientOptions):
    """The client settings have the names (and defaults) of every hosted backend's."""

    model: str = option("gpt-4.1-mini", "the judge: any chat model of the endpoint")
    api_key_env: str = option(
        "OPENAI_API_KEY", "the environment variable (or secrets-file entry) holding the judge's key"
    )
    mode: Literal["grade", "pairwise"] = option(
        "grade",
        "grade: each answer against the reference (1-5); pairwise: each answer against another "
        "backend's answer to the same prompt, judged in both orders (win rate)",
    )
    against: list[str] = option(
        [],
        "pairwise: the backends whose answers every model's are compared with, e.g. "
        "local-base,local-lora (one metric win_rate_vs_NAME each)",
    )
    show_reference: bool = option(
        False, "pairwise: show the judge the reference answer too (the chosen one, for pairs)"
    )

    def prices(self) -> Prices | None:
        """The judge model's prices with the options put over them; None when unknown."""
        return resolve(openai_prices(self.model), self)

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.mode == "pairwise" and not self.against:
            problems.append(
                "mode=pairwise compares each answer with another backend's: name them in "
                "against (--set llm_judge.against=local-base,local-lora)"
            )
        if self.mode == "grade" and self.against:
            problems.append("against is for mode=pairwise (--set llm_judge.mode=pairwise)")
        if len(set(self.against)) != len(self.against):
            problems.append(f"against names a backend twice: {','.join(self.against)}")
        return problems


REPLY_TOKENS = 30  # a verdict: {"grade": 4, "reason": "<one short sentence>"}


def parse_grade(text: str) -> tuple[int, str] | None:
    """The grade (1-5) and reason from a judge's reply: JSON, or failing that 'grade: N'."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            grade = int(data["grade"])
            if 1 <= grade <= 5:
                return grade, str(data.get("reason", ""))
        except (ValueError, KeyError, TypeError):
            pass
    match = re.search(r"grade\D{0,3}([1-5])\b", text, re.IGNORECASE)
    return (int(match.group(1)), "") if match else None


WINNERS = {"a": "A", "b": "B", "tie": "tie"}


def parse_winner(text: str) -> tuple[str, str] | None:
    """The winner ("A", "B" or "tie") and reason from a pairwise reply: JSON, or failing that
    'winner: A'."""
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match:
        try:
            data = json.loads(match.group(0))
            winner = WINNERS.get(str(data["winner"]).strip().lower())
            if winner:
                return winner, str(data.get("reason", ""))
        except (ValueError, KeyError, TypeError):
            pass
    match = re.search(r"winner\W{0,4}(A|B|tie)\b", text, re.IGNORECASE)
    return (WINNERS[match.group(1).lower()], "") if match else None


def outcome(first: str, second: str) -> float:
    """The tie rule. ``first``: the verdict with the answer shown as A, ``second`` with it shown
    as B. A win (1) only when the judge prefers the answer in both orders, a loss (0) only when
    it prefers the other in both; a tie said in either order, or verdicts that follow the
    position instead of the answers, are a tie (0.5)."""
    if first == "A" and second == "B":
        return 1.0
    if first == "B" and second == "A":
        return 0.0
    return 0.5


class LLMJudge(Evaluator):
    name = "llm_judge"
    description = (
        "a chat model grades each answer against the reference (1-5 rubric, scaled 0-1), or "
        "compares it with another backend's (pairwise: win rate)"
    )
    metrics = ("judge",)
    Options = JudgeOptions

    def __init__(self, options: Any = None):
        super().__init__(options)
        if self.options.mode == "pairwise":
            # What a pairwise judge needs of the run: every other backend's answers, in each
            # prediction row's "other_answers" ({backend: answer}).
            self.metrics = tuple(f"win_rate_vs_{name}" for name in self.options.against)
            self.needs = ("other_answers",)

    def estimate_cost(self, splits: Splits, answers: int) -> float | None:
        """Every answer judged once (pairwise: twice against each backend in ``against``), each
        answer about as long as its reference (cached verdicts are not subtracted: an upper
        bound)."""
        prices = self.options.prices()
        if not prices or not splits.eval or not answers:
            return None
        pairwise = self.options.mode == "pairwise"
        system = approximate(PAIRWISE_PROMPT if pairwise else JUDGE_PROMPT)
        per_example = [
            system
            + approximate(PAIR if pairwise else QUESTION)
            + approximate(e.prompt[-1].content if e.prompt else "")
            # the reference and the answer; pairwise, two answers (and the reference if shown)
            + (2 + (pairwise and self.options.show_reference)) * approximate(e.reference)
            for e in splits.eval
        ]
        requests = answers * (2 * len(self.options.against) if pairwise else 1)
        return usage_cost(
            sum(per_example) / len(per_example) * requests, requests * REPLY_TOKENS, prices
        )

    def score(
        self,
        predictions: list[str],
        references: list[str],
        prompts: list[str],
        rows: list[dict[str, Any]] | None = None,
    ) -> Scores:
        judge = Judge(self.options)
        try:
            if self.options.mode == "pairwise":
                per_example = self.pairwise(judge, predictions, references, prompts, rows or [])
            else:
                items = zip(prompts, references, predictions)
                per_example = {"judge": judge.map(lambda item: self.grade(judge, *item), items)}
        except FtxError as exc:
            # The verdicts paid before the failure are cached (never paid again) and their cost
            # goes with the error, so the run's total stays true.
            message = exc.message
            if judge.kept:
                message += (
                    f" The {len(judge.kept)} verdict(s) already received are kept and will not be"
                    " paid for again."
                )
            raise EvaluatorFailed(message, cost_usd=judge.paid(), hint=exc.hint) from None
        return Scores(per_example, cost_usd=judge.paid())

    # --- grade -------------------------------------------------------------------------------

    def grade(self, judge: Judge, prompt: str, reference: str, answer: str) -> float:
        if not answer.strip():
            return 0.0  # nothing to judge, nothing to pay for
        user = QUESTION.format(question=prompt, reference=reference, answer=answer)
        verdict = judge.verdict(
            JUDGE_PROMPT,
            user,
            parse_grade,
            lambda grade: {"score": (grade[0] - 1) / 4, "grade": grade[0], "reason": grade[1]},
            "a grade",
        )
        return verdict["score"]

    # --- pairwise ------------------------------------------------------------------------------

    def pairwise(
        self,
        judge: Judge,
        predictions: list[str],
        references: list[str],
        prompts: list[str],
        rows: list[dict[str, Any]],
    ) -> dict[str, list[float]]:
        """``win_rate_vs_NAME`` for each backend in ``against`` whose answers the rows hold; the
        backend scored is never its own opponent, and an opponent without answers (it failed,
        or is not in the run) leaves its metric empty for this backend."""
        per_example = {}
        for opponent in self.options.against:
            others = [(row.get("other_answers") or {}).get(opponent) for row in rows]
            if len(others) != len(predictions) or not all(isinstance(o, str) for o in others):
                continue
            items = zip(prompts, references, predictions, others)
            per_example[f"win_rate_vs_{opponent}"] = judge.map(
                lambda item: self.compare(judge, *item), items
            )
        return per_example

    def compare(self, judge: Judge, prompt: str, reference: str, answer: str, other: str) -> float:
        """``answer`` against ``other`` by the tie rule (``outcome``), judged in both orders.
        The same answer twice is a tie, and an empty answer loses to any other, without a
        request."""
        if answer.strip() == other.strip():
            return 0.5
        if not answer.strip() or not other.strip():
            return float(bool(answer.strip()))
        first = self.winner(judge, prompt, reference, answer, other)
        second = self.winner(judge, prompt, reference, other, answer)
        return outcome(first, second)

    def winner(self, judge: Judge, prompt: str, reference: str, first: str, second: str) -> str:
        shown = PAIR_REFERENCE.format(reference=reference) if self.options.show_reference else ""
        user = PAIR.format(question=prompt, reference=shown, first=first, second=second)
        verdict = judge.verdict(
            PAIRWISE_PROMPT,
            user,
            parse_winner,
            lambda winner: {"winner": winner[0], "reason": winner[1]},
            "a winner",
        )
        return verdict["winner"]


@dataclass
class Judge:
    """One ``score`` call's judge: the client, the verdict cache, and what the requests cost."""

    opts: JudgeOptions
    usage: list[tuple[int, int]] = field(default_factory=list)  # (prompt, reply) tokens sent
    kept: list[str] = field(default_factory=list)  # verdicts received and cached by this call

    def __post_init__(self) -> None:
        self.openai = require("openai", extra="openai", purpose="The llm_judge evaluator")
        opts = self.opts
        key = secrets.get(opts.api_key_env)
        if not key:
            raise ConfigError(
                f"llm_judge needs a key: {opts.api_key_env} is not set.",
                hint=secrets.where(opts.api_key_env),
            )
        self.client = self.openai.OpenAI(
            api_key=key,
            base_url=opts.base_url or None,
            max_retries=opts.max_retries,
            timeout=opts.timeout,
        )
        self.folder = cache_root() / "judge"
        self.folder.mkdir(parents=True, exist_ok=True)

    def map(self, judge_one: Callable[[Any], float], items: Iterable[Any]) -> list[float]:
        """``judge_one`` on every item, ``concurrency`` requests at a time, in order."""
        with ThreadPoolExecutor(max_workers=max(1, self.opts.concurrency)) as pool:
            return list(pool.map(judge_one, items))

    def verdict(
        self,
        system: str,
        user: str,
        parse: Callable[[str], Any],
        entry: Callable[[Any], dict[str, Any]],
        what: str,
    ) -> dict[str, Any]:
        """The judge's verdict on ``user``: from the cache, or asked (once more when the reply
        is not ``what`` ``parse`` reads) and cached as ``entry`` makes it."""
        opts = self.opts
        digest = hashlib.sha256(json.dumps([opts.model, system, user]).encode()).hexdigest()
        cached = self.folder / f"{digest}.json"
        if cached.exists():
            return json.loads(cached.read_text())
        parsed = None
        for _ in range(2):  # one more try when the reply is not a verdict
            try:
                response = self.client.chat.completions.create(
                    model=opts.model,
                    temperature=0,
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                )
            except self.openai.APIError as exc:
                raise FtxError(
                    f"the judge ({opts.model}) failed: {redact(str(exc))}",
                    hint="Check llm_judge.model, base_url and the key.",
                ) from None
            if response.usage is not None:
                self.usage.append((response.usage.prompt_tokens, response.usage.completion_tokens))
            parsed = parse(response.choices[0].message.content or "")
            if parsed:
                break
        if parsed is None:
            raise FtxError(
                f"the judge ({opts.model}) did not answer with {what} twice in a row.",
                hint="Use a stronger judge model.",
            )
        verdict = entry(parsed)
        verdict["reason"] = redact(verdict.get("reason", ""))
        atomic_write_json(cached, {**verdict, "model": opts.model})
        self.kept.append(digest)
        return verdict

    def paid(self) -> float | None:
        prices = self.opts.prices()
        if not prices:
            return None
        prompt, reply = sum(p for p, _ in self.usage), sum(c for _, c in self.usage)
        return round(usage_cost(prompt, reply, prices), 6)


@hookimpl
def ftx_register_evaluators(register):
    register(LLMJudge)
