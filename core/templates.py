"""Templates: how an Example's messages become the text a causal language model trains on.

``prompt`` is everything the model sees before it answers; ``completion`` is the answer and the
marker that ends it. Loss is computed on completion tokens only. ``chat`` (the model's own chat
template) is the default; ``chatml``, ``alpaca`` and ``plain`` are for models without one.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ftx.errors import ConfigError
from ftx.hookspecs import hookimpl
from ftx.types import Message


class Template:
    """Subclass, set ``name``, and implement ``prompt`` and ``completion``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def prompt(self, messages: list[Message], tokenizer: Any) -> str:
        """The text before the answer, ending where the model starts writing."""
        raise NotImplementedError

    def completion(self, messages: list[Message], answer: str, tokenizer: Any) -> str:
        """The answer as it follows ``prompt(messages)``, including the end-of-turn marker."""
        raise NotImplementedError

    def stop_strings(self, tokenizer: Any) -> list[str]:
        """Text that ends an answer during generation, besides the tokenizer's EOS."""
        return []


def _eos(tokenizer: Any) -> str:
    return getattr(tokenizer, "eos_token", None) or ""


class NoChatTemplate(ConfigError):
    """The ``chat`` template was chosen for a model whose tokenizer has none. Every backend
    that uses the model fails alike, so its preflight names the fix for itself
    (``NoChatTemplate(backend)``): following one backend's hint must not leave another failing."""

    def __init__(self, backend: str = "") -> None:
        fix = (
            f"--set {backend}.template=chatml"
            if backend
            else "--set BACKEND.template=chatml for each local backend"
        )
        super().__init__(
            "this model's tokenizer has no chat template.",
            hint=f"Choose another template: {fix} (or alpaca, plain).",
        )


class ChatTemplate(Template):
    name = "chat"
    description = "the model's own chat template (tokenizer.apply_chat_template)"

    def _check(self, tokenizer: Any) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise NoChatTemplate()

    @staticmethod
    def _dicts(messages: list[Message]) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in messages]

    def prompt(self, messages: list[Message], tokenizer: Any) -> str:
        self._check(tokenizer)
        return tokenizer.apply_chat_template(
            self._dicts(messages), add_generation_prompt=True, tokenize=False
        )

    def completion(self, messages: list[Message], answer: str, tokenizer: Any) -> str:
        prompt = self.prompt(messages, tokenizer)
        full = tokenizer.apply_chat_template(
            self._dicts([*messages, Message("assistant", answer)]), tokenize=False
        )
        if full.startswith(prompt):
            return full[len(prompt) :]
        # Templates that rewrite earlier turns once an answer exists: fall back to answer + EOS.
        return answer + _eos(tokenizer)

    def stop_strings(self, tokenizer: Any) -> list[str]:
        return ["<|im_end|>", "<|eot_id|>", "<end_of_turn>"]


class ChatMLTemplate(Template):
    name = "chatml"
    description = "<|im_start|>role\\ncontent<|im_end|> turns"

    def prompt(self, messages: list[Message], tokenizer: Any) -> str:
        turns = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
        return turns + "<|im_start|>assistant\n"

    def completion(self, messages: list[Message], answer: str, tokenizer: Any) -> str:
        return f"{answer}<|im_end|>"

    def stop_strings(self, tokenizer: Any) -> list[str]:
        return ["<|im_end|>"]


class AlpacaTemplate(Template):
    name = "alpaca"
    description = "### Instruction / ### Response blocks"
    header = (
        "Below is an instruction that describes a task. "
        "Write a response that appropriately completes the request.\n\n"
    )

    def prompt(self, messages: list[Message], tokenizer: Any) -> str:
        system = "".join(f"{m.content}\n\n" for m in messages if m.role == "system")
        turns = []
        for m in messages:
            if m.role == "user":
                turns.append(f"### Instruction:\n{m.content}\n\n")
            elif m.role == "assistant":
                turns.append(f"### Response:\n{m.content}\n\n")
        return (system or self.header) + "".join(turns) + "### Response:\n"

    def completion(self, messages: list[Message], answer: str, tokenizer: Any) -> str:
        return answer + _eos(tokenizer)

    def stop_strings(self, tokenizer: Any) -> list[str]:
        return ["### Instruction:"]


class PlainTemplate(Template):
    name = "plain"
    description = "the messages' text, one per paragraph; no markup"

    def prompt(self, messages: list[Message], tokenizer: Any) -> str:
        return "\n\n".join(m.content for m in messages) + "\n"

    def completion(self, messages: list[Message], answer: str, tokenizer: Any) -> str:
        return answer + _eos(tokenizer)


@hookimpl
def ftx_register_templates(register):
    for template in (ChatTemplate, ChatMLTemplate, AlpacaTemplate, PlainTemplate):
        register(template)
