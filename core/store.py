"""The run directory and the SQLite index of runs.

``runs/<run-id>/`` holds ``run.json`` (config, versions, seed, per-backend state), ``data/``
(the exact splits), one folder per backend (artifacts, training log, predictions),
``scores.json`` and the reports. Every write is atomic (temporary file, then rename), so a crash
never leaves a half-written file. ``runs/index.sqlite`` lists runs for ``ftx runs``; it can
always be rebuilt from the run directories. Tags and descriptions of a run's models (``ftx
models tag``) live in the run's ``tags.json`` and in the index's ``tags`` table, rebuilt with it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftx.errors import StoreError

SCHEMA_VERSION = 1
INDEX = "index.sqlite"
PREDICTIONS = "predictions.jsonl"
PARTIAL = "predictions.partial.jsonl"  # answers kept one by one until the backend's last one
TAGS = "tags.json"  # a run's models' tags and descriptions: {model: {"tags": [...], ...}}


def write_error(path: Path, exc: OSError) -> StoreError:
    """A failed write as one sentence; a full disk says that finished work is safe."""
    if exc.errno == errno.ENOSPC:
        return StoreError(
            f"cannot write {path}: no space left on device.",
            hint="Free some space, then continue with 'ftx resume latest' (or the run's id); "
            "finished work is kept.",
        )
    return StoreError(
        f"cannot write {path}: {exc.strerror or exc}.",
        hint="Check the folder's permissions and free space.",
    )


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
        raise StoreError(
            f"{path} is missing.", hint="The run directory is incomplete; start a new run."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(
            f"{path} is corrupt: {exc}.", hint="Restore it from a backup or start a new run."
        ) from None


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


# A name that is one folder: a run's id, a variant's name (its folder in the run).
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


# A tag of a model (``ftx models tag``), and the longest description kept.
TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,49}")
MAX_DESCRIPTION = 2000


def check_run_name(name: str) -> None:
    """A run id is a folder name inside the runs folder, never a path (``../x``, ``/tmp/x``)."""
    if not FOLDER_NAME.fullmatch(name) or ".." in name:
        shown = name if len(name) <= 60 else name[:57] + "..."
        raise StoreError(
            f"{shown!r} is not a valid run name.",
            hint="Use up to 100 letters, digits, '.', '_' and '-', starting with a letter or digit "
            "(no '/' or '..').",
        )


# What the rest of ftx reads from run.json, and the type it must have.
META_FIELDS = {"id": str, "created": (int, float), "status": str, "backends": dict}
OPTIONAL_META_FIELDS = {"config": dict, "splits": dict, "seed": int}


@dataclass
class Run:
    """One run directory and its ``run.json``.

    During a run, backends in threads save run.json as they go. So ``meta`` is changed only
    through ``update_backend`` and ``editing``, which hold the run's lock, and ``save`` holds
    it too: a save never sees a dict another thread is changing. Reading ``meta`` (or a
    ``backend_state``) is fine anywhere."""

    path: Path
    meta: dict[str, Any]
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def id(self) -> str:
        """The folder's name: a run copied to another folder is that folder's run."""
        return self.path.name

    def backend_dir(self, backend: str) -> Path:
        path = self.path / backend
        path.mkdir(parents=True, exist_ok=True)
        return path

    def backend_state(self, backend: str) -> dict[str, Any]:
        """A backend's record in run.json, to read (change it with ``update_backend``)."""
        with self.lock:
            return self.meta["backends"].setdefault(backend, {"status": "pending"})

    def update_backend(self, backend: str, **fields: Any) -> None:
        """Set ``fields`` of a backend's record (``status="done"``, ``state={...}``) and save."""
        with self.lock:
            self.backend_state(backend).update(fields)
            self.save()

    @contextlib.contextmanager
    def editing(self, *, save: bool = True) -> Iterator[dict[str, Any]]:
        """Change ``meta`` while no other thread does: ``with run.editing() as meta:
        meta["status"] = "done"``; saved when the block ends (``save=False``: with the next
        save, for changes too small to write at once)."""
        with self.lock:
            yield self.meta
            if save:
                self.save()

    def save(self) -> None:
        """Write run.json; backends in threads save too, so one at a time."""
        with self.lock:
            self.meta["updated"] = time.time()
            text = json.dumps(self.meta, indent=2, ensure_ascii=False, default=str) + "\n"
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
            # "\n" only: U+2028 and friends inside an answer are text, and splitlines() would
            # cut there.
            for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    raise StoreError(
                        f"{path}:{number} is corrupt.",
                        hint="Delete the file to generate the predictions again.",
                    ) from None
        partial = self.path / backend / PARTIAL
        if partial.exists():
            for line in partial.read_text(encoding="utf-8", errors="replace").split("\n"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    # the line being written when the process died: that answer is asked again
                    continue
        return rows


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return {str: "a string", dict: "an object", int: "an integer"}.get(kind, "a number")  # type: ignore[call-overload]


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
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"the runs folder {self.root} is a file, not a folder.",
                hint="Give another --runs-dir (or runs_dir in ftx.toml).",
            )

    def create(self, meta: dict[str, Any], run_id: str | None = None) -> Run:
        run_id = run_id or new_run_id()
        check_run_name(run_id)
        path = self.root / run_id
        try:
            path.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise StoreError(
                f"run {run_id} already exists in {self.root}.", hint="Choose another --name."
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot create the run directory {path}: {exc.strerror or exc}.",
                hint="Check --runs-dir and its permissions.",
            ) from None
        run = Run(
            path,
            {
                "schema_version": SCHEMA_VERSION,
                "id": run_id,
                "created": time.time(),
                "status": "created",
                "backends": {},
                **meta,
            },
        )
        try:
            run.save()
        except StoreError as exc:  # no run.json, so no run to resume: leave no empty folder behind
            shutil.rmtree(path, ignore_errors=True)
            raise StoreError(
                f"{exc.message.rstrip('.')}; the run was not created.",
                hint="Free some space and start it again.",
            ) from None
        return run

    def open(self, ref: str) -> Run:
        """A run by id, unique id prefix, 'latest', or path to its directory."""
        if len(ref) > 1000:
            raise StoreError(
                f"no run '{ref[:40]}...' ({len(ref):,} characters) in {self.root}.",
                hint="'ftx runs' lists the runs.",
            )
        candidate = Path(ref)
        try:
            is_run_dir = (candidate / "run.json").is_file()
        except OSError:  # a name longer than the file system allows, say
            is_run_dir = False
        if is_run_dir:
            path = candidate
        elif ref == "latest":
            runs = self._dirs()
            if not runs:
                raise StoreError(
                    f"there are no runs in {self.root}.", hint="Start one with 'ftx run'."
                )
            path = max(runs, key=_created)
        else:
            matches = [p for p in self._dirs() if p.name.startswith(ref)]
            if not matches:
                raise StoreError(
                    f"no run '{ref}' in {self.root}.", hint="'ftx runs' lists the runs."
                )
            if len(matches) > 1:
                raise StoreError(
                    f"'{ref}' matches {len(matches)} runs.", hint="Give more of the run id."
                )
            path = matches[0]
        meta = read_json(path / "run.json")
        version = meta.get("schema_version") if isinstance(meta, dict) else None
        if not isinstance(version, int):
            raise StoreError(f"{path / 'run.json'} is not an ftx run file.")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"run {path.name} was written by a newer ftx (run schema {version}).",
                hint="Upgrade ftx to read it.",
            )
        for key, kind in [
            *META_FIELDS.items(),
            *((k, t) for k, t in OPTIONAL_META_FIELDS.items() if k in meta),
        ]:
            if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
                what = (
                    "is missing"
                    if key not in meta
                    else f"is {type(meta[key]).__name__}, not {_kind_name(kind)}"
                )
                raise StoreError(
                    f"{path / 'run.json'} is damaged: '{key}' {what}.",
                    hint="Restore the file from a backup, or start a new run; the run's other "
                    "files are untouched.",
                )
        bad = next(
            (name for name, state in meta["backends"].items() if not isinstance(state, dict)), None
        )
        if bad is not None:
            raise StoreError(
                f"{path / 'run.json'} is damaged: the state of backend '{bad}' is not an object.",
                hint="Restore the file from a backup, or start a new run; the run's other files "
                "are untouched.",
            )
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
            "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, created REAL, updated REAL,"
            " status TEXT, data TEXT, backends TEXT, path TEXT)"
        )
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tags'"
        ).fetchone()
        if not exists:  # a new index, or one from before tags: fill it from the run folders
            db.execute(
                "CREATE TABLE tags (run TEXT, model TEXT, tags TEXT, description TEXT,"
                " PRIMARY KEY (run, model))"
            )
            db.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", self._tag_rows(self._dirs()))
        return db

    @staticmethod
    def _row(run: Run) -> tuple:
        meta = run.meta
        return (
            run.id,
            meta.get("created"),
            meta.get("updated"),
            meta.get("status"),
            (meta.get("config", {}).get("run", {}) or {}).get("data") or "(bundled)",
            ",".join(meta.get("backends", {})),
            str(run.path),
        )

    def index(self, run: Run) -> None:
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", self._row(run)
                )
        except (sqlite3.Error, OSError):
            pass  # the index is a cache: 'ftx runs' rebuilds it from run.json files

    def list(self) -> list[dict[str, Any]]:
        """Runs, newest first. The index is a cache: when it is missing, out of date or cannot
        be written (a read-only folder), the run directories are read instead."""
        keys = ("id", "created", "updated", "status", "data", "backends", "path")
        dirs = self._dirs()
        try:
            with self._connect() as db:
                rows = db.execute(
                    "SELECT id, created, updated, status, data, backends, path FROM runs"
                ).fetchall()
        except (sqlite3.Error, OSError):
            rows = []
        if {p.name for p in dirs} != {r[0] for r in rows}:
            rows = []
            for path in dirs:
                try:
                    run = self.open(str(path))
                except StoreError:
                    rows.append((path.name, _created(path), None, "damaged", "", "", str(path)))
                    continue
                rows.append(self._row(run))
            try:
                with self._connect() as db:
                    db.execute("DELETE FROM runs")
                    db.executemany("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                    db.execute("DELETE FROM tags")  # tags.json in each run folder says
                    db.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", self._tag_rows(dirs))
            except (sqlite3.Error, OSError):
                pass
        return sorted(
            (dict(zip(keys, r)) for r in rows),
            key=lambda r: (r["created"] or 0, r["id"]),
            reverse=True,
        )

    # --- tags of models ------------------------------------------------------------------------

    @staticmethod
    def _tag_rows(dirs: list[Path]) -> list[tuple[str, str, str, str]]:
        return [
            (path.name, model, json.dumps(entry["tags"]), entry["description"])
            for path in dirs
            for model, entry in read_tags(path).items()
        ]

    def tags(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(run id, model) -> ``{"tags": [...], "description": "..."}``, from the index (rebuilt
        from the runs' ``tags.json`` when stale; read from them when it cannot be written)."""
        self.list()  # rebuilds the index when it is missing or out of date
        try:
            with self._connect() as db:
                rows = db.execute("SELECT run, model, tags, description FROM tags").fetchall()
        except (sqlite3.Error, OSError):
            rows = self._tag_rows(self._dirs())
        return {
            (run, model): {"tags": json.loads(tags), "description": description}
            for run, model, tags, description in rows
        }

    def set_tags(
        self,
        run: Run,
        model: str,
        *,
        add: list[str] | tuple[str, ...] = (),
        remove: list[str] | tuple[str, ...] = (),
        description: str | None = None,
    ) -> dict[str, Any]:
        """Add and remove tags of ``model`` (a backend or variant of ``run``) and set its
        description (``""`` clears it); written to the run's ``tags.json`` and the index.
        Returns the model's tags and description as they now are."""
        if model not in run.meta["backends"]:
            raise StoreError(
                f"run {run.id} has no model '{model}'.",
                hint=f"Its models: {', '.join(run.meta['backends']) or 'none'}.",
            )
        for tag in (*add, *remove):
            check_tag(tag)
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise StoreError(
                f"the description is {len(description):,} characters; at most "
                f"{MAX_DESCRIPTION:,} are kept.",
                hint="Shorten it.",
            )
        with run.lock:
            entries = read_tags(run.path, strict=True)
            entry = entries.get(model, {"tags": [], "description": ""})
            tags = [t for t in dict.fromkeys([*entry["tags"], *add]) if t not in remove]
            entry = {
                "tags": tags,
                "description": entry["description"] if description is None else description,
            }
            if entry["tags"] or entry["description"]:
                entries[model] = entry
            else:
                entries.pop(model, None)
            atomic_write_json(run.path / TAGS, entries)
        try:
            with self._connect() as db:
                db.execute("DELETE FROM tags WHERE run = ? AND model = ?", (run.id, model))
                if model in entries:
                    db.execute(
                        "INSERT INTO tags VALUES (?, ?, ?, ?)",
                        (run.id, model, json.dumps(entry["tags"]), entry["description"]),
                    )
        except (sqlite3.Error, OSError):
            pass  # the index is a cache: rebuilt from tags.json
        return entry


def check_tag(tag: str) -> None:
    if not TAG.fullmatch(tag):
        shown = tag if len(tag) <= 60 else tag[:57] + "..."
        raise StoreError(
            f"{shown!r} is not a valid tag.",
            hint="Use up to 50 letters, digits, '.', '_', ':', '+' and '-', starting with a letter "
            "or digit.",
        )


def read_tags(path: Path, *, strict: bool = False) -> dict[str, dict[str, Any]]:
    """The tags and descriptions in run folder ``path``'s ``tags.json`` (none when it has no
    such file; entries that are not what ftx writes are left out). A file that cannot be read is
    no tags, or with ``strict`` (before it is written again) an error that says so."""
    try:
        data = json.loads((path / TAGS).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        if strict:
            raise StoreError(
                f"{path / TAGS} cannot be read: {getattr(exc, 'strerror', None) or exc}.",
                hint="Fix or delete it (it holds only the tags of the run's models).",
            ) from None
        return {}
    if not isinstance(data, dict):
        if strict:
            raise StoreError(
                f"{path / TAGS} is not an object of models.",
                hint="Fix or delete it (it holds only the tags of the run's models).",
            )
        return {}
    entries = {}
    for model, entry in data.items():
        if not isinstance(entry, dict):
            continue
        listed = entry.get("tags")
        tags = [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []
        description = entry.get("description", "")
        entries[str(model)] = {
            "tags": tags,
            "description": description if isinstance(description, str) else "",
        }
    return entries
