"""Examples in OpenAI's chat fine-tuning format, checked against OpenAI's rules before upload."""

from __future__ import annotations

import json
from collections.abc import Callable

from ftx.types import Example, Problem

MIN_EXAMPLES = 10
MAX_EXAMPLE_TOKENS = 65_536  # per example, for gpt-4.1-family fine-tuning


def to_jsonl(examples: list[Example]) -> str:
    return "".join(
        json.dumps({"messages": messages(e)}, ensure_ascii=False) + "\n" for e in examples
    )


def messages(example: Example) -> list[dict]:
    """OpenAI trains every assistant turn unless told otherwise; ftx trains the final answer and
    the turns given weight 1. Explicit weights make the hosted job learn what a local one does."""
    turns = example.trained_turns()
    if (
        turns == [len(example.messages) - 1]
        and sum(m.role == "assistant" for m in example.messages) == 1
    ):
        return [{"role": m.role, "content": m.content} for m in example.messages]
    return [
        {"role": m.role, "content": m.content}
        | ({"weight": int(i in turns)} if m.role == "assistant" else {})
        for i, m in enumerate(example.messages)
    ]


def validate(
    examples: list[Example], count: Callable[[str], int], backend: str, validation: int = 0
) -> list[Problem]:
    """Every rule an upload would break, with the example ids, before anything is uploaded;
    ``validation`` of the examples go to the validation file."""
    problems = []
    if len(examples) - validation < MIN_EXAMPLES:
        problems.append(
            Problem(
                f"OpenAI fine-tuning needs at least {MIN_EXAMPLES} training examples; there are "
                f"{len(examples) - validation}",
                backend,
                hint="add examples or lower --eval-size",
            )
        )
    for e in examples:
        tokens = sum(count(m.content) + 4 for m in e.messages)
        if tokens > MAX_EXAMPLE_TOKENS:
            problems.append(
                Problem(
                    f"example {e.id} is about {tokens} tokens, over OpenAI's {MAX_EXAMPLE_TOKENS} "
                    f"per example",
                    e.source or backend,
                    hint="shorten or drop it",
                )
            )
        if e.messages[-1].role != "assistant":
            problems.append(
                Problem(
                    f"example {e.id} does not end with an assistant message", e.source or backend
                )
            )
    return problems


def token_counter(model: str) -> tuple[Callable[[str], int], bool]:
    """An exact tiktoken counter for ``model`` when its encoding is available offline, else
    ftx's approximation; the flag says which."""
    try:
        import tiktoken

        try:
            encoding = tiktoken.encoding_for_model(
                model.split(":")[1] if model.startswith("ft:") else model
            )
        except KeyError:
            encoding = tiktoken.get_encoding("o200k_base")
        return (lambda text: len(encoding.encode(text))), True
    except Exception:  # not installed, or its encoding files cannot be downloaded here
        from ftx.tokens import approximate

        return approximate, False
