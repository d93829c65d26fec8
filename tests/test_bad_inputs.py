"""The bad-input corpus (tests/bad_inputs/): every item gives one clear error line that says
what is wrong, where and what to do, a non-zero exit and no traceback; nothing is lost."""

import errno
import json
import os
from pathlib import Path

import pytest

from ftx.cli import main

BAD = Path(__file__).parent / "bad_inputs"


def ftx(capsys, *argv):
    """Run the CLI in this process as the console script would; return (exit code, stderr).
    An exception that escapes main() (a traceback) fails the test."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.err


def assert_one_clear_error(code, err, expected):
    assert code not in (0, None), err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert expected in errors[0], errors[0]


DATA = [
    ("malformed.jsonl", "malformed.jsonl:3: invalid JSON: Expecting value at column 30 (each line must be one JSON object)"),
    ("latin1.jsonl", "latin1.jsonl:2: not valid UTF-8 (byte 0xf9 at column 16) (save the file as UTF-8)"),
    ("utf16.jsonl", "utf16.jsonl: the file is UTF-16 encoded; ftx reads UTF-8. Save it as UTF-8"),
    ("missing_roles.jsonl", "missing_roles.jsonl:1: field 'messages[1].role': is missing (use one of: assistant, developer, model, system, user)"),
    ("role_order.jsonl", "role_order.jsonl:1: field 'messages[0].role': expected 'user' here, got 'assistant'"),
    ("empty_strings.jsonl", "empty_strings.jsonl:2: field 'question': is empty (write the question text or remove the record)"),
    ("wrong_types.jsonl", "wrong_types.jsonl:2: field 'answer': must be a string, not int"),
    ("duplicate_ids.jsonl", "duplicate_ids.jsonl:2: field 'id': duplicate id 'a' (first used at duplicate_ids.jsonl:1)"),
    ("empty.jsonl", "empty.jsonl: the file is empty. It needs at least one example"),
    ("binary.jsonl", "binary.jsonl: this looks like a binary file, not text data."),
    ("unknown_schema.jsonl", "unknown_schema.jsonl:1: unknown schema: the records have fields body, title. Use one of these field sets"),
    ("missing_column.csv", "missing_column.csv:2: unknown schema: the records have fields question, reply."),
    ("two_arrays.json", "two_arrays.json: the object holds several arrays (train, test); ftx cannot tell which one holds the examples."),
]


@pytest.mark.parametrize("name, expected", DATA, ids=[d[0] for d in DATA])
@pytest.mark.parametrize("command", ["run", "data validate"])
def test_bad_data_files(tmp_path, capsys, name, expected, command):
    code, err = ftx(capsys, *command.split(), *(["--data"] if command == "run" else []), str(BAD / name))
    if command == "run":
        assert_one_clear_error(code, err, expected)
        assert not (tmp_path / "runs").exists()  # nothing was started
    else:  # validate lists problems on stdout-style lines; it fails and says where
        assert code != 0 and "Traceback" not in err


def test_huge_line(tmp_path, capsys):
    rows = [json.dumps({"question": f"Q{i}", "answer": f"A{i}"}) for i in range(20)]
    rows.insert(7, json.dumps({"question": "Q", "answer": "word " * 1_000_000}))  # a lost newline, say
    path = tmp_path / "huge.jsonl"
    path.write_text("\n".join(rows) + "\n")
    code, err = ftx(capsys, "run", "--data", str(path))
    assert_one_clear_error(code, err, "huge.jsonl:8: the line is 4.8 MiB, over the 4 MiB limit for one example")


ARGUMENTS = [
    (["run", "--backend", "local-lorra"], "unknown backend 'local-lorra'. Did you mean 'local-lora'?"),
    (["run", "--evaluator", "rouge-l"], "unknown evaluator 'rouge-l'. Did you mean 'rouge'?"),
    (["run", "--set", "local-lora.epochs=many"], "bad value for 'local-lora.epochs' (from --set): expected a number, got 'many'"),
    (["run", "--set", "local-lora.lora_rr=8"], "unknown option 'local-lora.lora_rr' (from --set). Did you mean 'lora_r'?"),
    (["run", "--set", "nosuch.x=1"], "unknown section 'nosuch' (from --set)."),
    (["run", "--set", "seed"], "--set expects section.key=value, got 'seed'. For example: --set local-lora.epochs=3"),
    (["run", "--eval-size", "0"], "run: eval_size must be a fraction in (0, 1) or a count >= 1, got 0.0"),
    (["run", "--config", str(BAD / "bad_config.toml")], "bad_config.toml: invalid TOML: Invalid value (at line 2, column 8)"),
    (["run", "--config", str(BAD / "bad_option.toml")], "bad value for 'local-lora.lora_r' (from"),
    (["run", "--config", "missing.toml"], "config file missing.toml does not exist."),
    (["run", "--data", "nope.jsonl"], "nope.jsonl: no such file or directory. Check the path."),
    (["run", "--model", "org/model-7b", "--backend", "local-base"], "local-base: model 'org/model-7b' does not exist. ftx never downloads models"),
    (["show", "nothing"], "no run 'nothing' in runs."),
    (["resume", "nothing"], "no run 'nothing' in runs."),
]


@pytest.mark.parametrize("argv, expected", ARGUMENTS, ids=[" ".join(a[0])[:40] for a in ARGUMENTS])
def test_bad_arguments_and_options(capsys, argv, expected):
    code, err = ftx(capsys, *argv)
    assert code not in (0, None) and "Traceback" not in err
    assert expected in err, err


def test_bad_environment_value(capsys, monkeypatch):
    monkeypatch.setenv("FTX_RUN__SEED", "abc")
    code, err = ftx(capsys, "run")
    assert_one_clear_error(code, err, "bad value for 'run.seed' (from FTX_RUN__SEED): expected an integer, got 'abc'")


def test_missing_credentials(tmp_path, capsys, monkeypatch):
    pytest.importorskip("openai")
    from ftx.testing import sample_rows, write_jsonl

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    code, err = ftx(capsys, "run", "--data", str(data), "--backend", "openai")
    assert_one_clear_error(code, err, "preflight failed: openai: OPENAI_API_KEY is not set (export OPENAI_API_KEY=")
    assert not (tmp_path / "runs").exists()


def test_unreadable_paths(tmp_path, capsys, monkeypatch):
    from ftx.testing import sample_rows, write_jsonl

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    real = Path.read_bytes

    def denied(self):  # chmod cannot take a file away from root, so refuse the read here
        if self == data:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, err = ftx(capsys, "run", "--data", str(data))
    assert_one_clear_error(code, err, "qa.jsonl: cannot read the file: Permission denied. Check the path and its permissions.")

    code, err = ftx(capsys, "run", "--data", str(tmp_path))  # a folder that is no dataset
    assert_one_clear_error(code, err, "is a directory but not a saved 'datasets' dataset.")

    monkeypatch.setattr(Path, "read_bytes", real)
    (tmp_path / "runs-file").write_text("")
    code, err = ftx(capsys, "run", "--data", str(data), "--backend", "local-base", "--runs-dir", str(tmp_path / "runs-file"),
                    "--model", str(tmp_path))
    assert code != 0 and "Traceback" not in err


@pytest.mark.slow
def test_full_disk_stops_the_run_and_resume_finishes_it(tmp_path, capsys, monkeypatch, tiny_model):
    """A write that fails with ENOSPC mid-evaluation: one sentence, and nothing finished is lost."""
    from ftx.testing import sample_rows, write_jsonl

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(12))
    real_fsync = os.fsync

    def full_disk(fd):
        if "predictions" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full_disk)
    code, err = ftx(capsys, "run", "--data", str(data), "--model", str(tiny_model), "--backend", "local-base", "--eval-size", "4",
                    "--name", "r", "--set", "run.max_new_tokens=4")
    assert_one_clear_error(code, err, "predictions.partial.jsonl: no space left on device. Free some space, then continue with 'ftx resume")
    assert json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["backends"]["local-base"]["status"] == "generating"

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed
    code, err = ftx(capsys, "resume", "r")
    assert code == 0, err
    assert json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["status"] == "done"


def test_damaged_run_directories(tmp_path, capsys):
    from ftx.store import SCHEMA_VERSION, RunStore

    store = RunStore(tmp_path / "runs")
    run = store.create({"config": {"run": {}, "sections": {}}}, "corrupt")
    (run.path / "run.json").write_text("{not json")
    code, err = ftx(capsys, "show", "corrupt")
    assert_one_clear_error(code, err, "run.json is corrupt")
    code, err = ftx(capsys, "resume", "corrupt")
    assert_one_clear_error(code, err, "run.json is corrupt")

    newer = store.create({}, "newer")
    (newer.path / "run.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "id": "newer"}))
    code, err = ftx(capsys, "resume", "newer")
    assert_one_clear_error(code, err, "run newer was written by a newer ftx (run schema 2). Upgrade ftx to read it.")

    missing = store.create({}, "missing")
    (missing.path / "run.json").unlink()
    (missing.path / "scores.json").write_text("{}")
    code, err = ftx(capsys, "show", "missing")
    assert_one_clear_error(code, err, "no run 'missing' in")
