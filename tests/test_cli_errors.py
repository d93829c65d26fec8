"""Bad input: one clear line with file:line and what to do, a non-zero exit, never a traceback."""

import json

from .helpers import run_ftx


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


GOOD = b'{"question": "Q", "answer": "A"}\n'


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    """The bad-input corpus (test_bad_inputs.py) runs in-process; this is the same through a
    real console-script process."""
    path = _write(tmp_path, "qa.jsonl", GOOD * 6 + b'{"question": "Q7", "answer": }\n' + GOOD)
    for args in (["run", "--data", str(path)], ["data", "validate", str(path)]):
        result = run_ftx(*args, cwd=tmp_path, env={"FTX_LOAD_PLUGINS": ""})
        assert result.returncode != 0
        assert "Traceback" not in result.stderr + result.stdout
        assert (
            "qa.jsonl:7: invalid JSON: Expecting value at column 30"
            in result.stderr + result.stdout
        )
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_validate_lists_every_problem_and_exit_codes(tmp_path):
    path = _write(
        tmp_path,
        "qa.jsonl",
        GOOD + b'{"question": "", "answer": "A"}\n{"question": "Q", "answer": 1}\n' + GOOD,
    )
    result = run_ftx("data", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: qa.jsonl:2: field 'question': is empty (write the question text or remove the "
        "record)",
        "error: qa.jsonl:3: field 'answer': must be a string, not int",
        "warning: qa.jsonl:4: duplicate of the example at qa.jsonl:1 (remove one copy)",
    ]
    ok = _write(tmp_path, "ok.jsonl", GOOD)
    assert run_ftx("data", "validate", str(ok), cwd=tmp_path).returncode == 0


def test_stats_json(tmp_path):
    path = _write(
        tmp_path, "qa.jsonl", GOOD + b'{"question": "Who wrote it?", "answer": "Jane Austen"}\n'
    )
    result = run_ftx("data", "stats", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["examples"] == 2 and stats["schema"] == "question_answer"
    assert stats["token_counts"].startswith("approximate")


def test_debug_shows_traceback(tmp_path):
    result = run_ftx("--debug", "run", "--data", "nope.jsonl", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr
