"""The Gemini backends with the real google-genai and google-cloud-storage clients against a fake
Google on 127.0.0.1 (OAuth token endpoint, Cloud Storage, Vertex AI tuning and generateContent)."""

import json

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import sample_rows, write_jsonl

from .fakes.gemini_server import API_KEY, PROJECT, TOKEN, FakeGoogle

pytest.importorskip("google.genai")
pytest.importorskip("google.cloud.storage")


@pytest.fixture
def google(tmp_path, monkeypatch):
    with FakeGoogle() as server:
        key_file = server.service_account_file(tmp_path / "secrets" if (tmp_path / "secrets").mkdir() is None else tmp_path)
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
    return ["--set", f"gemini.base_url={server.url}/", "--set", f"gemini-base.base_url={server.url}/",
            "--set", "gemini.bucket=gs://ftx-bucket/tuning", "--set", "gemini.poll_interval=0.01"]


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")
    return result


def meta(tmp_path, name="r"):
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())


def test_tuned_gemini_beats_base_and_no_credential_is_written(tmp_path, google, data):
    result = run("--data", str(data), "--backend", "gemini-base", "--backend", "gemini", "--eval-size", "8", "--name", "r",
                 *gemini_args(google))
    assert result.exit_code == 0, result.text
    counts = google.state.counts
    assert counts["uploads"] == 1 and counts["jobs"] == 1 and counts["generate"] == 16
    state = meta(tmp_path)["backends"]["gemini"]["state"]
    assert state["training_uri"] == "gs://ftx-bucket/tuning/ftx/r/train.jsonl"
    assert state["job_name"].endswith("/tuningJobs/1001") and state["endpoint"].endswith("/endpoints/1001")
    uploaded = google.state.objects[state["training_uri"]].decode().splitlines()
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
