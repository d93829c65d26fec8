"""Where local backends train and answer: in the run's own process one after another (``local``),
in worker processes several at once, one per GPU (``processes``), or as tasks on a Ray cluster
(``ray``). ``auto`` (the default) is ``processes`` on a machine with several GPUs and two or more
local backends to train, else ``local``.

Every executor runs the same unit, ``python -m ftx.worker RUN_DIR NAME`` (``ftx.worker``): one
backend trained (or re-attached) and its answers kept in its folder, as in the run's process.
The worker writes its backend's record to ``NAME/record.json``, merged into run.json here when
it ends, and after a kill by ``ftx resume``. Ctrl-C (or SIGTERM) reaches every worker: each
stops at its next safe point with a checkpoint, and ``ftx resume`` trains only what did not
finish. Hosted backends and Optuna trials (which each wait for the trials before them) stay in
the run's process.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ftx.backend import Cancelled
from ftx.errors import ConfigError
from ftx.store import Run, read_json
from ftx.worker import EXIT_INTERRUPTED, RECORD

EXECUTORS = ("auto", "local", "processes", "ray")
POLL_SECONDS = 0.5

#: called with (backend name, its status) as a worker reports it, for the progress display
OnStatus = Callable[[str, str], None]


def merge_record(run: Run, name: str) -> bool:
    """A worker's record of ``name`` into run.json (it is newer than run.json's)."""
    path = run.path / name / RECORD
    if not path.exists():
        return False
    record = read_json(path)
    with run.editing() as meta:
        meta["backends"][name] = record
    path.unlink()
    return True


def gpu_count() -> int:
    """CUDA GPUs this process may use; 0 without torch (torch is imported only to count)."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def choose(run_config: Any, backends: list[str]) -> Any:
    """The executor for ``backends`` (the local ones that can leave the run's process), or None
    to run them in it."""
    from ftx import distributed

    kind = run_config.executor
    if kind == "local" or not backends:
        return None
    if distributed.enabled():  # under torchrun every process trains every backend together
        if kind in ("processes", "ray"):
            raise ConfigError(
                f"executor {kind} cannot run under torchrun or accelerate launch, which already "
                "train each backend on all of their processes.",
                hint="Use one or the other: drop --executor, or run without the launcher.",
            )
        return None
    if kind == "ray":
        return RayExecutor(run_config.ray_address)
    gpus = gpu_count()
    if kind == "auto" and (gpus < 2 or len(backends) < 2):
        return None
    slots = run_config.workers or max(gpus, 1)
    return ProcessExecutor(slots, [str(i) for i in range(gpus)])


def worker_command(run_dir: Path | str, name: str) -> list[str]:
    return [sys.executable, "-m", "ftx.worker", str(run_dir), name]


def _die_with_parent() -> None:
    """In the worker, before exec: SIGTERM when the process that started it dies (a kill -9 of
    ``ftx run``), so no worker trains on alone (Linux; elsewhere a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_worker(
    run_dir: Path,
    name: str,
    stop: Callable[[], bool],
    env: dict[str, str] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> int:
    """Run one worker to its end; when ``stop()`` turns true, SIGINT it (it checkpoints and
    exits) and wait. Its output goes to ``NAME/worker.log``. Returns its exit code."""
    folder = run_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            worker_command(run_dir, name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env={**os.environ, **(env or {})},
            # Its own session: a Ctrl-C at the terminal reaches ftx run, which stops each worker
            # once (a second signal would stop it at once, without a checkpoint).
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        signalled, status = False, ""
        try:
            while proc.poll() is None:
                if stop() and not signalled:
                    proc.send_signal(signal.SIGINT)
                    signalled = True
                if on_status is not None:
                    now = _status_of(folder)
                    if now and now != status:
                        status = now
                        on_status(status)
                time.sleep(POLL_SECONDS)
        except BaseException:  # this process is being stopped at once: so is the worker
            proc.send_signal(signal.SIGINT)
            proc.wait()
            raise
    return proc.returncode


def _status_of(folder: Path) -> str:
    try:
        return read_json(folder / RECORD).get("status", "")
    except Exception:  # not written yet, or being replaced
        return ""


def _outcome(run: Run, name: str, code: int) -> None:
    """The worker's record merged; a worker that died without saying why is failed here."""
    merge_record(run, name)
    state = run.backend_state(name)
    if code == 0 or code == EXIT_INTERRUPTED or state.get("status") in ("done", "failed"):
        return
    log = run.path / name / "worker.log"
    run.update_backend(
        name,
        status="failed",
        error=f"its worker process ended with exit code {code} (see {log})",
        log=str(log),
    )


class ProcessExecutor:
    """Local backends in worker processes, ``slots`` at a time; with GPUs, each worker sees one
    (``CUDA_VISIBLE_DEVICES``), so N GPUs train N variants at once."""

    label = "worker process"

    def __init__(self, slots: int, gpus: list[str]):
        self.slots, self.gpus = max(1, slots), gpus

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def run(self, run: Run, names: list[str], cancelled: threading.Event, on_status: OnStatus):
        free: queue.Queue[str | None] = queue.Queue()
        for index in range(self.slots):
            free.put(self.gpus[index % len(self.gpus)] if self.gpus else None)

        def one(name: str) -> None:
            device = free.get()
            try:
                if cancelled.is_set():
                    return
                env = {"CUDA_VISIBLE_DEVICES": device} if device is not None else {}
                where = f"GPU {device}" if device is not None else "CPU"
                on_status(name, f"worker on {where}")
                code = run_worker(
                    run.path,
                    name,
                    cancelled.is_set,
                    env,
                    lambda status: on_status(name, f"{status} (worker on {where})"),
                )
                _outcome(run, name, code)
            finally:
                free.put(device)

        with ThreadPoolExecutor(max_workers=self.slots) as pool:
            for future in [pool.submit(one, name) for name in names]:
                future.result()
        if cancelled.is_set():
            raise Cancelled


# --- Ray -----------------------------------------------------------------------------------


def _pack(folder: Path, names: list[str]) -> bytes:
    """``names`` (files and folders) of ``folder`` as a gzipped tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            if (folder / name).exists():
                tar.add(folder / name, arcname=name)
    return buffer.getvalue()


def _unpack(data: bytes, folder: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


def ray_task(run_dir: str, name: str, created: Any, payload: bytes, copy: bool, stop: Any) -> Any:
    """A Ray task: one worker, on whichever node Ray chose. Where that node sees the run folder
    (one machine, or a shared file system) the worker works in it and nothing is sent back;
    elsewhere the run's data and the backend's folder came in ``payload``, the worker works in a
    temporary copy, and its folder goes back as the result. ``stop`` is the run's ``StopFlag``
    actor: when it is set, the worker is stopped at its next safe point."""
    import ray

    path = Path(run_dir)
    shared = not copy and _same_run(path, created)
    if not shared:
        scratch = Path(tempfile.mkdtemp(prefix="ftx-ray-"))
        path = scratch / path.name
        path.mkdir()
        _unpack(payload, path)
    asked = {"at": 0.0, "stop": False}

    def should_stop() -> bool:  # asks the driver's flag at most once a second
        if not asked["stop"] and time.time() - asked["at"] > 1:
            asked["at"] = time.time()
            asked["stop"] = bool(ray.get(stop.is_set.remote()))
        return asked["stop"]

    code = run_worker(path, name, should_stop)
    if shared:
        return code, None
    folder = _pack(path, [name])
    import shutil

    shutil.rmtree(path.parent, ignore_errors=True)
    return code, folder


def _same_run(path: Path, created: Any) -> bool:
    try:
        return read_json(path / "run.json").get("created") == created
    except Exception:
        return False


class RayExecutor:
    """Local backends as Ray tasks: ``ray.init(address)`` joins a cluster (``RAY_ADDRESS`` when
    no address is given), or starts a Ray on this machine. Each task asks for one CPU, and one
    GPU where the cluster has GPUs."""

    label = "Ray task"

    def __init__(self, address: str | None):
        self.address = address
        self.started_here = False

    def __enter__(self) -> RayExecutor:
        """Join (or start) Ray, in the main thread: Ray sets its signal handlers there."""
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "executor ray needs Ray, which is not installed.",
                hint="pip install 'ftx-finetune[ray]'",
            ) from None
        self.started_here = not ray.is_initialized()
        if self.started_here:
            ray.init(
                address=self.address or os.environ.get("RAY_ADDRESS") or None,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        return self

    def __exit__(self, *exc: Any) -> None:
        import ray

        if self.started_here:
            ray.shutdown()

    def run(self, run: Run, names: list[str], cancelled: threading.Event, on_status: OnStatus):
        import ray

        self._run(ray, run, names, cancelled, on_status)
        if cancelled.is_set():
            raise Cancelled

    def _run(self, ray: Any, run: Run, names: list[str], cancelled: threading.Event, on_status):
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(ray_task).options(num_cpus=1, num_gpus=gpus, max_retries=0)
        stop = ray.remote(StopFlag).options(num_cpus=0).remote()
        copy = os.environ.get("FTX_RAY_COPY_RUN", "") not in ("", "0")
        refs = {}
        for name in names:
            payload = _pack(run.path, ["run.json", "data", name])
            created = run.meta.get("created")
            refs[task.remote(str(run.path), name, created, payload, copy, stop)] = name
            on_status(name, "Ray task queued")
        pending, told = list(refs), False
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
            if cancelled.is_set() and not told:
                ray.get(stop.set.remote())
                told = True
            for name in (refs[r] for r in pending):
                status = _status_of(run.path / name)
                if status:
                    on_status(name, f"{status} (Ray task)")
            for ref in ready:
                name = refs[ref]
                code, folder = ray.get(ref)
                if folder is not None:  # the node did not see the run folder: its copy comes back
                    _unpack(folder, run.path)
                _outcome(run, name, code)


class StopFlag:
    """A Ray actor the driver sets on Ctrl-C, which every task asks."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped
