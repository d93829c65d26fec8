"""No key is ever written: not even when a model's answer quotes it (an endpoint or proxy that
echoes the request's Authorization header)."""

import json

from click.testing import CliRunner

from ftx.cli import cli

from .fakes.openai_server import KEY, FakeOpenAI


def test_a_key_in_a_models_answer_is_never_written(tmp_path, monkeypatch, qa_file):
    with FakeOpenAI() as server:
        server.behaviour.echo_authorization = True
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(qa_file),
                "--backend",
                "openai-base",
                "--eval-size",
                "4",
                "--name",
                "r",
                "--evaluator",
                "exact_match",
                "--evaluator",
                "llm_judge",
            ],
        )
        answered = server.state.counts["chat"]
    assert answered >= 8  # four answers, four verdicts: every one of them quoted the key
    assert KEY not in result.output
    run_dir = tmp_path / "runs" / "r"
    rows = [
        json.loads(line)
        for line in (run_dir / "openai-base" / "predictions.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 4 and all(
        r["prediction"].startswith("You sent me Bearer ***; ") for r in rows
    )
    written = [p for p in (tmp_path / "runs").rglob("*") if p.is_file()] + [
        p for p in (tmp_path / "cache").rglob("*") if p.is_file()
    ]
    assert {p.name for p in written} >= {
        "predictions.jsonl",
        "report.html",
        "report.md",
        "report.json",
        "scores.json",
        "run.json",
    }
    for path in written:
        assert KEY.encode() not in path.read_bytes(), path
