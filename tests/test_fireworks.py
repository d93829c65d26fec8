"""The Fireworks backends with the real `fireworks-ai` SDK against a fake API on 127.0.0.1."""

import json
import re

import pytest
from click.testing import CliRunner

from ftx import hookimpl
from ftx.cli import cli
from ftx.testing import registered, sample_rows, write_jsonl

from .fakes.fireworks_server import ACCOUNT, KEY, FakeFireworks
from .helpers import run_ftx, start_and_kill_when

pytest.importorskip("fireworks")


@pytest.fixture
def fake(monkeypatch):
    with FakeFireworks() as server:
        monkeypatch.setenv("FIREWORKS_API_KEY", KEY)
        monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("FIREWORKS_BASE_URL", server.base_url)
        yield server
        # Whatever happened in the test, every deployment ftx created was deleted.
        counts = server.state.counts
        assert counts["deployments_created"] == counts["deployments_deleted"], counts
        assert counts["loras_loaded"] == counts["loras_unloaded"], counts
        assert not server.state.deployments and not server.state.loras


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))


FAST = [
    "--set",
    "fireworks.poll_interval=0.01",
    "--set",
    "fireworks.max_retries=3",
    "--set",
    "fireworks.dedicated_endpoint=true",
]


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")  # errors as main() would print them
    return result


def meta(tmp_path, name="r"):
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())


def test_fine_tune_beats_base_through_a_deployment_it_deletes(tmp_path, fake, data):
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks-base",
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
    )
    assert result.exit_code == 0, result.text
    counts = fake.state.counts
    assert counts["uploads"] == 1 and counts["jobs"] == 1 and counts["deployments_created"] == 1
    state = meta(tmp_path)["backends"]["fireworks"]
    assert state["state"]["job_id"].startswith(f"accounts/{ACCOUNT}/supervisedFineTuningJobs/ftx-")
    assert state["state"]["fine_tuned_model"].startswith(f"accounts/{ACCOUNT}/models/ftx-")
    assert "endpoint" not in state["state"]  # deleted, and forgotten
    assert state["train"]["train_tokens"] > 0 and state["cost_usd"]["training"] > 0
    assert state["cost_usd"]["deployment"] > 0  # its hours, from creation to deletion
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scores = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert scores["fireworks"] > scores["fireworks-base"]
    log = (tmp_path / "runs" / "r" / "fireworks" / "log.txt").read_text()
    assert "created deployment" in log and "deleted the endpoint" in log
    assert (
        "estimated training cost $" in result.output
        and "an endpoint to answer with" in result.output
    )
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_local_and_fireworks_in_one_table(tmp_path, fake, tiny_model, data):
    result = run(
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--backend",
        "local-lora",
        "--backend",
        "fireworks-base",
        "--backend",
        "fireworks",
        "--eval-size",
        "6",
        "--name",
        "r",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
        *FAST,
    )
    assert result.exit_code == 0, result.text
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    names = ["local-base", "local-lora", "fireworks-base", "fireworks"]
    assert [b["name"] for b in report["backends"]] == names
    assert all(b["status"] == "done" for b in report["backends"])
    assert all(name in result.output for name in names)  # one table with all four


def test_wrong_key_is_a_preflight_error_before_anything_runs(tmp_path, fake, data, monkeypatch):
    monkeypatch.setenv("FIREWORKS_API_KEY", "fw-wrong-key-123456789")
    result = run("--data", str(data), "--backend", "fireworks", "--eval-size", "8", *FAST)
    assert result.exit_code != 0
    assert (
        "Fireworks rejected the API key while checking the model "
        "accounts/fireworks/models/llama-v3p1-8b-instruct (401)" in result.text
    )
    assert "fw-wrong-key-123456789" not in result.text
    assert fake.state.counts["datasets"] == 0 and not (tmp_path / "runs").exists()


def test_missing_key_and_account(tmp_path, fake, data, monkeypatch):
    monkeypatch.delenv("FIREWORKS_API_KEY")
    result = run("--data", str(data), "--backend", "fireworks", *FAST)
    assert result.exit_code != 0 and "fireworks: FIREWORKS_API_KEY is not set" in result.text
    monkeypatch.setenv("FIREWORKS_API_KEY", KEY)
    monkeypatch.delenv("FIREWORKS_ACCOUNT_ID")
    result = run("--data", str(data), "--backend", "fireworks", *FAST)
    assert result.exit_code != 0
    problems = "\n".join(str(p) for p in result.exception.problems)
    assert "no Fireworks account id to tune in" in problems
    assert f"(this key's: {ACCOUNT})" in problems  # the account list says which to use
    assert not (tmp_path / "runs").exists()


def test_preflight_refuses_a_deployment_that_is_needed_but_not_allowed(tmp_path, fake, data):
    result = run("--data", str(data), "--backend", "fireworks", "--set", "fireworks.max_retries=0")
    assert result.exit_code != 0
    problems = [str(p) for p in result.exception.problems]
    assert any(
        "the tuned model needs a Fireworks deployment to answer, billed by the GPU-hour (about "
        "$7.00 an hour), and none is allowed"
        in p
        and "--set fireworks.dedicated_endpoint=true" in p
        for p in problems
    ), problems
    assert fake.state.counts["datasets"] == 0 and not (tmp_path / "runs").exists()


def test_the_estimate_counts_the_deployment_and_max_cost_refuses_it(tmp_path, fake, data):
    from ftx.backends.fireworks import FineTuneOptions, FireworksFineTune, wire
    from ftx.data import split
    from ftx.types import Example, Message

    examples = [
        Example(r["id"], (Message("user", r["question"]), Message("assistant", r["answer"])))
        for r in sample_rows(40)
    ]
    splits = split(examples, eval_size=8)
    train = splits.train
    opts = FineTuneOptions(dedicated_endpoint=True)
    tokens = sum(wire.tokens(e) for e in train)
    hours = (15 + 8 * 2 / 8 / 60) / 60  # starting, then 8 answers 8 at a time
    expected = tokens * 3 * 0.50 / 1e6 + hours * 7.00  # 3 epochs assumed; an H100 at $7/h
    assert FireworksFineTune().estimate_cost(splits, opts) == pytest.approx(expected)
    priced = FineTuneOptions(
        dedicated_endpoint=True, endpoint_hourly_price=2.0, endpoint_minutes=30
    )
    assert FireworksFineTune().endpoint_cost(splits, priced) == pytest.approx(1.0)

    result = run("--data", str(data), "--backend", "fireworks", "--max-cost", "0.5", *FAST)
    assert result.exit_code != 0
    assert re.search(
        r"The estimated cost is \$1\.\d\d \(fireworks \$1\.\d\d\), above --max-cost \$0\.50",
        result.text,
    ), result.text
    assert fake.state.counts["datasets"] == 0
    cheap = ["--set", "fireworks.endpoint_hourly_price=1", "--set", "fireworks.endpoint_minutes=6"]
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--max-cost",
        "0.5",
        "--eval-size",
        "4",
        "--name",
        "r",
        *FAST,
        *cheap,
    )
    assert result.exit_code == 0, result.text
    assert "an endpoint to answer with, about $0.10" in result.output


class KillAfterJobCreated:
    """Ctrl-C at the job's first progress report: the data is uploaded and the job exists."""

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == "train_log" and event.backend == "fireworks":
            raise KeyboardInterrupt


def test_ctrl_c_during_training_then_resume_and_cancel(tmp_path, fake, data):
    with registered(KillAfterJobCreated()):
        result = run(
            "--data", str(data), "--backend", "fireworks", "--eval-size", "8", "--name", "r", *FAST
        )
    assert result.exit_code != 0
    assert meta(tmp_path)["backends"]["fireworks"]["status"] == "interrupted"
    cancelled = CliRunner().invoke(cli, ["cancel", "r"])
    assert cancelled.exit_code == 0, cancelled.output
    assert re.search(r"fireworks: job ftx-\w+: JOB_STATE_CANCELLED", cancelled.output)
    assert fake.state.counts["cancels"] == 1 and fake.state.counts["deployments_created"] == 0


def test_failed_job_marks_only_that_backend_failed(tmp_path, fake, data):
    fake.behaviour.fail_job = "Dataset contains examples longer than the context"
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks-base",
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
    )
    assert result.exit_code == 3, result.text
    backends = meta(tmp_path)["backends"]
    assert backends["fireworks-base"]["status"] == "done"
    assert backends["fireworks"]["status"] == "failed"
    assert re.fullmatch(
        r"Fireworks job accounts/ftx-test/supervisedFineTuningJobs/ftx-\w+ failed: Dataset "
        r"contains examples longer than the context See the job in the Fireworks dashboard "
        r"\(Fine-tuning\) for its details\.",
        backends["fireworks"]["error"],
    ), backends["fireworks"]["error"]
    assert fake.state.counts["deployments_created"] == 0


def test_a_refused_job_says_managed_fine_tuning_may_be_closed(tmp_path, fake, data):
    fake.behaviour.refuse_jobs = "Supervised fine-tuning jobs are no longer accepted"
    result = run(
        "--data", str(data), "--backend", "fireworks", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code != 0
    error = meta(tmp_path)["backends"]["fireworks"]["error"]
    assert error.startswith(
        "Fireworks answered 400 while creating the fine-tuning job: Supervised fine-tuning jobs "
        "are no longer accepted Fireworks' docs say managed fine-tuning no longer accepts new jobs"
    ), error
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 0


def test_slow_job_rate_limits_and_server_errors_are_survived(tmp_path, fake, data):
    fake.behaviour.job_polls = 4  # many polls in VALIDATING, PENDING and RUNNING
    fake.behaviour.job_429 = 2
    fake.behaviour.deployment_polls = 5
    fake.behaviour.chat_429 = 3
    fake.behaviour.chat_500 = 2
    result = run(
        "--data", str(data), "--backend", "fireworks", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code == 0, result.text
    assert fake.state.counts["chat_errors"] == 5
    assert fake.state.counts["chat"] == 8 + 5  # every refused request was asked again
    assert max(v for k, v in fake.state.polls.items() if k.startswith("ftx-")) >= 12
    assert fake.state.counts["deployments_created"] == 1


def test_rate_limit_beyond_retries_fails_clearly(tmp_path, fake, data):
    fake.behaviour.chat_429 = 1000
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks-base",
        "--eval-size",
        "4",
        "--name",
        "r",
        "--set",
        "fireworks-base.max_retries=1",
    )
    assert result.exit_code == 1
    assert (
        "Fireworks kept rate-limiting asking accounts/fireworks/models/llama-v3p1-8b-instruct "
        "after all retries" in meta(tmp_path)["backends"]["fireworks-base"]["error"]
    )


def test_answering_that_fails_still_deletes_the_deployment(tmp_path, fake, data):
    fake.behaviour.chat_500_after = 3
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
        "--set",
        "fireworks.max_retries=1",
        "--set",
        "fireworks.concurrency=1",
    )
    assert result.exit_code != 0
    backend = meta(tmp_path)["backends"]["fireworks"]
    assert backend["status"] == "failed" and "answered 500" in backend["error"]
    assert fake.state.counts["deployments_created"] == 1  # and the fixture: deleted
    assert "endpoint" not in backend["state"]


def test_a_deployment_that_cannot_be_deleted_is_kept_for_ftx_cancel(tmp_path, fake, data):
    fake.behaviour.delete_500 = 100
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
        "--set",
        "fireworks.max_retries=1",
    )
    assert result.exit_code == 0, result.text  # the answers are in: only the clean-up failed
    state = meta(tmp_path)["backends"]["fireworks"]["state"]
    assert state["endpoint"].startswith("accounts/ftx-test/deployments/ftx-")  # not forgotten
    said = f"could not delete {state['endpoint']}, which may still bill: Fireworks answered 500"
    log = (tmp_path / "runs" / "r" / "fireworks" / "log.txt").read_text()
    assert said in log and "Run 'ftx cancel r' to delete it" in log
    warning = " ".join(result.output.split())  # as the terminal shows it, unwrapped
    assert f"warning: fireworks: {said}" in warning and "Run 'ftx cancel r'" in warning
    fake.behaviour.delete_500 = 0
    cancelled = CliRunner().invoke(cli, ["cancel", "r"])
    assert cancelled.exit_code == 0 and f"endpoint {state['endpoint']} deleted" in cancelled.output
    state = meta(tmp_path)["backends"]["fireworks"]["state"]
    assert "endpoint" not in state and "endpoint_created" not in state  # deleted, and forgotten


def test_a_deployment_that_fails_is_deleted(tmp_path, fake, data):
    fake.behaviour.fail_deployment = "no H100 capacity in the region"
    result = run(
        "--data", str(data), "--backend", "fireworks", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code != 0
    error = meta(tmp_path)["backends"]["fireworks"]["error"]
    assert re.match(
        r"Fireworks deployment accounts/ftx-test/deployments/ftx-\w+-1 failed: no H100", error
    )
    assert fake.state.counts["deployments_created"] == 1


def test_ctrl_c_while_the_deployment_starts_deletes_it(tmp_path, fake, data):
    import os
    import signal
    import threading
    import time

    fake.behaviour.deployment_polls = 10**6  # it never gets ready

    def interrupt_once_created():
        while fake.state.counts["deployments_created"] == 0:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C: the run stops at its next safe point

    threading.Thread(target=interrupt_once_created, daemon=True).start()
    result = run(
        "--data", str(data), "--backend", "fireworks", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code != 0
    backend = meta(tmp_path)["backends"]["fireworks"]
    assert backend["status"] == "interrupted" and "endpoint" not in backend["state"]
    assert fake.state.counts["deployments_created"] == 1  # and the fixture: deleted


def test_sigterm_while_answering_deletes_the_deployment(tmp_path, fake, data, monkeypatch):
    import signal
    import subprocess
    import sys
    import time

    fake.behaviour.latency = 0.2
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    args = [
        "run",
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "t",
        *FAST,
        "--set",
        "fireworks.concurrency=1",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while fake.state.counts["chat"] < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert meta(tmp_path, "t")["backends"]["fireworks"]["status"] == "interrupted"
    assert fake.state.counts["deployments_created"] == 1  # and the fixture: deleted


def test_sigkill_after_job_created_then_resume(tmp_path, fake, data, monkeypatch):
    """A real process, killed with SIGKILL once the job exists; resume finishes it without a
    second upload or job."""
    fake.behaviour.job_polls = 10**6  # the job stays in validation until we let it go
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    run_json = tmp_path / "runs" / "k" / "run.json"
    args = [
        "run",
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "k",
        *FAST,
    ]
    start_and_kill_when(args, tmp_path, run_json, "job_id")
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    fake.behaviour.job_polls = 1
    resumed = run_ftx("resume", "k", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    counts = fake.state.counts
    assert counts["datasets"] == 1 and counts["uploads"] == 1 and counts["jobs"] == 1
    assert json.loads(run_json.read_text())["backends"]["fireworks"]["status"] == "done"


def test_sigkill_while_deploying_then_resume_reuses_it_and_cancel_deletes_it(
    tmp_path, fake, data, monkeypatch
):
    """Killed with the deployment up: its name is in run.json. Resume answers with that one (no
    second deployment) and deletes it; on another run killed so, ftx cancel deletes it."""
    fake.behaviour.deployment_polls = 10**6
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    for name in ("k", "c"):
        log = tmp_path / "runs" / name / "fireworks" / "log.txt"  # written once it was created
        args = [
            "run",
            "--data",
            str(data),
            "--backend",
            "fireworks",
            "--eval-size",
            "8",
            "--name",
            name,
            *FAST,
        ]
        start_and_kill_when(args, tmp_path, log, "created deployment")
    assert fake.state.counts["deployments_created"] == 2 and len(fake.state.deployments) == 2

    fake.behaviour.deployment_polls = 1
    resumed = run_ftx("resume", "k", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert fake.state.counts["deployments_created"] == 2  # the one it had, not a new one
    assert fake.state.counts["jobs"] == 2 and fake.state.counts["chat"] == 8
    backend = meta(tmp_path, "k")["backends"]["fireworks"]
    assert backend["status"] == "done" and "endpoint" not in backend["state"]

    cancelled = CliRunner().invoke(cli, ["cancel", "c"])
    assert cancelled.exit_code == 0, cancelled.output
    assert re.search(r"endpoint accounts/ftx-test/deployments/ftx-\w+-1 deleted", cancelled.output)
    assert "had already finished" in cancelled.output and fake.state.counts["cancels"] == 0
    assert "endpoint" not in meta(tmp_path, "c")["backends"]["fireworks"]["state"]  # forgotten


def test_serverless_lora_where_fireworks_allows_it(tmp_path, fake, data):
    fake.behaviour.serverless_lora = True
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks-base",
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "fireworks.poll_interval=0.01",
        "--set",
        "fireworks.serverless=true",
    )
    assert result.exit_code == 0, result.text
    counts = fake.state.counts
    assert counts["loras_loaded"] == 1 and counts["deployments_created"] == 0
    assert "an endpoint to answer with" not in result.output  # no hours to pay for
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scores = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert scores["fireworks"] > scores["fireworks-base"]
    assert meta(tmp_path)["backends"]["fireworks"]["cost_usd"]["answering"] > 0  # by the token


def test_serverless_refused_falls_back_to_a_deployment_only_if_allowed(tmp_path, fake, data):
    serverless = ["--set", "fireworks.serverless=true", "--set", "fireworks.poll_interval=0.01"]
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *serverless,
    )
    assert result.exit_code != 0
    error = meta(tmp_path)["backends"]["fireworks"]["error"]
    assert error.startswith("Fireworks would not load accounts/ftx-test/models/ftx-")
    assert "LoRA models require a dedicated deployment" in error
    assert fake.state.counts["deployments_created"] == 0

    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "d",
        *serverless,
        "--set",
        "fireworks.dedicated_endpoint=true",
    )
    assert result.exit_code == 0, result.text
    assert fake.state.counts["deployments_created"] == 1
    log = (tmp_path / "runs" / "d" / "fireworks" / "log.txt").read_text()
    assert "would not load" in log and "deleted the endpoint" in log


def test_models_fireworks_cannot_tune_or_serve_are_refused(tmp_path, fake, data):
    def problems(*args):
        result = run("--data", str(data), *args, "--set", "fireworks.max_retries=0")
        assert result.exit_code != 0
        return "\n".join(str(p) for p in result.exception.problems)

    untunable = "accounts/fireworks/models/llama-guard-3-8b"
    said = problems("--backend", "fireworks", *FAST, "--set", f"fireworks.model={untunable}")
    assert f"{untunable} cannot be tuned on Fireworks" in said
    said = problems("--backend", "fireworks", *FAST, "--set", "fireworks.model=llama-3-8b")
    assert "'llama-3-8b' is not a Fireworks model name" in said
    big = "accounts/fireworks/models/qwen3-235b-a22b"
    said = problems("--backend", "fireworks-base", "--set", f"fireworks-base.model={big}")
    assert f"{big} is not served serverless" in said
    said = problems(
        "--backend",
        "fireworks-base",
        "--set",
        "fireworks-base.model=accounts/fireworks/models/nope",
    )
    assert "Fireworks answered 404 while checking the model accounts/fireworks/models/nope" in said
    fake.behaviour.models["llama-v3p1-8b-instruct"]["deprecationDate"] = {
        "year": 2020,
        "month": 1,
        "day": 31,
    }
    said = problems("--backend", "fireworks-base")
    assert "left Fireworks' serverless on 2020-01-31" in said
    assert fake.state.counts["datasets"] == 0


def test_too_few_examples(tmp_path, fake):
    small = write_jsonl(tmp_path / "small.jsonl", sample_rows(5))
    result = run("--data", str(small), "--backend", "fireworks", "--eval-size", "3", *FAST)
    assert result.exit_code != 0
    problems = "\n".join(str(p) for p in result.exception.problems)
    assert "Fireworks fine-tuning takes 3 to 3,000,000 training examples; there are 2" in problems


def test_validation_dataset_comes_from_the_training_split(tmp_path, fake, data):
    result = run(
        "--data",
        str(data),
        "--backend",
        "fireworks",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
        "--set",
        "fireworks.validation_size=0.25",
        "--set",
        "fireworks.epochs=2",
        "--set",
        "fireworks.learning_rate=0.0002",
        "--set",
        "fireworks.lora_rank=16",
        "--set",
        "fireworks.batch_size=4",
    )
    assert result.exit_code == 0, result.text
    state = meta(tmp_path)["backends"]["fireworks"]["state"]
    assert state["training_file"].endswith("-train")
    assert state["validation_file"].endswith("-validation")
    (job,) = fake.state.jobs.values()
    assert job["evaluationDataset"] == state["validation_file"]
    assert (job["epochs"], job["learningRate"], job["loraRank"], job["batchSizeSamples"]) == (
        2,
        0.0002,
        16,
        4,
    )

    def uploaded(dataset):
        return {
            json.loads(line)["messages"][-2]["content"]
            for line in fake.state.files[dataset.rsplit("/", 1)[-1]].decode().splitlines()
        }

    held_out = {
        json.loads(line)["messages"][-2]["content"]
        for line in (tmp_path / "runs" / "r" / "data" / "eval.jsonl").read_text().splitlines()
    }
    train, validation = uploaded(state["training_file"]), uploaded(state["validation_file"])
    assert len(train) == 24 and len(validation) == 8
    assert not (train | validation) & held_out  # the eval split never reaches Fireworks


def test_both_backends_pass_the_conformance_check(fake):
    from ftx.backends.fireworks import FineTuneOptions, FireworksBase, FireworksFineTune
    from ftx.testing import check_backend

    check_backend(FireworksBase)
    check_backend(FireworksFineTune, FineTuneOptions(poll_interval=0.01, dedicated_endpoint=True))
    assert fake.state.counts["deployments_created"] == 2  # train's, then attach's: each deleted
    fake.behaviour.serverless_lora = True
    check_backend(FireworksFineTune, FineTuneOptions(poll_interval=0.01, serverless=True))
    assert fake.state.counts["loras_loaded"] == 2
