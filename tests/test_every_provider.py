"""One run, every kind of backend: a local LoRA beside Together, Fireworks, OpenAI and Gemini,
each hosted one through its real SDK against its fake API, compared in one table."""

import json

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import sample_rows, write_jsonl

from .fakes import fireworks_server, gemini_server, openai_server, together_server

for sdk in ("openai", "google.genai", "together", "fireworks"):
    pytest.importorskip(sdk)

BACKENDS = ["local-lora", "together", "fireworks", "openai", "gemini"]


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    with (
        openai_server.FakeOpenAI() as openai,
        gemini_server.FakeGoogle() as google,
        together_server.FakeTogether() as together,
        fireworks_server.FakeFireworks() as fireworks,
    ):
        env = {
            "OPENAI_API_KEY": openai_server.KEY,
            "OPENAI_BASE_URL": openai.base_url,
            "GOOGLE_APPLICATION_CREDENTIALS": str(google.service_account_file(tmp_path)),
            "STORAGE_EMULATOR_HOST": google.url,
            "GOOGLE_CLOUD_PROJECT": gemini_server.PROJECT,
            "TOGETHER_API_KEY": together_server.KEY,
            "TOGETHER_BASE_URL": together.base_url,
            "FIREWORKS_API_KEY": fireworks_server.KEY,
            "FIREWORKS_ACCOUNT_ID": fireworks_server.ACCOUNT,
            "FIREWORKS_BASE_URL": fireworks.base_url,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        monkeypatch.delenv("TOGETHER_PROJECT_ID", raising=False)
        yield google, together, fireworks
        assert (
            fireworks.state.counts["deployments_created"]
            == (fireworks.state.counts["deployments_deleted"])
        )


@pytest.mark.slow
def test_local_and_four_providers_in_one_table(tmp_path, fakes, tiny_model, monkeypatch):
    google, _, _ = fakes
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))
    args = ["run", "--data", str(data), "--model", str(tiny_model), "--eval-size", "6"]
    args += [arg for name in BACKENDS for arg in ("--backend", name)] + ["--name", "r"]
    sets = {
        "local-lora.max_steps": "2",
        "run.max_new_tokens": "4",
        "gemini.base_url": f"{google.url}/",
        "gemini.bucket": "gs://ftx-bucket/tuning",
        "fireworks.dedicated_endpoint": "true",
        **{f"{name}.poll_interval": "0.01" for name in BACKENDS[1:]},
    }
    args += [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + str(result.exception or "")
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert [b["name"] for b in report["backends"]] == BACKENDS
    assert all(b["status"] == "done" for b in report["backends"])
    table = result.output[result.output.index("ftx run r") :]
    assert all(name in table for name in BACKENDS)  # one table: a row or column each
