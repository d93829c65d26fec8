"""The reporter protocol: presenting a finished (or partly finished) run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar


class Reporter(ABC):
    """Subclass this and register it with ``ftx_register_reporters``.

    ``writes`` is the file name the reporter writes in the run directory, or ``None`` for a
    reporter that only prints (the terminal table).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    writes: ClassVar[str | None] = None

    @abstractmethod
    def report(self, result: Any, run_dir: Path, console: Any) -> None:
        """Present ``result`` (an :class:`ftx.results.RunResult`): print to ``console``
        (a rich Console) and/or write ``run_dir / self.writes``."""
