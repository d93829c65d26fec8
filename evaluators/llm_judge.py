"""llm_judge: a chat model grades each answer against the reference, 1-5, by a rubric.

Overlap metrics miss paraphrases and reward confident nonsense that shares words; a capable
judge model reads the answer the way a person would. Any OpenAI-compatible chat endpoint can
judge (``base_url``), with the key from ``api_key_env``. The whole prompt is ``JUDGE_PROMPT``
below, the one place to read or change what the judge is told. Verdicts are cached on disk by
(model, prompt, question, reference, answer), so a resumed or re-reported run does not pay for
them twice. The metric is the grade scaled to 0-1: (grade - 1) / 4. What the verdicts cost
(the endpoint's reported token usage at the judge model's prices) is reported with the scores
and counts towards ``--max-cost``.

    ftx run --evaluator rouge --evaluator llm_judge --set llm_judge.model=gpt-4.1-mini
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

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


@dataclass
class JudgeOptions(ClientOptions):
    """The client settings have the names (and defaults) of every hosted backend's."""

    model: str = option("gpt-4.1-mini", "the judge: any chat model of the endpoint")
    api_key_env: str = option(
        "OPENAI_API_KEY", "the environment variable (or secrets-file entry) holding the judge's key"
    )

    def prices(self) -> Prices | None:
        """The judge model's prices with the options put over them; None when unknown."""
        return resolve(openai_prices(self.model), self)


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


class LLMJudge(Evaluator):
    name = "llm_judge"
    description = "a chat model grades each answer against the reference (1-5 rubric, scaled 0-1)"
    metrics = ("judge",)
    Options = JudgeOptions

    def estimate_cost(self, splits: Splits, answers: int) -> float | None:
        """Every answer judged once, each answer about as long as its reference (cached verdicts
        are not subtracted: an upper bound)."""
        prices = self.options.prices()
        if not prices or not splits.eval or not answers:
            return None
        system = approximate(JUDGE_PROMPT)
        per_example = [
            system
            + approximate(QUESTION)
            + approximate(e.prompt[-1].content if e.prompt else "")
            + 2 * approximate(e.reference)
            for e in splits.eval
        ]
        return usage_cost(
            sum(per_example) / len(per_example) * answers, answers * REPLY_TOKENS, prices
        )

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        openai = require("openai", extra="openai", purpose="The llm_judge evaluator")
        opts = self.options
        key = secrets.get(opts.api_key_env)
        if not key:
            raise ConfigError(
                f"llm_judge needs a key: {opts.api_key_env} is not set.",
                hint=secrets.where(opts.api_key_env),
            )
        client = openai.OpenAI(
            api_key=key,
            base_url=opts.base_url or None,
            max_retries=opts.max_retries,
            timeout=opts.timeout,
        )
        folder = cache_root() / "judge"
        folder.mkdir(parents=True, exist_ok=True)
        usage: list[tuple[int, int]] = []  # (prompt, reply) tokens of every request sent
        kept: list[str] = []  # verdicts received and cached by this call

        def grade(item: tuple[str, str, str]) -> float:
            prompt, reference, answer = item
            if not answer.strip():
                return 0.0  # nothing to judge, nothing to pay for
            user = QUESTION.format(question=prompt, reference=reference, answer=answer)
            digest = hashlib.sha256(
                json.dumps([opts.model, JUDGE_PROMPT, user]).encode()
            ).hexdigest()
            cached = folder / f"{digest}.json"
            if cached.exists():
                return json.loads(cached.read_text())["score"]
            verdict = None
            for _ in range(2):  # one more try when the reply is not a grade
                try:
                    response = client.chat.completions.create(
                        model=opts.model,
                        temperature=0,
                        messages=[
                            {"role": "system", "content": JUDGE_PROMPT},
                            {"role": "user", "content": user},
                        ],
                    )
                except openai.APIError as exc:
                    raise FtxError(
                        f"the judge ({opts.model}) failed: {redact(str(exc))}",
                        hint="Check llm_judge.model, base_url and the key.",
                    ) from None
                if response.usage is not None:
                    usage.append((response.usage.prompt_tokens, response.usage.completion_tokens))
                verdict = parse_grade(response.choices[0].message.content or "")
                if verdict:
                    break
            if verdict is None:
                raise FtxError(
                    f"the judge ({opts.model}) did not answer with a grade twice in a row.",
                    hint="Use a stronger judge model.",
                )
            score = (verdict[0] - 1) / 4
            atomic_write_json(
                cached,
                {
                    "score": score,
                    "grade": verdict[0],
                    "reason": redact(verdict[1]),
                    "model": opts.model,
                },
            )
            kept.append(digest)
            return score

        prices = opts.prices()

        def paid() -> float | None:
            return (
                round(usage_cost(sum(p for p, _ in usage), sum(c for _, c in usage), prices), 6)
                if prices
                else None
            )

        try:
            with ThreadPoolExecutor(max_workers=max(1, opts.concurrency)) as pool:
                values: list[Any] = list(pool.map(grade, zip(prompts, references, predictions)))
        except FtxError as exc:
            # The verdicts paid before the failure are cached (never paid again) and their cost
            # goes with the error, so the run's total stays true.
            message = exc.message
            if kept:
                message += (
                    f" The {len(kept)} verdict(s) already received are kept and will not be paid"
                    " for again."
                )
            raise EvaluatorFailed(message, cost_usd=paid(), hint=exc.hint) from None
        return Scores({"judge": values}, cost_usd=paid())


@hookimpl
def ftx_register_evaluators(register):
    register(LLMJudge)
