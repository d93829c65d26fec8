"""A third-party plugin with bugs, for the tests that check one broken part never takes a run
down: a backend that fails in the phase named by ``FAIL`` (or by ``FTX_BREAKS_FAIL`` when it is
installed through an entry point), a backend that shows progress the documented ways, an
evaluator and a reporter that raise, an evaluator that returns the wrong number of values, and a
run-event observer that raises."""

import os
import sys
from dataclasses import dataclass

from ftx import hookimpl
from ftx.backend import Backend, TrainedModel
from ftx.evaluator import Evaluator
from ftx.reporter import Reporter
from ftx.types import Completion, Scores, TrainStats

# What fails: init, validate, check, estimate, train, attach, generate, close, exit (sys.exit in
# train), events.
FAIL: set[str] = set()


def failing(phase: str) -> bool:
    return phase in FAIL or phase in os.environ.get("FTX_BREAKS_FAIL", "").split(",")


@dataclass
class NoOptions:
    pass


@dataclass
class BreaksOptions:
    def validate(self):
        if failing("validate"):
            raise TypeError("validate bug")
        return []


class BrokenModel(TrainedModel):
    def __init__(self, healthy=False):
        self.stats = TrainStats(steps=1)
        self.healthy = healthy

    def generate(self, prompts, params, on_answer=None):
        if failing("generate") and not self.healthy:
            raise KeyError("answer")
        return [Completion("an answer") for _ in prompts]

    def close(self):
        if failing("close") and not self.healthy:
            raise RuntimeError("close bug")


class Breaks(Backend):
    name = "breaks"
    description = "fails in the phase the test chooses"
    Options = BreaksOptions

    def __init__(self):
        if failing("init"):
            raise RuntimeError("init bug")

    def check(self, splits, opts):
        if failing("check"):
            raise ZeroDivisionError("division by zero in check")
        return []

    def estimate_cost(self, splits, opts):
        if failing("estimate"):
            raise ValueError("no price list")
        return None

    def train(self, splits, opts, ctx):
        if failing("exit"):
            sys.exit("giving up")  # what a plugin must never do, and sometimes does
        if failing("train"):
            raise ValueError("train bug")
        return BrokenModel()

    def attach(self, state, opts, ctx):
        if failing("attach"):
            raise AttributeError("attach bug")
        return BrokenModel()


class ShowsProgress(Backend):
    """Progress as plugins have used it (rich's add_task with no ``info`` field) and as
    documented (``ctx.task``)."""

    name = "shows-progress"
    Options = NoOptions

    def train(self, splits, opts, ctx):
        task = ctx.progress.add_task("x", total=2)
        ctx.progress.advance(task)
        ctx.progress.update(task, advance=1)
        odd = ctx.progress.add_task(
            "[/oops]", total=None
        )  # not valid markup: shown as it is, never a crash
        ctx.progress.update(odd, completed=1)
        steps = ctx.task("shows-progress: training", total=4)
        for step in range(4):
            steps.advance(info=f"loss {1 / (step + 1):.2f}")
        job = ctx.task("shows-progress: job", info="queued")
        job.update(info="running")
        job.done(info="succeeded")
        return BrokenModel(healthy=True)


class Raises(Evaluator):
    name = "raises"
    metrics = ("never",)

    def score(self, predictions, references, prompts):
        raise RuntimeError("evaluator bug")


class Miscounts(Evaluator):
    name = "miscounts"
    metrics = ("short",)

    def score(self, predictions, references, prompts):
        return Scores({"short": [1.0]})  # one value, whatever the number of answers


class RaisingReporter(Reporter):
    name = "raising"
    writes = "raising.txt"

    def report(self, result, run_dir, console):
        raise OSError("reporter bug")


@hookimpl
def ftx_register_backends(register):
    register(Breaks)
    register(ShowsProgress)


@hookimpl
def ftx_register_evaluators(register):
    register(Raises)
    register(Miscounts)


@hookimpl
def ftx_register_reporters(register):
    register(RaisingReporter)


@hookimpl
def ftx_run_event(event):
    if failing("events"):
        raise LookupError(f"observer bug at {event.kind}")
