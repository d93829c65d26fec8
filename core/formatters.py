"""Formatters: recognise an input schema and parse its records into ``Example`` messages.

Built in, each shaped as the project it comes from documents it (docs/data.md has the table):
OpenAI chat ``messages``, ShareGPT ``conversations`` (LLaMA-Factory), Alpaca
``instruction/input/output`` with ``system`` and ``history`` (LLaMA-Factory), Gemini/Vertex
``contents``, TRL's ``prompt/completion`` (plain or conversational), ``prompt/response`` and
``question/answer``; and preference pairs (a prompt with a chosen and a rejected answer) as TRL,
OpenAI, LLaMA-Factory and Vertex AI write them (``ftx.preference`` says what a pair is). A
formatter reports problems through ``report(field, message, hint)`` so
that every problem of every record reaches the user at once. Fields a formatter does not use are
named in a warning by the reader: nothing that changes what trains is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ftx.hookspecs import hookimpl
from ftx.preference import Pair
from ftx.types import Message

Report = Callable[..., None]  # report(field, message, hint="")

TOOL_HINT = (
    "ftx trains on and compares text answers; "
    "keep the plain question-and-answer conversations and remove these records"
)


class Formatter:
    """Subclass, set ``name``, ``keys`` (the fields that identify the schema) and ``parse``;
    ``fields`` lists every top-level field it reads (others get a warning that names them)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ()

    def detect(self, record: dict[str, Any]) -> bool:
        """True if ``record`` looks like this schema (all ``keys`` present). Where several
        formatters recognise a record, the one with the most ``keys`` wins (the most specific:
        ``conversations`` with ``chosen`` and ``rejected`` is a preference pair)."""
        return bool(self.keys) and all(k in record for k in self.keys)

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | Pair | None:
        """The record's messages, ending with the assistant's reference answer; for preference
        data a ``ftx.preference.Pair`` (the messages ending with the chosen answer, and the
        rejected answer); or None after reporting what is wrong."""
        raise NotImplementedError

    @classmethod
    def used_fields(cls) -> set[str]:
        return {*cls.keys, *cls.fields}


def text_field(
    record: dict[str, Any], key: str, report: Report, *, required: bool = True
) -> str | None:
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


def check_conversation(
    messages: list[Message],
    field: str,
    report: Report,
    role_field: Callable[[int], str] | None = None,
) -> bool:
    """Roles must be: an optional system message, then user/assistant turns alternating,
    starting with user and ending with assistant (the reference answer). ``role_field(i)``
    names message i's role field as the file spells it (``conversations[2].from``)."""
    name = role_field or (lambda i: f"{field}[{i}].role")
    ok = True
    for i, m in enumerate(messages):
        if m.role == "system" and i != 0:
            report(
                name(i),
                "a system message may only come first",
                "merge the system prompts into the first message",
            )
            ok = False
    body = [
        (i, m) for i, m in enumerate(messages) if m.role != "system"
    ]  # misplaced ones are reported above
    if not body:
        report(
            field,
            "has no user and assistant messages",
            "add a user question and the assistant's answer",
        )
        return False
    for turn, (i, m) in enumerate(body):
        expected = "user" if turn % 2 == 0 else "assistant"
        if m.role != expected:
            report(
                name(i),
                f"expected '{expected}' here, got '{m.role}'",
                "turns must alternate user, assistant, user, ...",
            )
            return False
    if body[-1][1].role != "assistant":
        report(
            field,
            "must end with an assistant message (the reference answer)",
            "add the expected answer as the last message",
        )
        ok = False
    return ok


def one_system(given: str | None, messages: list[Message], field: str, report: Report) -> bool:
    """A system prompt beside the conversation (``system``, ``systemInstruction``) and another
    inside it: which one the model should see is the user's call, so say so rather than drop one."""
    if (
        given
        and messages
        and messages[0].role == "system"
        and messages[0].content.strip() != given.strip()
    ):
        report(
            field,
            "gives a system prompt, and the conversation starts with another one",
            "keep one of them (ftx would otherwise have to drop one silently)",
        )
        return False
    return True


# Content parts that carry text: OpenAI's {"type": "text", "text"}, the Responses API's
# input_text/output_text, Gemini's {"text"} and {"type": "text", "value"} as some exports write.
TEXT_PART_TYPES = (None, "text", "input_text", "output_text")


def content_text(content: Any, field: str, report: Report) -> str | None:
    """Message content: a string, or a list of parts of which only text parts are allowed."""
    if isinstance(content, str):
        if not content.strip():
            report(field, "is empty", "write the message text or remove the message")
            return None
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
                continue
            kind = part.get("type") if isinstance(part, dict) else None
            text = (
                (part.get("text") if "text" in part else part.get("value"))
                if isinstance(part, dict)
                else None
            )
            if kind in TEXT_PART_TYPES and isinstance(text, str):
                texts.append(text)
            elif isinstance(part, dict) and (
                kind
                in ("image", "image_url", "input_image", "input_audio", "audio", "video", "file")
                or {"inlineData", "inline_data", "fileData", "file_data"} & part.keys()
            ):
                report(
                    f"{field}[{j}]",
                    f"is {kind or 'a file'} content; ftx fine-tunes and compares text-only models",
                    "remove the record, or the part if the text does not depend on it",
                )
                return None
            else:
                report(
                    f"{field}[{j}]", 'only text parts ({"type": "text", "text": ...}) are supported'
                )
                return None
        return content_text("".join(texts), field, report)
    if content is None:
        report(field, "is missing", "add the message text")
    else:
        report(field, f"must be a string, not {type(content).__name__}")
    return None


def turn_weight(
    item: dict[str, Any], role: str, field: str, report: Report
) -> tuple[bool, int | None]:
    """OpenAI's per-turn ``weight``: 0 or 1, on assistant messages only."""
    if "weight" not in item or item["weight"] is None:
        return True, None
    weight = item["weight"]
    if role != "assistant":
        report(f"{field}.weight", "is only for assistant messages", "remove it from this message")
        return False, None
    if isinstance(weight, bool) or weight not in (0, 1):
        report(
            f"{field}.weight",
            f"must be 0 or 1, got {weight!r}",
            "0 leaves the turn out of training, 1 trains it",
        )
        return False, None
    return True, int(weight)


class _ConversationFormatter(Formatter):
    """A list of role/content dicts under one key; the schemas differ in names only."""

    list_key: ClassVar[str]
    role_keys: ClassVar[tuple[str, ...]]
    content_keys: ClassVar[tuple[str, ...]]
    role_names: ClassVar[dict[str, str]]
    tool_roles: ClassVar[tuple[str, ...]] = (
        "tool",
        "function",
        "ipython",
        "function_call",
        "observation",
    )

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        messages = self.parse_list(record.get(self.list_key), self.list_key, report)
        if messages is None:
            return None
        system = self.system(record, report)
        if system is False or not one_system(system, messages, self.system_field(record), report):
            return None
        offset = 0
        if system and messages[0].role != "system":
            messages.insert(0, Message("system", system))
            offset = 1
        items = record[self.list_key]

        def role_field(i: int) -> str:
            item = items[i - offset] if 0 <= i - offset < len(items) else {}
            key = next((k for k in self.role_keys if k in item), self.role_keys[0])
            return f"{self.list_key}[{i - offset}].{key}"

        return messages if check_conversation(messages, self.list_key, report, role_field) else None

    def system_field(self, record: dict[str, Any]) -> str:
        return "system"

    def system(self, record: dict[str, Any], report: Report) -> str | bool | None:
        """A system prompt given beside the list (ShareGPT's ``system``); False after a problem."""
        if record.get("system") in (None, ""):
            return None
        value = text_field(record, "system", report, required=False)
        return False if value is None else value

    def parse_list(self, items: Any, key: str, report: Report) -> list[Message] | None:
        if not isinstance(items, list):
            report(key, f"must be a list of messages, not {type(items).__name__}")
            return None
        if not items:
            report(key, "is empty", "add a user message and the assistant's answer")
            return None
        messages: list[Message] = []
        for i, item in enumerate(items):
            where = f"{key}[{i}]"
            if not isinstance(item, dict):
                report(
                    where,
                    f"must be an object with '{self.role_keys[0]}' and '{self.content_keys[0]}', "
                    f"not {type(item).__name__}",
                )
                return None
            role_key = next((k for k in self.role_keys if k in item), self.role_keys[0])
            role = item.get(role_key)
            if role in self.tool_roles:
                report(
                    where,
                    f"is a tool call or tool result (role {role!r}): this is tool-calling data",
                    TOOL_HINT,
                )
                return None
            if item.get("tool_calls") or item.get("function_call"):
                report(where, "calls a tool ('tool_calls'): this is tool-calling data", TOOL_HINT)
                return None
            if role not in self.role_names:
                valid = ", ".join(sorted(self.role_names))
                report(
                    f"{where}.{role_key}",
                    f"unknown role {role!r}" if role is not None else "is missing",
                    f"use one of: {valid}",
                )
                return None
            content_key = next((k for k in self.content_keys if k in item), self.content_keys[0])
            text = content_text(self.content(item, content_key), f"{where}.{content_key}", report)
            if text is None:
                return None
            ok, weight = turn_weight(item, self.role_names[role], where, report)
            if not ok:
                return None
            messages.append(Message(self.role_names[role], text, weight))
        return messages

    def content(self, item: dict[str, Any], key: str) -> Any:
        return item.get(key)


CHAT_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "model": "assistant",
}


class MessagesFormatter(_ConversationFormatter):
    name = "messages"
    description = (
        'OpenAI chat: {"messages": [{"role": "user", "content": ...}, ...]} '
        '(per-turn "weight" kept)'
    )
    keys = ("messages",)
    fields = ("system",)
    list_key, role_keys, content_keys = "messages", ("role",), ("content",)
    role_names = CHAT_ROLES


class ShareGPTFormatter(_ConversationFormatter):
    name = "sharegpt"
    description = (
        'ShareGPT: {"conversations": [{"from": "human", "value": ...}, ...], "system": ...}'
    )
    keys = ("conversations",)
    fields = ("system",)
    # LLaMA-Factory's default tags are from/value; its "openai" style and many exports use
    # role/content under the same key.
    list_key, role_keys, content_keys = "conversations", ("from", "role"), ("value", "content")
    role_names = {
        "system": "system",
        "human": "user",
        "user": "user",
        "gpt": "assistant",
        "assistant": "assistant",
        "model": "assistant",
        "developer": "system",
        "chatgpt": "assistant",
        "bing": "assistant",
        "bard": "assistant",
    }


class GeminiFormatter(_ConversationFormatter):
    name = "gemini"
    description = (
        'Gemini/Vertex tuning: {"contents": [{"role": "user", "parts": [{"text": ...}]}, ...], '
        '"systemInstruction": ...}'
    )
    keys = ("contents",)
    fields = ("systemInstruction", "system_instruction")
    list_key, role_keys, content_keys = "contents", ("role",), ("parts",)
    role_names = {
        "user": "user",
        "model": "assistant",
        "assistant": "assistant",
        "system": "system",
    }

    def system_field(self, record: dict[str, Any]) -> str:
        return next((k for k in self.fields if k in record), self.fields[0])

    def system(self, record: dict[str, Any], report: Report) -> str | bool | None:
        key = next((k for k in self.fields if k in record), None)
        if key is None or record[key] is None:
            return None
        value = record[key]
        parts = value.get("parts") if isinstance(value, dict) else value
        text = content_text(parts, key, report)
        return False if text is None else text


class AlpacaFormatter(Formatter):
    name = "alpaca"
    description = (
        'Alpaca: {"instruction": ..., "input": ... (optional), "output": ..., "system": ..., '
        '"history": [[q, a], ...]}'
    )
    keys = ("instruction", "output")
    fields = ("input", "system", "history")
    extra_key: ClassVar[str] = "input"  # appended to the instruction after a blank line

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        instruction_key, output_key = self.keys
        instruction = text_field(record, instruction_key, report)
        extra = text_field(record, self.extra_key, report, required=False)
        output = text_field(record, output_key, report)
        system = text_field(record, "system", report, required=False)
        history = self.history(record.get("history"), report)
        if (
            instruction is None
            or output is None
            or history is None
            or (extra is None and record.get(self.extra_key) is not None)
            or (system is None and record.get("system") is not None)
        ):
            return None
        prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
        messages = [Message("system", system)] if system and system.strip() else []
        return [*messages, *history, Message("user", prompt), Message("assistant", output)]

    @staticmethod
    def history(value: Any, report: Report) -> list[Message] | None:
        """LLaMA-Factory's earlier turns: a list of [instruction, response] pairs."""
        if value is None:
            return []
        if not isinstance(value, list):
            report(
                "history",
                f"must be a list of [instruction, response] pairs, not {type(value).__name__}",
            )
            return None
        messages = []
        for i, pair in enumerate(value):
            if not (
                isinstance(pair, (list, tuple))
                and len(pair) == 2
                and all(isinstance(t, str) and t.strip() for t in pair)
            ):
                report(
                    f"history[{i}]", "must be a pair of non-empty strings [instruction, response]"
                )
                return None
            messages += [Message("user", pair[0]), Message("assistant", pair[1])]
        return messages


class _PairFormatter(Formatter):
    """One prompt field and one answer field, and an optional ``system``."""

    fields = ("system",)

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
    description = (
        '{"prompt": ..., "completion": ...}; TRL\'s conversational form with message lists too'
    )
    keys = ("prompt", "completion")

    def parse(self, record: dict[str, Any], report: Report) -> list[Message] | None:
        if not isinstance(record.get("prompt"), list) and not isinstance(
            record.get("completion"), list
        ):
            return super().parse(record, report)
        # TRL's conversational prompt-completion: {"prompt": [messages], "completion": [messages]}.
        conversation = MessagesFormatter()
        prompt = conversation.parse_list(record.get("prompt"), "prompt", report)
        completion = conversation.parse_list(record.get("completion"), "completion", report)
        if prompt is None or completion is None:
            return None
        if any(m.role != "assistant" for m in completion):
            report(
                "completion", "must hold only assistant messages", "put the question in 'prompt'"
            )
            return None
        system = (
            record.get("system")
            if isinstance(record.get("system"), str) and record["system"].strip()
            else None
        )
        if not one_system(system, prompt, "system", report):
            return None
        messages = [
            *([Message("system", system)] if system and prompt[0].role != "system" else []),
            *prompt,
            *completion,
        ]
        return messages if check_conversation(messages, "prompt", report) else None


class PromptResponseFormatter(_PairFormatter):
    name = "prompt_response"
    description = '{"prompt": ..., "response": ...}'
    keys = ("prompt", "response")


class QuestionAnswerFormatter(_PairFormatter):
    name = "question_answer"
    description = '{"question": ..., "answer": ...}'
    keys = ("question", "answer")


class DollyFormatter(AlpacaFormatter):
    name = "dolly"
    description = (
        'Databricks Dolly: {"instruction": ..., "context": ... (optional), "response": ...}'
    )
    keys = ("instruction", "response")
    fields = ("context", "system")
    extra_key = "context"


class InputOutputFormatter(_PairFormatter):
    name = "input_output"
    description = '{"input": ..., "output": ...}'
    keys = ("input", "output")


class TextInputOutputFormatter(_PairFormatter):
    name = "text_input_output"
    description = 'Gemini API tuning: {"text_input": ..., "output": ...}'
    keys = ("text_input", "output")


# --- Preference pairs (ftx.preference) --------------------------------------------------------


def _one_answer(
    value: Any, field: str, report: Report, conversation: _ConversationFormatter
) -> str | None:
    """An answer of a pair: its text, one assistant message (``{"role": "assistant", ...}``,
    ``{"from": "gpt", ...}`` in ShareGPT, ``{"role": "model", "parts": ...}`` in Gemini), or a
    list holding exactly one such message (TRL, OpenAI)."""
    if isinstance(value, str):
        return content_text(value, field, report)
    if value is None:
        report(field, "is missing", f"add the {field} answer")
        return None
    if not isinstance(value, (dict, list)):
        report(
            field, f"must be the answer's text or an assistant message, not {type(value).__name__}"
        )
        return None
    single = isinstance(value, dict)

    def renamed(name: str, message: str, hint: str = "") -> None:  # chosen[0].value -> chosen.value
        report(name.replace(f"{field}[0]", field, 1) if single else name, message, hint)

    messages = conversation.parse_list([value] if single else value, field, renamed)
    if messages is None:
        return None
    if len(messages) != 1 or messages[0].role != "assistant":
        got = ", ".join(m.role for m in messages)
        report(
            field,
            f"must be one assistant message (the answer), got {len(messages)} message(s): {got}",
            "put the conversation before the answer in the prompt",
        )
        return None
    return messages[0].content


def _pair(
    prompt: list[Message],
    chosen: str | None,
    rejected: str | None,
    field: str,
    report: Report,
    role_field: Callable[[int], str] | None = None,
    offset: int = 0,
) -> Pair | None:
    """The prompt and both answers as a ``Pair``, after the checks every form shares: the prompt
    is a conversation that ends with a user turn, and the two answers differ. ``offset``: how
    many messages (a system prompt given beside it) come before the record's ``field`` list."""
    if chosen is None or rejected is None:
        return None
    if not any(m.role == "user" for m in prompt) or prompt[-1].role != "user":
        report(
            field,
            "must end with a user message: the question both answers reply to",
            "end the prompt with the user's turn; the answers go in their own fields",
        )
        return None
    role_field = role_field or (lambda i: f"{field}[{i - offset}].role")
    messages = [*prompt, Message("assistant", chosen)]
    if not check_conversation(messages, field, report, role_field):
        return None
    if chosen.strip() == rejected.strip():
        report(
            "rejected",
            "is the same answer as the chosen one: the pair prefers nothing",
            "give two different answers, or remove the record",
        )
        return None
    return Pair(messages, rejected)


def _system_prompt(
    record: dict[str, Any], prompt: list[Message], report: Report
) -> list[Message] | None:
    """A ``system`` field beside the prompt, put first (once; a different one inside the prompt
    is the user's call to make)."""
    system = text_field(record, "system", report, required=False)
    if system is None and record.get("system") not in (None, ""):
        return None
    if not one_system(system, prompt, "system", report):
        return None
    if system and system.strip() and not (prompt and prompt[0].role == "system"):
        return [Message("system", system), *prompt]
    return prompt


class TRLPreferenceFormatter(Formatter):
    name = "trl_preference"
    description = (
        'TRL preference, explicit prompt: {"prompt": ..., "chosen": ..., "rejected": ...}, '
        "as text or as message lists"
    )
    keys = ("prompt", "chosen", "rejected")
    fields = ("system",)

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        conversation = MessagesFormatter()
        value = record.get("prompt")
        if isinstance(value, list):
            prompt = conversation.parse_list(value, "prompt", report)
        else:
            text = text_field(record, "prompt", report)
            prompt = [Message("user", text)] if text is not None else None
        chosen = _one_answer(record.get("chosen"), "chosen", report, conversation)
        rejected = _one_answer(record.get("rejected"), "rejected", report, conversation)
        if prompt is None:
            return None
        full = _system_prompt(record, prompt, report)
        if full is None:
            return None
        return _pair(full, chosen, rejected, "prompt", report, offset=len(full) - len(prompt))


class TRLImplicitPreferenceFormatter(Formatter):
    name = "trl_implicit_preference"
    description = (
        'TRL preference, implicit prompt: {"chosen": ..., "rejected": ...}, whole texts or '
        "conversations that share the prompt"
    )
    keys = ("chosen", "rejected")
    fields = ("system",)

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        chosen, rejected = record.get("chosen"), record.get("rejected")
        if isinstance(chosen, str) and isinstance(rejected, str):
            return self.texts(record, chosen, rejected, report)
        if isinstance(chosen, list) and isinstance(rejected, list):
            return self.conversations(record, chosen, rejected, report)
        report(
            "chosen",
            "and 'rejected' must both be texts or both be message lists that begin with the "
            "shared prompt",
            "or give the prompt in a 'prompt' field",
        )
        return None

    def texts(
        self, record: dict[str, Any], chosen: str, rejected: str, report: Report
    ) -> Pair | None:
        """The shared beginning is the prompt, as TRL's ``extract_prompt`` cuts it: a space
        before the first difference goes with the answers."""
        end = 0
        while end < min(len(chosen), len(rejected)) and chosen[end] == rejected[end]:
            end += 1
        if 0 < end and chosen[end - 1] == " ":
            end -= 1
        if not chosen[:end].strip():
            report(
                "chosen",
                "and 'rejected' share no beginning, so there is no prompt",
                "give the prompt in a 'prompt' field",
            )
            return None
        if end in (len(chosen), len(rejected)):
            report(
                "chosen",
                "and 'rejected': one is the beginning of the other, so one answer is empty",
                "give two different answers after the shared prompt",
            )
            return None
        prompt = _system_prompt(record, [Message("user", chosen[:end])], report)
        if prompt is None:
            return None
        return _pair(prompt, chosen[end:], rejected[end:], "chosen", report)

    def conversations(
        self, record: dict[str, Any], chosen: list[Any], rejected: list[Any], report: Report
    ) -> Pair | None:
        conversation = MessagesFormatter()
        shared = 0
        while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
            shared += 1
        prompt = conversation.parse_list(chosen[:shared], "chosen", report) if shared else None
        if not shared:
            report(
                "chosen",
                "and 'rejected' do not begin with the same messages, so there is no prompt",
                "give the prompt in a 'prompt' field",
            )
            return None
        offset = shared  # answers are reported where they are in the record's lists
        answers = []
        for key, items in (("chosen", chosen), ("rejected", rejected)):
            rest = items[shared:]
            if len(rest) != 1:
                report(
                    key,
                    f"must end with one assistant message after the shared prompt, got {len(rest)}",
                    "put the conversation before the answer in both lists",
                )
                answers.append(None)
                continue
            answers.append(_one_answer(rest, f"{key}[{offset}]", report, conversation))
        if prompt is None:
            return None
        full = _system_prompt(record, prompt, report)
        if full is None:
            return None
        return _pair(full, answers[0], answers[1], "chosen", report, offset=len(full) - len(prompt))


class OpenAIPreferenceFormatter(Formatter):
    name = "openai_preference"
    description = (
        'OpenAI DPO (also Together, Fireworks): {"input": {"messages": [...]}, '
        '"preferred_output": [...], "non_preferred_output": [...]}'
    )
    keys = ("input", "preferred_output", "non_preferred_output")

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        conversation = MessagesFormatter()
        value = record.get("input")
        prompt = None
        if not isinstance(value, dict):
            report("input", f"must be an object holding 'messages', not {type(value).__name__}")
        elif value.get("tools") or value.get("functions"):
            report("input.tools", "offers the model tools: this is tool-calling data", TOOL_HINT)
        else:
            prompt = conversation.parse_list(value.get("messages"), "input.messages", report)
        chosen = _one_answer(
            record.get("preferred_output"), "preferred_output", report, conversation
        )
        rejected = _one_answer(
            record.get("non_preferred_output"), "non_preferred_output", report, conversation
        )
        if prompt is None:
            return None
        return _pair(prompt, chosen, rejected, "input.messages", report)


class ShareGPTPreferenceFormatter(Formatter):
    name = "sharegpt_preference"
    description = (
        'LLaMA-Factory ShareGPT preference: {"conversations": [...], "chosen": {"from": "gpt", '
        '"value": ...}, "rejected": {...}, "system": ...}'
    )
    keys = ("conversations", "chosen", "rejected")
    fields = ("system",)

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        sharegpt = ShareGPTFormatter()
        prompt = sharegpt.parse_list(record.get("conversations"), "conversations", report)
        chosen = _one_answer(record.get("chosen"), "chosen", report, sharegpt)
        rejected = _one_answer(record.get("rejected"), "rejected", report, sharegpt)
        if prompt is None:
            return None
        full = _system_prompt(record, prompt, report)
        if full is None:
            return None
        offset = len(full) - len(prompt)
        items = record["conversations"]

        def role_field(i: int) -> str:
            item = items[i - offset] if 0 <= i - offset < len(items) else {}
            key = "role" if isinstance(item, dict) and "role" in item else "from"
            return f"conversations[{i - offset}].{key}"

        return _pair(full, chosen, rejected, "conversations", report, role_field)


class AlpacaPreferenceFormatter(Formatter):
    name = "alpaca_preference"
    description = (
        'LLaMA-Factory Alpaca preference: {"instruction": ..., "input": ... (optional), '
        '"chosen": ..., "rejected": ..., "system": ..., "history": [[q, a], ...]}'
    )
    keys = ("instruction", "chosen", "rejected")
    fields = ("input", "system", "history")

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        # The prompt is what Alpaca's formatter makes of the record with the chosen answer as
        # its output; the answers are plain text in this form.
        chosen = text_field(record, "chosen", report)
        rejected = text_field(record, "rejected", report)
        if chosen is None or rejected is None:
            return None
        messages = AlpacaFormatter().parse({**record, "output": chosen}, report)
        if messages is None:
            return None
        return _pair(messages[:-1], chosen, rejected, "instruction", report)


class GeminiPreferenceFormatter(Formatter):
    name = "gemini_preference"
    description = (
        'Vertex AI preference tuning: {"contents": [...], "completions": [{"score": 1, '
        '"completion": {"role": "model", "parts": [...]}}, {"score": 0, ...}], '
        '"system_instruction": ...}'
    )
    keys = ("contents", "completions")
    fields = ("system_instruction", "systemInstruction")

    def parse(self, record: dict[str, Any], report: Report) -> Pair | None:
        gemini = GeminiFormatter()
        prompt = gemini.parse_list(record.get("contents"), "contents", report)
        answers = self.completions(record.get("completions"), gemini, report)
        system = gemini.system(record, report)
        if prompt is None or answers is None or system is False:
            return None
        if not one_system(system, prompt, gemini.system_field(record), report):
            return None
        offset = int(bool(system) and prompt[0].role != "system")
        if offset:
            prompt = [Message("system", system), *prompt]
        return _pair(prompt, answers[1], answers[0], "contents", report, offset=offset)

    @staticmethod
    def completions(value: Any, gemini: GeminiFormatter, report: Report) -> dict[int, str] | None:
        """The two completions by score: {1: preferred text, 0: dispreferred text}."""
        if not isinstance(value, list) or len(value) != 2:
            got = f"{len(value)} items" if isinstance(value, list) else type(value).__name__
            report(
                "completions",
                f"must be a list of two scored completions, got {got}",
                'one with "score": 1 (preferred) and one with "score": 0 (dispreferred)',
            )
            return None
        answers: dict[int, str] = {}
        for i, item in enumerate(value):
            where = f"completions[{i}]"
            if not isinstance(item, dict):
                report(
                    where, f'must be {{"score": ..., "completion": ...}}, not {type(item).__name__}'
                )
                return None
            score = item.get("score")
            if isinstance(score, bool) or score not in (0, 1):
                report(
                    f"{where}.score", f"must be 1 (preferred) or 0 (dispreferred), got {score!r}"
                )
                return None
            text = _one_answer(item.get("completion"), f"{where}.completion", report, gemini)
            if text is None:
                return None
            answers[int(score)] = text
        if len(answers) != 2:
            report(
                "completions",
                "must hold one preferred (score 1) and one dispreferred (score 0) completion",
            )
            return None
        return answers


PREFERENCE_FORMATTERS = (
    TRLPreferenceFormatter,
    TRLImplicitPreferenceFormatter,
    OpenAIPreferenceFormatter,
    ShareGPTPreferenceFormatter,
    AlpacaPreferenceFormatter,
    GeminiPreferenceFormatter,
)


BUILTIN_FORMATTERS = (
    MessagesFormatter,
    ShareGPTFormatter,
    AlpacaFormatter,
    GeminiFormatter,
    PromptCompletionFormatter,
    PromptResponseFormatter,
    QuestionAnswerFormatter,
    DollyFormatter,
    InputOutputFormatter,
    TextInputOutputFormatter,
    *PREFERENCE_FORMATTERS,
)


# --- Records ftx cannot train on -------------------------------------------------------------


def not_sft(fields: set[str]) -> str | None:
    """What a record with these fields is, when it is data of a kind ftx does not train on (one
    sentence; plain text), else None. Said instead of "a field is missing" so users know what
    they have."""
    if fields & {"text", "content"} and not fields & {
        "prompt",
        "question",
        "instruction",
        "messages",
        "conversations",
        "contents",
    }:
        return (
            "is plain text (language-modelling data, as TRL's 'text' field), with no prompt and "
            "answer "
            "for ftx to train on and compare"
        )
    return None


@hookimpl
def ftx_register_formatters(register):
    for formatter in BUILTIN_FORMATTERS:
        register(formatter)
