"""``ftx chat``: talk to a run's models in the terminal.

At a terminal, a conversation: every message goes with the system prompt and the turns so far;
a local model's answer appears as it is generated (a hosted one's when it is whole); ``/reset``
starts a new conversation and ``/exit`` (or Ctrl-D) leaves. With ``--compare`` each message goes
to every model of the run, each keeping its own conversation, and the answers are shown side by
side: the run's comparison, live.

From a pipe (``ftx chat RUN < questions.txt``), for scripts: each line is a question of its own
(with the system prompt) and gets one line of answer, in order; line breaks, tabs and control
characters in an answer are written as escapes (``\\n``, ``\\t``). With ``--compare``, a line per
model: ``MODEL<TAB>answer``. Blank lines are skipped and ``/exit`` stops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ftx.answering import RunModels
from ftx.display import markup, plain
from ftx.errors import FtxError
from ftx.types import Completion, GenerationParams, Message

COMMANDS = "/reset starts a new conversation, /exit leaves"


@dataclass
class Conversation:
    """The system prompt and the turns so far, with one model."""

    system: str | None = None
    turns: list[Message] = field(default_factory=list)

    def ask(self, text: str) -> list[Message]:
        """The messages that ask ``text`` now."""
        system = [Message("system", self.system)] if self.system else []
        return [*system, *self.turns, Message("user", text)]

    def add(self, question: str, answer: str) -> None:
        self.turns += [Message("user", question), Message("assistant", answer)]

    def reset(self) -> None:
        self.turns = []


def at_terminal(
    models: RunModels,
    names: list[str],
    params: GenerationParams,
    *,
    system: str | None,
    read: Callable[[str], str],
    out: Any,
) -> None:
    """A conversation with ``names`` (side by side when there are several), read with
    ``read(prompt)`` (EOFError ends it) and shown on the rich console ``out``."""
    conversations = {name: Conversation(system) for name in names}
    who = names[0] if len(names) == 1 else f"{len(names)} models side by side"
    out.print(
        f"[bold]ftx chat[/] · run {markup(models.run.id)} · {markup(who)} · {COMMANDS}",
        highlight=False,
    )
    while True:
        try:
            text = read("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            out.print()
            return
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            for conversation in conversations.values():
                conversation.reset()
            out.print("[dim](a new conversation)[/]")
            continue
        if text.startswith("/") and " " not in text:
            out.print(f"[dim]unknown command {markup(text)}: {COMMANDS}[/]", highlight=False)
            continue
        if len(names) == 1:
            _one(models, names[0], conversations[names[0]], text, params, out)
        else:
            _side_by_side(models, names, conversations, text, params, out)


def _one(
    models: RunModels,
    name: str,
    conversation: Conversation,
    text: str,
    params: GenerationParams,
    out: Any,
) -> None:
    """One model's answer, written as it comes."""
    out.print(f"[bold cyan]{markup(name)}>[/] ", end="")
    out.file.flush()

    def show(piece: str) -> None:
        out.file.write(plain(piece))
        out.file.flush()

    try:
        completion = models[name].answer(conversation.ask(text), params, on_text=show)
    except FtxError as exc:
        out.print(f"\n[red]error:[/] {markup(exc)}")
        return
    out.print()
    if completion.truncated:
        out.print(
            f"[dim](cut at {params.max_new_tokens} tokens: --max-tokens allows more)[/]",
            highlight=False,
        )
    conversation.add(text, completion.text)


def _side_by_side(
    models: RunModels,
    names: list[str],
    conversations: dict[str, Conversation],
    text: str,
    params: GenerationParams,
    out: Any,
) -> None:
    """Every model's answer, in a column each."""
    from rich.table import Table

    answers = _ask_all(models, names, {n: conversations[n].ask(text) for n in names}, params)
    table = Table(show_lines=False, expand=True)
    for name in names:
        table.add_column(markup(name, newlines=False), overflow="fold", ratio=1)
    cells = []
    for name in names:
        answer = answers[name]
        if isinstance(answer, Exception):
            cells.append(f"[red]error:[/] {markup(answer)}")
            continue
        conversations[name].add(text, answer.text)
        cells.append(markup(answer.text) + (" [dim](cut)[/]" if answer.truncated else ""))
    table.add_row(*cells)
    out.print(table)


def _ask_all(
    models: RunModels,
    names: list[str],
    messages: dict[str, list[Message]],
    params: GenerationParams,
) -> dict[str, Completion | Exception]:
    """Every model asked at once (hosted ones answer side by side with local ones)."""
    futures = {name: models[name].submit(messages[name], params) for name in names}
    answers: dict[str, Completion | Exception] = {}
    for name, future in futures.items():
        try:
            answers[name] = future.result()
        except Exception as exc:
            answers[name] = exc
    return answers


def from_pipe(
    models: RunModels,
    names: list[str],
    params: GenerationParams,
    *,
    system: str | None,
    lines: Iterable[str],
    write: Callable[[str], None],
    warn: Callable[[str], None],
) -> int:
    """One line of answer for each line of ``lines`` (a line per model when there are several);
    returns how many answers failed (their lines are empty, and ``warn`` says why)."""
    failed = 0
    for number, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        if not text.strip() or text.strip() == "/reset":
            continue
        if text.strip() in ("/exit", "/quit"):
            break
        conversation = Conversation(system)
        answers = _ask_all(models, names, dict.fromkeys(names, conversation.ask(text)), params)
        for name in names:
            answer = answers[name]
            if isinstance(answer, Exception):
                failed += 1
                warn(f"line {number}: {name}: {answer}")
                shown = ""
            else:
                shown = plain(answer.text, newlines=False).replace("\t", "\\t")
            write(f"{name}\t{shown}" if len(names) > 1 else shown)
    return failed
