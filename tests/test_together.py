"""The Together backends with the real `together` SDK against a fake API on 127.0.0.1 (the SDK
is never mocked: its upload's signed URL, redirect and preprocess steps all cross HTTP).

Every test ends with as many endpoints deleted as created (the ``fake`` fixture checks it): a
dedicated endpoint bills by the minute, so none may outlive what ftx needed it for."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ftx import hookimpl
from ftx.cli import cli
from ftx.display import money
from ftx.testing import registered, sample_rows, write_jsonl

from .fakes.together_server import KEY, PROJECT, FakeTogether
from .helpers import install_entry_point_plugin, run_ftx, start_and_kill_when

pytest.importorskip("together")


@pytest.fixture
def fake(monkeypatch):
    with FakeTogether() as server:
        monkeypatch.setenv("TOGETHER_API_KEY", KEY)
        monkeypatch.setenv("TOGETHER_BASE_URL", server.base_url)
        monkeypatch.delenv("TOGETHER_PROJECT_ID", raising=False)
        yield server
        counts = server.state.counts
        assert counts["endpoints_created"] == counts["endpoints_deleted"], counts
        assert counts["deployments_created"] == counts["deployments_deleted"], counts


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))


FAST = ["--set", "together.poll_interval=0.01", "--set", "together.max_retries=3"]
# A full fine-tune is asked only through a dedicated endpoint.
DEDICATED = ["--set", "together.lora=false", "--set", "together.dedicated_endpoint=true"]


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")  # errors as main() would print them
    return result


def meta(tmp_path, name="r"):
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())


def state(tmp_path, name="r"):
    return meta(tmp_path, name)["backends"]["together"]["state"]


def log_of(tmp_path, name="r"):
    return (tmp_path / "runs" / name / "together" / "log.txt").read_text()


class InterruptAt:
    """Ctrl-C at a run event of the together backend: ``train_log`` (the file is uploaded and
    the job exists) or ``answer`` (the tuned model is answering)."""

    def __init__(self, kind):
        self.kind = kind

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == self.kind and event.backend == "together":
            raise KeyboardInterrupt


# --- serverless LoRA: the whole lifecycle --------------------------------------------------------


def test_fine_tune_beats_base_and_key_never_written(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together-base", "--backend", "together"]
    result = run(*args, "--eval-size", "8", "--name", "r", *FAST)
    assert result.exit_code == 0, result.text
    counts = fake.state.counts
    # The SDK's upload: one signed URL, a PUT redirected once by the store, one preprocess.
    assert (counts["upload_urls"], counts["puts"], counts["uploads"]) == (1, 2, 1)
    assert counts["jobs"] == 1 and counts["endpoints_created"] == 0
    saved = state(tmp_path)
    assert saved["job_id"] == "ft-0001-fake" and saved["training_file"] == "file-1"
    assert saved["fine_tuned_model"] == "fake-project/Meta-Llama-3.1-8B-Instruct-Reference-ftx-0001"
    request = fake.state.requests["ft-0001-fake"]
    assert request["training_type"] == {
        "type": "Lora",
        "lora_r": 64,  # the model's default rank, from Together's limits
        "lora_alpha": 128,
        "lora_dropout": 0.0,
        "lora_trainable_modules": "all-linear",
    }
    assert request["n_epochs"] == 1 and request["random_seed"] == 42 and request["suffix"] == "ftx"
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scores = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert scores["together"] > scores["together-base"]
    cost = {b["name"]: b["cost_usd"] for b in report["backends"]}
    assert cost["together"] > cost["together-base"] > 0  # training and answers; the base answers
    assert money(cost["together"]) in result.output
    log = [
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "together" / "train_log.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [e["step"] for e in log] == [1, 2, 3] and log[-1]["loss"] < log[0]["loss"]
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_cost_comes_from_together_estimate_and_bill_else_the_table(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", *FAST]
    # Preflight: ftx's table (the estimate endpoint needs an uploaded file), before anything.
    refused = run(*args, "--max-cost", "0.00001")
    assert refused.exit_code != 0 and fake.state.counts["upload_urls"] == 0
    assert re.search(
        r"estimated training cost \$\S+: [\d,]+ tokens x 1 epochs at \$0\.48/1M", refused.text
    )
    assert "above --max-cost $0.00001. Nothing was trained or paid for" in refused.text
    # The job: Together's estimate is logged and kept; what Together billed is the cost.
    result = run(*args, "--name", "r", "--set", "together.epochs=2")
    assert result.exit_code == 0, result.text
    saved, job = state(tmp_path), fake.state.jobs["ft-0001-fake"]
    tokens = len(fake.state.files["file-1"].split()) * 2
    assert saved["estimated_cost_usd"] == pytest.approx(tokens * 0.48 / 1e6)
    assert f"Together estimates the job at {money(saved['estimated_cost_usd'])}" in log_of(tmp_path)
    paid = meta(tmp_path)["backends"]["together"]["cost_usd"]
    assert paid["training"] == pytest.approx(job["total_price"] / 1e9, abs=1e-6)
    # An estimate Together cannot give yet leaves ftx's; one it refuses stops before the job.
    fake.behaviour.estimate = False
    assert run(*args, "--name", "u").exit_code == 0
    assert "Together gave no price estimate (train_file_not_validated)" in log_of(tmp_path, "u")
    fake.behaviour.estimate, fake.behaviour.allowed_to_proceed = True, False
    stopped = run(*args, "--name", "n")
    assert stopped.exit_code != 0
    error = meta(tmp_path, "n")["backends"]["together"]["error"]
    assert "this account may not proceed (its limit is $5.00); no job was created" in error
    assert fake.state.counts["jobs"] == 2  # r and u; not n


def test_validation_file_comes_from_the_training_split(tmp_path, fake, data):
    result = run(
        "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r",
        "--set", "together.validation_size=0.25", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    saved = state(tmp_path)
    assert (saved["training_file"], saved["validation_file"]) == ("file-1", "file-2")
    request = fake.state.requests["ft-0001-fake"]
    assert request["validation_file"] == "file-2" and request["n_evals"] == 1  # one an epoch

    def asked(file_id):
        return {
            json.loads(line)["messages"][-2]["content"]
            for line in fake.state.files[file_id].decode().splitlines()
        }

    held_out = {
        json.loads(line)["messages"][-2]["content"]
        for line in (tmp_path / "runs" / "r" / "data" / "eval.jsonl").read_text().splitlines()
    }
    assert len(asked("file-1")) == 24 and len(asked("file-2")) == 8
    assert not (asked("file-1") | asked("file-2")) & held_out  # the eval split stays here
    log = (tmp_path / "runs" / "r" / "together" / "train_log.jsonl").read_text().splitlines()
    assert all("eval_loss" in json.loads(line) for line in log)


def test_options_reach_the_job(tmp_path, fake, data):
    result = run(
        "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r",
        "--set", "together.epochs=3", "--set", "together.lora_rank=16",
        "--set", "together.lora_alpha=8", "--set", "together.learning_rate=0.0002",
        "--set", "together.batch_size=16", "--set", "together.suffix=qa",
        "--set", "together.seed=7", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    request = fake.state.requests["ft-0001-fake"]
    assert (request["training_type"]["lora_r"], request["training_type"]["lora_alpha"]) == (16, 8)
    assert (request["n_epochs"], request["batch_size"], request["learning_rate"]) == (3, 16, 2e-4)
    assert (request["suffix"], request["random_seed"]) == ("qa", 7)
    assert request["training_method"] == {"method": "sft", "train_on_inputs": "auto"}
    # Out of the model's limits: refused in preflight, every problem at once.
    refused = run(
        "--data", str(data), "--backend", "together",
        "--set", "together.epochs=50", "--set", "together.lora_rank=128", *FAST,
    )  # fmt: skip
    problems = "\n".join(str(p) for p in refused.exception.problems)
    assert (
        "Together tunes meta-llama/Meta-Llama-3.1-8B-Instruct-Reference with at most 20 epochs, "
        "not 50" in problems
    )
    assert "with a LoRA rank up to 64" in problems
    assert fake.state.counts["upload_urls"] == 1  # only the first run's


def test_only_the_final_answer_is_trained_as_ftx_does(tmp_path, fake):
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say a number {i}"},
                {"role": "assistant", "content": "Which one?"},
                {"role": "user", "content": "Any."},
                {"role": "assistant", "content": str(i)},
            ]
        }
        for i in range(12)
    ]
    data = write_jsonl(tmp_path / "turns.jsonl", rows)
    result = run(
        "--data", str(data), "--backend", "together", "--eval-size", "2", "--name", "r", *FAST
    )
    assert result.exit_code == 0, result.text
    first = json.loads(fake.state.files["file-1"].decode().splitlines()[0])["messages"]
    assert [m["weight"] for m in first] == [0, 0, 0, 1]  # Together would train both answers


# --- errors: the key, rate limits, server errors, a failed job, a slow job ------------------------


def test_wrong_key_is_a_preflight_error_before_anything_runs(tmp_path, fake, data, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "tg-wrong-key-123456789")
    result = run("--data", str(data), "--backend", "together", "--eval-size", "8", *FAST)
    assert result.exit_code != 0
    assert (
        "Together rejected the API key while checking the model "
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference (401)"
    ) in result.text
    assert "tg-wrong-key-123456789" not in result.text
    assert fake.state.counts["upload_urls"] == 0 and not (tmp_path / "runs").exists()


def test_missing_key_and_unknown_model_are_listed_together(tmp_path, fake, data, monkeypatch):
    result = run(
        "--data", str(data), "--backend", "together", "--set", "together.model=nope/x", *FAST
    )
    problems = "\n".join(str(p) for p in result.exception.problems)
    assert (
        "Together answered 404 while checking the model nope/x: Model nope/x is not available "
        in problems
    )
    assert "a LoRA of nope/x, which Together is not known to serve serverless," in problems
    monkeypatch.delenv("TOGETHER_API_KEY")
    result = run("--data", str(data), "--backend", "together-base", *FAST)
    assert result.exit_code != 0 and "together-base: TOGETHER_API_KEY is not set" in result.text


def test_slow_job_rate_limits_with_retry_after_and_server_errors_are_survived(tmp_path, fake, data):
    fake.behaviour.polls_per_state = 4  # many polls in pending, queued and running
    fake.behaviour.chat_429, fake.behaviour.retry_after = 2, "0.3"
    fake.behaviour.chat_500 = 1
    result = run(
        "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r",
        "--set", "together.concurrency=1", *FAST,
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    assert fake.state.counts["chat_errors"] == 3 and fake.state.counts["chat"] == 8 + 3
    assert fake.state.polls["ft-0001-fake"] >= 12
    times = fake.state.chat_times
    for (when, status), (after, _) in zip(times, times[1:]):
        if status == 429:
            assert after - when >= 0.3  # Retry-After was waited out, not the backoff's 1 s
            assert after - when < 0.9


def test_rate_limit_beyond_retries_fails_clearly(tmp_path, fake, data):
    fake.behaviour.chat_429 = 1000
    result = run(
        "--data", str(data), "--backend", "together-base", "--eval-size", "4", "--name", "r",
        "--set", "together-base.max_retries=1",
    )  # fmt: skip
    assert result.exit_code == 1
    assert (
        "Together kept rate-limiting asking meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo after all "
        "retries"
    ) in meta(tmp_path)["backends"]["together-base"]["error"]


def test_failed_job_marks_only_that_backend_failed(tmp_path, fake, data):
    fake.behaviour.fail_job = "Training file has no valid samples"
    args = ["--data", str(data), "--backend", "together-base", "--backend", "together"]
    result = run(*args, "--eval-size", "8", "--name", "r", *FAST)
    assert result.exit_code == 3, result.text
    backends = meta(tmp_path)["backends"]
    assert backends["together-base"]["status"] == "done"
    assert backends["together"]["status"] == "failed"
    assert backends["together"]["error"] == (
        "Together job ft-0001-fake failed: Training file has no valid samples See the job's events "
        "in log.txt."
    )


# --- resume and cancel -------------------------------------------------------------------------


def test_sigkill_after_job_created_then_resume(tmp_path, fake, data, monkeypatch):
    """A real process, killed with SIGKILL once the job exists; resume finishes it without a
    second upload or job."""
    fake.behaviour.polls_per_state = 10**6  # the job stays pending until we let it go
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    run_json = tmp_path / "runs" / "k" / "run.json"
    args = ["run", "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "k"]
    start_and_kill_when([*args, *FAST], tmp_path, run_json, "job_id")
    assert fake.state.counts["upload_urls"] == 1 and fake.state.counts["jobs"] == 1
    fake.behaviour.polls_per_state = 1
    resumed = run_ftx("resume", "k", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    counts = fake.state.counts
    assert (counts["upload_urls"], counts["uploads"], counts["jobs"]) == (1, 1, 1)
    assert json.loads(run_json.read_text())["backends"]["together"]["status"] == "done"


def test_ctrl_c_then_resume_then_cancel(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r", *FAST]
    with registered(InterruptAt("train_log")):
        assert run(*args).exit_code != 0
    assert meta(tmp_path)["backends"]["together"]["status"] == "interrupted"
    result = CliRunner().invoke(cli, ["cancel", "r"])
    assert result.exit_code == 0, result.output
    assert "together: job ft-0001-fake: cancelled" in result.output
    assert fake.state.counts["cancels"] == 1


# --- a dedicated endpoint: only when allowed, counted, always deleted ---------------------------


def test_an_endpoint_needed_but_not_allowed_is_refused_in_one_sentence(tmp_path, fake, data):
    result = run(
        "--data", str(data), "--backend", "together", "--set", "together.lora=false", *FAST
    )
    assert result.exit_code != 0
    assert (
        "together: a full fine-tune (lora=false) can only answer from a dedicated endpoint, "
        "billed by the minute, which ftx creates only when allowed (--set "
        "together.dedicated_endpoint=true to allow one (about $2.00 for 30 minutes; ftx deletes "
        "it when answering ends)"
    ) in result.text
    assert fake.state.counts["upload_urls"] == 0 and not (tmp_path / "runs").exists()


def test_full_fine_tune_answers_from_an_endpoint_deleted_after(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", *DEDICATED, *FAST]
    refused = run(*args, "--max-cost", "1")  # the endpoint's half hour is counted
    assert refused.exit_code != 0 and fake.state.counts["upload_urls"] == 0
    assert "; an endpoint to answer with, about $2.00" in refused.text
    assert re.search(r"The estimated cost is \$2\.0\d \(together \$2\.0\d\), above", refused.text)
    result = run(*args, "--name", "r", "--yes", "--max-cost", "1")
    assert result.exit_code == 0, result.text
    counts = fake.state.counts
    assert counts["endpoints_created"] == counts["deployments_created"] == 1
    assert fake.state.requests["ft-0001-fake"]["training_type"] == {"type": "Full"}
    assert counts["chat"] == 8  # each answer through the endpoint, none refused
    saved = state(tmp_path)
    assert "endpoint" not in saved and "deployment" not in saved  # deleted, and forgotten
    log = log_of(tmp_path)
    assert re.search(r"created the dedicated endpoint fake-project/ftx-r-\w+ \(ep_1\)", log)
    assert f"deleted the endpoint projects/{PROJECT}/endpoints/ep_1" in log
    paid = meta(tmp_path)["backends"]["together"]["cost_usd"]
    assert paid["endpoint"] > 0 and "answering" not in paid  # billed by the minute, not token


def test_the_endpoint_is_deleted_when_answering_fails(tmp_path, fake, data):
    fake.behaviour.chat_500_after = 2
    result = run(
        "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r",
        "--set", "together.max_retries=0", "--set", "together.concurrency=1",
        *DEDICATED, "--set", "together.poll_interval=0.01",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "Together answered 500 while asking" in meta(tmp_path)["backends"]["together"]["error"]
    assert fake.state.counts["endpoints_created"] == 1  # and deleted: the fixture checks


def test_the_endpoint_is_deleted_when_it_cannot_start(tmp_path, fake, data):
    fake.behaviour.fail_deployment = True
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r"]
    result = run(*args, *DEDICATED, *FAST)
    assert result.exit_code != 0
    error = meta(tmp_path)["backends"]["together"]["error"]
    assert "Together's deployment fake-project/ftx-r-" in error and "is failed" in error
    assert fake.state.counts["endpoints_created"] == 1 and fake.state.counts["chat"] == 0
    paid = meta(tmp_path)["backends"]["together"]["cost_usd"]
    assert paid["training"] > 0 and paid["endpoint"] > 0  # the job and the endpoint's minutes


def test_ctrl_c_while_answering_deletes_the_endpoint_and_resume_makes_another(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r"]
    with registered(InterruptAt("answer")):
        assert run(*args, "--set", "together.concurrency=1", *DEDICATED, *FAST).exit_code != 0
    assert meta(tmp_path)["backends"]["together"]["status"] == "interrupted"
    assert fake.state.live_endpoints == 0 and "endpoint" not in state(tmp_path)
    resumed = CliRunner().invoke(cli, ["resume", "r"])
    assert resumed.exit_code == 0, resumed.output
    counts = fake.state.counts
    assert (counts["jobs"], counts["endpoints_created"]) == (1, 2)


def _killer(tmp_path):
    site = install_entry_point_plugin(tmp_path / "site", "ftx_killer", "ftx-killer")
    return {"PYTHONPATH": str(site), "FTX_LOAD_PLUGINS": "ftx-killer"}


def test_sigkill_while_answering_then_resume_reuses_the_endpoint_then_deletes_it(
    tmp_path, fake, data
):
    env = _killer(tmp_path)
    args = ["run", "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "k"]
    args += ["--set", "together.concurrency=1", *DEDICATED, *FAST]
    killed = run_ftx(*args, cwd=tmp_path, env={**env, "FTX_KILL_AT": "answer:together:done=3"})
    assert killed.returncode == -9
    assert fake.state.live_endpoints == 1  # a power cut leaves it running...
    assert state(tmp_path, "k")["endpoint"] == f"projects/{PROJECT}/endpoints/ep_1"
    resumed = run_ftx("resume", "k", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    counts = fake.state.counts
    assert counts["endpoints_created"] == counts["deployments_created"] == 1  # ...resume reuses it
    assert counts["chat"] == 8 and counts["jobs"] == 1  # each prompt asked once
    assert "reusing the endpoint fake-project/ftx-k-" in log_of(tmp_path, "k")


def test_sigkill_while_answering_then_ftx_cancel_deletes_the_endpoint(tmp_path, fake, data):
    env = _killer(tmp_path)
    args = ["run", "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "k"]
    args += ["--set", "together.concurrency=1", *DEDICATED, *FAST]
    run_ftx(*args, cwd=tmp_path, env={**env, "FTX_KILL_AT": "answer:together:done=2"})
    assert fake.state.live_endpoints == 1
    result = CliRunner().invoke(cli, ["cancel", "k"])
    assert result.exit_code == 0, result.output
    assert f"endpoint projects/{PROJECT}/endpoints/ep_1 deleted" in result.output
    assert "job ft-0001-fake had already finished" in result.output
    saved = state(tmp_path, "k")
    assert not {"endpoint", "endpoint_name", "deployment", "endpoint_started"} & set(saved)
    again = CliRunner().invoke(cli, ["cancel", "k"])  # nothing left to delete
    assert again.exit_code == 0 and "endpoint" not in again.output


def test_an_endpoint_that_cannot_be_deleted_is_a_warning_and_kept_for_ftx_cancel(
    tmp_path, fake, data
):
    fake.behaviour.delete_500 = 100
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r"]
    result = run(*args, *DEDICATED, *FAST, "--set", "together.max_retries=1")
    assert result.exit_code == 0, result.text  # the answers are in: only the clean-up failed
    path = f"projects/{PROJECT}/endpoints/ep_1"
    assert state(tmp_path)["endpoint"] == path  # not forgotten
    said = f"could not delete {path}, which may still bill: Together answered 500"
    warning = " ".join(result.output.split())  # as the terminal shows it, unwrapped
    assert f"warning: together: {said}" in warning
    assert "Run 'ftx cancel r' to delete it, or delete it in the Together dashboard." in warning
    assert said in log_of(tmp_path)
    assert "endpoint" not in meta(tmp_path)["backends"]["together"]["cost_usd"]  # still running
    fake.behaviour.delete_500 = 0
    cancelled = CliRunner().invoke(cli, ["cancel", "r"])
    assert cancelled.exit_code == 0 and f"endpoint {path} deleted" in cancelled.output
    assert "endpoint" not in state(tmp_path) and fake.state.live_endpoints == 0


def test_polling_never_waits_longer_than_poll_interval(tmp_path, fake, data, monkeypatch):
    from ftx.backend import BackendContext

    waits = []
    sleep = BackendContext.sleep
    monkeypatch.setattr(
        BackendContext, "sleep", lambda self, seconds: waits.append(seconds) or sleep(self, seconds)
    )
    fake.behaviour.polls_per_state = 2
    args = ["--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "r"]
    assert run(*args, *DEDICATED, *FAST).exit_code == 0
    assert len(waits) >= 6 and max(waits) <= 0.01  # the job's polls, then the endpoint's


def test_sigterm_while_answering_deletes_the_endpoint(tmp_path, fake, data):
    env = {**_killer(tmp_path), "FTX_KILL_AT": "answer:together:done=2", "FTX_KILL_SIGNAL": "TERM"}
    args = ["run", "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "k"]
    stopped = run_ftx(
        *args, "--set", "together.concurrency=1", *DEDICATED, *FAST, cwd=tmp_path, env=env
    )
    assert stopped.returncode != 0
    assert meta(tmp_path, "k")["backends"]["together"]["status"] == "interrupted"
    assert fake.state.live_endpoints == 0  # deleted before the process ended


def test_sigterm_while_the_endpoint_starts_deletes_it(tmp_path, fake, data, monkeypatch):
    """Stopped (as a scheduler stops a job) while waiting for the endpoint to be ready."""
    fake.behaviour.deployment_polls = 10**6  # it never gets ready
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    run_json = tmp_path / "runs" / "k" / "run.json"
    args = ["run", "--data", str(data), "--backend", "together", "--eval-size", "8", "--name", "k"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", *args, *DEDICATED, *FAST],
        cwd=tmp_path,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while fake.state.counts["deployments_created"] == 0 and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    assert fake.state.live_endpoints == 0 and fake.state.counts["endpoints_created"] == 1
    assert json.loads(run_json.read_text())["backends"]["together"]["status"] == "interrupted"


def test_together_backends_conform(fake):
    from ftx.backends.together import TogetherBase, TogetherFineTune
    from ftx.testing import check_backend

    check_backend(TogetherBase)
    check_backend(TogetherFineTune, TogetherFineTune.Options(poll_interval=0.01))
    dedicated = TogetherFineTune.Options(poll_interval=0.01, lora=False, dedicated_endpoint=True)
    check_backend(TogetherFineTune, dedicated)
    assert fake.state.counts["endpoints_created"] >= 1  # and as many deleted: the fixture checks


def test_an_endpoint_counts_in_max_cost_when_the_training_price_is_unknown(tmp_path, fake, data):
    args = ["--data", str(data), "--backend", "together", "--set", "together.model=Qwen/Qwen3-8B"]
    refused = run(*args, "--set", "together.dedicated_endpoint=true", "--max-cost", "1", *FAST)
    assert refused.exit_code != 0
    assert "no price known for Qwen/Qwen3-8B" in refused.text
    assert "The estimated cost is $2.00 (together $2.00), above --max-cost $1.00" in refused.text
    assert fake.state.counts["upload_urls"] == 0
