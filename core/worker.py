"""One backend of a run in a process of its own: ``python -m ftx.worker RUN_DIR NAME``.

The executors (``ftx.executors``) start it to train several local variants at once, one per GPU
or one per Ray task. It trains (or attaches to) the backend and answers the eval prompts exactly
as ``ftx run`` does in its own process, into the backend's folder. run.json has one writer, the
process that started the run: the worker writes its backend's record to ``NAME/record.json``,
which that process merges into run.json when the worker ends (or, after a kill, when the run is
resumed). SIGINT or SIGTERM stops it at the next safe point, with a checkpoint, as Ctrl-C stops
``ftx run``; it then exits with 130.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from ftx.store import Run, atomic_write_json, read_json

RECORD = "record.json"
EXIT_INTERRUPTED = 130


@dataclass
class WorkerRun(Run):
    """The run as a worker sees it: saving writes its one backend's record, nothing else."""

    name: str = ""

    def save(self) -> None:
        with self.lock:
            atomic_write_json(self.path / self.name / RECORD, self.meta["backends"][self.name])


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from ftx.runner import Runner, _graceful_interrupt

    run_dir, name = argv if argv is not None else sys.argv[1:]
    # A Ray worker blocks these signals, and a process inherits the blocked set: unblocked,
    # the executor's SIGINT stops this one at its next safe point.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    path = Path(run_dir)
    run = WorkerRun(path, read_json(path / "run.json"), name=name)
    record = path / name / RECORD
    if record.exists():  # what an earlier worker of this backend saved before it was stopped
        run.meta["backends"][name] = read_json(record)
    cancelled = threading.Event()
    err = Console(stderr=True)
    with _graceful_interrupt(cancelled, err):
        try:
            Runner(Console(quiet=True), err).run_alone(run, name, cancelled)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
