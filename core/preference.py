"""What a preference example is, and the forms it is written in for the services that tune on it.

A **preference example** is a prompt with two answers to it, the **chosen** one and the
**rejected** one: what DPO, Vertex AI preference tuning and reward models learn from. The prompt
is a conversation (an optional system message, then user and assistant turns) ending with a
user turn; each answer is one assistant turn. ftx holds it as an ``Example`` whose final
assistant message is the chosen answer and whose ``rejected`` is the other answer's text::

    Example(id, messages=(*prompt, Message("assistant", chosen)), source, rejected=rejected)

So a preference run is an ordinary run wherever it can be: every model answers the prompts of
the held-out pairs, the chosen answer is their reference (ROUGE, BLEU and the judge's grade
work as they do for any data), supervised backends train on the chosen answers, and what only
pairs can give reads ``rejected``: DPO (``local-dpo``), the reward metrics (the ``reward``
evaluator). In a run's folder ``data/*.jsonl`` keeps each pair whole (``Example.to_dict``).

Read from the forms people have (each a formatter in ``ftx.formatters``; a formatter returns a
``Pair``): TRL's standard and conversational forms with explicit (``trl_preference``) or
implicit prompt (``trl_implicit_preference``), OpenAI's DPO JSONL (``openai_preference``, which
Together and Fireworks take too), LLaMA-Factory's ShareGPT and Alpaca pairs
(``sharegpt_preference``, ``alpaca_preference``) and Vertex AI's preference tuning data
(``gemini_preference``). docs/preference.md shows each.

Written, for a hosted service's upload, by ``to_jsonl(examples, form)`` in one of ``FORMS``:
``openai`` (OpenAI, Together, Fireworks), ``gemini`` (Vertex AI) or ``trl``. A backend that
trains on pairs checks its data with ``pairs_problem`` in preflight.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ftx.types import Example, Message, Problem


@dataclass(frozen=True)
class Pair:
    """What a formatter's ``parse`` returns for a preference record: the prompt's messages
    followed by the chosen answer (an assistant message), and the rejected answer's text."""

    messages: list[Message]
    rejected: str


def is_pair(example: Example) -> bool:
    return example.rejected is not None


def pairs(examples: list[Example]) -> list[Example]:
    """The preference examples among ``examples``, in order."""
    return [e for e in examples if e.rejected is not None]


def rejected_example(example: Example) -> Example:
    """The same prompt with the rejected answer as its final message: what scores or trains
    the rejected answer where code reads an example's reference."""
    if example.rejected is None:
        raise ValueError(f"example {example.id} is not a preference pair")
    answer = Message("assistant", example.rejected)
    return replace(example, messages=(*example.messages[:-1], answer), rejected=None)


def pairs_problem(examples: list[Example], backend: str, what: str = "training") -> Problem | None:
    """Preflight for a backend that trains on pairs: an error when ``examples`` hold none, a
    warning that counts those without a rejected answer (they are left out), else None. The
    problem's place is ``backend``: "local-dpo: trains on preference pairs (...)"."""
    found = len(pairs(examples))
    if not found:
        return Problem(
            "trains on preference pairs (a chosen and a rejected answer to each prompt), and "
            f"the {what} data has none",
            backend,
            hint="give preference data (docs/preference.md lists the forms ftx reads), or "
            "train a supervised backend on this data",
        )
    if found < len(examples):
        return Problem(
            f"{len(examples) - found} of {len(examples)} {what} examples have no rejected "
            "answer and are left out",
            backend,
            hint="an SFT backend listed before it can train on them",
            severity="warning",
        )
    return None


# --- writing -----------------------------------------------------------------------------------


def _chat(message: Message) -> dict[str, str]:
    return {"role": message.role, "content": message.content}


def to_openai(example: Example) -> dict[str, Any]:
    """OpenAI's DPO record (Together's and Fireworks' DPO files are the same): ``input`` holds
    the prompt's messages (a system message among them), each output one assistant message."""
    return {
        "input": {"messages": [_chat(m) for m in example.prompt]},
        "preferred_output": [{"role": "assistant", "content": example.reference}],
        "non_preferred_output": [{"role": "assistant", "content": _rejected(example)}],
    }


def to_gemini(example: Example) -> dict[str, Any]:
    """Vertex AI's preference tuning record: the prompt as ``contents`` (ending with a user
    turn; assistant turns are ``model``), the system text as ``system_instruction``, and two
    ``completions`` scored 1 (chosen) and 0 (rejected)."""
    system = "\n\n".join(m.content for m in example.prompt if m.role == "system")
    contents = [
        {"role": "model" if m.role == "assistant" else "user", "parts": [{"text": m.content}]}
        for m in example.prompt
        if m.role != "system"
    ]
    record: dict[str, Any] = {"system_instruction": {"parts": [{"text": system}]}} if system else {}

    def completion(text: str, score: int) -> dict[str, Any]:
        return {"score": score, "completion": {"role": "model", "parts": [{"text": text}]}}

    return record | {
        "contents": contents,
        "completions": [completion(example.reference, 1), completion(_rejected(example), 0)],
    }


def to_trl(example: Example) -> dict[str, Any]:
    """TRL's conversational preference record with an explicit prompt."""
    return {
        "prompt": [_chat(m) for m in example.prompt],
        "chosen": [{"role": "assistant", "content": example.reference}],
        "rejected": [{"role": "assistant", "content": _rejected(example)}],
    }


FORMS: dict[str, Callable[[Example], dict[str, Any]]] = {
    "openai": to_openai,
    "gemini": to_gemini,
    "trl": to_trl,
}


def to_jsonl(examples: list[Example], form: str = "openai") -> str:
    """The text of a JSON Lines file of ``examples`` in ``form`` (a key of ``FORMS``), one
    record a line. Every example must be a pair: ``pairs_problem`` says so in preflight."""
    write = FORMS[form]
    return "".join(json.dumps(write(e), ensure_ascii=False) + "\n" for e in examples)


def _rejected(example: Example) -> str:
    if example.rejected is None:
        raise ValueError(f"example {example.id} is not a preference pair")
    return example.rejected
