"""The hosted provider of docs/plugins.md, as a reader copies it, run against a fake API: the
lifecycle gives a ~130-line provider preflight, retries, resume and cancel."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import registered, sample_rows, write_jsonl

from .fakes.openai_server import KEY, FakeOpenAI

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"
MODEL = "gpt-4.1-mini-2025-04-14"  # a model the fake knows


def provider(tmp_path):
    """docs/plugins.md's ftx_acme.py, imported."""
    block = re.search(r"```python\n(# ftx_acme\.py\n.*?)```", DOCS.read_text(), re.DOTALL)
    path = tmp_path / "ftx_acme.py"
    path.write_text(block.group(1))
    spec = importlib.util.spec_from_file_location("ftx_acme", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def acme(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with FakeOpenAI() as fake, registered(provider(tmp_path)):
        monkeypatch.setenv("ACME_API_KEY", KEY)
        monkeypatch.setenv("ACME_BASE_URL", fake.base_url)
        yield fake


def run(*args):
    return CliRunner().invoke(cli, [*args])


ARGS = ["--backend", "acme-base", "--backend", "acme", "--eval-size", "8"]
ARGS += ["--set", f"acme.model={MODEL}", "--set", f"acme-base.model={MODEL}"]
ARGS += ["--set", "acme.poll_interval=0.01"]


def test_the_docs_provider_tunes_answers_and_survives_rate_limits(tmp_path, acme):
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))
    acme.behaviour.chat_429, acme.behaviour.retry_after = 2, "0.1"
    acme.behaviour.polls_per_state = 3
    result = run("run", "--data", str(data), *ARGS, "--name", "r")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    state = meta["backends"]["acme"]["state"]
    assert state["job_id"] == "ftjob-1" and state["fine_tuned_model"].startswith("ft:")
    assert acme.state.counts["uploads"] == 1 and acme.state.counts["jobs"] == 1
    assert acme.state.counts["chat_errors"] == 2  # retried after Retry-After
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    rouge = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert rouge["acme"] > rouge["acme-base"]
    assert "estimated training cost $" in result.output
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

    resumed = run("resume", "r")  # finished: nothing uploaded or created again
    assert resumed.exit_code == 0 and acme.state.counts["jobs"] == 1
    cancelled = run("cancel", "r")
    assert "acme: job ftjob-1 had already finished" in cancelled.output


def test_the_docs_provider_refuses_bad_input_in_preflight(tmp_path, acme, monkeypatch):
    small = write_jsonl(tmp_path / "small.jsonl", sample_rows(14))
    result = run("run", "--data", str(small), *ARGS)
    assert result.exit_code != 0
    problems = "\n".join(str(p) for p in result.exception.problems)
    assert "Acme needs at least 10 training examples" in problems
    monkeypatch.setenv("ACME_API_KEY", "sk-wrong-0123456789")
    result = run("run", "--data", str(write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))), *ARGS)
    assert "Acme rejected the API key while checking the model" in str(result.exception)
    assert acme.state.counts["uploads"] == 0
