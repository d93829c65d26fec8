"""Progress of a run: live bars at a terminal, whole lines everywhere else.

``ftx run`` gives the runner a ``RunProgress`` on stderr, which every backend shares
(``ctx.progress``; the library alone uses ``silent_progress``). At a terminal it draws rich's
bars. When stderr is not a terminal (CI logs, ``nohup``, ``| tee``) a bar redrawn in place
would be cut to the log's width, so each task prints whole lines instead: when it starts, each
time it passes another tenth of its total or ``interval`` seconds have gone by with news, and
when it ends::

    local-lora: training 0/40 · 0:00:00
    local-lora: training 4/40 (10%) · 0:00:03 · loss 2.310 · lr 1.0e-03 · 1803 tok/s
    ...
    local-lora: training 40/40 (100%) · 0:00:31 · loss 1.021 · 1811 tok/s

The progress contract for plugins is ``BackendContext.task`` (a ``ProgressTask``).
``ctx.progress`` itself is a rich ``Progress``, so plugins that call ``add_task``/``update``/
``advance`` on it keep working, with or without an ``info`` field.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from ftx.display import plain

PLAIN_INTERVAL = 30.0  # seconds between two lines of a task that has news but passed no tenth
PLAIN_STEPS = 10  # a line each time a task passes another 1/PLAIN_STEPS of its total


class ProgressTask:
    """One line of progress: a training, a hosted job, a batch of answers.

    ``total`` is the number of units (steps, answers), or ``None`` when unknown (a hosted job
    whose length the service decides). ``info`` is a short text shown after the counts (the
    loss, a job's status); keep it to one line."""

    def __init__(self, progress: Any, description: str, total: float | None = None, info: str = ""):
        self.progress = progress
        self.id: TaskID = progress.add_task(description, total=total, info=info)

    def advance(self, n: float = 1, info: str | None = None) -> None:
        """``n`` more units are done."""
        self.progress.update(self.id, advance=n, **({"info": info} if info is not None else {}))

    def update(
        self, *, completed: float | None = None, total: float | None = None, info: str | None = None
    ) -> None:
        """Set how many units are done, the total, or the info text."""
        self.progress.update(
            self.id,
            completed=completed,
            total=total,
            **({"info": info} if info is not None else {}),
        )

    def done(self, info: str | None = None) -> None:
        """The task finished: its bar fills (a task without a total gets one of 1)."""
        task = next((t for t in self.progress.tasks if t.id == self.id), None)
        total = task.total if task is not None and task.total is not None else 1
        self.update(total=total, completed=total, info=info)


class _Description(ProgressColumn):
    """The task's description, as markup where it is valid markup, else as it is."""

    def render(self, task: Task) -> Text:
        try:
            text = Text.from_markup(str(task.description), style="bold")
        except Exception:  # "[x" from a plugin is not markup: show it, never fail the display
            text = Text(plain(task.description, newlines=False), style="bold")
        return text


class _Info(ProgressColumn):
    """The task's ``info`` field (the loss, a job's status); a task without one shows nothing."""

    def render(self, task: Task) -> Text:
        return Text(
            plain(task.fields.get("info", ""), newlines=False), no_wrap=True, overflow="ellipsis"
        )


class RunProgress(Progress):
    """rich's ``Progress`` with columns that cannot fail on a task's fields, which prints whole
    lines instead of bars when its console is not a terminal."""

    def __init__(self, console: Console, *, interval: float = PLAIN_INTERVAL):
        self.plain_lines = not (console.is_interactive or console.is_jupyter)
        self.line_interval = interval
        self._printed: dict[
            TaskID, tuple[float, float, str, int]
        ] = {}  # time, completed, info, tenths at the last line
        self._line_lock = threading.Lock()
        super().__init__(
            SpinnerColumn(),
            _Description(),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(compact=True),
            _Info(),
            console=console,
            transient=False,
            disable=self.plain_lines,
        )

    def add_task(
        self,
        description: str,
        start: bool = True,
        total: float | None = 100.0,
        completed: int = 0,
        visible: bool = True,
        **fields: Any,
    ) -> TaskID:
        fields.setdefault("info", "")
        task_id = super().add_task(
            description, start=start, total=total, completed=completed, visible=visible, **fields
        )
        self._line(task_id, force=True)
        return task_id

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._line(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._line(task_id)

    def stop(self) -> None:
        super().stop()
        if self.plain_lines:  # where each unfinished task got to
            for task_id in list(self._printed):
                self._line(task_id, final=True)

    # --- whole lines ---------------------------------------------------------------------------

    def _line(self, task_id: TaskID, *, force: bool = False, final: bool = False) -> None:
        if not self.plain_lines:
            return
        with self._line_lock:
            task = self._tasks.get(task_id)
            if task is None or not task.visible:
                return
            now, info = time.monotonic(), str(task.fields.get("info", ""))
            tenths = int(task.completed * PLAIN_STEPS // task.total) if task.total else 0
            last = self._printed.get(task_id)
            if last is not None and not force:
                at, completed, said, last_tenths = last
                news = task.completed != completed or info != said
                ended = (
                    task.total is not None
                    and task.completed >= task.total
                    and completed < task.total
                )
                if not news or not (
                    ended or final or tenths > last_tenths or now - at >= self.line_interval
                ):
                    return
            self._printed[task_id] = (now, task.completed, info, tenths)
            self.console.print(
                Text(self._format(task, info)), soft_wrap=True, markup=False, highlight=False
            )

    @staticmethod
    def _format(task: Task, info: str) -> str:
        try:
            description = Text.from_markup(str(task.description)).plain
        except Exception:
            description = str(task.description)
        parts = [plain(description, newlines=False)]
        if task.total is not None:
            share = f" ({task.completed / task.total:.0%})" if task.total and task.completed else ""
            parts.append(f"{_count(task.completed)}/{_count(task.total)}{share}")
        elif task.completed:
            parts.append(_count(task.completed))
        elapsed = int(task.elapsed or 0)
        line = " ".join(parts) + f" · {elapsed // 3600}:{elapsed // 60 % 60:02d}:{elapsed % 60:02d}"
        return line + (f" · {plain(info, newlines=False)}" if info else "")


def _count(value: float) -> str:
    """1200, not 1.2e+03; 2.5 stays 2.5."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def silent_progress() -> RunProgress:
    """A progress that shows nothing (worker processes of a launcher, conformance checks)."""
    return RunProgress(Console(quiet=True))
