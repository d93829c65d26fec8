"""Examples in Vertex AI's supervised-tuning JSONL, checked against Vertex's limits. (What
tuning and answering cost is in ``ftx.prices``, with every other provider's prices.)

One line per example::

    {"systemInstruction": {"role": "system", "parts": [{"text": "..."}]},
     "contents": [{"role": "user", "parts": [{"text": "..."}]},
                  {"role": "model", "parts": [{"text": "..."}]}]}
"""

from __future__ import annotations

import json
from typing import Any

from ftx.tokens import approximate
from ftx.types import Example, Message, Problem

# Bases Vertex AI tunes (supervised), as its documentation listed them in November 2026, with
# the Gemini 3.x Flash models it added since; Google removed tuning from the Gemini Developer API.
# A model named here is tuned without a word; a retired one (RETIRED) is refused in preflight;
# any other gets a warning, and Vertex has the last word when the job is created.
RETIRED = ("gemini-1.0", "gemini-1.5", "gemini-pro", "gemini-ultra")
TUNABLE = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite-001",
)
MAX_EXAMPLE_TOKENS = 131_072  # input + output tokens per training example (Gemini 2.5)
MAX_FILE_BYTES = 1 << 30  # 1 GB per JSONL dataset file
MAX_VALIDATION_EXAMPLES = 5000
RECOMMENDED_EXAMPLES = 100

ADAPTER_SIZES = {
    1: "ADAPTER_SIZE_ONE",
    2: "ADAPTER_SIZE_TWO",
    4: "ADAPTER_SIZE_FOUR",
    8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN",
    32: "ADAPTER_SIZE_THIRTY_TWO",
}


def contents(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """A conversation as Gemini sees it: the system text apart, assistant turns as 'model'."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns = [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
        for m in messages
        if m.role != "system"
    ]
    return system, turns


def to_jsonl(examples: list[Example]) -> str:
    lines = []
    for e in examples:
        system, turns = contents(e.messages)
        record: dict[str, Any] = {"contents": turns}
        if system:
            record = {
                "systemInstruction": {"role": "system", "parts": [{"text": system}]},
                **record,
            }
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return "".join(lines)


def tokens(example: Example) -> int:
    """An approximate count (Vertex's tokenizer is not available offline)."""
    return sum(approximate(m.content) + 4 for m in example.messages)


def validate(examples: list[Example], validation: int, backend: str) -> list[Problem]:
    """Every Vertex limit an upload would break, before anything is uploaded; ``validation`` of
    the examples go to the validation set."""
    problems = []
    train = len(examples) - validation
    if train < RECOMMENDED_EXAMPLES:
        problems.append(
            Problem(
                f"{train} training examples; Google recommends at least "
                f"{RECOMMENDED_EXAMPLES} for Gemini tuning",
                backend,
                severity="warning",
            )
        )
    if validation > MAX_VALIDATION_EXAMPLES:
        problems.append(
            Problem(
                f"{validation} validation examples, over Vertex's {MAX_VALIDATION_EXAMPLES}",
                backend,
                hint=f"lower --set {backend}.validation_size",
            )
        )
    for e in examples:
        count = tokens(e)
        if count > MAX_EXAMPLE_TOKENS:
            problems.append(
                Problem(
                    f"example {e.id} is about {count:,} tokens, "
                    f"over Vertex's {MAX_EXAMPLE_TOKENS:,} per example",
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
    weighted = [e for e in examples if any(m.weight is not None for m in e.messages)]
    if weighted:
        problems.append(
            Problem(
                f"{len(weighted)} training example(s) set per-turn weights, "
                "which Vertex tuning cannot take: it trains on every model turn",
                weighted[0].source or backend,
                severity="warning",
            )
        )
    size = len(to_jsonl(examples).encode())
    if size > MAX_FILE_BYTES:
        problems.append(
            Problem(
                f"the training file would be {size / 2**30:.1f} GB, over Vertex's 1 GB",
                backend,
                hint="use fewer or shorter examples",
            )
        )
    return problems
