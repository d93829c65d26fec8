"""Runs that survive: a real process killed with SIGKILL mid-training and again mid-evaluation is
finished by `ftx resume` with the scores of an uninterrupted run, and no work done twice."""

import json
from collections import Counter

import pytest

from ftx.testing import sample_rows, write_jsonl

from .helpers import install_entry_point_plugin, run_ftx

pytestmark = pytest.mark.slow
pytest.importorskip("torch")


def events_by_process(path):
    """The events each process emitted, in process order."""
    processes: dict[int, list] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        processes.setdefault(event["pid"], []).append(event)
    return list(processes.values())


def scores(run):
    data = json.loads((run / "scores.json").read_text())
    return {name: data["backends"][name]["per_example"] for name in sorted(data["backends"])}


def test_sigkill_mid_training_and_mid_evaluation_then_resume(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(24))
    site = install_entry_point_plugin(tmp_path / "site", "ftx_killer", "ftx-killer")
    events = tmp_path / "events.jsonl"
    env = {"PYTHONPATH": str(site), "FTX_LOAD_PLUGINS": "ftx-killer", "FTX_EVENTS_LOG": str(events)}
    args = ["--data", str(data), "--model", str(tiny_model), "--eval-size", "6",
            "--set", "local-lora.max_steps=6", "--set", "local-lora.save_steps=2", "--set", "local-lora.batch_size=2",
            "--set", "local-lora.eval_batch_size=2", "--set", "local-base.eval_batch_size=2", "--set", "run.max_new_tokens=6"]

    reference = run_ftx("run", *args, "--name", "ref", cwd=tmp_path, env={**env, "FTX_EVENTS_LOG": str(tmp_path / "ref.jsonl")})
    assert reference.returncode == 0, reference.stderr

    first = run_ftx("run", *args, "--name", "k", cwd=tmp_path, env={**env, "FTX_KILL_AT": "train_log:local-lora:step=3"})
    assert first.returncode == -9  # killed mid-training, after checkpoint-2
    second = run_ftx("resume", "k", cwd=tmp_path, env={**env, "FTX_KILL_AT": "answer:local-lora:done=2"})
    assert second.returncode == -9  # killed mid-evaluation, two answers kept
    third = run_ftx("resume", "k", cwd=tmp_path, env=env)
    assert third.returncode == 0, third.stderr

    runs = tmp_path / "runs"
    assert scores(runs / "k") == scores(runs / "ref")  # the same scores as the uninterrupted run
    for backend in ("local-base", "local-lora"):
        assert (runs / "k" / backend / "predictions.jsonl").read_text() == (runs / "ref" / backend / "predictions.jsonl").read_text()
        assert not (runs / "k" / backend / "predictions.partial.jsonl").exists()

    one, two, three = events_by_process(events)
    steps = [[e["data"]["step"] for e in p if e["kind"] == "train_log"] for p in (one, two, three)]
    assert steps == [[1, 2, 3], [3, 4, 5, 6], []]  # resumed from checkpoint-2; steps 1-2 never trained again
    answers = [Counter(e["backend"] for e in p if e["kind"] == "answer") for p in (one, two, three)]
    assert answers == [{"local-base": 6}, {"local-lora": 2}, {"local-lora": 4}]  # no answer asked twice
    meta = json.loads((runs / "k" / "run.json").read_text())
    assert meta["status"] == "done" and meta["backends"]["local-lora"]["train"]["steps"] == 6
