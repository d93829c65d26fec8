"""``ftx models``: the tuned models of every run, their tags and descriptions (kept in the runs
index, and surviving its rebuild), and the --tag, --base and --best filters."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time

import pytest
from click.testing import CliRunner

from ftx.cli import cli

from .test_serve import make_tuned_run


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    return make_tuned_run(tmp_path_factory)


@pytest.fixture
def runs(tuned_run, tmp_path):
    """Two copies of the tuned run: ``r`` as it is, and ``q`` (older, on another base model,
    where ``b`` scored best)."""
    runs = tmp_path / "runs"
    for name in ("r", "q"):
        shutil.copytree(tuned_run.path, runs / name, ignore=shutil.ignore_patterns("checkpoints"))
    meta = json.loads((runs / "q" / "run.json").read_text())
    meta["config"]["run"]["model"] = "/models/Qwen2.5-0.5B-Instruct"
    meta["created"] -= 3600
    (runs / "q" / "run.json").write_text(json.dumps(meta))
    report = json.loads((runs / "q" / "report.json").read_text())
    for backend in report["backends"]:
        backend["scores"]["rougeL"] = {"b": 0.9, "openai": 0.5}.get(backend["name"], 0.1)
    (runs / "q" / "report.json").write_text(json.dumps(report))
    return runs


def models(runs, *args: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["models", "--json", "--runs-dir", str(runs), *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def names(found: list[dict]) -> list[tuple[str, str]]:
    return [(m["run"], m["model"]) for m in found]


def tag(runs, *args: str):
    return CliRunner().invoke(cli, ["models", "tag", *args, "--runs-dir", str(runs)])


@pytest.mark.slow
def test_every_tuned_model_of_every_run(runs, tuned_run):
    found = models(runs)
    assert names(found) == [(r, m) for r in ("r", "q") for m in ("local-lora", "b", "openai")]
    lora, b, openai = found[:3]
    assert (lora["method"], b["method"], openai["method"]) == ("lora", "lora", "hosted")
    assert lora["backend"] == "local-lora" and b["backend"] == "local-lora"  # b is a variant
    assert lora["base"] == str(tuned_run.root / "model") and openai["base"].startswith("gpt-")
    assert lora["location"] == str(runs / "r" / "local-lora" / "adapter")
    assert openai["location"].startswith("ft:gpt-4.1-mini")
    assert lora["primary_metric"] == "rougeL" and "rougeL" in lora["scores"]
    with_baselines = models(runs, "--baselines")
    assert ("r", "local-base") in names(with_baselines) and with_baselines[0]["method"] == "base"


@pytest.mark.slow
def test_the_table_shows_names_whole(runs):
    result = CliRunner().invoke(cli, ["models", "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    for word in ("local-lora", "openai", "hosted", "rougeL", time.strftime("%Y-%m-%d")):
        assert word in result.output, word  # the names whole, however narrow the terminal


@pytest.mark.slow
def test_filters(runs):
    assert names(models(runs, "--base", "qwen")) == [("q", m) for m in ("local-lora", "b")]
    best = models(runs, "--best", "rougeL")
    assert [(m["run"], m["model"]) for m in best][1] == ("q", "b")  # q's best on rougeL
    assert len(best) == 2  # one a run


@pytest.mark.slow
def test_a_metric_no_model_has_is_one_sentence(runs, capsys):
    from .helpers import ftx_main

    code, out, err = ftx_main(capsys, "models", "--runs-dir", str(runs), "--best", "nope")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: no model listed has a score for 'nope'. Metrics of these runs:")


@pytest.mark.slow
def test_tags_and_descriptions_filter_and_survive_the_index_rebuilt(runs):
    result = tag(runs, "r", "b", "--tag", "prod", "--tag", "fast", "--description", "ships Monday")
    assert result.exit_code == 0 and result.output == "r b: prod, fast · ships Monday\n"
    assert tag(runs, "q", "openai", "--tag", "prod").exit_code == 0
    assert names(models(runs, "--tag", "prod")) == [("r", "b"), ("q", "openai")]
    assert names(models(runs, "--tag", "prod", "--tag", "fast")) == [("r", "b")]
    assert models(runs, "--tag", "prod")[0]["description"] == "ships Monday"

    # kept in the index...
    with sqlite3.connect(runs / "index.sqlite") as db:
        rows = db.execute("SELECT run, model, tags, description FROM tags ORDER BY run").fetchall()
    assert rows == [("q", "openai", '["prod"]', ""), ("r", "b", '["prod", "fast"]', "ships Monday")]
    # ... and in the run folder, so that the index rebuilt (deleted, or stale) has them again
    (runs / "index.sqlite").unlink()
    assert names(models(runs, "--tag", "prod")) == [("r", "b"), ("q", "openai")]
    shutil.copytree(runs / "q", runs / "p")  # a new run folder: the index is rebuilt
    assert names(models(runs, "--tag", "prod")) == [("r", "b"), ("q", "openai"), ("p", "openai")]

    # an index made before tags existed gets them from the run folders
    with sqlite3.connect(runs / "index.sqlite") as db:
        db.execute("DROP TABLE tags")
    assert len(models(runs, "--tag", "prod")) == 3

    assert tag(runs, "r", "b", "--untag", "prod", "--description", "").exit_code == 0
    assert names(models(runs, "--tag", "fast")) == [("r", "b")]
    assert models(runs, "--tag", "fast")[0]["description"] == ""
    assert names(models(runs, "--tag", "prod")) == [("q", "openai"), ("p", "openai")]


@pytest.mark.slow
def test_bad_tags_are_one_sentence(runs, capsys):
    from .helpers import ftx_main

    code, _, err = ftx_main(
        capsys, "models", "tag", "r", "b", "--tag", "no spaces", "--runs-dir", str(runs)
    )
    assert code == 1
    assert err.startswith("error: 'no spaces' is not a valid tag. Use up to 50 letters")
    code, _, err = ftx_main(
        capsys, "models", "tag", "r", "zz", "--tag", "x", "--runs-dir", str(runs)
    )
    assert code == 1 and err.startswith("error: run r has no model 'zz'. Its models: local-base")
    code, _, err = ftx_main(capsys, "models", "tag", "r", "b", "--runs-dir", str(runs))
    assert code == 2 and "give --tag, --untag or --description" in err
    (runs / "r" / "tags.json").write_text("{broken")
    code, _, err = ftx_main(
        capsys, "models", "tag", "r", "b", "--tag", "x", "--runs-dir", str(runs)
    )
    assert code == 1 and "tags.json cannot be read" in err
    assert names(models(runs)) == names(models(runs))  # a broken tags.json does not stop listing


def test_no_runs_no_models(tmp_path):
    result = CliRunner().invoke(cli, ["models", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0 and "No trained models in" in result.output
