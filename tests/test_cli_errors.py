"""Bad input: one clear line with file:line and what to do, a non-zero exit, never a traceback."""

import json

import pytest

from .helpers import run_ftx


def _write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


GOOD = b'{"question": "Q", "answer": "A"}\n'

CASES = [
    ("bad JSON on line 7", "qa.jsonl", GOOD * 6 + b'{"question": "Q7", "answer": }\n' + GOOD,
     "error: qa.jsonl:7: invalid JSON: Expecting value at column 30"),
    ("missing field", "qa.jsonl", GOOD + b'{"question": "Q2"}\n', "error: qa.jsonl:2: field 'answer': is missing"),
    ("empty file", "qa.jsonl", b"", "error: qa.jsonl: the file is empty."),
    ("binary file", "qa.jsonl", bytes(range(256)) * 4, "error: qa.jsonl: this looks like a binary file, not text data."),
    ("unknown schema", "qa.jsonl", b'{"text": "x"}\n', "error: qa.jsonl:1: unknown schema: the records have fields text."),
]


@pytest.mark.parametrize("label, name, content, message", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_malformed_data(tmp_path, label, name, content, message, command):
    path = _write(tmp_path, name, content)
    args = ["run", "--data", str(path)] if command == "run" else ["data", "validate", str(path)]
    result = run_ftx(*args, cwd=tmp_path, env={"FTX_LOAD_PLUGINS": ""})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    text = result.stderr + result.stdout
    assert message.split("error: ")[1] in text, text
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_validate_lists_every_problem_and_exit_codes(tmp_path):
    path = _write(tmp_path, "qa.jsonl", GOOD + b'{"question": "", "answer": "A"}\n{"question": "Q", "answer": 1}\n' + GOOD)
    result = run_ftx("data", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "error: qa.jsonl:2: field 'question': is empty (write the question text or remove the record)",
        "error: qa.jsonl:3: field 'answer': must be a string, not int",
        "warning: qa.jsonl:4: duplicate of the example at qa.jsonl:1 (remove one copy)",
    ]
    ok = _write(tmp_path, "ok.jsonl", GOOD)
    assert run_ftx("data", "validate", str(ok), cwd=tmp_path).returncode == 0


def test_stats_json(tmp_path):
    path = _write(tmp_path, "qa.jsonl", GOOD + b'{"question": "Who wrote it?", "answer": "Jane Austen"}\n')
    result = run_ftx("data", "stats", str(path), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)
    assert stats["examples"] == 2 and stats["schema"] == "question_answer"
    assert stats["token_counts"].startswith("approximate")


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--backend", "local-lorra"], "error: unknown backend 'local-lorra'. Did you mean 'local-lora'?"),
        (["run", "--evaluator", "rouge-l"], "error: unknown evaluator 'rouge-l'. Did you mean 'rouge'?"),
        (["run", "--set", "local-lora.epochs=many"], "error: bad value for 'local-lora.epochs' (from --set): expected a number, got 'many'"),
        (["run", "--eval-size", "0"], "error: run: eval_size must be a fraction in (0, 1) or a count >= 1, got 0.0"),
        (["run", "--data", "nope.jsonl"], "error: nope.jsonl: no such file or directory. Check the path."),
        (["run", "--config", "missing.toml"], "error: config file missing.toml does not exist."),
        (["show", "nothing"], "error: no run 'nothing' in runs."),
        (["run", "--model", "org/model-7b", "--backend", "local-base"], "error: preflight failed: local-base: model 'org/model-7b' does not exist. ftx never downloads models"),
    ],
)
def test_bad_arguments(tmp_path, args, message):
    result = run_ftx(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


def test_debug_shows_traceback(tmp_path):
    result = run_ftx("--debug", "run", "--data", "nope.jsonl", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr
