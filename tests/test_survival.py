"""Runs that survive: a real process stopped mid-training, mid-evaluation, while a checkpoint is
written, while the run is created (a full disk) and by a scheduler's SIGTERM is finished by
`ftx resume` with the scores of an uninterrupted run, no step trained twice and none logged twice.

Every process trains the tiny model for six steps of two examples on the CPU, where a training
resumed from a checkpoint (weights, optimizer, scheduler and RNG state) reaches the same weights
as one that never stopped: the scores are compared for equality."""

import json
import shutil
from collections import Counter

import pytest

from ftx.testing import sample_rows, write_jsonl

from .helpers import install_entry_point_plugin, run_ftx

pytestmark = pytest.mark.slow
pytest.importorskip("torch")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model):
    """The data, arguments and plugin environment every test here shares, and the run they give
    uninterrupted (runs/ref under ``root``)."""
    root = tmp_path_factory.mktemp("survival")
    data = write_jsonl(root / "qa.jsonl", sample_rows(24))
    site = install_entry_point_plugin(root / "site", "ftx_killer", "ftx-killer")
    env = {
        "PYTHONPATH": str(site),
        "FTX_LOAD_PLUGINS": "ftx-killer",
        "FTX_CACHE_DIR": str(root / "cache"),
    }
    args = [
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--eval-size",
        "6",
        "--set",
        "local-lora.max_steps=6",
        "--set",
        "local-lora.save_steps=2",
        "--set",
        "local-lora.batch_size=2",
        "--set",
        "local-lora.eval_batch_size=2",
        "--set",
        "local-base.eval_batch_size=2",
        "--set",
        "run.max_new_tokens=6",
    ]
    done = run_ftx("run", *args, "--name", "ref", cwd=root, env=env)
    assert done.returncode == 0, done.stderr
    return root / "runs" / "ref", args, env


def events_by_process(path):
    """The events each process emitted, in process order."""
    processes: dict[int, list] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        processes.setdefault(event["pid"], []).append(event)
    return list(processes.values())


def trained_steps(events):
    """The training steps each process logged."""
    return [
        [e["data"]["step"] for e in p if e["kind"] == "train_log"]
        for p in events_by_process(events)
    ]


def scores(run):
    data = json.loads((run / "scores.json").read_text())
    return {name: data["backends"][name]["per_example"] for name in sorted(data["backends"])}


def assert_same_as_uninterrupted(run, ref):
    assert scores(run) == scores(ref)
    for backend in ("local-base", "local-lora"):
        assert (run / backend / "predictions.jsonl").read_text() == (
            ref / backend / "predictions.jsonl"
        ).read_text()
        assert not (run / backend / "predictions.partial.jsonl").exists()
    log = [
        json.loads(line)
        for line in (run / "local-lora" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in log] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]  # each step once, for the loss curve and the step count
    ref_log = [
        json.loads(line)
        for line in (ref / "local-lora" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [e["loss"] for e in log] == [e["loss"] for e in ref_log]
    # Tokens count on from the checkpoint's entry (not from 0). Not exactly: the collator runs one
    # batch ahead of training, so the batch after the checkpoint is counted twice.
    assert all(a["tokens"] < b["tokens"] for a, b in zip(log, log[1:]))
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done" and meta["backends"]["local-lora"]["train"]["steps"] == 6


def one_clear_error(stderr):
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, stderr
    return errors[0]


def test_sigkill_mid_training_and_mid_evaluation_then_resume(tmp_path, reference):
    ref, args, env = reference
    events = tmp_path / "events.jsonl"
    env = {**env, "FTX_EVENTS_LOG": str(events)}
    first = run_ftx(
        "run",
        *args,
        "--name",
        "k",
        cwd=tmp_path,
        env={**env, "FTX_KILL_AT": "train_log:local-lora:step=3"},
    )
    assert first.returncode == -9  # killed mid-training, after checkpoint-2
    second = run_ftx(
        "resume", "k", cwd=tmp_path, env={**env, "FTX_KILL_AT": "answer:local-lora:done=2"}
    )
    assert second.returncode == -9  # killed mid-evaluation, two answers kept
    third = run_ftx("resume", "k", cwd=tmp_path, env=env)
    assert third.returncode == 0, third.stderr

    assert_same_as_uninterrupted(tmp_path / "runs" / "k", ref)
    assert trained_steps(events) == [
        [1, 2, 3],
        [3, 4, 5, 6],
        [],
    ]  # resumed from checkpoint-2; steps 1-2 never trained again
    answers = [
        Counter(e["backend"] for e in p if e["kind"] == "answer") for p in events_by_process(events)
    ]
    assert answers == [
        {"local-base": 6},
        {"local-lora": 2},
        {"local-lora": 4},
    ]  # no answer asked twice


def test_sigkill_while_a_checkpoint_is_written_then_resume(tmp_path, reference):
    ref, args, env = reference
    events = tmp_path / "events.jsonl"
    env = {**env, "FTX_EVENTS_LOG": str(events)}
    first = run_ftx(
        "run",
        *args,
        "--name",
        "c",
        cwd=tmp_path,
        env={**env, "FTX_KILL_AT_WRITE": ".partial/checkpoint-4"},
    )
    assert first.returncode == -9
    checkpoints = tmp_path / "runs" / "c" / "local-lora" / "checkpoints"
    # checkpoint-4 was being written: never under its final name, so resume cannot pick it
    assert sorted(p.name for p in checkpoints.iterdir()) == [".partial", "checkpoint-2"]
    assert (checkpoints / ".partial" / "checkpoint-4" / "adapter_model.safetensors").is_file()
    # What an older ftx (writing under the final name, as Trainer does) left when killed there:
    # the weights cut short, no trainer_state.json. It made every later resume fail.
    half = shutil.copytree(checkpoints / ".partial" / "checkpoint-4", checkpoints / "checkpoint-4")
    (half / "trainer_state.json").unlink()
    weights = (half / "adapter_model.safetensors").read_bytes()
    (half / "adapter_model.safetensors").write_bytes(weights[: len(weights) // 2])

    second = run_ftx("resume", "c", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    log = (tmp_path / "runs" / "c" / "local-lora" / "log.txt").read_text()
    assert "removed checkpoint-4: it was cut off while being written" in log
    assert (
        "resuming training from runs/c/local-lora/checkpoints/checkpoint-2, the newest complete "
        "checkpoint" in log
    )
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "checkpoint-4",
        "checkpoint-6",
    ]  # save_total_limit=2
    assert_same_as_uninterrupted(tmp_path / "runs" / "c", ref)
    assert trained_steps(events) == [[1, 2, 3, 4], [3, 4, 5, 6]]


def test_full_disk_while_the_run_is_created_then_resume(tmp_path, reference):
    ref, args, env = reference
    first = run_ftx(
        "run", *args, "--name", "d", cwd=tmp_path, env={**env, "FTX_FULL_DISK": "train.jsonl"}
    )
    assert first.returncode == 1
    error = one_clear_error(first.stderr)
    assert error.startswith("error: cannot write ") and error.endswith(
        "data/train.jsonl: no space left on device. Free some space, then continue with 'ftx "
        "resume latest' "
        "(or the run's id); finished work is kept."
    )
    run = tmp_path / "runs" / "d"
    assert json.loads((run / "run.json").read_text())["status"] == "created"
    assert not (run / "data" / "train.jsonl").exists()

    second = run_ftx("resume", "latest", cwd=tmp_path, env=env)  # space freed: the advice works
    assert second.returncode == 0, second.stderr
    assert "stopped before its data was saved" in second.stderr
    for name in ("train.jsonl", "eval.jsonl"):  # the same split: same data, configuration and seed
        assert (run / "data" / name).read_text() == (ref / "data" / name).read_text()
    assert_same_as_uninterrupted(run, ref)


def test_sigterm_mid_training_checkpoints_and_exits_then_resume(tmp_path, reference):
    ref, args, env = reference
    events = tmp_path / "events.jsonl"
    env = {**env, "FTX_EVENTS_LOG": str(events)}
    # The process sends itself a real SIGTERM when step 3 is logged, as Slurm or Kubernetes
    # would send one from outside: the same handler runs, at a step the test can name.
    first = run_ftx(
        "run",
        *args,
        "--name",
        "t",
        cwd=tmp_path,
        env={**env, "FTX_KILL_AT": "train_log:local-lora:step=3", "FTX_KILL_SIGNAL": "TERM"},
    )
    assert first.returncode == 130
    assert "Traceback" not in first.stderr and "error:" not in first.stderr
    assert "stopping (SIGTERM): saving a checkpoint" in first.stderr
    assert first.stderr.rstrip().endswith("interrupted. Continue with: ftx resume latest")
    run = tmp_path / "runs" / "t"
    meta = json.loads((run / "run.json").read_text())
    assert (
        meta["status"] == "interrupted"
        and meta["backends"]["local-lora"]["status"] == "interrupted"
    )
    assert sorted(p.name for p in (run / "local-lora" / "checkpoints").iterdir()) == [
        "checkpoint-2",
        "checkpoint-3",
    ]
    assert "interrupted at step 3; checkpoint saved" in (run / "local-lora" / "log.txt").read_text()

    second = run_ftx("resume", "latest", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert_same_as_uninterrupted(run, ref)
    assert trained_steps(events) == [[1, 2, 3], [4, 5, 6]]  # the step in progress was checkpointed
