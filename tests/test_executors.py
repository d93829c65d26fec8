"""Executors: local variants trained in worker processes (one per GPU) or as Ray tasks give the
answers they give in the run's own process; Ctrl-C or SIGTERM reaches every worker, and
``ftx resume`` trains only what did not finish."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ftx.errors import ConfigError
from ftx.executors import ProcessExecutor, RayExecutor, _outcome, choose, merge_record
from ftx.store import RunStore
from ftx.testing import sample_rows, write_jsonl

from .helpers import run_ftx

SWEEP = ["--sweep", "local-lora.lora_r=4,8", "--sweep", "local-lora.lora_alpha=8,16"]


def tiny_args(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    return [
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--eval-size",
        "4",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
    ]


def answers(run):
    """Each backend's answers and per-example scores."""
    scores = json.loads((run / "scores.json").read_text())["backends"]
    return {
        name: (
            [json.loads(line)["prediction"] for line in (run / name / "predictions.jsonl").open()],
            scores[name]["per_example"],
        )
        for name in sorted(scores)
    }


@pytest.mark.slow
def test_a_sweep_as_ray_tasks_scores_as_in_process(tmp_path, tiny_model):
    args = tiny_args(tmp_path, tiny_model) + SWEEP
    here = run_ftx("run", *args, "--name", "here", "--executor", "local", cwd=tmp_path)
    assert here.returncode == 0, here.stderr
    # A local Ray (2 CPUs in CI): two variants train at once, each in a worker of a Ray task.
    ray = run_ftx("run", *args, "--name", "ray", "--executor", "ray", cwd=tmp_path)
    assert ray.returncode == 0, ray.stderr
    # As on a cluster whose nodes do not see the run folder: the run goes with the task, and
    # the backend's folder comes back.
    copied = run_ftx(
        "run",
        *args,
        "--name",
        "copied",
        "--executor",
        "ray",
        cwd=tmp_path,
        env={"FTX_RAY_COPY_RUN": "1"},
    )
    assert copied.returncode == 0, copied.stderr
    runs = tmp_path / "runs"
    reference = answers(runs / "here")
    assert len(reference) == 5  # local-base and four variants
    for name in ("ray", "copied"):
        assert answers(runs / name) == reference
        meta = json.loads((runs / name / "run.json").read_text())
        assert meta["status"] == "done"
        for variant in list(reference)[1:]:
            assert (runs / name / variant / "worker.log").is_file()
            assert (runs / name / variant / "adapter" / "adapter_config.json").is_file()
            assert not (runs / name / variant / "record.json").exists()  # merged into run.json
    assert not (runs / "here" / "local-base" / "worker.log").exists()


@pytest.mark.slow
def test_a_ray_sweep_stopped_midway_resumes_only_its_unfinished_variants(tmp_path, tiny_model):
    args = tiny_args(tmp_path, tiny_model)[:-4] + ["--set", "run.max_new_tokens=4"]
    args += ["--backend", "local-lora", "--sweep", "local-lora.max_steps=2,300,301"]
    args += ["--set", "local-lora.save_steps=10", "--executor", "ray", "--name", "s"]
    run = tmp_path / "runs" / "s"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", "run", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    quick, slow = "local-lora-max_steps2", "local-lora-max_steps300"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            meta = json.loads((run / "run.json").read_text())
            steps = (run / slow / "train_log.jsonl").read_text().count("\n")
        except (OSError, ValueError):
            meta, steps = {}, 0
        if meta.get("backends", {}).get(quick, {}).get("status") == "done" and steps >= 3:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # as Slurm or Kubernetes stop a job
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    meta = json.loads((run / "run.json").read_text())
    status = {name: b["status"] for name, b in meta["backends"].items()}
    assert meta["status"] == "interrupted" and status[quick] == "done", status
    assert status[slow] == "interrupted", status
    adapter = run / quick / "adapter" / "adapter_model.safetensors"
    first = adapter.stat().st_mtime_ns
    stopped_at = len((run / slow / "train_log.jsonl").read_text().splitlines())
    assert 3 <= stopped_at < 300

    resumed = run_ftx("resume", "s", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done"
    assert all(b["status"] == "done" for b in meta["backends"].values())
    assert adapter.stat().st_mtime_ns == first  # the finished variant was not trained again
    log = [json.loads(line) for line in (run / slow / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(1, 301))  # on from its checkpoint, each once
    assert meta["backends"]["local-lora-max_steps301"]["train"]["steps"] == 301


@pytest.mark.slow
def test_worker_processes_train_variants_side_by_side(tmp_path, tiny_model):
    args = tiny_args(tmp_path, tiny_model) + ["--sweep", "local-lora.lora_r=4,8"]
    done = run_ftx(
        "run",
        *args,
        "--name",
        "p",
        "--executor",
        "processes",
        "--set",
        "run.workers=2",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "p"
    meta = json.loads((run / "run.json").read_text())
    assert {n: b["status"] for n, b in meta["backends"].items()} == {
        "local-base": "done",
        "local-lora-lora_r4": "done",
        "local-lora-lora_r8": "done",
    }
    assert all((run / n / "worker.log").is_file() for n in meta["backends"])


def test_auto_keeps_local_backends_in_process_without_several_gpus(monkeypatch):
    from ftx import executors
    from ftx.config import RunConfig

    monkeypatch.setattr(executors, "gpu_count", lambda: 0)
    assert choose(RunConfig(), ["a", "b"]) is None
    assert choose(RunConfig(executor="local"), ["a", "b"]) is None
    monkeypatch.setattr(executors, "gpu_count", lambda: 4)
    chosen = choose(RunConfig(), ["a", "b"])
    assert isinstance(chosen, ProcessExecutor) and chosen.slots == 4
    assert chosen.gpus == ["0", "1", "2", "3"]
    assert choose(RunConfig(), ["a"]) is None  # one backend: nothing to run side by side
    assert isinstance(choose(RunConfig(executor="ray"), ["a"]), RayExecutor)
    assert choose(RunConfig(executor="processes", workers=3), ["a"]).slots == 3


def test_executors_refuse_to_run_under_a_launcher(monkeypatch):
    from ftx.config import RunConfig

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="cannot run under torchrun"):
        choose(RunConfig(executor="ray"), ["a"])
    assert choose(RunConfig(), ["a", "b"]) is None


def test_a_worker_that_dies_without_a_word_fails_its_backend_only(tmp_path):
    run = RunStore(tmp_path).create({"backends": {}}, "w")
    run.update_backend("a", status="pending")
    folder = run.backend_dir("a")
    (folder / "record.json").write_text(json.dumps({"status": "training", "state": {"x": 1}}))
    _outcome(run, "a", -9)  # killed by the kernel's OOM killer, say
    record = json.loads((tmp_path / "w" / "run.json").read_text())["backends"]["a"]
    assert record["status"] == "failed" and record["state"] == {"x": 1}
    assert "exit code -9" in record["error"] and record["log"].endswith("worker.log")
    assert not (folder / "record.json").exists()
    assert merge_record(run, "a") is False  # merged once


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX")
def test_a_ray_run_without_ray_installed_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"executor ray needs Ray.*"):
        RayExecutor(None).__enter__()


@pytest.mark.slow
def test_ftx_cancel_from_another_terminal_stops_every_worker(tmp_path, tiny_model):
    args = tiny_args(tmp_path, tiny_model)[:-4] + ["--set", "run.max_new_tokens=4"]
    args += ["--backend", "local-lora", "--sweep", "local-lora.max_steps=300,301"]
    args += ["--executor", "processes", "--set", "run.workers=2", "--name", "c"]
    run = tmp_path / "runs" / "c"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", "run", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = [run / f"local-lora-max_steps{n}" / "train_log.jsonl" for n in (300, 301)]
    deadline = time.time() + 300
    while time.time() < deadline and not all(p.exists() and p.read_text() for p in logs):
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.2)
    cancelled = run_ftx("cancel", "c", cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "stopped the run's process" in cancelled.stdout
    assert proc.wait(timeout=60) == 130
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "cancelled"
    for name in ("local-lora-max_steps300", "local-lora-max_steps301"):
        assert meta["backends"][name]["status"] == "interrupted"
        assert any((run / name / "checkpoints").iterdir())  # each worker saved where it was
