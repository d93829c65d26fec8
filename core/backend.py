"""The backend protocol: how a training service plugs into a run.

A backend is registered with ``ftx_register_backends``. The runner calls ``check`` for every
chosen backend before any of them trains, then ``train`` (or ``attach`` when resuming), then
``generate`` on the returned model for the held-out prompts, ``reference_logprobs`` when an
evaluator needs them and the model ``can_score_references``, and ``pair_logprobs`` for held-out
preference pairs when an evaluator needs them and the model ``can_score_pairs``.

What a backend gets from the run is its ``BackendContext``: a folder, persisted state, a log,
run events, progress (``ctx.task``), costs (``ctx.add_cost``) and cancellation (``ctx.sleep``,
``Cancelled``). Those are the whole contract; the runner reads nothing else of a backend's.
"""

from __future__ import annotations

import functools
import inspect
import threading
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ftx.types import (
    Completion,
    Example,
    GenerationParams,
    Message,
    PairLogprobs,
    Problem,
    Splits,
    TrainStats,
)

if TYPE_CHECKING:
    from ftx.progress import ProgressTask


class Cancelled(BaseException):
    """The run is stopping (Ctrl-C, SIGTERM): raised in a backend at a safe point, by
    ``ctx.sleep`` or ``ctx.raise_if_cancelled``. Like ``asyncio.CancelledError`` it is not an
    ``Exception``, so a plugin's ``except Exception`` does not swallow it; let it through. The
    runner marks the backend ``interrupted`` and ``ftx resume`` continues it from its state."""


class Pruned(Cancelled):
    """An Optuna trial stops because it lags the others (``ftx run --trials``): raised from the
    run event of its validation loss. It passes through a backend as ``Cancelled`` does; the
    runner marks the trial ``pruned``, and the run goes on."""


class TrainedModel(ABC):
    """A model that can answer prompts: a fine-tuned one, or a base model for comparison.

    Capabilities are class attributes (as ``can_stream`` is on an ``llm`` model); the runner
    reads them and calls nothing a model did not declare:

    - ``can_score_references``: the model implements ``reference_logprobs`` (for evaluators
      that need ``"reference_logprob"``, such as perplexity). A subclass that overrides
      ``reference_logprobs`` has it set for it.
    - ``can_score_pairs``: the model implements ``pair_logprobs`` (for evaluators that need
      ``"pair_logprobs"``, such as reward); set likewise for a subclass overriding it.
    """

    stats: TrainStats
    #: True when ``reference_logprobs`` works (set automatically for a subclass overriding it)
    can_score_references: ClassVar[bool] = False
    #: True when ``pair_logprobs`` works (set automatically for a subclass overriding it)
    can_score_pairs: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method, flag in (
            ("reference_logprobs", "can_score_references"),
            ("pair_logprobs", "can_score_pairs"),
        ):
            if method in cls.__dict__ and flag not in cls.__dict__:
                setattr(cls, flag, True)
        generate = cls.__dict__.get("generate")
        if generate is not None and not _takes_on_answer(generate):
            cls.generate = _without_on_answer(cls, generate)  # type: ignore[method-assign]

    @abstractmethod
    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """Answer every prompt (batched where the backend can) and return the answers in order.

        Call ``on_answer(i, completion)`` as soon as the answer to ``prompts[i]`` exists, if you
        can: ftx writes it to disk at once, so a run killed mid-evaluation keeps (and never
        pays for again) the answers it already has. Answers not given to ``on_answer`` are kept
        when ``generate`` returns. ``on_answer`` may raise ``Cancelled`` (the run is stopping):
        let it through.

        A subclass written before ``on_answer`` existed (``generate(self, prompts, params)``)
        still works, with a ``DeprecationWarning``: add ``on_answer=None`` to its signature.
        """

    def reference_logprobs(self, examples: list[Example]) -> list[tuple[float, int]]:
        """The summed log-probability of each example's reference answer after its prompt, and
        the answer's token count, in order. Only called when ``can_score_references``."""
        from ftx.errors import FtxError

        raise FtxError(
            f"{type(self).__name__} cannot score reference answers (can_score_references is "
            "False).",
            hint="Implement reference_logprobs(examples) to give evaluators such as perplexity "
            "what they need.",
        )

    def pair_logprobs(self, examples: list[Example]) -> list[PairLogprobs]:
        """For each preference example (``example.rejected`` set; ``ftx.preference``), in
        order: the summed log-probabilities of its chosen and rejected answers after its prompt
        under this model and under its base, with their token counts. Only called when
        ``can_score_pairs``."""
        from ftx.errors import FtxError

        raise FtxError(
            f"{type(self).__name__} cannot score preference pairs (can_score_pairs is False).",
            hint="Implement pair_logprobs(examples) to give evaluators such as reward what they "
            "need.",
        )

    def close(self) -> None:  # noqa: B027 (optional: most models hold nothing to free)
        """Free memory or connections; called once the run no longer needs the model."""


def _takes_on_answer(generate: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(generate).parameters.values()
    except (TypeError, ValueError):  # a builtin or an odd callable: assume it is up to date
        return True
    return any(p.name == "on_answer" or p.kind is p.VAR_KEYWORD for p in parameters)


def _without_on_answer(cls: type, generate: Callable[..., Any]) -> Callable[..., Any]:
    """``generate(self, prompts, params)`` as the runner calls it: its answers are kept when it
    returns (the runner gives each to ``on_answer`` then)."""
    warnings.warn(
        f"{cls.__module__}.{cls.__qualname__}.generate(prompts, params) takes no on_answer: "
        "add on_answer=None to its signature (and call on_answer(i, completion) as answers "
        "arrive, if you can); the old signature will stop working in a future ftx.",
        DeprecationWarning,
        stacklevel=4,  # the class statement: _without_on_answer, __init_subclass__, ABCMeta
    )

    @functools.wraps(generate)
    def compatible(
        self: Any,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        return generate(self, prompts, params)

    return compatible


@dataclass
class BackendContext:
    """What the runner gives a backend: its own folder, persisted state, logging, progress,
    costs and cancellation.

    - ``dir``: the backend's folder in the run directory; write artifacts there.
    - ``state``: a dict persisted in run.json as the backend's ``state``; put in it whatever
      ``attach`` needs to resume (a job id the moment it exists), then call ``save_state()``.
      Keep it JSON (strings, numbers, lists, dicts). ``attach`` gets it back.
    - ``log(line)``: a line for the backend's ``log.txt`` (never secrets: keys are masked).
    - ``emit(kind, data)``: a run event for ``ftx_run_event`` observers (``"train_log"`` with
      ``step``, ``loss``, ...).
    - ``task(description, total, info)``: one line of progress (see ``task``).
    - ``add_cost(kind, usd)``: money spent, which reports add up (see ``add_cost``).
    - ``cancelled``: set when the run is stopping; ``sleep(seconds)`` and
      ``raise_if_cancelled()`` raise ``Cancelled`` then.
    """

    run_id: str
    dir: Path  # runs/<run-id>/<backend>/ : the backend writes its artifacts here
    state: dict[str, Any]  # persisted in run.json; call save_state() after changing it
    save_state: Callable[[], None]
    log: Callable[[str], None]  # a line for the backend's log file (never secrets)
    emit: Callable[[str, dict[str, Any]], None]  # a run event: emit("train_log", {...})
    #: the rich ``Progress`` underneath ``task()`` (``ftx.progress.RunProgress`` in a run);
    #: plugins that call its ``add_task``/``update``/``advance`` keep working
    progress: Any
    seed: int = 42  # the run's seed
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: dollars spent so far by kind (``"training"``, ``"answering"``), persisted in run.json
    #: as the backend's ``cost_usd``; change it with ``add_cost``
    costs: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def task(self, description: str, total: float | None = None, info: str = "") -> ProgressTask:
        """Show the progress of one piece of work: ``task = ctx.task("my-backend: training",
        total=steps)``, then ``task.advance()`` per step (``task.advance(info="loss 1.23")``),
        ``task.update(completed=..., total=..., info=...)``, and ``task.done()``. ``total=None``
        when the length is unknown (a hosted job). At a terminal it is a bar; in a log (CI,
        ``nohup``, ``| tee``) whole lines at the start, every tenth of the total or 30 s, and
        the end."""
        from ftx.progress import ProgressTask

        return ProgressTask(self.progress, description, total, info)

    def add_cost(self, kind: str, usd: float) -> None:
        """Record ``usd`` dollars spent on ``kind`` (``"training"``, ``"answering"``, or a kind
        of your own), as the money is spent: costs add up across calls and across ``ftx
        resume``, and reports show their total as the backend's cost. Saved at once. A training
        cost returned in ``TrainStats.cost_usd`` is recorded as ``"training"`` unless the
        backend recorded one itself."""
        with self._lock:
            self.costs[kind] = round(self.costs.get(kind, 0.0) + usd, 6)
        self.save_state()

    def raise_if_cancelled(self) -> None:
        """Raise ``Cancelled`` if the run is stopping; call it at safe points of long work."""
        if self.cancelled.is_set():
            raise Cancelled

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (between two polls of a hosted job, before a retry), but raise
        ``Cancelled`` at once when the run is stopping."""
        if self.cancelled.wait(seconds):
            raise Cancelled


class Backend(ABC):
    """Subclass this and register it. ``Options`` is a dataclass whose fields are the
    backend's settings (``--set <name>.<field>=value``); each field's ``metadata["help"]`` is
    shown by ``ftx backends``.

    ``train`` and ``attach`` return a ``TrainedModel``. Any exception in them (or in the
    model's ``generate``) fails only this backend; raise ``ftx.errors.FtxError`` with a message
    and a hint for expected failures, and let ``Cancelled`` through."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type]
    #: the option that ``ftx run --model`` fills, for backends that take a local model
    model_option: ClassVar[str | None] = None
    #: True for backends that do not train (the untuned baseline)
    is_baseline: ClassVar[bool] = False
    #: True for backends whose work happens elsewhere (hosted APIs): they run in a thread of
    #: their own, concurrently with local training, instead of waiting their turn
    remote: ClassVar[bool] = False
    #: True for backends whose ``train`` runs in every process of a ``torchrun`` or
    #: ``accelerate launch`` (data parallel); the others run in the main process only
    distributed: ClassVar[bool] = False

    #: set when the class is defined: whether ``check`` takes ``generation`` (older plugins'
    #: two-argument ``check`` keeps working)
    check_takes_generation: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.check_takes_generation = "generation" in inspect.signature(cls.check).parameters

    def check(
        self, splits: Splits, opts: Any, generation: GenerationParams | None = None
    ) -> list[Problem]:
        """Preflight without side effects: credentials, limits, token counts, cost.
        ``generation`` says how long answers may be (prompts must leave them room).
        Return every problem found; an empty list means ready."""
        return []

    def depends_on(self, opts: Any) -> list[str]:
        """The run's backends this one builds on, by name (``local-dpo`` with
        ``start_from=local-lora`` trains local-lora's adapter further). They must have trained
        before it starts: local backends train in the order the run lists them, so list them
        first; whatever trains backends side by side (an executor) must wait for them."""
        return []

    def token_counter(self, opts: Any) -> Callable[[str], int] | None:
        """This backend's exact token count of a text (its model's tokenizer), used to size
        ``max_new_tokens=auto`` from the references; None when it has none at hand."""
        return None

    def estimate_cost(self, splits: Splits, opts: Any) -> float | None:
        """Dollars this backend will charge to train (None: free or unknown). The runner adds
        the estimates up and refuses to start above ``--max-cost`` unless confirmed."""
        return None

    @abstractmethod
    def train(self, splits: Splits, opts: Any, ctx: BackendContext) -> TrainedModel:
        """Train on ``splits.train`` (``splits.eval`` may be used for validation loss)."""

    def attach(self, state: dict[str, Any], opts: Any, ctx: BackendContext) -> TrainedModel:
        """Rebuild the trained model from persisted state (resume after a crash or Ctrl-C)."""
        raise NotImplementedError(f"backend '{self.name}' cannot resume")

    def cancel(self, state: dict[str, Any], opts: Any) -> str:
        """Stop remote work this backend started (``ftx cancel``); say what happened."""
        return "nothing to cancel"

    def export(self, folder: Path, opts: Any, out: Path, *, merge: bool) -> None:
        """Write the trained model to ``out`` in a form other tools load (``ftx export``);
        ``folder`` is the backend's folder in the run directory."""
        from ftx.errors import FtxError

        raise FtxError(f"backend '{self.name}' has nothing to export.")
