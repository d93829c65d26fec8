"""The backend protocol: how a training service plugs into a run.

A backend is registered with ``ftx_register_backends``. The runner calls ``check`` for every
chosen backend before any of them trains, then ``train`` (or ``attach`` when resuming), then
``generate`` on the returned model for the held-out prompts.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ftx.types import Completion, GenerationParams, Message, Problem, Splits, TrainStats

if TYPE_CHECKING:
    from ftx.progress import ProgressTask


class TrainedModel(ABC):
    """A model that can answer prompts: a fine-tuned one, or a base model for comparison."""

    stats: TrainStats

    @abstractmethod
    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        """Answer every prompt (batched where the backend can), in order.

        Call ``on_answer(i, completion)`` as soon as the answer to ``prompts[i]`` exists: ftx
        writes it to disk at once, so a run killed mid-evaluation keeps (and never pays for
        again) the answers it already has. Models that do not take ``on_answer`` still work;
        their answers are kept only when ``generate`` returns.
        """

    def close(self) -> None:
        """Free memory or connections; called once the run no longer needs the model."""


@dataclass
class BackendContext:
    """What the runner gives a backend: its own folder, persisted state, logging, progress."""

    run_id: str
    dir: Path  # runs/<run-id>/<backend>/ : the backend writes its artifacts here
    state: dict[str, Any]  # persisted in run.json; call save_state() after changing it
    save_state: Callable[[], None]
    log: Callable[[str], None]  # a line for the backend's log file (never secrets)
    emit: Callable[[str, dict[str, Any]], None]  # a run event: emit("train_log", {...})
    progress: Any  # a rich Progress (ftx.progress.RunProgress in a run); prefer task() below
    seed: int = 42  # the run's seed
    cancelled: threading.Event = field(default_factory=threading.Event)

    def task(self, description: str, total: float | None = None, info: str = "") -> ProgressTask:
        """Show the progress of one piece of work: ``task = ctx.task("my-backend: training",
        total=steps)``, then ``task.advance()`` per step (``task.advance(info="loss 1.23")``),
        ``task.update(completed=..., total=..., info=...)``, and ``task.done()``. ``total=None``
        when the length is unknown (a hosted job). At a terminal it is a bar; in a log (CI,
        ``nohup``, ``| tee``) whole lines at the start, every tenth of the total or 30 s, and the end."""
        from ftx.progress import ProgressTask

        return ProgressTask(self.progress, description, total, info)

    def write_json(self, name: str, data: Any) -> Path:
        from ftx.store import atomic_write_text

        path = self.dir / name
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        return path


class Backend(ABC):
    """Subclass this and register it. ``Options`` is a dataclass whose fields are the
    backend's settings (``--set <name>.<field>=value``); each field's ``metadata["help"]`` is
    shown by ``ftx backends``."""

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

    def check(self, splits: Splits, opts: Any) -> list[Problem]:
        """Preflight without side effects: credentials, limits, token counts, cost.
        Return every problem found; an empty list means ready."""
        return []

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
