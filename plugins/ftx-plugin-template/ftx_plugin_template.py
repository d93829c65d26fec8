"""The smallest useful ftx plugin of each kind. Every class here is registered through the
same hooks ftx's built-ins use; see docs/plugins.md."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from ftx import hookimpl
from ftx.backend import Backend, TrainedModel
from ftx.evaluator import Evaluator
from ftx.evaluators.text import normalize
from ftx.formatters import Formatter, text_field
from ftx.options import option
from ftx.reporter import Reporter
from ftx.store import atomic_write_text
from ftx.templates import Template
from ftx.types import Completion, Message, Scores, TrainStats

# --- formatter: {"input": ..., "target": ...} ---------------------------------------------------


class InputTargetFormatter(Formatter):
    name = "input_target"
    description = '{"input": ..., "target": ...} (T5-style datasets)'
    keys = ("input", "target")

    def parse(self, record, report):
        prompt, answer = text_field(record, "input", report), text_field(record, "target", report)
        if prompt is None or answer is None:
            return None
        return [Message("user", prompt), Message("assistant", answer)]


# --- template: Question / Answer ---------------------------------------------------------------


class QAPromptTemplate(Template):
    name = "qa_prompt"
    description = "Question: ...\\nAnswer: ..."

    def prompt(self, messages, tokenizer):
        return "".join(f"Question: {m.content}\n" for m in messages if m.role == "user") + "Answer:"

    def completion(self, messages, answer, tokenizer):
        return f" {answer}{tokenizer.eos_token or ''}"

    def stop_strings(self, tokenizer):
        return ["\nQuestion:"]


# --- backend: nearest-answer retrieval baseline ---------------------------------------------------


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


@dataclass
class NearestOptions:
    fallback: str = option(
        "I don't know.", "answer when no training question shares a word with the prompt"
    )


class NearestModel(TrainedModel):
    def __init__(self, pairs: list[tuple[set[str], str]], fallback: str):
        self.pairs, self.fallback = pairs, fallback
        self.stats = TrainStats(steps=1, train_tokens=sum(len(q) for q, _ in pairs))

    def generate(self, prompts, params, on_answer=None):
        out = []
        for messages in prompts:
            asked = _words(messages[-1].content)
            score, answer = max(
                ((len(asked & q) / max(len(asked | q), 1), a) for q, a in self.pairs),
                default=(0.0, ""),
            )
            out.append(Completion(answer if score > 0 else self.fallback))
        return out


class NearestAnswerBackend(Backend):
    name = "nearest-answer"
    description = "retrieval baseline: the answer of the most similar training question (no model)"
    Options = NearestOptions

    def train(self, splits, opts, ctx):
        pairs = [(_words(e.prompt[-1].content), e.reference) for e in splits.train]
        ctx.log(f"indexed {len(pairs)} training questions")
        return NearestModel(pairs, opts.fallback)

    def attach(self, state, opts, ctx):
        raise NotImplementedError("nearest-answer trains in milliseconds: run it again")


# --- evaluator: reference contained in the prediction
# ----------------------------------------------


class ContainsEvaluator(Evaluator):
    name = "contains"
    description = "1 if the normalised reference appears inside the normalised prediction"
    metrics = ("contains",)

    def score(self, predictions, references, prompts):
        return Scores(
            {
                "contains": [
                    float(bool(normalize(r)) and f" {normalize(r)} " in f" {normalize(p)} ")
                    for p, r in zip(predictions, references)
                ]
            }
        )


# --- reporter: predictions side by side in a CSV
# -----------------------------------------------------


class CsvReporter(Reporter):
    name = "csv"
    description = "predictions.csv: each held-out example with every backend's answer"
    writes = "predictions.csv"

    def report(self, result: Any, run_dir, console):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["id", "prompt", "reference", *[b.name for b in result.backends]])
        for i, example_id in enumerate(result.example_ids):
            answers = [b.predictions[i] if i < len(b.predictions) else "" for b in result.backends]
            writer.writerow([example_id, result.prompts[i], result.references[i], *answers])
        atomic_write_text(run_dir / self.writes, buffer.getvalue())


# --- registration ------------------------------------------------------------------------------


@hookimpl
def ftx_register_formatters(register):
    register(InputTargetFormatter)


@hookimpl
def ftx_register_templates(register):
    register(QAPromptTemplate)


@hookimpl
def ftx_register_backends(register):
    register(NearestAnswerBackend)


@hookimpl
def ftx_register_evaluators(register):
    register(ContainsEvaluator)


@hookimpl
def ftx_register_reporters(register):
    register(CsvReporter)
