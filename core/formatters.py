"""Formatters: recognise an input schema and parse its records into ``Example`` messages.

Built in: OpenAI chat ``messages``, ShareGPT ``conversations``, Alpaca
``instruction/input/output``, ``prompt/completion``, ``prompt/response`` and
``question/answer``. A formatter reports problems through ``report(field, message, hint)`` so
that every problem of every record reaches the user at once.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from ftx.hookspecs import hookimpl
from ftx.types import ROLES, Message

Report = Callable[..., None]  # report(field, message, hint="")


class Formatter:
    """Subclass, set ``name``, ``keys`` (the fields that identify the schema) and ``parse``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()

    def detect(self, record: dict[str, Any]) -> bool:
        """True if ``record`` looks like this schema (all ``keys`` present)."""
        return bool(self.keys) and all(k in record for k in self.keys)

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        """The record's messages, ending with the assistant's reference answer; or None after
        reporting what is wrong."""
        raise NotImplementedError


def text_field(record: dict[str, Any], key: str, report: Report, *, required: bool = True) -> str | None:
    """A non-empty string field, reporting a missing, wrong-typed or empty value."""
    if key not in record or record[key] is None:
        if required:
            report(key, "is missing", f"add a non-empty '{key}' string")
        return None
    value = record[key]
    if not isinstance(value, str):
        report(key, f"must be a string, not {type(value).__name__}")
        return None
    if required and not value.strip():
        report(key, "is empty", f"write the {key} text or remove the record")
        return None
    return value


def check_conversation(messages: list[Message], field: str, report: Report) -> bool:
    """Roles must be: an optional system message, then user/assistant turns alternating,
    starting with user and ending with assistant (the reference answer)."""
    ok = True
    body = messages[1:] if messages and messages[0].role == "system" else messages
    for i, m in enumerate(messages):
        if m.role == "system" and i != 0:
            report(f"{field}[{i}].role", "a system message may only come first")
            ok = False
    if not body:
        report(field, "has no user and assistant messages", "add a user question and the assistant's answer")
        return False
    for i, m in enumerate(body):
        expected = "user" if i % 2 == 0 else "assistant"
        index = i + (len(messages) - len(body))
        if m.role != expected and m.role != "system":
            report(f"{field}[{index}].role", f"expected '{expected}' here, got '{m.role}'", "turns must alternate user, assistant, user, ...")
            return False
    if body[-1].role != "assistant":
        report(field, "must end with an assistant message (the reference answer)", "add the expected answer as the last message")
        ok = False
    return ok


def _content_text(content: Any, field: str, report: Report) -> str | None:
    """Message content is a string, or OpenAI's list of parts where only text parts are allowed."""
    if isinstance(content, str):
        if not content.strip():
            report(field, "is empty", "write the message text or remove the message")
            return None
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                report(f"{field}[{j}]", "only text parts ({\"type\": \"text\", \"text\": ...}) are supported")
                return None
            texts.append(part["text"])
        return _content_text("".join(texts), field, report)
    if content is None:
        report(field, "is missing", "add the message text")
    else:
        report(field, f"must be a string, not {type(content).__name__}")
    return None


class _ConversationFormatter(Formatter):
    """A list of role/content dicts under one key (OpenAI and ShareGPT differ in names only)."""

    list_key: ClassVar[str]
    role_key: ClassVar[str]
    content_key: ClassVar[str]
    role_names: ClassVar[dict[str, str]]

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        items = record.get(self.list_key)
        if not isinstance(items, list):
            report(self.list_key, f"must be a list of messages, not {type(items).__name__}")
            return None
        if not items:
            report(self.list_key, "is empty", "add a user message and the assistant's answer")
            return None
        messages: list[Message] = []
        for i, item in enumerate(items):
            where = f"{self.list_key}[{i}]"
            if not isinstance(item, dict):
                report(where, f"must be an object with '{self.role_key}' and '{self.content_key}', not {type(item).__name__}")
                return None
            role = item.get(self.role_key)
            if role not in self.role_names:
                valid = ", ".join(sorted(self.role_names))
                report(f"{where}.{self.role_key}", f"unknown role {role!r}" if role is not None else "is missing", f"use one of: {valid}")
                return None
            text = _content_text(item.get(self.content_key), f"{where}.{self.content_key}", report)
            if text is None:
                return None
            messages.append(Message(self.role_names[role], text))
        return messages if check_conversation(messages, self.list_key, report) else None


class MessagesFormatter(_ConversationFormatter):
    name = "messages"
    description = 'OpenAI chat: {"messages": [{"role": "user", "content": ...}, ...]}'
    keys = ("messages",)
    list_key, role_key, content_key = "messages", "role", "content"
    role_names = {r: r for r in ROLES}


class ShareGPTFormatter(_ConversationFormatter):
    name = "sharegpt"
    description = 'ShareGPT: {"conversations": [{"from": "human", "value": ...}, ...]}'
    keys = ("conversations",)
    list_key, role_key, content_key = "conversations", "from", "value"
    role_names = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant"}


class AlpacaFormatter(Formatter):
    name = "alpaca"
    description = 'Alpaca: {"instruction": ..., "input": ... (optional), "output": ...}'
    keys = ("instruction", "output")

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        instruction = text_field(record, "instruction", report)
        extra = text_field(record, "input", report, required=False)
        output = text_field(record, "output", report)
        if instruction is None or output is None or (extra is None and record.get("input") is not None):
            return None
        prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        return [Message("user", prompt), Message("assistant", output)]


class _PairFormatter(Formatter):
    """One prompt field and one answer field."""

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        prompt_key, answer_key = self.keys
        prompt = text_field(record, prompt_key, report)
        answer = text_field(record, answer_key, report)
        if prompt is None or answer is None:
            return None
        messages = [Message("user", prompt), Message("assistant", answer)]
        system = record.get("system")
        if isinstance(system, str) and system.strip():
            messages.insert(0, Message("system", system))
        return messages


class PromptCompletionFormatter(_PairFormatter):
    name = "prompt_completion"
    description = '{"prompt": ..., "completion": ...}'
    keys = ("prompt", "completion")


class PromptResponseFormatter(_PairFormatter):
    name = "prompt_response"
    description = '{"prompt": ..., "response": ...}'
    keys = ("prompt", "response")


class QuestionAnswerFormatter(_PairFormatter):
    name = "question_answer"
    description = '{"question": ..., "answer": ...}'
    keys = ("question", "answer")


BUILTIN_FORMATTERS = (
    MessagesFormatter,
    ShareGPTFormatter,
    AlpacaFormatter,
    PromptCompletionFormatter,
    PromptResponseFormatter,
    QuestionAnswerFormatter,
)


@hookimpl
def ftx_register_formatters(register):
    for formatter in BUILTIN_FORMATTERS:
        register(formatter)
