"""The run directory and the SQLite index of runs.

``runs/<run-id>/`` holds ``run.json`` (config, versions, seed, per-backend state), ``data/``
(the exact splits), one folder per backend (artifacts, training log, predictions),
``scores.json`` and the reports. Every write is atomic (temporary file, then rename), so a crash
never leaves a half-written file. ``runs/index.sqlite`` lists runs for ``ftx runs``; it can
always be rebuilt from the run directories.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftx.errors import StoreError

SCHEMA_VERSION = 1
INDEX = "index.sqlite"
PREDICTIONS = "predictions.jsonl"
PARTIAL = "predictions.partial.jsonl"  # answers kept one by one until the backend's last one


def write_error(path: Path, exc: OSError) -> StoreError:
    """A failed write as one sentence; a full disk says that finished work is safe."""
    if exc.errno == errno.ENOSPC:
        return StoreError(f"cannot write {path}: no space left on device.",
                          hint="Free some space, then continue with 'ftx resume latest' (or the run's id); finished work is kept.")
    return StoreError(f"cannot write {path}: {exc.strerror or exc}.", hint="Check the folder's permissions and free space.")


def _file_mode() -> int:
    """What a plain open() would give a new file (mkstemp's temporary files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def atomic_write_text(path: Path, text: str) -> None:
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{path} is missing.", hint="The run directory is incomplete; start a new run.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is corrupt: {exc}.", hint="Restore it from a backup or start a new run.") from None


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


@dataclass
class Run:
    """One run directory and its ``run.json``."""

    path: Path
    meta: dict[str, Any]
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.meta["id"]

    def backend_dir(self, backend: str) -> Path:
        path = self.path / backend
        path.mkdir(parents=True, exist_ok=True)
        return path

    def backend_state(self, backend: str) -> dict[str, Any]:
        return self.meta["backends"].setdefault(backend, {"status": "pending"})

    def save(self) -> None:
        """Write run.json; backends in threads save too, so one at a time."""
        with self.lock:
            self.meta["updated"] = time.time()
            for attempt in range(5):
                try:
                    text = json.dumps(self.meta, indent=2, ensure_ascii=False, default=str) + "\n"
                    break
                except RuntimeError:  # another thread changed a dict mid-copy: take it again
                    if attempt == 4:
                        raise
            atomic_write_text(self.path / "run.json", text)
            RunStore(self.path.parent).index(self)

    def write_predictions(self, backend: str, rows: list[dict[str, Any]]) -> None:
        """All of a backend's answers, in eval order; replaces the answers kept one by one."""
        atomic_write_text(
            self.backend_dir(backend) / PREDICTIONS,
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
        )
        (self.path / backend / PARTIAL).unlink(missing_ok=True)

    def append_prediction(self, backend: str, row: dict[str, Any]) -> None:
        """Keep one answer the moment it exists (flushed to disk), so a killed run keeps it."""
        path = self.backend_dir(backend) / PARTIAL
        with self.lock:
            try:
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise write_error(path, exc) from None

    def read_predictions(self, backend: str) -> list[dict[str, Any]]:
        """The answers kept so far: the finished file, then any kept one by one."""
        rows = []
        path = self.path / backend / PREDICTIONS
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise StoreError(f"{path}:{number} is corrupt.", hint="Delete the file to generate the predictions again.") from None
        partial = self.path / backend / PARTIAL
        if partial.exists():
            for line in partial.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # the line being written when the process died: that answer is asked again
        return rows


def _created(path: Path) -> float:
    """When a run was created (its run.json says; a damaged one counts as oldest)."""
    try:
        return float(json.loads((path / "run.json").read_text(encoding="utf-8")).get("created", 0))
    except (OSError, ValueError, AttributeError):
        return 0.0


class RunStore:
    """The folder that holds run directories (``runs/`` by default)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def create(self, meta: dict[str, Any], run_id: str | None = None) -> Run:
        run_id = run_id or new_run_id()
        path = self.root / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise StoreError(f"run {run_id} already exists in {self.root}.", hint="Choose another --name.") from None
        except OSError as exc:
            raise StoreError(f"cannot create the run directory {path}: {exc.strerror or exc}.", hint="Check --runs-dir and its permissions.") from None
        run = Run(path, {"schema_version": SCHEMA_VERSION, "id": run_id, "created": time.time(), "status": "created", "backends": {}, **meta})
        run.save()
        return run

    def open(self, ref: str) -> Run:
        """A run by id, unique id prefix, 'latest', or path to its directory."""
        candidate = Path(ref)
        if (candidate / "run.json").exists():
            path = candidate
        elif ref == "latest":
            runs = self._dirs()
            if not runs:
                raise StoreError(f"there are no runs in {self.root}.", hint="Start one with 'ftx run'.")
            path = max(runs, key=_created)
        else:
            matches = [p for p in self._dirs() if p.name.startswith(ref)]
            if not matches:
                raise StoreError(f"no run '{ref}' in {self.root}.", hint="'ftx runs' lists the runs.")
            if len(matches) > 1:
                raise StoreError(f"'{ref}' matches {len(matches)} runs.", hint="Give more of the run id.")
            path = matches[0]
        meta = read_json(path / "run.json")
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        if not isinstance(version, int):
            raise StoreError(f"{path / 'run.json'} is not an ftx run file.")
        if version > SCHEMA_VERSION:
            raise StoreError(f"run {path.name} was written by a newer ftx (run schema {version}).", hint="Upgrade ftx to read it.")
        return Run(path, meta)

    def _dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.iterdir() if (p / "run.json").is_file()]

    # --- index -----------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.root / INDEX, timeout=10)
        db.execute(
            "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created REAL, updated REAL, status TEXT,"
            " data TEXT, backends TEXT, path TEXT)"
        )
        return db

    def index(self, run: Run) -> None:
        meta = run.meta
        row = (
            run.id, meta.get("created"), meta.get("updated"), meta.get("status"),
            (meta.get("config", {}).get("run", {}) or {}).get("data") or "(bundled)",
            ",".join(meta.get("backends", {})), str(run.path),
        )
        try:
            with self._connect() as db:
                db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        except sqlite3.Error:
            pass  # the index is a cache: 'ftx runs' rebuilds it from run.json files

    def list(self) -> list[dict[str, Any]]:
        """Runs, newest first. Rebuilds the index if it is missing or out of date."""
        try:
            with self._connect() as db:
                rows = db.execute("SELECT id, created, updated, status, data, backends, path FROM runs").fetchall()
        except sqlite3.Error:
            rows = []
        known = {r[0] for r in rows}
        dirs = self._dirs()
        if {p.name for p in dirs} != known:
            try:
                (self.root / INDEX).unlink(missing_ok=True)
            except OSError:
                pass
            for path in dirs:
                try:
                    self.index(self.open(str(path)))
                except StoreError:
                    continue
            try:
                with self._connect() as db:
                    rows = db.execute("SELECT id, created, updated, status, data, backends, path FROM runs").fetchall()
            except sqlite3.Error:
                rows = []
        keys = ("id", "created", "updated", "status", "data", "backends", "path")
        return sorted((dict(zip(keys, r)) for r in rows), key=lambda r: r["id"], reverse=True)
