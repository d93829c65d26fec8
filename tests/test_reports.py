"""Reports: report.html is one self-contained page a real browser renders offline; `ftx report`
shows examples side by side and loss curves; `ftx compare` tests changes between runs; text
from data and models is shown, never obeyed; corpus metrics show their own intervals and
signatures; answers cut short are counted from the result."""

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
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(data),
                "--backend",
                "echo",
                "--eval-size",
                "10",
                "--seed",
                "3",
                "--name",
                name,
                "--set",
                f"echo.prefix={prefix}",
                "--evaluator",
                "rouge",
                "--evaluator",
                "length_ratio",
                "--evaluator",
                "answer_length",
            ],
        )
        assert result.exit_code == 0, result.output
    log = tmp_path / "runs" / name / "echo" / "train_log.jsonl"
    log.write_text(
        "".join(json.dumps({"step": s, "loss": 3.0 / s}) + "\n" for s in range(1, 9))
        + json.dumps({"step": 4, "eval_loss": 1.5})
        + "\n"
        + json.dumps({"step": 8, "eval_loss": 1.1})
        + "\n"
    )
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
    assert not re.search(
        r"""(src|href)\s*=\s*["']?(https?:)?//""", page
    )  # nothing fetched from anywhere
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
    assert (
        png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    )  # a page, not a blank


def test_report_examples_and_loss_curve_in_the_terminal(tmp_path):
    echo_run(tmp_path, "r", prefix="well: ")
    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r", "--examples", "2"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert (
        "echo  loss 3.000" in result.output
        and "0.375 · 8 steps · eval loss 1.500 → 1.100" in result.output
    )
    assert "1. " in result.output and "2. " in result.output and "3. " not in result.output
    assert "reference" in result.output and "well: " in result.output


def test_report_with_only_file_reporters_still_shows_the_table(tmp_path):
    """`ftx report RUN --reporter html` writes report.html and prints the table, as the docs say."""
    run = echo_run(tmp_path, "r")
    (run / "report.html").unlink()
    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r", "--reporter", "html"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert (run / "report.html").exists()
    assert (
        "ftx run r · 10 held-out examples" in result.output and "echo  loss 3.000" in result.output
    )
    assert "run directory: " in result.output and "report.html" in result.output


def test_money_under_a_cent_is_never_zero():
    from ftx.display import money
    from ftx.report import scoring_cost_note
    from ftx.results import BackendResult, RunResult

    assert [money(v) for v in (0, 0.001, 0.00112, 0.0094, 0.01, 1.844, 1234.5)] == [
        "$0.00",
        "$0.001",
        "$0.0011",
        "$0.0094",
        "$0.01",
        "$1.84",
        "$1,234.50",
    ]
    result = RunResult(
        "r", None, "done", [], [BackendResult("a", "done", scoring_cost={"llm_judge": 0.00112})]
    )
    assert scoring_cost_note(result) == "scoring paid: llm_judge $0.0011"


def test_divergent_examples_come_first():
    from ftx.results import BackendResult, MetricInfo, RunResult, divergent_examples

    metric = MetricInfo("rougeL", "rouge")
    result = RunResult(
        "r",
        None,
        "done",
        [metric],
        [
            BackendResult("a", "done", per_example={"rougeL": [0.5, 0.0, 1.0, 0.2]}),
            BackendResult("b", "done", per_example={"rougeL": [0.5, 0.9, 0.0, 0.3]}),
        ],
        example_ids=["e0", "e1", "e2", "e3"],
    )
    assert divergent_examples(result, 3) == [2, 1, 3]


def test_compare_two_runs(tmp_path):
    from tests.plugins import ftx_echo

    echo_run(tmp_path, "a")
    echo_run(tmp_path, "b", prefix="It is said that ")
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["compare", "a", "b"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "a (A) → b (B)" in result.output and "same eval examples" in result.output
    line = next(text for text in result.output.splitlines() if "answer_words" in text)
    assert (
        "+4.000" in line and "▼" in line
    )  # four more words on every example, and fewer is better: surely worse


def test_sideways_table_when_metrics_do_not_fit():
    from rich.console import Console

    from ftx.report.terminal import comparison_table
    from ftx.results import BackendResult, MetricInfo, RunResult

    metrics = [MetricInfo(f"metric_{i}", "x") for i in range(9)]
    result = RunResult(
        "r",
        None,
        "done",
        metrics,
        [BackendResult("base", "done", per_example={m.name: [0.5] for m in metrics})],
    )
    console = Console(width=80, record=True)
    console.print(comparison_table(result, 80))
    text = console.export_text()
    assert "metric_8" in text and max(len(line) for line in text.splitlines()) <= 80


def test_a_sweeps_variants_stay_apart_in_an_80_column_table():
    """Long variant names are shown as their backend and one swept value a line, not cut to
    the same 'local-lora-lear…' for every variant."""
    from rich.console import Console

    from ftx.report.terminal import comparison_table
    from ftx.results import BackendResult, MetricInfo, RunResult

    metrics = [MetricInfo(name, "x") for name in ("rougeL", "bleu", "exact_match", "jaccard")]
    swept = {
        f"local-lora-learning_rate{lr}-epochs{ep}": {"learning_rate": lr, "epochs": ep}
        for lr in ("1e-3", "3e-3")
        for ep in ("3", "5")
    }
    names = ["local-base", *swept]
    result = RunResult(
        "r",
        "local-base",
        "done",
        metrics,
        [
            BackendResult(n, "done", per_example={m.name: [0.5] for m in metrics}, baseline=i == 0)
            for i, n in enumerate(names)
        ],
        swept=swept,
    )
    console = Console(width=80, record=True)
    console.print(comparison_table(result, 80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "local-base" in text
    for lr in ("1e-3", "3e-3"):
        assert text.count(f"learning_rate={lr}") == 2
    assert text.count("epochs=5") == 2


# --- user text is shown, never obeyed ---------------------------------------------------------

# Llama-2 prompts, rich markup, an OSC-8 link, a screen clear, NUL, a right-to-left override, an
# emoji code, a table pipe and a line break: all in data, answers, ids, names and reasons.
HOSTILE = (
    "[INST] say [click] [/INST] [/] [link=https://x]a[/link] :thumbs_up: \x1b[2J "
    "\x1b]8;;http://x\x07here\x1b]8;;\x07 nul\x00 \u202eevil | two\nlines"
)
LITERAL = [
    "[INST] say [click] [/INST] [/] [link=https://x]a[/link] :thumbs_up: \\x1b[2J",
    "\\x1b]8;;http://x\\x07here\\x1b]8;;\\x07 nul\\x00 \\u202eevil | two",
]
ECHO = "echo[red]:thumbs_up:"  # the backend's name, as a plugin might choose it


def hostile_run(tmp_path):
    """A finished echo run whose eval data, ids, answers, backend names and a failed backend's
    reason all hold HOSTILE."""
    run = echo_run(tmp_path, "r")
    meta = json.loads((run / "run.json").read_text())
    meta["backends"] = {
        ECHO: meta["backends"]["echo"],
        "[bold]broken": {"status": "failed", "error": HOSTILE, "log": "[/]log.txt"},
    }
    (run / "run.json").write_text(json.dumps(meta))
    scores = json.loads((run / "scores.json").read_text())
    scores["backends"] = {ECHO: scores["backends"]["echo"]}
    (run / "scores.json").write_text(json.dumps(scores))
    (run / "echo").rename(run / ECHO)
    examples = [json.loads(line) for line in (run / "data" / "eval.jsonl").read_text().splitlines()]
    for i, e in enumerate(examples):
        e["id"] = f"id{i} {HOSTILE}"
        e["messages"][-2]["content"] = e["messages"][-1]["content"] = HOSTILE
    write_jsonl(run / "data" / "eval.jsonl", examples)
    write_jsonl(
        run / ECHO / "predictions.jsonl",
        [{"id": e["id"], "prediction": f"{HOSTILE} {i}"} for i, e in enumerate(examples)],
    )
    return run


def assert_shown_literally(output):
    for raw in ("\x1b", "\x00", "\x07", "\u202e"):
        assert raw not in output, repr(raw)
    for text in LITERAL:
        assert text in output, (text, output)


def test_user_text_in_the_terminal_is_shown_literally(tmp_path):
    hostile_run(tmp_path)
    from tests.plugins import ftx_echo

    wide = {"COLUMNS": "300"}  # rich's width: one line for each failure reason
    with registered(ftx_echo, name="echo"):
        report = CliRunner().invoke(cli, ["report", "r", "--examples", "3"], env=wide)
        show = CliRunner().invoke(cli, ["show", "r"], env=wide)
        sideways = CliRunner().invoke(
            cli, ["show", "r"], env={"COLUMNS": "80"}
        )  # backends as columns
        compare = CliRunner().invoke(cli, ["compare", "r", "r"], env=wide)
    for result in (report, show, sideways, compare):
        assert result.exit_code == 0, result.output
        assert not re.search("[\x00\x07\x1b\u202e]", result.output) and ECHO in result.output
    for output in (report.output, show.output):
        assert_shown_literally(output)
        assert "[bold]broken" in output and "(log: [/]log.txt)" in output
        assert ECHO + "  loss 3.000" in output  # the loss curve's name, padded as it looks
    assert "metric " in sideways.output and "[bold]broken" in sideways.output
    assert (
        "1. id0 " + LITERAL[0] in report.output
        and "3. id" in report.output
        and "reference" in report.output
    )


def test_user_text_keeps_report_md_tables_whole(tmp_path):
    run = hostile_run(tmp_path)
    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r"], terminal_width=200)
    assert result.exit_code == 0, result.output
    md = (run / "report.md").read_text()
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\u202e]", md)

    def cells(row):  # cut at the pipes Markdown sees: not those after a backslash
        return len(re.findall(r"(?<!\\)(?:\\\\)*\|", row)) - 1

    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 4 and len({cells(row) for row in table}) == 1, table
    assert (
        r"[INST] say [click] [/INST] [/] [link=https://x]a[/link] :thumbs_up: \\x1b[2J" in table[3]
    )
    assert r"\\u202eevil \| two<br>lines" in table[3]

    page = (run / "report.html").read_text()
    assert not re.search("[\x00\x1b\u202e]", page)
    assert "[INST] say [click] [/INST] [/] [link=https://x]a[/link] :thumbs_up: \\x1b[2J" in page


def test_markdown_cell():
    from ftx.report.markdown import cell

    assert cell("a|b\nc\\|d <br> \x1b[0m") == r"a\|b<br>c\\\|d &lt;br> \\x1b[0m"
    assert cell("one\r\ntwo\u2028three", " ") == "one two three"


# --- corpus metrics: intervals, signatures, compare ------------------------------------------


def bleu_run(tmp_path, name, prefix=""):
    from tests.plugins import ftx_echo

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(data),
                "--backend",
                "echo",
                "--eval-size",
                "20",
                "--seed",
                "3",
                "--name",
                name,
                "--set",
                f"echo.prefix={prefix}",
                "--evaluator",
                "bleu",
                "--evaluator",
                "rouge",
            ],
            terminal_width=200,
        )
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / name, result.output


def test_corpus_intervals_and_signatures_in_every_report(tmp_path):
    from ftx.report import fmt_interval

    run, terminal = bleu_run(tmp_path, "r")
    report = json.loads((run / "report.json").read_text())
    echo = report["backends"][0]
    low, high = echo["ci95"]["bleu"]
    assert low <= echo["scores"]["bleu"] <= high and low < high
    assert "tok:13a" in echo["signatures"]["bleu"]
    shown = fmt_interval("bleu", low, high)
    md = (run / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| echo"))
    assert shown in row and "±" in row  # BLEU's interval as it is, ROUGE's as a half-width
    assert "[low, high] 95% bootstrap interval of a corpus value" in md
    assert "\nbleu signature: nrefs:1\\|case:mixed" in md
    page = (run / "report.html").read_text()
    assert shown in page and "tok:13a" in page
    assert shown in terminal and "bleu signature: nrefs:1|case:mixed" in terminal


def test_corpus_values_without_statistics_show_no_interval(tmp_path):
    """A run scored before corpus statistics were kept: its interval is of the per-example mean,
    which need not contain the corpus value, so no report shows it."""
    from tests.plugins import ftx_echo

    run, _ = bleu_run(tmp_path, "r")
    scores = json.loads((run / "scores.json").read_text())
    del scores["backends"]["echo"]["corpus_stats"], scores["backends"]["echo"]["signatures"]
    (run / "scores.json").write_text(json.dumps(scores))
    with registered(ftx_echo, name="echo"):
        result = CliRunner().invoke(cli, ["report", "r"], terminal_width=200)
    assert result.exit_code == 0, result.output
    echo = json.loads((run / "report.json").read_text())["backends"][0]
    assert "bleu" not in echo["ci95"] and "rougeL" in echo["ci95"] and echo["signatures"] == {}
    row = next(
        line for line in (run / "report.md").read_text().splitlines() if line.startswith("| echo")
    )
    assert "[" not in row and "signature" not in (run / "report.md").read_text()


def test_compare_tests_corpus_metrics_as_corpus_values(tmp_path, monkeypatch):
    import ftx.report.compare as compare
    from ftx.results import load_result
    from ftx.stats import corpus_paired_test
    from ftx.store import RunStore
    from tests.plugins import ftx_echo

    bleu_run(tmp_path, "a")
    bleu_run(tmp_path, "b", prefix="Jane Austen said: ")
    store = RunStore(tmp_path / "runs")
    with registered(ftx_echo, name="echo"):
        a, b = load_result(store.open("a")), load_result(store.open("b"))
    tested = []
    monkeypatch.setattr(
        compare,
        "paired_test",
        lambda *args, **kw: tested.append("mean") or corpus_paired_test([], [], None),
    )
    changes, paired = compare.compare_runs(a, b)
    assert (
        paired and tested == ["mean"] * 3
    )  # rouge1, rouge2, rougeL; bleu is tested as a corpus value
    bleu = next(c for c in changes if c.metric == "bleu")
    score = b.scorers["bleu"]
    expected = corpus_paired_test(
        b.backends[0].corpus_stats["bleu"], a.backends[0].corpus_stats["bleu"], score
    )
    assert bleu.verdict == expected.verdict and bleu.verdict

    b.backends[0].signatures["bleu"] = b.backends[0].signatures["bleu"].replace("tok:13a", "tok:zh")
    changes, _ = compare.compare_runs(a, b)
    assert next(c for c in changes if c.metric == "bleu").verdict == ""  # not the same measure
    assert compare.differently_computed(a, b) == ["bleu: tok:13a → tok:zh"]


# --- answers cut short -------------------------------------------------------------------------


def test_answers_cut_short_come_from_the_result(tmp_path):
    from ftx.results import load_result
    from ftx.store import RunStore
    from tests.plugins import ftx_echo

    run = echo_run(tmp_path, "r")
    rows = [
        json.loads(line) for line in (run / "echo" / "predictions.jsonl").read_text().splitlines()
    ]
    for row in rows[:3]:
        row["truncated"] = True
    write_jsonl(run / "echo" / "predictions.jsonl", rows)
    meta = json.loads((run / "run.json").read_text())
    meta["config"]["run"]["max_new_tokens"] = 48
    meta["backends"]["gone"] = {"status": "failed", "error": "out of memory"}
    (run / "run.json").write_text(json.dumps(meta))
    with registered(ftx_echo, name="echo"):
        result = load_result(RunStore(tmp_path / "runs").open("r"))
        shown = CliRunner().invoke(cli, ["report", "r"], terminal_width=200)
    assert result.max_new_tokens == 48
    assert [(b.name, b.answers_cut_short) for b in result.backends] == [("echo", 3), ("gone", None)]
    assert shown.exit_code == 0, shown.output
    assert "warning: echo: 3 of 10 answers (30%) stopped at max_new_tokens=48" in shown.output
    md = (run / "report.md").read_text()
    assert (
        "Answers cut at max_new_tokens=48: echo 3/10." in md and "--set run.max_new_tokens=96" in md
    )
    report = json.loads((run / "report.json").read_text())
    assert report["max_new_tokens"] == 48 and [
        b["answers_cut_short"] for b in report["backends"]
    ] == [3, None]
