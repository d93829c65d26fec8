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
from ftx.types import Problem


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


# --- conformance checks: each contract of docs/plugins.md, as a plugin's tests can assert it ----


def check_backend(backend_cls: type, options: Any = None, *, data_rows: int = 16) -> None:
    """Conformance check for a backend class, run as a run would run it (``options``: an
    instance of its ``Options``; default: the defaults). Checks its class attributes and
    options' help texts; that ``check`` returns Problems and ``estimate_cost`` dollars; that
    ``train`` (and ``attach``, if it can resume) returns a ``TrainedModel`` while keeping its
    state JSON; that ``generate`` answers every prompt in order with a ``Completion`` and gives
    ``on_answer`` each answer once; and ``reference_logprobs`` when the model
    ``can_score_references``. Raises AssertionError naming what is wrong."""
    from ftx.backend import Backend

    assert isinstance(backend_cls, type) and issubclass(backend_cls, Backend), (
        f"{getattr(backend_cls, '__name__', backend_cls)} must subclass ftx.backend.Backend"
    )
    _check_backend_class(backend_cls)
    splits = _sample_splits(data_rows)
    backend = backend_cls()
    opts = options if options is not None else backend_cls.Options()
    problems = backend.check(splits, opts)
    assert isinstance(problems, list) and all(isinstance(p, Problem) for p in problems), (
        "check() must return a list of ftx.types.Problem"
    )
    _check_dollars(backend.estimate_cost(splits, opts), "estimate_cost()")
    ctx = _context()
    model = backend.train(splits, opts, ctx)
    _check_model(model, splits, "train()")
    _check_state(ctx)
    if type(backend).attach is not Backend.attach:  # it can resume: from the state it saved
        try:
            again = backend.attach(ctx.state, opts, ctx)
        except NotImplementedError:  # the documented way to say "cannot resume"
            return
        _check_model(again, splits, "attach()")


def _check_backend_class(backend_cls: type) -> None:
    import dataclasses

    assert isinstance(getattr(backend_cls, "name", None), str) and backend_cls.name, (
        "set a class attribute name"
    )
    options = getattr(backend_cls, "Options", None)
    assert isinstance(options, type) and dataclasses.is_dataclass(options), (
        "Options must be a dataclass"
    )
    for f in dataclasses.fields(options):
        assert f.metadata.get("help"), (
            f"option '{f.name}' needs a help text: use ftx.options.option(default, help)"
        )
    for flag in ("is_baseline", "remote", "distributed"):
        assert isinstance(getattr(backend_cls, flag), bool), f"{flag} must be True or False"
    field_names = {f.name for f in dataclasses.fields(options)}
    assert backend_cls.model_option is None or backend_cls.model_option in field_names, (
        f"model_option '{backend_cls.model_option}' is not a field of Options"
    )


def _sample_splits(rows: int) -> Any:
    from ftx.data import split
    from ftx.types import Example, Message

    examples = [
        Example(r["id"], (Message("user", r["question"]), Message("assistant", r["answer"])))
        for r in sample_rows(rows)
    ]
    return split(examples, eval_size=4, seed=0)


def _context() -> Any:
    """A backend context as a run gives it, in a temporary folder, with silent progress; every
    ``save_state`` checks that the state is JSON, as run.json needs it."""
    import tempfile

    from ftx.backend import BackendContext
    from ftx.progress import silent_progress

    def save_state() -> None:
        _check_state(ctx)

    ctx = BackendContext(
        "check",
        Path(tempfile.mkdtemp(prefix="ftx-check-")),
        {},
        save_state,
        lambda line: None,
        lambda kind, data: None,
        silent_progress(),
    )
    return ctx


def _check_state(ctx: Any) -> None:
    try:
        json.dumps(ctx.state)
    except (TypeError, ValueError) as exc:
        raise AssertionError(
            f"ctx.state must hold JSON only (it is saved in run.json for attach()): {exc}"
        ) from None
    for kind, usd in ctx.costs.items():
        _check_dollars(usd, f"the cost '{kind}' given to ctx.add_cost()")


def _check_model(model: Any, splits: Any, made_by: str) -> None:
    from ftx.backend import TrainedModel
    from ftx.types import Completion, GenerationParams, TrainStats

    assert isinstance(model, TrainedModel), (
        f"{made_by} returned {type(model).__name__}, not an ftx.backend.TrainedModel"
    )
    assert isinstance(getattr(model, "stats", TrainStats()), TrainStats), (
        "a model's stats must be ftx.types.TrainStats"
    )
    prompts = [e.prompt for e in splits.eval]
    given: dict[int, Any] = {}

    def on_answer(index: int, completion: Any) -> None:
        assert 0 <= index < len(prompts), f"on_answer got index {index} for {len(prompts)} prompts"
        assert index not in given, f"on_answer got the answer to prompt {index} twice"
        given[index] = completion

    answers = model.generate(prompts, GenerationParams(max_new_tokens=8), on_answer=on_answer)
    assert isinstance(answers, list) and len(answers) == len(prompts), (
        "generate() must return a list with an answer for every prompt"
    )
    assert all(isinstance(a, Completion) for a in answers), (
        "generate() must return ftx.types.Completion objects"
    )
    for index, completion in given.items():
        assert isinstance(completion, Completion) and completion.text == answers[index].text, (
            f"on_answer got another answer to prompt {index} than generate() returned"
        )
    if model.can_score_references:
        _check_reference_logprobs(model, splits.eval)
    model.close()


def _check_reference_logprobs(model: Any, examples: list[Any]) -> None:
    import numbers

    scored = model.reference_logprobs(examples)
    assert isinstance(scored, list) and len(scored) == len(examples), (
        "reference_logprobs() must give one (log-probability, tokens) pair per example"
    )
    for logprob, tokens in scored:
        assert isinstance(logprob, numbers.Real) and isinstance(tokens, numbers.Integral), (
            "reference_logprobs() pairs are (float log-probability, int token count)"
        )
        assert tokens > 0, "a reference answer has at least one token"


def _check_dollars(value: Any, what: str) -> None:
    import numbers

    assert value is None or (
        isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= 0
    ), f"{what} must be dollars (a number, at least 0) or None, not {value!r}"


def check_evaluator(evaluator_cls: type, options: Any = None) -> None:
    """Conformance check for an evaluator class, called as a run calls it (``options``: an
    instance of its ``Options``). Checks its class attributes; that ``score`` takes ``rows=``
    exactly when ``needs`` is set (rows holding what every need asks for: log-probabilities,
    a pair's, and the answers of one other backend, named ``other``); that it returns
    ``Scores`` with one number per example for every metric it names and nothing else; that
    ``corpus_value`` reproduces its corpus values from ``corpus_stats``; and that its costs are
    dollars. Raises AssertionError naming what is wrong."""
    from ftx.evaluator import Evaluator

    assert isinstance(evaluator_cls, type) and issubclass(evaluator_cls, Evaluator), (
        f"{getattr(evaluator_cls, '__name__', evaluator_cls)} must subclass ftx.evaluator.Evaluator"
    )
    _check_evaluator_class(evaluator_cls)
    evaluator = evaluator_cls(options)
    predictions, references = ["a b", "", "Jane Austen"], ["a b", "x", "Jane"]
    prompts = ["q1", "q2", "q3"]
    if evaluator.needs:
        # prediction rows as a run passes them, with what a model that can_score_references
        # adds, what one that can_score_pairs adds for a preference pair, and the answers of
        # the run's other backends (one, named "other")
        from ftx.types import PairLogprobs

        rows = [
            {
                "id": str(i),
                "prediction": p,
                "reference_logprob": -2.0 * (i + 1),
                "reference_tokens": i + 2,
                **PairLogprobs(
                    chosen=-1.0 * (i + 1),
                    rejected=-3.0 * (i + 1),
                    base_chosen=-2.0 * (i + 1),
                    base_rejected=-2.0 * (i + 1),
                    chosen_tokens=i + 2,
                    rejected_tokens=i + 3,
                ).row(),
                "other_answers": {"other": predictions[(i + 1) % len(predictions)]},
            }
            for i, p in enumerate(predictions)
        ]
        scores = evaluator.score(predictions, references, prompts, rows=rows)
    else:
        scores = evaluator.score(predictions, references, prompts)
    _check_scores(evaluator, scores, 3)
    _check_dollars(evaluator.estimate_cost(_sample_splits(8), 8), "estimate_cost()")


def _check_evaluator_class(evaluator_cls: type) -> None:
    import dataclasses
    import inspect

    assert isinstance(getattr(evaluator_cls, "name", None), str) and evaluator_cls.name, (
        "set a class attribute name"
    )
    metrics = getattr(evaluator_cls, "metrics", None)
    assert isinstance(metrics, tuple) and metrics and all(isinstance(m, str) for m in metrics), (
        "metrics must be a tuple naming every metric score() returns"
    )
    for metric in (*evaluator_cls.lower_is_better, *evaluator_cls.targets):
        assert metric in metrics, f"'{metric}' in lower_is_better or targets is not in metrics"
    assert dataclasses.is_dataclass(evaluator_cls.Options), "Options must be a dataclass"
    if evaluator_cls.needs:
        parameters = inspect.signature(evaluator_cls.score).parameters.values()
        assert any(p.name == "rows" or p.kind is p.VAR_KEYWORD for p in parameters), (
            "needs is set, so score() is called with rows=: give it a rows parameter"
        )


def _check_scores(evaluator: Any, scores: Any, count: int) -> None:
    import math
    import numbers

    from ftx.types import Scores

    assert isinstance(scores, Scores), (
        f"score() must return ftx.types.Scores, not {type(scores).__name__}"
    )
    for metric in evaluator.metrics:
        values = scores.per_example.get(metric)
        assert values is not None and len(values) == count, (
            f"metric '{metric}' needs one value per example"
        )
        assert all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values), (
            f"metric '{metric}' values must be numbers"
        )
    for metric in (*scores.per_example, *scores.corpus):
        assert metric in evaluator.metrics, f"score() returned '{metric}', which is not in metrics"
    for metric, vectors in scores.corpus_stats.items():
        assert len(vectors) == count, f"corpus_stats['{metric}'] needs one vector per example"
        assert metric in scores.corpus, (
            f"corpus_stats['{metric}'] without Scores.corpus['{metric}']"
        )
        totals = [sum(column) for column in zip(*vectors)]
        assert math.isclose(
            evaluator.corpus_value(metric, totals), scores.corpus[metric], rel_tol=1e-6
        ), f"corpus_value('{metric}', totals of corpus_stats) must give Scores.corpus['{metric}']"
    _check_dollars(scores.cost_usd, "Scores.cost_usd")
