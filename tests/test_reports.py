"""Reports: report.html is one self-contained page a real browser renders offline; `ftx report`
shows examples side by side and loss curves; `ftx compare` tests changes between runs."""

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import registered, sample_rows, write_jsonl

sys.path.insert(0, str(Path(__file__).parent.parent / "scripts"))
from screenshot_report import find_browser, headless, screenshot  # noqa: E402


def echo_run(tmp_path, name, prefix=""):
    """A finished run with the echo test backend and the untouched baseline of itself."""
    from tests.plugins import ftx_echo

    rows = sample_rows(20)
    rows[3]["question"] = "Is <script>alert('x')</script> & friends escaped?"
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["run", "--data", str(data), "--backend", "echo", "--eval-size", "10", "--seed", "3",
                                          "--name", name, "--set", f"echo.prefix={prefix}", "--evaluator", "rouge",
                                          "--evaluator", "length_ratio", "--evaluator", "answer_length"])
        assert result.exit_code == 0, result.output
    log = tmp_path / "runs" / name / "echo" / "train_log.jsonl"
    log.write_text("".join(json.dumps({"step": s, "loss": 3.0 / s}) + "\n" for s in range(1, 9))
                   + json.dumps({"step": 4, "eval_loss": 1.5}) + "\n" + json.dumps({"step": 8, "eval_loss": 1.1}) + "\n")
    return tmp_path / "runs" / name


def test_html_report_is_self_contained_and_escaped(tmp_path):
    run = echo_run(tmp_path, "r")
    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r", "--reporter", "html"])
    assert result.exit_code == 0, result.output
    page = (run / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    assert "<script" not in page.lower()  # no scripts at all, the answer's included
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; friends" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from anywhere
    assert page.count("<svg") == 6  # a chart for each of the 5 metrics, and the loss curves
    assert "polyline" in page and "stroke-dasharray" in page  # training and validation loss
    assert "closest to 1 is best" in page and "lower is better" in page


def test_html_report_renders_in_headless_chromium(tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    run = echo_run(tmp_path, "r")
    dom = headless(browser, "--dump-dom", (run / "report.html").resolve().as_uri())
    assert "Examples the backends disagree on most" in dom.stdout, dom.stderr[-2000:]
    assert "<svg" in dom.stdout
    png = screenshot(run / "report.html", tmp_path / "report.png", width=900, height=900)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000  # a page, not a blank


def test_report_examples_and_loss_curve_in_the_terminal(tmp_path):
    echo_run(tmp_path, "r", prefix="well: ")
    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r", "--examples", "2"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "echo  loss 3.000" in result.output and "0.375 · 8 steps · eval loss 1.500 → 1.100" in result.output
    assert "1. " in result.output and "2. " in result.output and "3. " not in result.output
    assert "reference" in result.output and "well: " in result.output


def test_divergent_examples_come_first():
    from ftx.results import BackendResult, MetricInfo, RunResult, divergent_examples

    metric = MetricInfo("rougeL", "rouge")
    result = RunResult("r", None, "done", [metric], [
        BackendResult("a", "done", per_example={"rougeL": [0.5, 0.0, 1.0, 0.2]}),
        BackendResult("b", "done", per_example={"rougeL": [0.5, 0.9, 0.0, 0.3]}),
    ], example_ids=["e0", "e1", "e2", "e3"])
    assert divergent_examples(result, 3) == [2, 1, 3]


def test_compare_two_runs(tmp_path):
    from tests.plugins import ftx_echo

    echo_run(tmp_path, "a")
    echo_run(tmp_path, "b", prefix="It is said that ")
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["compare", "a", "b"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "a (A) → b (B)" in result.output and "same eval examples" in result.output
    line = next(l for l in result.output.splitlines() if "answer_words" in l)
    assert "+4.000" in line and "▼" in line  # four more words on every example, and fewer is better: surely worse


def test_sideways_table_when_metrics_do_not_fit():
    from rich.console import Console

    from ftx.report.terminal import comparison_table
    from ftx.results import BackendResult, MetricInfo, RunResult

    metrics = [MetricInfo(f"metric_{i}", "x") for i in range(9)]
    result = RunResult("r", None, "done", metrics, [BackendResult("base", "done", per_example={m.name: [0.5] for m in metrics})])
    console = Console(width=80, record=True)
    console.print(comparison_table(result, 80))
    text = console.export_text()
    assert "metric_8" in text and max(len(line) for line in text.splitlines()) <= 80
