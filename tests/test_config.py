"""ftx.toml < environment < command line; typed options; errors that list what is valid."""

import pytest

from ftx import config as configmod
from ftx.errors import ConfigError
from ftx.plugins import get_registry


def write_toml(tmp_path, text):
    (tmp_path / "ftx.toml").write_text(text)


def test_defaults():
    config = configmod.load(environ={})
    assert config.run.backends == ["local-base", "local-lora"]
    assert config.run.evaluators == ["rouge", "bleu", "jaccard", "exact_match"]
    assert config.run.seed == 42 and config.run.data is None


def test_precedence_toml_env_cli(tmp_path):
    write_toml(
        tmp_path,
        '[run]\nseed = 1\neval_size = 0.3\nbackends = ["local-lora"]\n[local-lora]\nepochs = '
        "5\nlora_r = 4\n",
    )
    environ = {"FTX_RUN__SEED": "2", "FTX_LOCAL_LORA__EPOCHS": "6"}
    config = configmod.load(
        environ=environ, sets=["local-lora.lora_r=8"], cli={"eval_size": 0.5, "seed": None}
    )
    assert config.run.seed == 2  # env beats toml
    assert config.run.eval_size == 0.5  # command line beats toml
    assert config.run.backends == ["local-lora"]
    config.check_sections(get_registry())
    opts = config.options_for(
        "local-lora", get_registry().get("backend", "local-lora").Options, model_option="model"
    )
    assert (opts.epochs, opts.lora_r) == (6.0, 8)
    assert config.sources[("local-lora", "epochs")] == "FTX_LOCAL_LORA__EPOCHS"


def test_run_model_fills_local_backends_unless_set(tmp_path):
    config = configmod.load(environ={}, cli={"model": "/m"}, sets=["local-base.model=/other"])
    registry = get_registry()
    lora = config.options_for(
        "local-lora", registry.get("backend", "local-lora").Options, model_option="model"
    )
    base = config.options_for(
        "local-base", registry.get("backend", "local-base").Options, model_option="model"
    )
    assert lora.model == "/m" and base.model == "/other"


def test_env_section_with_underscore_name():
    config = configmod.load(environ={"FTX_ROUGE__STEMMER": "false"})
    config.check_sections(get_registry())
    assert (
        config.options_for("rouge", get_registry().get("evaluator", "rouge").Options).stemmer
        is False
    )


@pytest.mark.parametrize(
    "sets, message",
    [
        (
            ["local-lora.epoch=3"],
            "unknown option 'local-lora.epoch' (from --set). Did you mean 'epochs'?",
        ),
        (
            ["local-lora.epochs=three"],
            "bad value for 'local-lora.epochs' (from --set): expected a number, got 'three'",
        ),
        (["local-lora.device=tpu"], "expected one of 'auto', 'cpu', 'cuda', 'mps', got 'tpu'"),
        (["local-lora.lora_r=0"], "local-lora: lora_r must be at least 1"),
        (
            ["local-lorra.epochs=3"],
            "unknown section 'local-lorra' (from --set). Did you mean 'local-lora'?",
        ),
        (["epochs=3"], "--set expects section.key=value, got 'epochs=3'."),
    ],
)
def test_bad_options_are_clear(sets, message):
    with pytest.raises(ConfigError) as info:
        config = configmod.load(environ={}, sets=sets)
        config.check_sections(get_registry())
    assert message in str(info.value)


def test_bad_run_values_list_all(tmp_path):
    write_toml(tmp_path, "[run]\nseedd = 1\neval_size = 'x'\n")
    with pytest.raises(ConfigError) as info:
        configmod.load(environ={})
    text = str(info.value)
    assert "unknown option 'run.seedd' (from ftx.toml). Did you mean 'seed'?" in text
    assert "bad value for 'run.eval_size' (from ftx.toml): expected a number, got 'x'" in text


def test_bad_toml(tmp_path):
    write_toml(tmp_path, "[run\nseed=1")
    with pytest.raises(ConfigError, match="ftx.toml: invalid TOML"):
        configmod.load(environ={})
    write_toml(tmp_path, "seed = 1\n")
    with pytest.raises(ConfigError, match="must be inside a table"):
        configmod.load(environ={})


def test_coerce_types():
    from typing import Literal

    from ftx.options import coerce

    assert coerce("a, b", list[str]) == ["a", "b"]
    assert coerce('["q_proj"]', list[str]) == ["q_proj"]
    assert coerce("none", int | None) is None and coerce("3", int | None) == 3
    assert coerce("yes", bool) is True and coerce(2.0, int) == 2
    for value, kind in (("x", int), (True, int), ("maybe", bool), ("z", Literal["a"]), (1.5, int)):
        with pytest.raises(ValueError):
            coerce(value, kind)
