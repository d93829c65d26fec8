"""A tiny third-party plugin used by the tests: a backend that echoes the question back, and an
evaluator that scores answer length. Installed into a temporary site-packages with an entry
point."""

from dataclasses import dataclass

from ftx import hookimpl
from ftx.backend import Backend, TrainedModel
from ftx.evaluator import Evaluator
from ftx.options import option
from ftx.types import Completion, Scores, TrainStats


@dataclass
class EchoOptions:
    prefix: str = option("", "text put before every answer")


class EchoModel(TrainedModel):
    def __init__(self, prefix):
        self.prefix = prefix
        self.stats = TrainStats(steps=1, train_tokens=10, seconds=0.1)

    def generate(self, prompts, params, on_answer=None):
        return [Completion(self.prefix + p[-1].content) for p in prompts]


class EchoBackend(Backend):
    name = "echo"
    description = "answers with the question (for tests)"
    Options = EchoOptions

    def train(self, splits, opts, ctx):
        ctx.log(f"trained on {len(splits.train)} examples")
        return EchoModel(opts.prefix)

    def attach(self, state, opts, ctx):
        return EchoModel(opts.prefix)


class AnswerLength(Evaluator):
    name = "answer_length"
    metrics = ("answer_words",)
    lower_is_better = ("answer_words",)

    def score(self, predictions, references, prompts):
        return Scores({"answer_words": [float(len(p.split())) for p in predictions]})


@hookimpl
def ftx_register_backends(register):
    register(EchoBackend)


@hookimpl
def ftx_register_evaluators(register):
    register(AnswerLength)
