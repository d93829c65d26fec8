"""The evaluator protocol: scoring predictions against references."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ftx.errors import FtxError
from ftx.types import Scores, Splits


@dataclass
class NoOptions:
    """For plugins that take no options."""


class EvaluatorFailed(FtxError):
    """An evaluator could not score, after paying for part of the scoring (an API judge that
    failed part-way): ``cost_usd`` is what it paid, which the run still counts. Raise it from
    ``score``: ``raise EvaluatorFailed("the judge failed: ...", cost_usd=0.02)``."""

    def __init__(self, message: str, *, cost_usd: float | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.cost_usd = cost_usd


class Evaluator(ABC):
    """Subclass this and register it with ``ftx_register_evaluators``.

    ``metrics`` names every metric ``score`` returns; all are "higher is better" unless listed
    in ``lower_is_better``, or given a target value in ``targets`` (closest is best).

    ``score`` is called once per backend with that backend's answers, the references and the
    prompts, in eval order. It returns ``Scores`` with one number per answer for each metric it
    gives (a metric it cannot give for this backend is left out: it shows as missing).

    ``needs``: an evaluator that needs more than text lists it there, and then, and only then,
    ``score`` is called with a ``rows`` keyword: the prediction rows of one backend (dicts, in
    eval order) holding what was asked for. ``"reference_logprob"`` asks each model that
    ``can_score_references`` (the local ones) for the summed log-probability of each reference
    answer (``reference_logprob``) and its token count (``reference_tokens``); rows of a model
    that cannot lack them, and the evaluator leaves its metric out for that backend.
    ``"pair_logprobs"`` asks each model that ``can_score_pairs`` for the log-probabilities of a
    preference pair's chosen and rejected answers (rows of pairs hold ``chosen_logprob`` and the
    rest of ``PairLogprobs.row()``; the ``reward`` evaluator reads them). ``"other_answers"``
    gives each row ``other_answers``: the same example's answer by every other finished backend,
    by name (a pairwise judge compares them).

    Money: an evaluator that pays for scoring (an API judge) returns what the call paid in
    ``Scores.cost_usd`` and overrides ``estimate_cost``. When it fails after paying for part,
    it raises ``EvaluatorFailed(message, cost_usd=...)`` so the run still counts that.

    A metric with a corpus value (BLEU) should also return each example's sufficient statistics
    in ``Scores.corpus_stats`` and implement ``corpus_value``: reports then resample the corpus
    value itself, so its interval and paired test are about the value they show.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    metrics: ClassVar[tuple[str, ...]]
    lower_is_better: ClassVar[tuple[str, ...]] = ()
    targets: ClassVar[dict[str, float]] = {}
    needs: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        """Per-example values for each metric (same order as the inputs) and corpus values
        where the metric has one. With ``needs`` set, also called with ``rows=`` (see the
        class). An evaluator that pays for scoring (an API judge) says what this call paid in
        ``Scores.cost_usd``, or in ``EvaluatorFailed.cost_usd`` when it fails."""

    def corpus_value(self, metric: str, totals: list[float]) -> float:
        """The corpus value of ``metric`` from ``totals``: the element-wise sum of the
        ``Scores.corpus_stats[metric]`` vectors of some examples (a bootstrap resample, with
        repeats). Implement it only if ``score`` returns ``corpus_stats``; the totals over all
        examples must give ``Scores.corpus[metric]``. Reports call it thousands of times, so it
        works on numbers only, never text. The instance has the options the run was scored with."""
        raise NotImplementedError(f"evaluator '{self.name}' returns no corpus statistics")

    def estimate_cost(self, splits: Splits, answers: int) -> float | None:
        """Dollars scoring ``answers`` answers to ``splits.eval`` will cost (None: free or
        unknown). The runner adds this to the backends' estimates for ``--max-cost``."""
        return None
