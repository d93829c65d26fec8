"""Real training of a tiny config-built model through the CLI, start to finish."""

import json

import pytest
from click.testing import CliRunner

from ftx.cli import cli

from .helpers import run_ftx

pytestmark = pytest.mark.slow


def test_run_base_and_lora_through_the_cli(tmp_path, tiny_model, qa_file):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(qa_file),
            "--model",
            str(tiny_model),
            "--eval-size",
            "6",
            "--name",
            "r1",
            "--set",
            "local-lora.max_steps=6",
            "--set",
            "local-lora.batch_size=4",
            "--set",
            "run.max_new_tokens=8",
        ],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "r1"
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done" and meta["baseline"] == "local-base"
    assert {n: s["status"] for n, s in meta["backends"].items()} == {
        "local-base": "done",
        "local-lora": "done",
    }
    assert meta["backends"]["local-lora"]["train"]["steps"] == 6
    assert len((run / "data" / "train.jsonl").read_text().splitlines()) == 18
    assert len((run / "data" / "eval.jsonl").read_text().splitlines()) == 6
    assert (run / "local-lora" / "adapter" / "adapter_model.safetensors").exists()
    log = [
        json.loads(line)
        for line in (run / "local-lora" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5, 6] and all(e["loss"] > 0 for e in log)
    for backend in ("local-base", "local-lora"):
        rows = [
            json.loads(line)
            for line in (run / backend / "predictions.jsonl").read_text().splitlines()
        ]
        assert len(rows) == 6 and all("prediction" in r for r in rows)
    scores = json.loads((run / "scores.json").read_text())
    assert set(scores["metrics"]) == {
        "rouge1",
        "rouge2",
        "rougeL",
        "bleu",
        "jaccard",
        "exact_match",
    }
    assert len(scores["backends"]["local-lora"]["per_example"]["rougeL"]) == 6
    report = json.loads((run / "report.json").read_text())
    assert [b["name"] for b in report["backends"]] == ["local-base", "local-lora"]
    assert "| local-lora |" in (run / "report.md").read_text()
    assert "local-lora" in result.output and "rougeL" in result.output

    # ftx runs and ftx show read the store back
    listed = CliRunner().invoke(cli, ["runs"])
    assert "r1" in listed.output and "done" in listed.output
    shown = CliRunner().invoke(cli, ["show", "r1"])
    assert shown.exit_code == 0 and "local-lora" in shown.output


def test_lora_loss_falls_on_repeated_data(tmp_path, tiny_model):
    from ftx.testing import sample_rows, write_jsonl

    rows = sample_rows(8)
    data = write_jsonl(tmp_path / "qa.jsonl", rows)
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(data),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--eval-size",
            "2",
            "--name",
            "r",
            "--set",
            "local-lora.max_steps=30",
            "--set",
            "local-lora.learning_rate=0.01",
            "--set",
            "local-lora.lr_scheduler=constant",
            "--set",
            "run.max_new_tokens=4",
        ],
    )
    assert result.exit_code == 0, result.output
    log = [
        json.loads(line)["loss"]
        for line in (tmp_path / "runs" / "r" / "local-lora" / "train_log.jsonl")
        .read_text()
        .splitlines()
    ]
    assert log[0] > 5 and max(log[-5:]) < 0.5, log  # six examples memorised: ~7.0 -> ~0.02


def test_one_failing_backend_does_not_stop_the_others(tmp_path, tiny_model, qa_file):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(qa_file),
            "--model",
            str(tiny_model),
            "--eval-size",
            "4",
            "--name",
            "r",
            "--backend",
            "local-base",
            "--backend",
            "local-lora",
            "--backend",
            "local-full",
            "--set",
            "local-full.max_steps=2",
            "--set",
            "local-lora.max_steps=2",
            "--set",
            "local-lora.target_modules=no_such_module",
            "--set",
            "run.max_new_tokens=4",
        ],
    )
    assert result.exit_code == 3, result.output  # partial failure
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["status"] == "partial"
    assert meta["backends"]["local-base"]["status"] == "done"
    assert meta["backends"]["local-lora"]["status"] == "failed"
    assert (
        meta["backends"]["local-full"]["status"] == "done"
    )  # the backend after the failed one still ran
    assert "cannot add LoRA adapters" in meta["backends"]["local-lora"]["error"]
    assert "Traceback" in (tmp_path / "runs" / "r" / "local-lora" / "log.txt").read_text()
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scored = {b["name"]: b["scores"]["rougeL"] for b in report["backends"] if b["status"] == "done"}
    assert set(scored) == {"local-base", "local-full"} and None not in scored.values()
    assert "local-lora failed" in result.output and "local-full" in result.output


def test_resume_reattaches_trained_backend(tmp_path, tiny_model, qa_file):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(qa_file),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--eval-size",
            "4",
            "--name",
            "r",
            "--set",
            "local-lora.max_steps=2",
            "--set",
            "run.max_new_tokens=4",
        ],
    )
    assert result.exit_code == 0
    run = tmp_path / "runs" / "r"
    meta = json.loads((run / "run.json").read_text())
    # Simulate a crash after training, before predictions were written.
    meta["backends"]["local-lora"]["status"] = "generating"
    meta["status"] = "running"
    (run / "run.json").write_text(json.dumps(meta))
    (run / "local-lora" / "predictions.jsonl").unlink()
    steps_before = len((run / "local-lora" / "train_log.jsonl").read_text().splitlines())
    resumed = CliRunner().invoke(cli, ["resume", "r"])
    assert resumed.exit_code == 0, resumed.output
    assert (
        len((run / "local-lora" / "train_log.jsonl").read_text().splitlines()) == steps_before
    )  # not trained again
    assert len((run / "local-lora" / "predictions.jsonl").read_text().splitlines()) == 4
    assert json.loads((run / "run.json").read_text())["status"] == "done"


def test_subprocess_run_prints_the_table(tmp_path, tiny_model, qa_file):
    result = run_ftx(
        "run",
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--eval-size",
        "4",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
        cwd=tmp_path,
        env={"COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert "local-base" in result.stdout and "local-lora" in result.stdout and "★" in result.stdout
    assert "Traceback" not in result.stderr


def test_untuned_baseline_runs_on_long_real_data_and_counts_answers_cut_short(tmp_path, tiny_model):
    """Training examples far over the model's context do not matter to local-base; answers get
    room for the longest reference (max_new_tokens=auto), and those cut short are counted."""
    import transformers

    from ftx.config import auto_max_new_tokens
    from ftx.testing import sample_rows, write_jsonl

    def alpaca(rows, repeat):
        return [
            {"instruction": r["question"], "input": "", "output": " ".join([r["answer"]] * repeat)}
            for r in rows
        ]

    rows = sample_rows(12)
    data = write_jsonl(tmp_path / "alpaca.jsonl", alpaca(rows[:8], 100))
    evalset = write_jsonl(tmp_path / "eval.jsonl", alpaca(rows[8:], 8))
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(data),
            "--eval",
            str(evalset),
            "--model",
            str(tiny_model),
            "--backend",
            "local-base",
            "--name",
            "r",
        ],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "r"
    meta = json.loads((run / "run.json").read_text())
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    references = [
        len(tokenizer(r["output"], add_special_tokens=False).input_ids) for r in alpaca(rows[8:], 8)
    ]
    chosen = auto_max_new_tokens(references)
    assert chosen > 64  # these references would have been cut at the old fixed limit
    assert meta["config"]["run"]["max_new_tokens"] == chosen  # what a resumed run answers with
    assert meta["generation"] == {
        "max_new_tokens": chosen,
        "from": "auto",
        "longest_reference_tokens": max(references),
        "counted_with": "local-base's tokenizer",
    }
    predictions = [
        json.loads(line)
        for line in (run / "local-base" / "predictions.jsonl").read_text().splitlines()
    ]
    cut = sum(p["truncated"] for p in predictions)
    # An untuned tiny model seldom stops: an answer is cut exactly when it used all its room.
    assert cut >= 3 and cut == sum(p["completion_tokens"] == chosen for p in predictions)
    report = json.loads((run / "report.json").read_text())
    assert report["max_new_tokens"] == chosen and report["backends"][0]["answers_cut_short"] == cut
    warning = (
        f"local-base: {cut} of 4 answers ({cut * 25}%) stopped at max_new_tokens={chosen} "
        "before the model ended them"
    )
    assert warning in " ".join(result.output.split())
    assert (
        warning in (run / "report.md").read_text() and warning in (run / "report.html").read_text()
    )

    # A resumed run answers with the value chosen at the start.
    meta["backends"]["local-base"]["status"] = "generating"
    meta["status"] = "running"
    (run / "run.json").write_text(json.dumps(meta))
    (run / "local-base" / "predictions.jsonl").unlink()
    resumed = CliRunner().invoke(cli, ["resume", "r"])
    assert resumed.exit_code == 0, resumed.output
    predictions = [
        json.loads(line)
        for line in (run / "local-base" / "predictions.jsonl").read_text().splitlines()
    ]
    assert sum(p["completion_tokens"] == chosen for p in predictions) == cut  # the same limit
