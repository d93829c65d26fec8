"""``ftx chat``: questions piped in get one line of answer each (every model's with
``--compare``), the answers the models' own backends give; at a terminal, a conversation with
history, ``/reset`` and ``/exit``, streamed, or side by side."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from concurrent.futures import Future

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.types import Completion, GenerationParams, Message

from .test_serve import QUESTIONS, hosted_answer, make_tuned_run, reference_answers

LOCAL = ["local-base", "local-lora", "b"]


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    return make_tuned_run(tmp_path_factory)


@pytest.fixture
def env(tuned_run, monkeypatch):
    for key, value in tuned_run.env.items():
        monkeypatch.setenv(key, value)
    return tuned_run


def chat(*args: str, input: str):
    return CliRunner().invoke(cli, ["chat", *args], input=input)


def ask(question: str, system: str | None = None) -> list[dict[str, str]]:
    return [
        *([{"role": "system", "content": system}] if system else []),
        {"role": "user", "content": question},
    ]


@pytest.mark.slow
def test_piped_questions_get_one_line_of_answer_each(env):
    """A real process with a pipe for stdin: blank lines are skipped, /exit stops."""
    piped = f"{QUESTIONS[0]}\n\n{QUESTIONS[1]}\n/exit\n{QUESTIONS[2]}\n"
    result = subprocess.run(
        [sys.executable, "-m", "ftx.cli", "chat", "r", "local-lora", "--max-tokens", "8"],
        input=piped,
        capture_output=True,
        text=True,
        cwd=env.root,
        env={**os.environ, **env.env, "FTX_RUN__RUNS_DIR": str(env.runs)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = reference_answers(env, ["local-lora"], [ask(q) for q in QUESTIONS[:2]], 8)
    assert result.stdout.splitlines() == [_line(a) for a in expected["local-lora"]]


@pytest.mark.slow
def test_compare_gives_every_models_answer_a_line(env):
    result = chat(
        "r",
        "--compare",
        "--max-tokens",
        "8",
        "--runs-dir",
        str(env.runs),
        input=f"{QUESTIONS[3]}\n",
    )
    assert result.exit_code == 0, result.output
    expected = reference_answers(env, LOCAL, [ask(QUESTIONS[3])], 8)
    assert result.output.splitlines() == [
        *(f"{name}\t{_line(expected[name][0])}" for name in LOCAL),
        f"openai\t{hosted_answer(env, QUESTIONS[3])}",
    ]


@pytest.mark.slow
def test_the_system_prompt_goes_with_every_question(env):
    system = "Answer in one word."
    result = chat(
        "r",
        "b",
        "--system",
        system,
        "--max-tokens",
        "8",
        "--runs-dir",
        str(env.runs),
        input=f"{QUESTIONS[4]}\n",
    )
    assert result.exit_code == 0, result.output
    expected = reference_answers(env, ["b"], [ask(QUESTIONS[4], system)], 8)
    assert result.output.splitlines() == [_line(expected["b"][0])]


@pytest.mark.slow
def test_without_a_model_the_runs_best_answers(env):
    from ftx.models import best_model
    from ftx.store import RunStore

    best = best_model(RunStore(env.runs).open("r")).name
    assert best in ("local-lora", "b", "openai")  # a tuned model, never the baseline
    result = chat("r", "--max-tokens", "4", "--runs-dir", str(env.runs), input="hello\n")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 1
    assert result.stderr.startswith(f"{best}: the run's best model on rougeL")


def test_a_model_the_run_lacks_is_one_sentence(env, capsys):
    from .helpers import ftx_main

    code, out, err = ftx_main(capsys, "chat", "r", "nope", "--runs-dir", str(env.runs))
    assert code == 1 and out == ""
    assert (
        err == "error: run r has no model 'nope'. Its models: local-base, local-lora, b, openai.\n"
    )


def test_compare_and_a_model_together_is_a_usage_error(env):
    result = chat("r", "b", "--compare", "--runs-dir", str(env.runs), input="")
    assert result.exit_code == 2 and "--compare talks to every model" in result.output


# --- at a terminal: the conversation, with models that record what they were asked -----------


class Recording:
    """A model that answers with the number of messages it was sent, streaming two pieces."""

    streams = True

    def __init__(self, name: str):
        self.name, self.asked = name, []

    def submit(self, messages, params, on_text=None):
        self.asked.append(list(messages))
        answer = f"{self.name} saw {len(messages)}"
        if on_text:
            on_text(answer[:3])
            on_text(answer[3:])
        future: Future = Future()
        future.set_result(Completion(answer, completion_tokens=3, truncated=self.name == "b"))
        return future

    def answer(self, messages, params, on_text=None):
        return self.submit(messages, params, on_text).result()


class Models:
    def __init__(self, *names: str):
        self.answerers = {n: Recording(n) for n in names}
        self.run = type("Run", (), {"id": "r"})()

    def __getitem__(self, name):
        return self.answerers[name]


def terminal(models, names, lines, system=None):
    from rich.console import Console

    from ftx.chat import at_terminal

    typed = iter(lines)

    def read(prompt: str) -> str:
        try:
            return next(typed)
        except StopIteration:
            raise EOFError from None

    out = Console(file=io.StringIO(), width=100, color_system=None)
    at_terminal(
        models, names, GenerationParams(max_new_tokens=5), system=system, read=read, out=out
    )
    return out.file.getvalue()


def test_a_conversation_keeps_its_history_until_reset():
    models = Models("local-lora")
    shown = terminal(
        models, ["local-lora"], ["hi", "and?", "/reset", "again", "/exit", "never"], "Be brief."
    )
    asked = models["local-lora"].asked
    assert [len(m) for m in asked] == [2, 4, 2]  # system + question; + the first turn; reset
    assert asked[1] == [
        Message("system", "Be brief."),
        Message("user", "hi"),
        Message("assistant", "local-lora saw 2"),
        Message("user", "and?"),
    ]
    assert "local-lora> local-lora saw 2\n" in shown and "(a new conversation)" in shown
    assert "/reset starts a new conversation, /exit leaves" in shown


def test_an_unknown_command_is_not_sent_and_ctrl_d_leaves():
    models = Models("b")
    shown = terminal(models, ["b"], ["/help"])
    assert models["b"].asked == [] and "unknown command /help" in shown


def test_an_answer_cut_short_says_so():
    shown = terminal(Models("b"), ["b"], ["hi"])
    assert "(cut at 5 tokens: --max-tokens allows more)" in shown


def test_side_by_side_each_model_keeps_its_conversation():
    models = Models("local-base", "local-lora")
    shown = terminal(models, ["local-base", "local-lora"], ["hi", "and?"])
    assert "local-base saw 1" in shown and "local-lora saw 3" in shown
    assert models["local-lora"].asked[1][1] == Message("assistant", "local-lora saw 1")
    assert "2 models side by side" in shown


def _line(answer: str) -> str:
    from ftx.display import plain

    return plain(answer, newlines=False).replace("\t", "\\t")
