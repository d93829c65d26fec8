"""Run events: what ``ftx_run_event`` observers receive."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunEvent:
    """One thing that happened in a run: ``kind`` is ``run_started``, ``backend_state``,
    ``train_log``, ``answer``, ``eval_done`` or ``run_finished`` (see ``ftx_run_event``)."""

    kind: str
    run_id: str
    backend: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
