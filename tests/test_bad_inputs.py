"""The bad-input corpus (tests/bad_inputs/): every item gives one clear error line that says
what is wrong, where and what to do, a non-zero exit and no traceback; nothing is lost."""

import errno
import json
import os
from pathlib import Path

import pytest

from .helpers import ftx_main

BAD = Path(__file__).parent / "bad_inputs"


def ftx(capsys, *argv):
    """Run the CLI in this process as the console script would; return (exit code, stderr).
    An exception that escapes main() (a traceback) fails the test."""
    code, _, err = ftx_main(capsys, *argv)
    return code, err


def assert_one_clear_error(code, err, expected):
    assert code not in (0, None), err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert expected in errors[0], errors[0]


DATA = [
    (
        "malformed.jsonl",
        "malformed.jsonl:3: invalid JSON: Expecting value at column 30 (each line must be one "
        "JSON object)",
    ),
    (
        "latin1.jsonl",
        "latin1.jsonl:2: not valid UTF-8 (byte 0xf9 at column 16) (save the file as UTF-8)",
    ),
    ("utf16.jsonl", "utf16.jsonl: the file is UTF-16 encoded; ftx reads UTF-8. Save it as UTF-8"),
    (
        "missing_roles.jsonl",
        "missing_roles.jsonl:1: field 'messages[1].role': is missing (use one of: assistant, "
        "developer, model, system, user)",
    ),
    (
        "role_order.jsonl",
        "role_order.jsonl:1: field 'messages[0].role': expected 'user' here, got 'assistant'",
    ),
    (
        "empty_strings.jsonl",
        "empty_strings.jsonl:2: field 'question': is empty (write the question text or remove the "
        "record)",
    ),
    ("wrong_types.jsonl", "wrong_types.jsonl:2: field 'answer': must be a string, not int"),
    (
        "duplicate_ids.jsonl",
        "duplicate_ids.jsonl:2: field 'id': duplicate id 'a' (first used at duplicate_ids.jsonl:1)",
    ),
    ("empty.jsonl", "empty.jsonl: the file is empty. It needs at least one example"),
    ("binary.jsonl", "binary.jsonl: this looks like a binary file, not text data."),
    (
        "unknown_schema.jsonl",
        "unknown_schema.jsonl:1: unknown schema: the records have fields body, title. Use one of "
        "these field sets",
    ),
    (
        "missing_column.csv",
        "missing_column.csv:2: unknown schema: the records have fields question, reply.",
    ),
    (
        "two_arrays.json",
        "two_arrays.json: the object holds several arrays (train, test); ftx cannot tell which "
        "one holds the examples.",
    ),
]


@pytest.mark.parametrize("name, expected", DATA, ids=[d[0] for d in DATA])
@pytest.mark.parametrize("command", ["run", "data validate"])
def test_bad_data_files(tmp_path, capsys, name, expected, command):
    code, err = ftx(
        capsys, *command.split(), *(["--data"] if command == "run" else []), str(BAD / name)
    )
    if command == "run":
        assert_one_clear_error(code, err, expected)
        assert not (tmp_path / "runs").exists()  # nothing was started
    else:  # validate lists problems on stdout-style lines; it fails and says where
        assert code != 0 and "Traceback" not in err


def test_huge_line(tmp_path, capsys):
    rows = [json.dumps({"question": f"Q{i}", "answer": f"A{i}"}) for i in range(20)]
    rows.insert(
        7, json.dumps({"question": "Q", "answer": "word " * 1_000_000})
    )  # a lost newline, say
    path = tmp_path / "huge.jsonl"
    path.write_text("\n".join(rows) + "\n")
    code, err = ftx(capsys, "run", "--data", str(path))
    assert_one_clear_error(
        code, err, "huge.jsonl:8: the line is 4.8 MiB, over the 4 MiB limit for one example"
    )


ARGUMENTS = [
    (
        ["run", "--backend", "local-lorra"],
        "unknown backend 'local-lorra'. Did you mean 'local-lora'?",
    ),
    (["run", "--evaluator", "rouge-l"], "unknown evaluator 'rouge-l'. Did you mean 'rouge'?"),
    (
        ["run", "--set", "local-lora.epochs=many"],
        "bad value for 'local-lora.epochs' (from --set): expected a number, got 'many'",
    ),
    (
        ["run", "--set", "local-lora.lora_rr=8"],
        "unknown option 'local-lora.lora_rr' (from --set). Did you mean 'lora_r'?",
    ),
    (["run", "--set", "nosuch.x=1"], "unknown section 'nosuch' (from --set)."),
    (
        ["run", "--set", "seed"],
        "--set expects section.key=value, got 'seed'. For example: --set local-lora.epochs=3",
    ),
    (
        ["run", "--eval-size", "0"],
        "run: eval_size must be a fraction in (0, 1) or a count >= 1, got 0.0",
    ),
    (
        ["run", "--config", str(BAD / "bad_config.toml")],
        "bad_config.toml: invalid TOML: Invalid value (at line 2, column 8)",
    ),
    (["run", "--config", str(BAD / "bad_option.toml")], "bad value for 'local-lora.lora_r' (from"),
    (["run", "--config", "missing.toml"], "config file missing.toml does not exist."),
    (["run", "--data", "nope.jsonl"], "nope.jsonl: no such file or directory. Check the path."),
    (
        ["run", "--model", "org/model-7b", "--backend", "local-base"],
        "local-base: model 'org/model-7b' does not exist. ftx never downloads models: download it "
        "first with "
        "huggingface_hub's CLI, hf download org/model-7b --local-dir ./model-7b, and pass --model "
        "./model-7b.",
    ),
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
    assert_one_clear_error(
        code, err, "bad value for 'run.seed' (from FTX_RUN__SEED): expected an integer, got 'abc'"
    )


def test_missing_credentials(tmp_path, capsys, monkeypatch):
    pytest.importorskip("openai")
    from ftx.testing import sample_rows, write_jsonl

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    code, err = ftx(capsys, "run", "--data", str(data), "--backend", "openai")
    assert_one_clear_error(
        code, err, "preflight failed: openai: OPENAI_API_KEY is not set (export OPENAI_API_KEY="
    )
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
    assert_one_clear_error(
        code,
        err,
        "qa.jsonl: cannot read the file: Permission denied. Check the path and its permissions.",
    )

    code, err = ftx(capsys, "run", "--data", str(tmp_path))  # a folder that is no dataset
    assert_one_clear_error(code, err, "is a directory but not a saved 'datasets' dataset.")

    monkeypatch.setattr(Path, "read_bytes", real)
    (tmp_path / "runs-file").write_text("")
    code, err = ftx(
        capsys,
        "run",
        "--data",
        str(data),
        "--backend",
        "local-base",
        "--runs-dir",
        str(tmp_path / "runs-file"),
        "--model",
        str(tmp_path),
    )
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
    code, err = ftx(
        capsys,
        "run",
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--eval-size",
        "4",
        "--name",
        "r",
        "--set",
        "run.max_new_tokens=4",
    )
    assert_one_clear_error(
        code,
        err,
        "predictions.partial.jsonl: no space left on device. Free some space, then continue with "
        "'ftx resume",
    )
    assert (
        json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["backends"]["local-base"][
            "status"
        ]
        == "generating"
    )

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
    (newer.path / "run.json").write_text(
        json.dumps({"schema_version": SCHEMA_VERSION + 1, "id": "newer"})
    )
    code, err = ftx(capsys, "resume", "newer")
    assert_one_clear_error(
        code, err, "run newer was written by a newer ftx (run schema 2). Upgrade ftx to read it."
    )

    missing = store.create({}, "missing")
    (missing.path / "run.json").unlink()
    (missing.path / "scores.json").write_text("{}")
    code, err = ftx(capsys, "show", "missing")
    assert_one_clear_error(code, err, "no run 'missing' in")


# --- Runs that survive, round 2: run files, names and the runs folder -----------------------


def _finished_looking_run(store, name):
    """A run directory as ftx leaves a finished one, without training anything."""
    from ftx.data import write_jsonl
    from ftx.types import Example, Message

    run = store.create(
        {
            "config": {"run": {}, "sections": {}},
            "seed": 1,
            "splits": {"train": 1, "eval": 1, "leaked": []},
        },
        name,
    )
    run.backend_state("local-base")["status"] = "done"
    run.meta["status"] = "done"
    run.save()
    example = Example("q1", (Message("user", "Q"), Message("assistant", "A")))
    write_jsonl(run.path / "data" / "eval.jsonl", [example])
    write_jsonl(run.path / "data" / "train.jsonl", [example])
    run.write_predictions("local-base", [{"id": "q1", "prediction": "A"}])
    (run.path / "scores.json").write_text(json.dumps({"metrics": {}, "backends": {}}))
    return run


DAMAGE = [
    ("run.json", lambda m: m.pop("backends"), "run.json is damaged: 'backends' is missing."),
    (
        "run.json",
        lambda m: m.update(status=3),
        "run.json is damaged: 'status' is int, not a string.",
    ),
    (
        "run.json",
        lambda m: m.update(created="yesterday"),
        "run.json is damaged: 'created' is str, not a number.",
    ),
    (
        "run.json",
        lambda m: m["backends"].update({"local-base": "done"}),
        "run.json is damaged: the state of backend 'local-base' is not an object.",
    ),
    ("scores.json", "", "scores.json is corrupt"),
    (
        "scores.json",
        "[]",
        "scores.json is damaged: it is not the scores ftx wrote. Delete it and run 'ftx resume r'",
    ),
    (
        "data/eval.jsonl",
        '{"id": "q1", "messages": [{"role": "us',
        "eval.jsonl:1 is damaged (cut short, or not an example ftx wrote).",
    ),
    ("data/eval.jsonl", None, "data/eval.jsonl is missing."),
]


@pytest.mark.parametrize(
    "name, damage, expected", DAMAGE, ids=[f"{d[0]}-{i}" for i, d in enumerate(DAMAGE)]
)
def test_damaged_run_files_are_named_in_one_sentence(tmp_path, capsys, name, damage, expected):
    from ftx.store import RunStore

    run = _finished_looking_run(RunStore(tmp_path / "runs"), "r")
    path = run.path / name
    if callable(damage):
        meta = json.loads(path.read_text())
        damage(meta)
        path.write_text(json.dumps(meta))
    elif damage is None:
        path.unlink()
    else:
        path.write_text(damage)
    for command in ("show", "report"):
        code, err = ftx(capsys, command, "r")
        assert_one_clear_error(code, err, expected)
        assert "0 held-out examples" not in err


def test_a_very_long_run_reference(capsys):
    code, err = ftx(capsys, "show", "x" * 5000)
    assert_one_clear_error(
        code,
        err,
        "no run 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (5,000 characters) in runs.",
    )


@pytest.mark.parametrize(
    "name", ["../../x", "/tmp/x", "a/b", "..", ".hidden", "x" * 101, "run\x1b[2J"]
)
def test_run_names_are_names_not_paths(tmp_path, capsys, name):
    code, err = ftx(capsys, "run", "--name", name, "--backend", "local-base")
    assert_one_clear_error(code, err, "is not a valid run name. Use up to 100 letters, digits")
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()
    assert "\x1b" not in err


def test_ftx_runs_lists_every_run_whole_at_80_columns(tmp_path, monkeypatch):
    import shutil

    from click.testing import CliRunner

    from ftx.cli import cli
    from ftx.store import RunStore

    monkeypatch.setenv("COLUMNS", "80")
    store = RunStore(tmp_path / "runs")
    ids = ["20261129-101500-aaaa", "20261129-101500-aaab", "20261129-101500-aaac"]
    for name in ids:
        _finished_looking_run(store, name)
    shutil.copytree(
        store.root / ids[0], store.root / "copied-run"
    )  # a copy keeps the id inside run.json
    (store.root / "index.sqlite").unlink()
    store.root.chmod(0o555)  # read-only, and no index to read
    try:
        result = CliRunner().invoke(cli, ["runs"])
    finally:
        store.root.chmod(0o755)
    assert result.exit_code == 0, result.output
    for name in [*ids, "copied-run"]:
        assert name in result.output
    assert "No runs" not in result.output


def test_runs_dir_that_is_a_file_and_export_onto_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    for argv in (["runs", "--runs-dir", "afile"], ["show", "--runs-dir", "afile"]):
        code, err = ftx(capsys, *argv)
        assert_one_clear_error(code, err, "the runs folder afile is a file, not a folder.")


def test_every_command_uses_runs_dir_from_ftx_toml(tmp_path, capsys):
    from ftx.store import RunStore

    (tmp_path / "ftx.toml").write_text('[run]\nruns_dir = "experiments"\n')
    _finished_looking_run(RunStore(tmp_path / "experiments"), "r")
    for argv in (["show", "latest"], ["runs"], ["report", "r"]):
        code, err = ftx(capsys, *argv)
        assert code == 0, err


def test_user_text_is_never_terminal_markup_or_escape_codes(tmp_path, capsys):
    from ftx.store import RunStore

    hostile = "[/INST] [link=https://evil.example]click[/link] [bold]x\x1b]8;;https://evil.example\x07y\x1b[2J\u202ez"
    folder = tmp_path / "d["
    folder.mkdir()
    data = folder / "]qa.jsonl"  # the path holds "[/]"
    data.write_text(
        "".join(
            json.dumps({"question": f"{hostile} {i}", "answer": hostile, "role": "\x1b[2J"}) + "\n"
            for i in range(3)
        )
    )
    for argv in (["data", "stats", str(data)], ["data", "validate", str(data)]):
        main_out = _run_and_capture(capsys, *argv)
        assert "d[/]qa.jsonl" in main_out.replace("\n", "") and "\x1b" not in main_out
    run = _finished_looking_run(RunStore(tmp_path / "runs"), "r")
    run.meta["config"]["run"]["data"] = str(data)
    run.save()
    for argv in (["runs"], ["show", "r"]):
        out = _run_and_capture(capsys, *argv)
        assert (
            "d[/]qa.jsonl" in out.replace("\n", "").replace("│", "").replace(" ", "")
            or "]qa.jsonl" in out
        )
    code, err = ftx(capsys, "data", "validate", str(tmp_path / "nope[/].jsonl"))
    assert_one_clear_error(code, err, "nope[/].jsonl: no such file or directory.")
    code, err = ftx(capsys, "run", "--data", str(tmp_path / "bad\x1b[2J.jsonl"))
    assert_one_clear_error(code, err, "bad\\x1b[2J.jsonl: no such file or directory.")
    assert "\x1b" not in err


def _run_and_capture(capsys, *argv) -> str:
    """stdout and stderr of a command that must succeed, with no escape sequence in them."""
    code, out, err = ftx_main(capsys, *argv)
    assert code == 0 and "Traceback" not in err and "\x1b" not in out + err, err
    return out + err


OUT_OF_RANGE = [
    (
        {"FTX_RUN__EVAL_SIZE": "nan"},
        [],
        "bad value for 'run.eval_size' (from FTX_RUN__EVAL_SIZE): expected a finite number, got "
        "'nan'",
    ),
    (
        {"FTX_RUN__DATA": ""},
        [],
        "bad value for 'run.data' (from FTX_RUN__DATA): it is empty; leave the option out",
    ),
    (
        {},
        ["--set", "local-lora.learning_rate=nan"],
        "bad value for 'local-lora.learning_rate' (from --set): expected a finite number",
    ),
    (
        {},
        ["--set", "local-lora.learning_rate=inf"],
        "bad value for 'local-lora.learning_rate' (from --set): expected a finite number",
    ),
    ({}, ["--seed", str(2**70)], "expected an integer below 2^63"),
    # In range for the type, out of range for what uses it: refused when options are built.
    (
        {},
        ["--set", "run.temperature=-1"],
        "error: run: temperature must be 0 (greedy) or more, got -1",
    ),
    ({}, ["--set", "run.top_p=2"], "run: top_p must be in (0, 1], got 2"),
    ({}, ["--set", "run.top_p=0"], "run: top_p must be in (0, 1], got 0"),
    ({}, ["--set", "run.top_k=-1"], "run: top_k must be 0 (no limit) or more, got -1"),
    (
        {},
        ["--set", "run.repetition_penalty=0"],
        "run: repetition_penalty must be above 0 (1 changes nothing), got 0",
    ),
    ({}, ["--max-cost", "-5"], "run: max_cost must be 0 dollars or more, got -5"),
    (
        {},
        ["--seed", "-1"],
        "run: seed must be from 0 to 4294967295 (2^32 - 1, what numpy takes), got -1",
    ),
    (
        {"FTX_RUN__SEED": str(2**32)},
        [],
        "run: seed must be from 0 to 4294967295 (2^32 - 1, what numpy takes), got 4294967296",
    ),
    (
        {},
        ["--set", "run.temperature=-1", "--set", "run.top_p=2"],
        "temperature must be 0 (greedy) or more, got -1; run: top_p must be in (0, 1], got 2",
    ),
    (
        {},
        ["--set", "local-lora.eval_batch_size=-4"],
        "local-lora: eval_batch_size must be at least 1",
    ),
    ({}, ["--set", "local-lora.seed=-3"], "local-lora: seed must be from 0 to 4294967295"),
    ({}, ["--set", "local-lora.weight_decay=-0.1"], "local-lora: weight_decay must be 0 or more"),
    (
        {},
        ["--set", "local-lora.max_steps=-1"],
        "local-lora: epochs and max_steps must be 0 or more",
    ),
    (
        {},
        ["--set", "local-lora.save_total_limit=0"],
        "local-lora: save_total_limit must be at least 1",
    ),
    ({}, ["--set", "local-lora.lora_alpha=0"], "local-lora: lora_alpha must be at least 1"),
    ({}, ["--set", "openai.concurrency=0"], "openai: concurrency must be at least 1, got 0"),
    (
        {},
        ["--set", "openai-base.request_timeout=-1"],
        "openai-base: timeout must be above 0, got -1",
    ),
    ({}, ["--set", "openai.epochs=0"], "openai: epochs must be at least 1, got 0"),
    ({}, ["--set", "openai.seed=4294967296"], "openai: seed must be from 0 to 4294967295"),
    (
        {},
        ["--set", "gemini.adapter_size=3"],
        "gemini: adapter_size must be 1, 2, 4, 8, 16 or 32, got 3",
    ),
    ({}, ["--set", "gemini.input_price=-1"], "gemini: input_price must be at least 0, got -1"),
    ({}, ["--set", "llm_judge.timeout=0"], "llm_judge: timeout must be above 0, got 0"),
    ({}, ["--set", "semantic.batch_size=0"], "semantic: batch_size must be at least 1, got 0"),
    ({}, ["--set", "chrf.word_order=-1"], "chrf: word_order must be at least 0, got -1"),
]


@pytest.mark.parametrize("env, argv, expected", OUT_OF_RANGE, ids=[e[2][:40] for e in OUT_OF_RANGE])
def test_values_out_of_range_are_refused_before_any_run_exists(
    tmp_path, capsys, monkeypatch, env, argv, expected
):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, err = ftx(capsys, "run", *argv)
    assert_one_clear_error(code, err, expected)
    assert not (tmp_path / "runs").exists()


def test_export_never_writes_over_a_file(tmp_path, capsys):
    from ftx.store import RunStore

    run = _finished_looking_run(RunStore(tmp_path / "runs"), "r")
    run.backend_state("local-base")["trained"] = True
    run.save()
    (tmp_path / "taken").write_text("mine")
    code, err = ftx(capsys, "export", "r", "--backend", "local-base", "--out", "taken")
    assert_one_clear_error(
        code,
        err,
        "taken is a file; ftx export writes a new folder and overwrites nothing. Choose another "
        "path.",
    )
    assert (tmp_path / "taken").read_text() == "mine"
