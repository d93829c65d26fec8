"""Named variants: one backend under several names, each with its own options, folder, state and
report row (``[backends.NAME] use = ...`` in ftx.toml, ``--backend NAME=BACKEND`` on the CLI)."""

import json

import pytest

from ftx import config as configmod
from ftx import hookimpl
from ftx.errors import ConfigError
from ftx.plugins import get_registry
from ftx.runner import make_plan
from tests.helpers import ftx_main


def lora_options(config, name):
    return config.options_for(name, get_registry().get("backend", "local-lora").Options)


def test_a_toml_variant_takes_its_backends_table_then_its_own(tmp_path):
    (tmp_path / "ftx.toml").write_text(
        "[local-lora]\nepochs = 2\nlora_r = 4\n\n"
        '[backends.lora-r8]\nuse = "local-lora"\nlora_r = 8\n'
    )
    config = configmod.load(environ={})
    # The default backends, and the variant ftx.toml defines.
    assert config.run.backends == ["local-base", "local-lora", "lora-r8"]
    assert config.variants == {"lora-r8": "local-lora"}
    config.check_sections(get_registry())
    assert (lora_options(config, "local-lora").lora_r, lora_options(config, "lora-r8").lora_r) == (
        4,
        8,
    )
    assert lora_options(config, "lora-r8").epochs == 2  # from [local-lora]
    plan = make_plan(config)
    names = [backend.name for backend, _ in plan.backends]
    assert names == ["local-base", "local-lora", "lora-r8"]
    assert type(plan.backends[2][0]).name == "local-lora"  # the class keeps its own name


def test_cli_variants_are_chosen_explicitly_with_their_options():
    config = configmod.load(
        environ={},
        cli={"backends": ["local-base", "small=local-lora", "big=local-lora"]},
        sets=["small.lora_r=4", "big.lora_r=32", "big.learning_rate=3e-4"],
    )
    assert config.run.backends == ["local-base", "small", "big"]
    config.check_sections(get_registry())
    big = lora_options(config, "big")
    assert (lora_options(config, "small").lora_r, big.lora_r, big.learning_rate) == (4, 32, 3e-4)


def test_an_explicit_backend_list_runs_only_what_it_names(tmp_path):
    (tmp_path / "ftx.toml").write_text('[backends.lora-r8]\nuse = "local-lora"\nlora_r = 8\n')
    config = configmod.load(environ={}, cli={"backends": ["lora-r8"]})
    assert config.run.backends == ["lora-r8"]


@pytest.mark.parametrize(
    "toml, backends, message",
    [
        ("[backends.x]\nlora_r = 8\n", None, "[backends.x] does not say which backend"),
        ("[backends]\nx = 1\n", None, "[backends] holds one table per variant"),
        ('[backends."a b"]\nuse = "local-lora"\n', None, "'a b' cannot name a variant"),
        ("", ["x=local-lorra"], "variant 'x' uses 'local-lorra', which is not a backend"),
        ("", ["local-lora=local-base"], "variant 'local-lora' has the name of a backend"),
        ("", ["a=local-lora", "b=a"], "variant 'b' uses 'a', which is a variant itself"),
        ("", ["x="], "names no backend for the variant 'x'"),
        ("", ["x=local-lora", "x=local-base"], "a backend is listed twice"),
        ("", ["x=local-lora"], "unknown option 'x.lora_rank' (from --set). Did you mean 'lora_r'?"),
    ],
)
def test_bad_variants_are_one_clear_sentence(tmp_path, toml, backends, message):
    (tmp_path / "ftx.toml").write_text(toml)
    with pytest.raises(ConfigError) as exc:
        config = configmod.load(
            environ={}, cli={"backends": backends}, sets=["x.lora_rank=8"] if backends else []
        )
        make_plan(config)
    assert message in str(exc.value)


def test_a_sweep_expands_a_backend_into_the_grid_of_its_variants():
    config = configmod.load(
        environ={},
        sets=["local-lora.epochs=1"],
        sweeps=["local-lora.lora_r=8,32", "local-lora.learning_rate=1e-4,1e-3"],
    )
    grid = [
        "local-lora-lora_r8-learning_rate1e-4",
        "local-lora-lora_r8-learning_rate1e-3",
        "local-lora-lora_r32-learning_rate1e-4",
        "local-lora-lora_r32-learning_rate1e-3",
    ]
    assert config.run.backends == ["local-base", *grid]  # local-lora is replaced by its grid
    config.check_sections(get_registry())
    options = [lora_options(config, name) for name in grid]
    assert [(o.lora_r, o.learning_rate, o.epochs) for o in options] == [
        (8, 1e-4, 1),
        (8, 1e-3, 1),
        (32, 1e-4, 1),
        (32, 1e-3, 1),
    ]


def test_a_swept_variant_keeps_its_own_options():
    config = configmod.load(
        environ={},
        cli={"backends": ["small=local-lora"]},
        sets=["small.lora_r=4"],
        sweeps=["small.learning_rate=1e-4,1e-3"],
    )
    assert config.run.backends == ["small-learning_rate1e-4", "small-learning_rate1e-3"]
    config.check_sections(get_registry())
    assert lora_options(config, "small-learning_rate1e-3").lora_r == 4


@pytest.mark.parametrize(
    "sweeps, message",
    [
        (["local-lora.lora_r"], "--sweep expects backend.option=value,value,..."),
        (["run.seed=1,2"], "run options apply to the whole run and cannot be swept"),
        (["local-lora.lora_r=8,8"], "lists a value twice"),
        (["local-lora.lora_r=8", "local-lora.lora_r=16"], "sweeps local-lora.lora_r twice"),
        (["local-lora.lora_rank=8,16"], "unknown option 'local-lora-lora_rank8.lora_rank'"),
        (["local-lora.lora_r=8,abc"], "lora_r"),
    ],
)
def test_bad_sweeps_are_one_clear_sentence(sweeps, message):
    with pytest.raises(ConfigError) as exc:
        make_plan(configmod.load(environ={}, sweeps=sweeps))
    assert message in str(exc.value)


@pytest.mark.slow
def test_a_sweep_of_two_options_trains_four_variants_in_one_run(tmp_path, tiny_model, capsys):
    from ftx.runner import plan_of
    from ftx.store import RunStore
    from ftx.testing import sample_rows, write_jsonl

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    code, out, err = ftx_main(
        capsys,
        "run",
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--eval-size",
        "4",
        "--name",
        "v",
        "--sweep",
        "local-lora.lora_r=4,8",
        "--sweep",
        "local-lora.lora_alpha=8,16",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
    )
    assert code == 0, err
    run = tmp_path / "runs" / "v"
    meta = json.loads((run / "run.json").read_text())
    grid = {
        "local-lora-lora_r4-lora_alpha8": (4, 8),
        "local-lora-lora_r4-lora_alpha16": (4, 16),
        "local-lora-lora_r8-lora_alpha8": (8, 8),
        "local-lora-lora_r8-lora_alpha16": (8, 16),
    }
    assert list(meta["backends"]) == ["local-base", *grid]
    assert meta["config"]["variants"] == dict.fromkeys(grid, "local-lora")
    assert meta["config"]["swept"]["local-lora-lora_r8-lora_alpha16"] == {
        "lora_r": "8",
        "lora_alpha": "16",
    }
    page = (run / "report.html").read_text()
    assert "rougeL by lora_r" in page and "rougeL by lora_alpha" in page
    for name, (rank, alpha) in grid.items():
        assert meta["backends"][name]["status"] == "done"
        assert meta["backends"][name]["train"]["steps"] == 2  # local-lora's table applies
        adapter = json.loads((run / name / "adapter" / "adapter_config.json").read_text())
        assert (adapter["r"], adapter["lora_alpha"]) == (rank, alpha)
    report = json.loads((run / "report.json").read_text())
    assert [row["name"] for row in report["backends"]] == ["local-base", *grid]
    assert all(name in out for name in grid)  # a row each in the terminal table

    # The run's plan is rebuilt from run.json (as ftx resume and export do): the same variants.
    plan = plan_of(RunStore(tmp_path / "runs").open("v"))
    assert [(b.name, o.lora_r, o.lora_alpha) for b, o in plan.backends[1:]] == [
        (name, *values) for name, values in grid.items()
    ]


class CtrlCIn:
    """Presses Ctrl-C (a KeyboardInterrupt) when ``backend`` logs its first training step."""

    def __init__(self, backend):
        self.backend = backend

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == "train_log" and event.backend == self.backend:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_a_sweep_stopped_midway_resumes_only_its_unfinished_variants(tmp_path, tiny_model):
    from click.testing import CliRunner

    from ftx.cli import cli
    from ftx.testing import registered, sample_rows, write_jsonl

    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(20))
    args = ["run", "--data", str(data), "--model", str(tiny_model), "--eval-size", "4"]
    args += ["--name", "s", "--backend", "local-lora", "--sweep", "local-lora.lora_r=4,8,16"]
    args += ["--set", "local-lora.max_steps=2", "--set", "run.max_new_tokens=4"]
    with registered(CtrlCIn("local-lora-lora_r8")):
        stopped = CliRunner().invoke(cli, args)
    assert stopped.exit_code != 0
    run = tmp_path / "runs" / "s"
    status = {
        k: v["status"] for k, v in json.loads((run / "run.json").read_text())["backends"].items()
    }
    assert status["local-lora-lora_r4"] == "done"
    assert status["local-lora-lora_r8"] == "interrupted"
    first = (
        (run / "local-lora-lora_r4" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    )

    resumed = CliRunner().invoke(cli, ["resume", "s"])
    assert resumed.exit_code == 0, resumed.output
    meta = json.loads((run / "run.json").read_text())
    assert all(b["status"] == "done" for b in meta["backends"].values())
    # The finished variant was not trained again; the others were, each with its own rank.
    assert (
        run / "local-lora-lora_r4" / "adapter" / "adapter_model.safetensors"
    ).stat().st_mtime_ns == first
    for name, rank in (("local-lora-lora_r8", 8), ("local-lora-lora_r16", 16)):
        adapter = json.loads((run / name / "adapter" / "adapter_config.json").read_text())
        assert adapter["r"] == rank
