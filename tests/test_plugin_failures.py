"""A plugin that breaks costs a run only its own part: a backend in check, train, attach,
generate or close, an evaluator, a reporter, a run-event observer. The run ends with a final
status, the others' results are there, and run.json says what failed and why."""

import io
import json

import pytest

from ftx.testing import registered

from .helpers import ftx_main, install_entry_point_plugin, run_ftx
from .plugins import ftx_breaks, ftx_echo


@pytest.fixture
def breaks(monkeypatch):
    """The test's set of phases in which the ``breaks`` plugin fails."""
    monkeypatch.setattr(ftx_breaks, "FAIL", set())
    with registered(ftx_breaks, name="ftx-breaks"), registered(ftx_echo, name="ftx-echo"):
        yield ftx_breaks.FAIL


def ftx(capsys, *argv):
    return ftx_main(capsys, *argv)


def flat(text):
    """Text with its line breaks undone (rich wraps long warnings at a log's 80 columns)."""
    return " ".join(text.split())


def run(capsys, qa_file, *args):
    return ftx(
        capsys,
        "run",
        "--data",
        str(qa_file),
        "--eval-size",
        "4",
        "--name",
        "r",
        "--evaluator",
        "exact_match",
        *args,
    )


def meta(tmp_path):
    return json.loads((tmp_path / "runs" / "r" / "run.json").read_text())


def report(tmp_path):
    return {
        b["name"]: b
        for b in json.loads((tmp_path / "runs" / "r" / "report.json").read_text())["backends"]
    }


@pytest.mark.parametrize(
    "phase, reason",
    [
        ("train", "ValueError: train bug"),
        ("generate", "KeyError: 'answer'"),
        ("exit", "SystemExit: giving up"),
    ],
)
def test_a_backend_that_raises_fails_alone(tmp_path, capsys, qa_file, breaks, phase, reason):
    breaks.add(phase)
    code, out, err = run(capsys, qa_file, "--backend", "echo", "--backend", "breaks")
    assert code == 3, err
    assert "Traceback" not in err
    assert f"breaks failed: {reason} (log: " in flat(err)
    m = meta(tmp_path)
    assert m["status"] == "partial"
    assert (
        m["backends"]["breaks"]["status"] == "failed" and m["backends"]["breaks"]["error"] == reason
    )
    assert m["backends"]["echo"]["status"] == "done"
    assert (
        report(tmp_path)["echo"]["scores"]["exact_match"] == 0.0
    )  # the other backend's results are there
    assert (
        "Traceback" in (tmp_path / "runs" / "r" / "breaks" / "log.txt").read_text()
    )  # the details, for the author


def test_a_backend_that_fails_to_close_keeps_its_results(tmp_path, capsys, qa_file, breaks):
    breaks.add("close")
    code, _, err = run(capsys, qa_file, "--backend", "breaks")
    assert code == 0, err
    assert meta(tmp_path)["backends"]["breaks"]["status"] == "done"
    assert (
        "close() failed: RuntimeError: close bug"
        in (tmp_path / "runs" / "r" / "breaks" / "log.txt").read_text()
    )


def test_a_backend_that_fails_to_attach_on_resume_fails_alone(tmp_path, capsys, qa_file, breaks):
    breaks.add("generate")  # trained, then failed: resume attaches it
    assert run(capsys, qa_file, "--backend", "echo", "--backend", "breaks")[0] == 3
    breaks.clear()
    breaks.add("attach")
    code, _, err = ftx(capsys, "resume", "r")
    assert code == 3 and "Traceback" not in err
    m = meta(tmp_path)
    assert (
        m["status"] == "partial"
        and m["backends"]["breaks"]["error"] == "AttributeError: attach bug"
    )
    breaks.clear()
    code, _, err = ftx(capsys, "resume", "r")
    assert code == 0, err
    assert meta(tmp_path)["status"] == "done" and report(tmp_path)["breaks"]["status"] == "done"


def test_a_check_that_raises_is_a_preflight_error_naming_the_backend(
    tmp_path, capsys, qa_file, breaks
):
    breaks.add("check")
    code, _, err = run(capsys, qa_file, "--backend", "echo", "--backend", "breaks")
    assert code == 1 and "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: preflight failed: breaks: its check() failed: ZeroDivisionError: division by zero "
        "in check "
        "(a bug in the backend's plugin; leave the backend out, or set FTX_LOAD_PLUGINS to skip "
        "the plugin). "
        "Nothing was trained."
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "phase, code, expected",
    [
        (
            "estimate",
            1,
            "error: preflight failed: breaks: its estimate_cost() failed: ValueError: no price "
            "list. "
            "Nothing was trained or paid for.",
        ),
        (
            "init",
            2,
            "error: backend 'breaks' (plugin 'ftx-breaks') could not be set up: RuntimeError: "
            "init bug",
        ),
        (
            "validate",
            2,
            "error: breaks: checking its options failed: TypeError: validate bug. It is a bug in "
            "the plugin: "
            "leave it out, or set FTX_LOAD_PLUGINS to skip it.",
        ),
    ],
)
def test_a_plugin_that_breaks_before_the_run_is_one_error(
    tmp_path, capsys, qa_file, breaks, phase, code, expected
):
    breaks.add(phase)
    got, _, err = run(capsys, qa_file, "--backend", "echo", "--backend", "breaks")
    assert got == code and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [expected]
    assert not (tmp_path / "runs").exists()


def test_evaluators_that_raise_or_miscount_lose_only_their_metrics(
    tmp_path, capsys, qa_file, breaks
):
    code, _, err = run(
        capsys, qa_file, "--backend", "echo", "--evaluator", "raises", "--evaluator", "miscounts"
    )
    assert code == 3 and "Traceback" not in err
    assert "warning: evaluator 'raises' failed on echo: RuntimeError: evaluator bug" in flat(err)
    assert (
        "warning: evaluator 'miscounts' failed on echo: score() gave metric 'short' 1 values for "
        "4 answers" in flat(err)
    )
    m = meta(tmp_path)
    assert m["status"] == "partial" and m["backends"]["echo"]["status"] == "done"
    assert m["failures"] == [
        {
            "kind": "evaluator",
            "name": "raises",
            "plugin": "ftx-breaks",
            "backend": "echo",
            "error": "RuntimeError: evaluator bug",
        },
        {
            "kind": "evaluator",
            "name": "miscounts",
            "plugin": "ftx-breaks",
            "backend": "echo",
            "error": "score() gave metric 'short' 1 values for 4 answers",
        },
    ]
    assert report(tmp_path)["echo"]["scores"]["exact_match"] == 0.0


def test_a_reporter_that_raises_loses_only_its_file(tmp_path, capsys, qa_file, breaks):
    code, out, err = run(
        capsys,
        qa_file,
        "--backend",
        "echo",
        "--set",
        "run.reporters=json,raising,markdown,terminal",
    )
    assert code == 3 and "Traceback" not in err
    assert (
        "warning: reporter 'raising' failed: OSError: reporter bug (write it again with: ftx "
        "report r --reporter raising)" in flat(err)
    )
    m = meta(tmp_path)
    assert m["status"] == "partial"
    assert m["failures"] == [
        {
            "kind": "reporter",
            "name": "raising",
            "plugin": "ftx-breaks",
            "error": "OSError: reporter bug",
        }
    ]
    assert (tmp_path / "runs" / "r" / "report.json").exists() and (
        tmp_path / "runs" / "r" / "report.md"
    ).exists()
    assert (
        "held-out" in out and "run directory: runs/r (report.json, report.md)" in out
    )  # the terminal table


def test_an_observer_that_raises_is_reported_once_and_the_run_is_done(
    tmp_path, capsys, qa_file, breaks
):
    breaks.add("events")
    code, _, err = run(capsys, qa_file, "--backend", "echo")
    assert code == 0, err
    assert flat(err).count("ftx_run_event") == 1
    assert (
        "warning: plugin 'ftx-breaks' failed in ftx_run_event (run_started): LookupError: "
        "observer bug at run_started; "
        "the run goes on (later failures of it are counted in run.json)"
    ) in flat(err)
    m = meta(tmp_path)
    assert m["status"] == "done"
    (failure,) = m["failures"]
    assert (
        failure["kind"] == "event hook"
        and failure["plugin"] == "ftx-breaks"
        and failure["count"] > 5
    )


def test_progress_as_plugins_use_it_and_as_documented(tmp_path, capsys, qa_file, breaks):
    code, _, err = run(capsys, qa_file, "--backend", "shows-progress")
    assert code == 0, err
    assert meta(tmp_path)["status"] == "done"
    lines = err.splitlines()
    # stderr is not a terminal here: whole lines, not bars
    assert "x 0/2 · 0:00:00" in lines and "x 2/2 (100%) · 0:00:00" in lines
    assert "[/oops] · 0:00:00" in lines
    assert "shows-progress: training 4/4 (100%) · 0:00:00 · loss 0.25" in lines
    assert (
        "shows-progress: job · 0:00:00 · queued" in lines
        and "shows-progress: job 1/1 (100%) · 0:00:00 · succeeded" in lines
    )


def test_progress_at_a_terminal_survives_tasks_without_info_and_bad_markup():
    from rich.console import Console

    from ftx.progress import RunProgress

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with RunProgress(console) as progress:
        assert not progress.plain_lines
        progress.add_task("x", total=2)
        progress.add_task("[/oops]", total=None)
        progress.refresh()
    shown = console.file.getvalue()
    assert "x" in shown and "[/oops]" in shown


def test_plain_lines_come_at_tenths_and_at_most_every_interval():
    from rich.console import Console

    from ftx.progress import RunProgress

    console = Console(file=io.StringIO(), width=40)
    with RunProgress(console, interval=3600) as progress:
        task = progress.add_task(
            "a long description that is wider than the console", total=100, info="x"
        )
        for _ in range(100):
            progress.advance(task)
        job = progress.add_task("job", total=None)
        progress.update(job, info="queued")  # news, but within the interval: no line
    lines = console.file.getvalue().splitlines()
    assert (
        lines[0] == "a long description that is wider than the console 0/100 · 0:00:00 · x"
    )  # never wrapped
    assert len(lines) == 1 + 10 + 1 + 1  # start, each tenth, the job's start, and where it got to
    assert lines[-2] == "job · 0:00:00" and lines[-1] == "job · 0:00:00 · queued"


def test_an_installed_plugin_that_breaks_in_a_real_process(tmp_path, qa_file):
    site = install_entry_point_plugin(tmp_path / "site", "ftx_breaks", "ftx-breaks")
    env = {
        "PYTHONPATH": str(site),
        "FTX_LOAD_PLUGINS": "ftx-breaks",
        "FTX_BREAKS_FAIL": "generate,events",
    }
    result = run_ftx(
        "run",
        "--data",
        str(qa_file),
        "--backend",
        "shows-progress",
        "--backend",
        "breaks",
        "--eval-size",
        "4",
        "--evaluator",
        "exact_match",
        "--evaluator",
        "raises",
        "--name",
        "r",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    m = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert m["status"] == "partial"
    assert (
        m["backends"]["breaks"]["error"] == "KeyError: 'answer'"
        and m["backends"]["shows-progress"]["status"] == "done"
    )
    assert {f["kind"] for f in m["failures"]} == {"evaluator", "event hook"}
    assert "x 2/2 (100%)" in result.stderr
