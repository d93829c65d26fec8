"""Turning Examples into token ids with labels on the completion only.

The prompt and the completion are tokenized separately, as they are at generation time (the
model sees the prompt's tokens, then writes), and the prompt's labels are -100 so that only the
answer and its end-of-turn marker carry loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftx.templates import Template
from ftx.types import Example, Message

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


def needs_bos(tokenizer: Any, text: str) -> bool:
    """True if the tokenizer normally starts with BOS and the rendered text does not have it."""
    bos = getattr(tokenizer, "bos_token", None)
    if not bos or tokenizer.bos_token_id is None:
        return False
    ids = tokenizer("x").input_ids
    return bool(ids) and ids[0] == tokenizer.bos_token_id and not text.startswith(bos)


def encode_prompt(messages: list[Message], template: Template, tokenizer: Any) -> list[int]:
    text = template.prompt(messages, tokenizer)
    ids = tokenizer(text, add_special_tokens=False).input_ids
    return [tokenizer.bos_token_id, *ids] if needs_bos(tokenizer, text) else ids


def encode(
    example: Example, template: Template, tokenizer: Any, turns: list[int] | None = None
) -> Encoded:
    """The example's tokens, with labels on the assistant turns in ``turns`` (by default the
    ones that carry loss: the final answer, and earlier turns given ``weight`` 1)."""
    last = len(example.messages) - 1
    turns = example.trained_turns() if turns is None else turns
    if turns == [last]:
        prompt_ids = encode_prompt(example.prompt, template, tokenizer)
        completion = template.completion(example.prompt, example.reference, tokenizer)
        completion_ids = tokenizer(completion, add_special_tokens=False).input_ids
        return Encoded(prompt_ids + completion_ids, [IGNORE] * len(prompt_ids) + completion_ids)
    return _encode_turns(list(example.messages), set(turns), template, tokenizer)


def _encode_turns(
    messages: list[Message], turns: set[int], template: Template, tokenizer: Any
) -> Encoded:
    """Every assistant turn tokenized as it follows its own prompt (as at generation time), the
    ones in ``turns`` labelled. A template that rewrites earlier turns once later ones exist
    (some strip reasoning from the history) cannot be walked this way: then only the final
    answer is labelled, if it is in ``turns``."""
    ids: list[int] = []
    labels: list[int] = []
    text = ""
    for i, message in enumerate(messages):
        if message.role != "assistant":
            continue
        prompt = template.prompt(messages[:i], tokenizer)
        if not prompt.startswith(text):
            last = len(messages) - 1
            return encode(
                Example("", tuple(messages)), template, tokenizer, [last] if last in turns else []
            )
        if ids:
            new = tokenizer(prompt[len(text) :], add_special_tokens=False).input_ids
        else:
            new = encode_prompt(messages[:i], template, tokenizer)
        completion = template.completion(messages[:i], message.content, tokenizer)
        completion_ids = tokenizer(completion, add_special_tokens=False).input_ids
        ids += new + completion_ids
        labels += [IGNORE] * len(new) + (
            completion_ids if i in turns else [IGNORE] * len(completion_ids)
        )
        text = prompt + completion
    return Encoded(ids, labels)


class PackingCollator:
    """Concatenates a batch into one row with no padding at all (padding-free packing).

    ``position_ids`` restart at 0 for every example, which is how transformers' attention masks
    keep examples from attending to each other (when no KV cache is in use, as in training).
    The example boundaries also go along as ``cu_seq_lens_q/k`` and ``max_length_q/k`` (the
    keyword arguments of transformers' flash-attention path), which ``attention.packed_attention``
    uses to attend example by example instead of through a mask over the whole row.
    The first token of every example is never a target, so no example learns its neighbour's end.
    """

    def __init__(self, pad_id: int = 0, multiple: int = 1, boundaries: bool = True):
        self.pad_id, self.multiple, self.boundaries = pad_id, multiple, boundaries
        self.real_tokens = 0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        ids, labels, positions, lengths = [], [], [], []
        for b in batch:
            ids += b["input_ids"]
            labels += [IGNORE] + b["labels"][1:]
            positions += range(len(b["input_ids"]))
            lengths.append(len(b["input_ids"]))
            self.real_tokens += len(b["input_ids"])
        # On GPUs every new row length costs kernel selection again (measured: 292 ms a step
        # with ever-changing lengths against 123 ms with one length, for a 1B model), so rows
        # are rounded up to a multiple; the filler is a segment of its own that carries no loss.
        filler = -len(ids) % self.multiple
        if filler:
            ids += [self.pad_id] * filler
            labels += [IGNORE] * filler
            positions += range(filler)
            lengths.append(filler)
        batch = {
            "input_ids": torch.tensor([ids]),
            "labels": torch.tensor([labels]),
            "position_ids": torch.tensor([positions]),
        }
        if self.boundaries:  # off for models whose forward() takes no such keywords
            bounds = torch.tensor([0, *lengths], dtype=torch.int32).cumsum(0, dtype=torch.int32)
            batch.update(
                cu_seq_lens_q=bounds,
                cu_seq_lens_k=bounds,
                max_length_q=max(lengths),
                max_length_k=max(lengths),
            )
        return batch


class PaddingCollator:
    """Pads a batch to its longest example (right side), labels with -100, and counts the real
    tokens it has seen (for tokens/s)."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id
        self.real_tokens = 0

    def __call__(self, batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        longest = max(len(b["input_ids"]) for b in batch)
        ids, labels, mask = [], [], []
        for b in batch:
            pad = longest - len(b["input_ids"])
            ids.append(b["input_ids"] + [self.pad_id] * pad)
            labels.append(b["labels"] + [IGNORE] * pad)
            mask.append([1] * len(b["input_ids"]) + [0] * pad)
            self.real_tokens += len(b["input_ids"])
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }
