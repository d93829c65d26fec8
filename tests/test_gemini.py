"""The Gemini backends with the real google-genai and google-cloud-storage clients against a fake
Google on 127.0.0.1 (OAuth token endpoint, Cloud Storage, Vertex AI tuning and generateContent)."""

import json

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import sample_rows, write_jsonl

from .fakes.gemini_server import API_KEY, PROJECT, TOKEN, FakeGoogle
from .helpers import run_ftx, start_and_kill_when

pytest.importorskip("google.genai")
pytest.importorskip("google.cloud.storage")


@pytest.fixture
def google(tmp_path, monkeypatch):
    with FakeGoogle() as server:
        (tmp_path / "secrets").mkdir()
        key_file = server.service_account_file(tmp_path / "secrets")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        server.key_file = key_file
        yield server


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))


def gemini_args(server):
    return [
        "--set",
        f"gemini.base_url={server.url}/",
        "--set",
        f"gemini-base.base_url={server.url}/",
        "--set",
        "gemini.bucket=gs://ftx-bucket/tuning",
        "--set",
        "gemini.poll_interval=0.01",
    ]


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")
    return result


def meta(tmp_path, name="r"):
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())


def test_tuned_gemini_beats_base_and_no_credential_is_written(tmp_path, google, data):
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini-base",
        "--backend",
        "gemini",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "gemini.epochs=2",
        "--set",
        "gemini.adapter_size=4",
        "--set",
        "gemini.learning_rate_multiplier=0.5",
        "--set",
        "gemini.validation_size=0.25",
        *gemini_args(google),
    )
    assert result.exit_code == 0, result.text
    job = google.state.jobs["1001"]
    assert job["supervisedTuningSpec"]["hyperParameters"] == {
        "epochCount": 2,
        "learningRateMultiplier": 0.5,
        "adapterSize": "ADAPTER_SIZE_FOUR",
    }
    assert (
        job["supervisedTuningSpec"]["validationDatasetUri"]
        == "gs://ftx-bucket/tuning/ftx/r/validation.jsonl"
    )
    assert job["tunedModelDisplayName"] == "ftx-r"
    counts = google.state.counts
    assert (
        counts["uploads"] == 2 and counts["jobs"] == 1 and counts["generate"] == 16
    )  # training and validation files
    state = meta(tmp_path)["backends"]["gemini"]["state"]
    assert state["training_file"] == "gs://ftx-bucket/tuning/ftx/r/train.jsonl"
    assert state["job_id"].endswith("/tuningJobs/1001") and state["fine_tuned_model"].endswith(
        "/endpoints/1001"
    )
    uploaded = google.state.objects[state["training_file"]].decode().splitlines()
    assert (
        len(uploaded) == 24
        and len(google.state.objects[state["validation_file"]].decode().splitlines()) == 8
    )
    first = json.loads(uploaded[0])
    assert first["contents"][0]["role"] == "user" and first["contents"][-1]["role"] == "model"
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scores = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert scores["gemini"] > scores["gemini-base"]
    train = meta(tmp_path)["backends"]["gemini"]["train"]
    assert train["train_tokens"] > 0 and train["cost_usd"] > 0
    private_key = json.loads(google.key_file.read_text())["private_key"].splitlines()[1]
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert TOKEN.encode() not in content and private_key.encode() not in content, path


def test_local_openai_and_gemini_in_one_table(tmp_path, google, tiny_model, data, monkeypatch):
    from .fakes.openai_server import KEY, FakeOpenAI

    with FakeOpenAI() as openai_server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
        result = run(
            "--data",
            str(data),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--backend",
            "gemini",
            "--backend",
            "openai",
            "--eval-size",
            "6",
            "--name",
            "r",
            "--set",
            "local-lora.max_steps=2",
            "--set",
            "run.max_new_tokens=4",
            "--set",
            "openai.poll_interval=0.01",
            *gemini_args(google),
        )
    assert result.exit_code == 0, result.text
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert [b["name"] for b in report["backends"]] == ["local-lora", "gemini", "openai"]
    assert all(b["status"] == "done" for b in report["backends"])
    table = result.output[result.output.index("ftx run r") :]
    assert all(
        name in table for name in ("local-lora", "gemini", "openai")
    )  # one table with all three


def test_sigkill_after_job_created_then_cancel_and_resume(tmp_path, google, data, monkeypatch):
    """A real process killed once the job exists: resume re-attaches (no second upload or job),
    and `ftx cancel` stops the job on Vertex."""
    google.behaviour.polls_per_state = 10**6  # the job stays pending until we let it go
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    args = ["--data", str(data), "--backend", "gemini", "--eval-size", "8", *gemini_args(google)]
    start_and_kill_when(
        ["run", *args, "--name", "k"], tmp_path, tmp_path / "runs" / "k" / "run.json", "job_id"
    )
    assert google.state.counts["uploads"] == 1 and google.state.counts["jobs"] == 1
    google.behaviour.polls_per_state = 1
    resumed = run_ftx("resume", "k", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        google.state.counts["uploads"] == 1 and google.state.counts["jobs"] == 1
    )  # nothing uploaded or created twice
    assert meta(tmp_path, "k")["backends"]["gemini"]["status"] == "done"

    google.behaviour.polls_per_state = 10**6
    start_and_kill_when(
        ["run", *args, "--name", "c"], tmp_path, tmp_path / "runs" / "c" / "run.json", "job_id"
    )
    cancelled = run_ftx("cancel", "c", cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert (
        "gemini: job projects/ftx-test/locations/us-central1/tuningJobs/1002: JOB_STATE_CANCELLED"
        in cancelled.stdout
    )
    assert google.state.counts["cancels"] == 1


def test_rate_limits_and_server_errors_are_survived_honouring_retry_after(tmp_path, google, data):
    google.behaviour.generate_429, google.behaviour.generate_500, google.behaviour.retry_after = (
        3,
        2,
        "0.2",
    )
    started = __import__("time").time()
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "gemini-base.concurrency=1",
        *gemini_args(google),
    )
    assert result.exit_code == 0, result.text
    assert (
        google.state.counts["errors"] == 5 and google.state.counts["generate"] == 13
    )  # 8 answers + 5 retried
    assert __import__("time").time() - started >= 0.6  # three waits of Retry-After 0.2 s


def test_rate_limit_beyond_retries_fails_only_that_backend(tmp_path, google, data):
    google.behaviour.generate_429 = 100
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "gemini-base.max_retries=1",
        *gemini_args(google),
    )
    assert result.exit_code != 0
    assert (
        "Google kept rate-limiting asking gemini-2.5-flash after all retries"
        in meta(tmp_path)["backends"]["gemini-base"]["error"]
    )


def test_tuning_job_that_fails_on_bad_data(tmp_path, google, data):
    google.state.objects["gs://ftx-bucket/bad.jsonl"] = (
        b'{"contents": [{"role": "user", "parts": [{"text": "q"}]}]}\n'
    )
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "gemini.training_uri=gs://ftx-bucket/bad.jsonl",
        *gemini_args(google),
    )
    assert result.exit_code != 0
    state = meta(tmp_path)["backends"]["gemini"]
    assert (
        state["status"] == "failed" and google.state.counts["uploads"] == 0
    )  # the given URI was used, nothing uploaded
    assert (
        "tuning job projects/ftx-test/locations/us-central1/tuningJobs/1001 failed: Invalid "
        "training data" in state["error"]
    )


def test_slow_job_is_followed_to_the_end(tmp_path, google, data):
    google.behaviour.polls_per_state = 6
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini",
        "--eval-size",
        "8",
        "--name",
        "r",
        *gemini_args(google),
    )
    assert result.exit_code == 0, result.text
    assert google.state.polls["1001"] == 13
    log = (tmp_path / "runs" / "r" / "gemini" / "log.txt").read_text()
    assert (
        "JOB_STATE_PENDING" in log and "JOB_STATE_RUNNING" in log and "JOB_STATE_SUCCEEDED" in log
    )


@pytest.mark.parametrize(
    "status, message",
    [
        (401, "Google rejected the credentials while checking the model gemini-2.5-flash (401)"),
        (
            403,
            "Google refused checking the model gemini-2.5-flash (403): Permission "
            "'aiplatform.tuningJobs.create' denied",
        ),
    ],
)
def test_refused_credentials_stop_the_run_before_anything_is_uploaded(
    tmp_path, google, data, status, message
):
    google.behaviour.auth = status
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini",
        "--eval-size",
        "8",
        "--name",
        "r",
        *gemini_args(google),
    )
    assert result.exit_code != 0 and message in result.text
    assert google.state.counts["uploads"] == 0 and google.state.counts["jobs"] == 0
    assert not (tmp_path / "runs" / "r").exists()


def test_preflight_names_what_is_missing(tmp_path, google, data, monkeypatch):
    def preflight(*extra):
        return run(
            "--data",
            str(data),
            "--backend",
            "gemini",
            "--eval-size",
            "8",
            "--set",
            f"gemini.base_url={google.url}/",
            *extra,
        ).text

    assert (
        "no Cloud Storage bucket for the training data (--set gemini.bucket=gs://BUCKET[/prefix])"
        in preflight()
    )
    assert (
        "'gemini-1.0-pro' cannot be tuned on Vertex AI (tunable bases: gemini-2.5-pro"
        in preflight("--set", "gemini.bucket=gs://b", "--set", "gemini.model=gemini-1.0-pro")
    )
    assert "bucket must look like gs://BUCKET[/prefix], got 'my-bucket'" in preflight(
        "--set", "gemini.bucket=my-bucket"
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nowhere.json"))
    text = preflight("--set", "gemini.bucket=gs://b")
    assert (
        "no usable Google credentials" in text and "gcloud auth application-default login" in text
    )

    key = json.loads(google.key_file.read_text())
    del key["project_id"]
    (tmp_path / "no-project.json").write_text(json.dumps(key))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-project.json"))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    assert "no Google Cloud project for Vertex AI (--set gemini.project=PROJECT_ID" in preflight(
        "--set", "gemini.bucket=gs://b"
    )


def test_preflight_lists_every_problem_at_once(tmp_path, google, data, monkeypatch):
    """No bucket and no credentials: both are listed, and Google is not called."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nowhere.json"))
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini",
        "--eval-size",
        "8",
        "--set",
        f"gemini.base_url={google.url}/",
    )
    problems = [str(p) for p in result.exception.problems if p.severity == "error"]
    assert len(problems) == 2, problems
    assert (
        "no Cloud Storage bucket for the training data" in problems[0]
        and "no usable Google credentials" in problems[1]
    )
    assert sum(google.state.counts.values()) == 0


def test_gemini_base_through_the_developer_api_with_a_key(tmp_path, google, data, monkeypatch):
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    monkeypatch.setenv("GOOGLE_API_KEY", API_KEY)
    google.behaviour.auth = 401  # Vertex would refuse: the answers must come from the Developer API
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        f"gemini-base.base_url={google.url}/",
    )
    assert result.exit_code == 0, result.text
    rows = (tmp_path / "runs" / "r" / "gemini-base" / "predictions.jsonl").read_text().splitlines()
    assert len(rows) == 8 and google.state.counts["generate"] == 8
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def test_vertex_jsonl_keeps_the_system_prompt_and_turns():
    from ftx.backends.gemini.wire import to_jsonl
    from ftx.types import Example, Message

    example = Example(
        "e1",
        [
            Message("system", "Be brief."),
            Message("user", "Hi"),
            Message("assistant", "Hello"),
            Message("user", "Who wrote it?"),
            Message("assistant", "Jane Austen"),
        ],
    )
    assert json.loads(to_jsonl([example])) == {
        "systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello"}]},
            {"role": "user", "parts": [{"text": "Who wrote it?"}]},
            {"role": "model", "parts": [{"text": "Jane Austen"}]},
        ],
    }


def test_answers_stopped_at_max_tokens_are_counted(tmp_path, google, data):
    google.behaviour.cut_at_max_tokens = True  # finishReason MAX_TOKENS past maxOutputTokens words
    result = run(
        "--data",
        str(data),
        "--backend",
        "gemini-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "run.max_new_tokens=4",
        *gemini_args(google),
    )
    assert result.exit_code == 0, result.text
    rows = [
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "gemini-base" / "predictions.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [r["truncated"] for r in rows] == [True] * 8
    assert (
        json.loads((tmp_path / "runs" / "r" / "report.json").read_text())["backends"][0][
            "answers_cut_short"
        ]
        == 8
    )
