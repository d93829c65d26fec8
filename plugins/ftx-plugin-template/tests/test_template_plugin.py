"""The template plugin's own tests, written with ftx.testing's helpers."""

import csv
import os
import subprocess
import sys

import pytest

ftx_plugin_template = pytest.importorskip("ftx_plugin_template")

from ftx.testing import check_backend, check_evaluator, registered, sample_rows, write_jsonl  # noqa: E402


def test_conformance():
    check_backend(ftx_plugin_template.NearestAnswerBackend)
    check_evaluator(ftx_plugin_template.ContainsEvaluator)


def test_contains():
    scores = ftx_plugin_template.ContainsEvaluator().score(
        ["It was Jane Austen, of course.", "Austen", ""],
        ["Jane Austen", "Jane Austen", "x"],
        ["", "", ""],
    )
    assert scores.per_example["contains"] == [1.0, 0.0, 0.0]


def test_a_run_with_every_kind(ftx_run, ftx_env):
    rows = [
        {"id": r["id"], "input": r["question"], "target": r["answer"]} for r in sample_rows(300)
    ]
    data = write_jsonl(ftx_env / "t5.jsonl", rows)
    with registered(ftx_plugin_template):
        result, meta = ftx_run(
            "--data",
            str(data),
            "--backend",
            "nearest-answer",
            "--evaluator",
            "contains",
            "--evaluator",
            "exact_match",
            "--set",
            "run.reporters=terminal,csv,json",
            "--eval-size",
            "10",
        )
    assert result.exit_code == 0, result.output
    assert meta["backends"]["nearest-answer"]["status"] == "done"
    with open(ftx_env / "runs" / "test-run" / "predictions.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "prompt", "reference", "nearest-answer"] and len(table) == 11
    # Each fact is asked in several phrasings, so retrieval gets some held-out answers right.
    assert any(row[2] == row[3] for row in table[1:]), table


def test_qa_prompt_template_with_a_local_model(ftx_run, ftx_env, tiny_model):
    pytest.importorskip("torch")
    data = write_jsonl(ftx_env / "qa.jsonl", sample_rows(12))
    with registered(ftx_plugin_template):
        result, meta = ftx_run(
            "--data",
            str(data),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--eval-size",
            "2",
            "--set",
            "local-lora.template=qa_prompt",
            "--set",
            "local-lora.max_steps=2",
            "--set",
            "run.max_new_tokens=4",
        )
    assert result.exit_code == 0, result.output
    assert meta["backends"]["local-lora"]["status"] == "done"


def test_installed_entry_point_is_used_by_ftx(tmp_path):
    """With the package installed (pip install ./plugins/ftx-plugin-template), ftx finds it."""
    env = {**os.environ, "FTX_LOAD_PLUGINS": "template"}
    listed = subprocess.run(
        [sys.executable, "-m", "ftx.cli", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert "template  [entry point (ftx-plugin-template) 0.1.0]" in listed.stdout, (
        listed.stdout + listed.stderr
    )
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(30))
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftx.cli",
            "run",
            "--data",
            str(data),
            "--backend",
            "nearest-answer",
            "--evaluator",
            "contains",
            "--eval-size",
            "6",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "nearest-answer" in ran.stdout
