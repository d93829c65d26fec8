"""Batched generation for evaluation: prompts sorted by length, left padding, KV cache.

Each answer says whether it was cut short (``Completion.truncated``): it stopped because it
reached ``max_new_tokens``, or the end of the model's context, before the model ended it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ftx.errors import FtxError
from ftx.templates import Template
from ftx.types import Completion, Example, GenerationParams, Message

from .lengths import model_context
from .tokenize import encode_prompt


def stop_token_ids(tokenizer: Any, template: Template) -> list[int]:
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    for text in template.stop_strings(tokenizer):
        if text in vocab:
            ids.add(vocab[text])
    return sorted(ids)


def cut_at_stop(text: str, stops: list[str]) -> str:
    cut = len(text)
    for stop in stops:
        index = text.find(stop)
        if index != -1:
            cut = min(cut, index)
    return text[:cut].strip()


def room_for_answer(prompt_tokens: int, max_new_tokens: int, context: int | None) -> int:
    """How many tokens an answer may have after a prompt: max_new_tokens, or less where the
    model's context ends first. A prompt that fills the context is an error that says so."""
    if context is None:
        return max_new_tokens
    if prompt_tokens >= context:
        raise FtxError(
            f"an eval prompt is {prompt_tokens} tokens, which leaves no room for an answer in "
            f"the model's context of {context} tokens.",
            hint="Shorten it or leave it out of the eval data, "
            "or use a model with a longer context.",
        )
    return min(max_new_tokens, context - prompt_tokens)


def generate(
    model: Any,
    tokenizer: Any,
    template: Template,
    prompts: list[list[Message]],
    params: GenerationParams,
    *,
    batch_size: int,
    device: str,
    progress: Any = None,
    label: str = "generating",
    on_answer: Callable[[int, Completion], None] | None = None,
) -> list[Completion]:
    """An answer to each prompt, in the prompts' order; each goes to ``on_answer`` as soon as its
    batch is done (a run killed later keeps it)."""
    import torch

    encoded = [encode_prompt(p, template, tokenizer) for p in prompts]
    # Longest first: similar lengths share a batch, and an out-of-memory error shows up at once.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
    results: list[Completion | None] = [None] * len(encoded)
    eos = stop_token_ids(tokenizer, template)
    stops = template.stop_strings(tokenizer)
    task = progress.add_task(label, total=len(encoded), info="") if progress is not None else None
    context = model_context(model.config)
    torch.manual_seed(params.seed)
    model.eval()
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        longest = max(len(encoded[i]) for i in batch)
        room = room_for_answer(longest, params.max_new_tokens, context)
        output = generate_batch(
            model, tokenizer, [encoded[i] for i in batch], params, eos, room, device
        )
        for row, i in enumerate(batch):
            results[i] = completion(
                tokenizer, output[row, longest:].tolist(), len(encoded[i]), eos, stops, room
            )
            if on_answer is not None:
                on_answer(i, results[i])
        if task is not None:
            progress.update(task, advance=len(batch))
    return [r for r in results if r is not None]


def generate_batch(
    model: Any,
    tokenizer: Any,
    batch: list[list[int]],
    params: GenerationParams,
    eos: list[int],
    room: int,
    device: str,
) -> Any:
    """``model.generate`` on one batch of prompts, left-padded to the longest so that every
    answer starts at the same position; at most ``room`` new tokens each."""
    import torch

    longest = max(len(ids) for ids in batch)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (longest - len(ids)) + ids for ids in batch], device=device)
    mask = torch.tensor(
        [[0] * (longest - len(ids)) + [1] * len(ids) for ids in batch],
        device=device,
    )
    kwargs: dict[str, Any] = {"do_sample": params.temperature > 0}
    if params.temperature > 0:
        kwargs.update(
            temperature=params.temperature, top_p=params.top_p, top_k=params.top_k or None
        )
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        return model.generate(
            input_ids=input_ids,
            attention_mask=mask,
            max_new_tokens=room,
            repetition_penalty=params.repetition_penalty,
            eos_token_id=eos,
            pad_token_id=pad,
            use_cache=True,
            **kwargs,
        )


def completion(
    tokenizer: Any,
    new: list[int],
    prompt_tokens: int,
    eos: list[int],
    stops: list[str],
    room: int,
) -> Completion:
    """One row of a batch's output (the tokens after the prompts) as an answer: padding taken
    off, cut at the first stop string, and marked if the budget ran out first."""
    pad = tokenizer.pad_token_id
    # Cut short: every step of the budget was taken and no stop token or string came.
    # (A row that ended early is padded to the batch's length, with its stop token.)
    cut_short = (
        len(new) >= room
        and not set(new) & set(eos)
        and not any(stop in tokenizer.decode(new, skip_special_tokens=False) for stop in stops)
    )
    while new and new[-1] == pad:
        new.pop()
    text = cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), stops)
    return Completion(
        text, prompt_tokens=prompt_tokens, completion_tokens=len(new), truncated=cut_short
    )


def reference_logprobs(
    model: Any,
    tokenizer: Any,
    template: Template,
    examples: list[Example],
    *,
    batch_size: int,
    device: str,
) -> list[tuple[float, int]]:
    """The summed log-probability of each reference answer after its prompt, and its token count
    (the tokens that carry loss in training, so the two measure the same thing)."""
    import torch
    import torch.nn.functional as F

    from .tokenize import IGNORE, PaddingCollator, encode

    collate = PaddingCollator(tokenizer.pad_token_id)
    encoded = [
        encode(e, template, tokenizer, turns=[len(e.messages) - 1]) for e in examples
    ]  # the reference only
    results: list[tuple[float, int]] = []
    model.eval()
    for start in range(0, len(encoded), batch_size):
        batch = collate(
            [
                {"input_ids": e.input_ids, "labels": e.labels}
                for e in encoded[start : start + batch_size]
            ]
        )
        targets = batch.pop("labels")[:, 1:].to(device)  # position p predicts token p + 1
        with torch.inference_mode():
            logits = (
                model(**{k: v.to(device) for k, v in batch.items()}, use_cache=False)
                .logits[:, :-1]
                .float()
            )
        nll = F.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
        )  # 0 where ignored
        counts = (targets != IGNORE).sum(dim=1)
        results += [(-float(total), int(count)) for total, count in zip(nll.sum(dim=1), counts)]
    return results
