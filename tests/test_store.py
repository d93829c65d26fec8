"""Run directories: atomic writes, lookup, index, and clear errors for damaged runs."""

import json

import pytest

from ftx.errors import StoreError
from ftx.store import SCHEMA_VERSION, RunStore, atomic_write_text


def test_create_open_list(tmp_path):
    store = RunStore(tmp_path / "runs")
    a = store.create({"config": {"run": {"data": "qa.jsonl"}}}, "20260101-000000-aaaa")
    b = store.create({}, "20260102-000000-bbbb")
    assert store.open("20260101").id == a.id
    assert store.open("latest").id == b.id
    assert store.open(str(a.path)).id == a.id
    assert [r["id"] for r in store.list()] == [b.id, a.id]
    assert store.list()[1]["data"] == "qa.jsonl"
    (tmp_path / "runs" / "index.sqlite").unlink()
    assert len(store.list()) == 2  # the index is rebuilt from run.json files
    with pytest.raises(StoreError, match="matches 2 runs"):
        store.open("2026")
    with pytest.raises(StoreError, match="no run 'zzz'"):
        store.open("zzz")
    with pytest.raises(StoreError, match="already exists"):
        store.create({}, a.id)


def test_damaged_and_newer_runs(tmp_path):
    store = RunStore(tmp_path)
    run = store.create({}, "r1")
    (run.path / "run.json").write_text("{not json")
    with pytest.raises(StoreError, match="run.json is corrupt"):
        store.open("r1")
    (run.path / "run.json").write_text(
        json.dumps({"schema_version": SCHEMA_VERSION + 1, "id": "r1"})
    )
    with pytest.raises(StoreError, match="written by a newer ftx"):
        store.open("r1")
    (run.path / "predictions.jsonl").write_text("")
    run.write_predictions("b", [{"id": "1", "prediction": "x"}])
    (run.path / "b" / "predictions.jsonl").write_text('{"id": 1}\n{broken\n')
    with pytest.raises(StoreError, match="predictions.jsonl:2 is corrupt"):
        run.read_predictions("b")


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    atomic_write_text(path, "old")
    import os

    def boom(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StoreError, match="no space left on device"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left behind


def test_a_run_that_cannot_write_its_first_file_leaves_nothing_behind(tmp_path, monkeypatch):
    import errno
    import os

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    store = RunStore(tmp_path / "runs")
    with pytest.raises(
        StoreError,
        match=r"run.json: no space left on device; the run was not created. Free some space and "
        r"start it again.",
    ):
        store.create({}, "r")
    assert not (tmp_path / "runs" / "r").exists()
    monkeypatch.undo()
    assert store.create({}, "r").id == "r"  # the same name is free again


def test_paths_given_relative_are_kept_absolute_in_run_json(tmp_path, monkeypatch):
    """resume, export, chat and serve read run.json from any folder."""
    from click.testing import CliRunner

    from ftx.cli import cli
    from ftx.testing import registered, sample_rows, write_jsonl

    from .plugins import ftx_echo

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "qa.jsonl", sample_rows(12))
    (tmp_path / "base").mkdir()
    args = ["run", "--data", "qa.jsonl", "--backend", "echo", "--name", "r", "--eval-size", "4"]
    with registered(ftx_echo, name="echo"):
        done = CliRunner().invoke(cli, [*args, "--set", "echo.prefix=base", "--evaluator", "rouge"])
    assert done.exit_code == 0, done.output
    saved = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["config"]
    assert saved["run"]["data"] == str(tmp_path / "qa.jsonl")
    assert saved["sections"]["echo"]["prefix"] == "base"  # a value, not a path option: as given
