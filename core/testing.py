"""Helpers for testing ftx and ftx plugins: a tiny model, sample data, plugin registration.

from ftx.testing import make_tiny_model, registered

def test_my_backend(tmp_path):
    model_dir = make_tiny_model(tmp_path / "model")   # 2-layer Llama, 64 wide, no download
    with registered(my_plugin_module):
        ...                                          # ftx sees the plugin only in here
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from ftx import plugins


def tiny_tokenizer_dir() -> Path:
    """A 512-token BPE tokenizer with a ChatML chat template, shipped with ftx."""
    return Path(str(resources.files("ftx") / "assets" / "tiny-tokenizer"))


def make_tiny_model(path: str | Path, *, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """Save a randomly initialised Llama-shaped model with the tiny tokenizer to ``path``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    if (path / "config.json").exists():
        return path
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        # With the usual 0.02, tied-embedding logits of a 64-wide model stay within about +-1.3
        # behind the frozen final norm, and LoRA could not make any prediction confident.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def sample_rows(n: int = 24) -> list[dict[str, str]]:
    """``n`` question/answer records from the bundled dataset."""
    from ftx.data import bundled_path

    lines = bundled_path().read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(path)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@contextlib.contextmanager
def registered(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or object with hookimpls) for the duration of a block.

    A plugin ftx already loaded (installed with ``pip install -e .``, its entry point not
    disabled by ``FTX_LOAD_PLUGINS``) stays as it is: the block sees it under its entry-point
    name, and it is not unregistered after."""
    pm = plugins.get_plugin_manager()
    if pm.is_registered(plugin):
        yield pm.get_name(plugin)
        return
    plugin_name = plugins.register_plugin(plugin, name=name)
    try:
        yield plugin_name
    finally:
        plugins.unregister_plugin(plugin_name)


# --- pytest fixtures for plugin authors ----------------------------------------------------
# In your tests' conftest.py:  from ftx.testing import ftx_env, ftx_run, tiny_model  # noqa: F401

try:
    import pytest
except ImportError:  # pytest is only needed by test suites
    pytest = None

if pytest is not None:

    @pytest.fixture
    def ftx_env(tmp_path, monkeypatch):
        """A clean ftx for one test: its own folder and model cache, no installed third-party
        plugins (register yours with ``registered``), fresh plugin state."""
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("FTX_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
        plugins.reset()
        yield tmp_path
        plugins.reset()

    @pytest.fixture(scope="session")
    def tiny_model(tmp_path_factory):
        """A 2-layer Llama (hidden 64) with the tiny tokenizer, built once per test session."""
        return make_tiny_model(tmp_path_factory.mktemp("ftx-tiny") / "model")

    @pytest.fixture
    def ftx_run(ftx_env):
        """Run ``ftx run ARGS`` in-process; returns (click result, run.json as a dict or None)."""
        from click.testing import CliRunner

        from ftx.cli import cli

        def run(*args: str, name: str = "test-run"):
            result = CliRunner().invoke(cli, ["run", "--name", name, *args])
            meta_path = ftx_env / "runs" / name / "run.json"
            return result, json.loads(meta_path.read_text()) if meta_path.exists() else None

        return run


def check_backend(backend_cls: type, *, data_rows: int = 16) -> None:
    """Conformance check for a backend class: it subclasses Backend, has a name and an Options
    dataclass with help texts, preflight returns Problems, and a trained model answers every
    prompt in order with a Completion. Raises AssertionError naming what is wrong."""
    import dataclasses
    import tempfile

    from rich.progress import Progress

    from ftx.backend import Backend, BackendContext
    from ftx.data import split
    from ftx.types import Completion, Example, GenerationParams, Message, Problem

    assert issubclass(backend_cls, Backend), (
        f"{backend_cls.__name__} must subclass ftx.backend.Backend"
    )
    assert isinstance(getattr(backend_cls, "name", None), str) and backend_cls.name, (
        "set a class attribute name"
    )
    assert dataclasses.is_dataclass(backend_cls.Options), "Options must be a dataclass"
    for f in dataclasses.fields(backend_cls.Options):
        assert f.metadata.get("help"), (
            f"option '{f.name}' needs a help text: use ftx.options.option(default, help)"
        )
    rows = sample_rows(data_rows)
    examples = [
        Example(r["id"], (Message("user", r["question"]), Message("assistant", r["answer"])))
        for r in rows
    ]
    splits = split(examples, eval_size=4, seed=0)
    backend, opts = backend_cls(), backend_cls.Options()
    problems = backend.check(splits, opts)
    assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems), (
        "check() must return a list of Problems"
    )
    folder = Path(tempfile.mkdtemp())
    ctx = BackendContext(
        "check",
        folder,
        {},
        lambda: None,
        lambda line: None,
        lambda kind, data: None,
        Progress(disable=True),
    )
    model = backend.train(splits, opts, ctx)
    answers = model.generate([e.prompt for e in splits.eval], GenerationParams(max_new_tokens=8))
    assert len(answers) == len(splits.eval), "generate() must answer every prompt"
    assert all(isinstance(a, Completion) for a in answers), (
        "generate() must return Completion objects"
    )
    model.close()


def check_evaluator(evaluator_cls: type) -> None:
    """Conformance check for an evaluator: every metric it names has one value per example."""
    from ftx.evaluator import Evaluator

    assert issubclass(evaluator_cls, Evaluator), (
        f"{evaluator_cls.__name__} must subclass ftx.evaluator.Evaluator"
    )
    scores = evaluator_cls().score(
        ["a b", "", "Jane Austen"], ["a b", "x", "Jane"], ["q1", "q2", "q3"]
    )
    for metric in evaluator_cls.metrics:
        values = scores.per_example.get(metric)
        assert values is not None and len(values) == 3, (
            f"metric '{metric}' needs one value per example"
        )
        assert all(isinstance(v, float) for v in values), f"metric '{metric}' values must be floats"
