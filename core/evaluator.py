"""The evaluator protocol: scoring predictions against references."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from ftx.types import Scores, Splits


@dataclass
class NoOptions:
    """For plugins that take no options."""


class Evaluator(ABC):
    """Subclass this and register it with ``ftx_register_evaluators``.

    ``metrics`` names every metric ``score`` returns; all are "higher is better" unless listed
    in ``lower_is_better``, or given a target value in ``targets`` (closest is best).

    An evaluator that needs more than text lists it in ``needs``; its ``score`` then takes a
    ``rows`` keyword: the prediction rows of one backend, in eval order, which hold what was
    asked for. ``"reference_logprob"`` asks backends that can (the local ones) for the summed
    log-probability of each reference answer (``reference_logprob``) and its token count
    (``reference_tokens``); backends that cannot leave the metric empty.
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
        where the metric has one. An evaluator that pays for scoring (an API judge) says what
        this call paid in ``Scores.cost_usd``."""

    def estimate_cost(self, splits: Splits, answers: int) -> float | None:
        """Dollars scoring ``answers`` answers to ``splits.eval`` will cost (None: free or
        unknown). The runner adds this to the backends' estimates for ``--max-cost``."""
        return None
