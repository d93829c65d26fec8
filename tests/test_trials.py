"""Optuna trials (``ftx run --trials N`` with ``[search.BACKEND]`` ranges): each trial is a
variant whose options the study samples, ranked by validation loss and pruned when it lags."""

import json
import statistics
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from ftx import config as configmod
from ftx import hookimpl
from ftx.backend import Backend, TrainedModel
from ftx.cli import cli
from ftx.errors import ConfigError
from ftx.options import option
from ftx.runner import make_plan
from ftx.study import Search, parse_space
from ftx.testing import registered, sample_rows, write_jsonl
from ftx.types import Completion, TrainStats

SPACE = """
[search.local-lora]
learning_rate = {low = 1e-4, high = 1e-2, log = true}
lora_r = [4, 8]
"""


def toml(tmp_path, text=SPACE):
    path = tmp_path / "ftx.toml"
    path.write_text(text)
    return path


def test_trials_replace_the_searched_backend_with_variants_that_validate(tmp_path):
    config = configmod.load(toml(tmp_path), cli={"trials": 3})
    names = ["local-lora-trial1", "local-lora-trial2", "local-lora-trial3"]
    assert config.run.backends == ["local-base", *names]
    assert config.trials == dict.fromkeys(names, "local-lora")
    assert config.search == {
        "local-lora": {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "lora_r": [4, 8]}
    }
    plan = make_plan(config)
    # Optuna ranks trials by validation loss: each holds out a share of the training split.
    assert [o.validation_size for _, o in plan.backends[1:]] == [0.1] * 3
    # Without --trials the [search] tables change nothing.
    assert configmod.load(toml(tmp_path)).run.backends == ["local-base", "local-lora"]


@pytest.mark.parametrize(
    "text, cli, message",
    [
        ("", {"trials": 2}, "has no [search.BACKEND] table"),
        (
            "[search.local-lora]\nlearning_rat = {low = 1e-4, high = 1e-3}\n",
            {"trials": 2},
            "[search.local-lora] learning_rat: local-lora has no option 'learning_rat'",
        ),
        (
            "[search.local-lora]\nlearning_rate = {low = 1e-3, high = 1e-4}\n",
            {"trials": 2},
            "low must be a number below high",
        ),
        (
            "[search.local-lora]\nlearning_rate = {low = 0, high = 1e-3, log = true}\n",
            {"trials": 2},
            "a log range needs low above 0",
        ),
        ("[search.local-lora]\nlora_r = [8]\n", {"trials": 2}, "two or more different values"),
        ("[search.local-lora]\nlora_r = 8\n", {"trials": 2}, "must be a range"),
        ("[search.local-lora]\n", {"trials": 2}, "names no option to search"),
        (
            '[search.openai]\nepochs = [1, 2]\n[openai]\nmodel = "gpt-4.1-mini"\n',
            {"trials": 2, "backends": ["openai"]},
            "--trials trains trials one after another on this machine",
        ),
    ],
)
def test_bad_searches_are_one_clear_sentence(tmp_path, text, cli, message):
    with pytest.raises(ConfigError) as caught:
        make_plan(configmod.load(toml(tmp_path, text), cli=cli))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_trial_lagging_the_median_is_pruned(tmp_path):
    space = parse_space("b", {"x": {"low": 0.0, "high": 1.0}}, "ftx.toml")
    search = Search(tmp_path, "b", space, seed=1)
    for loss in (1.0, 2.0):  # two trials complete: the median at epoch 1 is 1.5
        number, params = search.ask()
        assert 0 <= params["x"] <= 1
        assert not search.should_prune(number, 1.0, loss)
        search.tell(number, loss, "complete")
    ahead, _ = search.ask()
    assert not search.should_prune(ahead, 1.0, 1.2)
    search.tell(ahead, 1.2, "complete")
    behind, _ = search.ask()
    assert search.should_prune(behind, 1.0, 3.0)
    search.tell(behind, None, "pruned")
    summary = json.loads((tmp_path / "study" / "b.json").read_text())
    assert [t["state"] for t in summary["trials"]] == ["complete"] * 3 + ["pruned"]
    assert summary["best_trial"] == 0
    # The journal is the study: opened again (ftx resume), it has every trial.
    again = Search(tmp_path, "b", space, seed=1)
    assert len(again.study.trials) == 4


# --- a backend whose validation loss is its option ``slope`` over the epoch -----------------


@dataclass
class CurveOptions:
    slope: float = option(1.0, "validation loss after epoch e is slope / e")
    epochs: int = option(3, "epochs")
    validation_size: float = option(0.1, "share held out")


class Echo(TrainedModel):
    def __init__(self, slope):
        self.slope = slope
        self.stats = TrainStats(steps=3, train_tokens=30, seconds=0.1)

    def generate(self, prompts, params, on_answer=None):
        return [Completion(f"{self.slope:.3f} " + p[-1].content) for p in prompts]


class Curve(Backend):
    name = "curve"
    description = "validation loss slope/epoch (for tests)"
    Options = CurveOptions

    def train(self, splits, opts, ctx):
        for epoch in range(1, opts.epochs + 1):
            entry = {"step": epoch, "epoch": float(epoch), "eval_loss": opts.slope / epoch}
            with open(ctx.dir / "train_log.jsonl", "a") as f:
                f.write(json.dumps(entry) + "\n")
            ctx.emit("train_log", entry)
        return Echo(opts.slope)

    def attach(self, state, opts, ctx):
        return Echo(opts.slope)


class CurvePlugin:
    @hookimpl
    def ftx_register_backends(self, register):
        register(Curve)


def test_trials_run_as_variants_and_the_laggards_are_pruned(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    toml(tmp_path, "[search.curve]\nslope = {low = 0.5, high = 8.0, log = true}\n")
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    args = [
        "run",
        "--data",
        str(data),
        "--backend",
        "curve",
        "--trials",
        "6",
        "--name",
        "t",
        "--seed",
        "2",
    ]
    with registered(CurvePlugin()):
        result = CliRunner().invoke(cli, [*args, "--evaluator", "rouge"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "t"
    meta = json.loads((run / "run.json").read_text())
    study = json.loads((run / "study" / "curve.json").read_text())
    assert len(study["trials"]) == 6
    completed: list[float] = []
    for number, trial in enumerate(study["trials"]):
        name = f"curve-trial{number + 1}"
        record = meta["backends"][name]
        assert record["trial"] == number
        slope = trial["params"]["slope"]
        assert 0.5 <= slope <= 8.0
        # Optuna's median pruner at epoch 1, after two completed trials.
        lags = len(completed) >= 2 and slope > statistics.median(completed)
        assert trial["state"] == ("pruned" if lags else "complete"), (number, completed)
        assert record["status"] == ("pruned" if lags else "done")
        if not lags:
            completed.append(slope)
            assert trial["validation_loss"] == pytest.approx(slope / 3)  # the last epoch's
            assert meta["config"]["sections"][name]["slope"] == slope
            answer = json.loads((run / name / "predictions.jsonl").read_text().splitlines()[0])
            assert answer["prediction"].startswith(f"{slope:.3f} ")
    assert 0 < len(completed) < 6  # the seeded sampler prunes some of six, not all
    assert meta["status"] == "done"
    assert (
        study["best_trial"]
        == min(
            (t for t in study["trials"] if t["state"] == "complete"),
            key=lambda t: t["params"]["slope"],
        )["number"]
    )
    report = json.loads((run / "report.json").read_text())
    assert {row["name"] for row in report["backends"]} == {f"curve-trial{n + 1}" for n in range(6)}
    assert "slope=" in result.output  # the table labels each trial with what it sampled


@pytest.mark.slow
def test_four_optuna_trials_of_local_lora_finish_and_record_their_study(
    tmp_path, tiny_model, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    toml(tmp_path)
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(24))
    args = ["run", "--data", str(data), "--model", str(tiny_model), "--eval-size", "4"]
    args += ["--backend", "local-lora", "--trials", "4", "--name", "o"]
    args += ["--set", "local-lora.epochs=2", "--set", "run.max_new_tokens=4"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "o"
    meta = json.loads((run / "run.json").read_text())
    study = json.loads((run / "study" / "local-lora.json").read_text())
    assert (run / "study" / "local-lora.log").is_file()  # the Optuna journal
    assert [t["state"] for t in study["trials"]][:2] == ["complete", "complete"]
    for number, trial in enumerate(study["trials"]):
        name = f"local-lora-trial{number + 1}"
        assert trial["state"] in ("complete", "pruned")
        if trial["state"] == "complete":
            assert meta["backends"][name]["status"] == "done"
            adapter = json.loads((run / name / "adapter" / "adapter_config.json").read_text())
            assert adapter["r"] == trial["params"]["lora_r"]
            assert trial["validation_loss"] > 0
