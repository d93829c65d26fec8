"""How long examples, prompts and answers may be on a local model, and what happens to the
longer ones.

Two limits meet here. The model's *context* (``max_position_embeddings`` in its config) bounds
everything it reads and writes at once: an eval prompt plus its answer. ``max_seq_length`` bounds
a training example (prompt + answer); by default (``auto``) it is the longest training example,
so nothing is cut unless the data outgrows the model's context or ``AUTO_CAP``. Examples over it
are truncated, dropped or refused (``long_examples``), and counted in one message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ftx.types import Problem

from .tokenize import IGNORE, Encoded

# The most ``max_seq_length=auto`` chooses, whatever the model's context. One outlier thousands of
# tokens long sets the memory of every step it is in (a padded batch is batch_size rows of it;
# attention over it grows with its length), while instruction data rarely has examples above
# this; the warning names the length that keeps them whole for those who want it.
AUTO_CAP = 4096


def model_context(config: Any) -> int | None:
    """The most tokens the model takes at once, from its config (None when it does not say)."""
    if hasattr(config, "get_text_config"):  # multimodal configs nest the language model's
        config = config.get_text_config()
    for name in (
        "max_position_embeddings",
        "n_positions",
        "max_sequence_length",
        "seq_length",
        "n_ctx",
    ):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def load_context(directory: Any, trust_remote_code: bool) -> int | None:
    """``model_context`` of the model in ``directory``, reading only its config."""
    from transformers import AutoConfig

    try:
        return model_context(
            AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
        )
    except (OSError, ValueError):
        return None


def resolve_max_seq_length(setting: int | str, lengths: list[int], context: int | None) -> int:
    """The ``max_seq_length`` in force: the setting itself, or for ``auto`` the longest
    example, at most the model's context and ``AUTO_CAP``."""
    if setting != "auto":
        return int(setting)
    limit = min(context or AUTO_CAP, AUTO_CAP)
    return min(max(lengths, default=8), limit)


@dataclass
class Fitted:
    """What ``fit`` did to the training examples."""

    examples: list[Encoded]
    limit: int
    total: int
    over: int = 0  # examples longer than ``limit``
    longest: int = 0
    dropped: int = 0  # left out: by the policy, or because the cut left no answer to learn from
    no_answer: int = 0  # of the over-long, those whose answer the cut would remove entirely
    problems: list[Problem] = field(
        default_factory=list
    )  # the one counted message about them, for preflight


def fit(encoded: list[Encoded], limit: int, policy: str) -> Fitted:
    """Apply ``long_examples``: cut each over-long example at ``limit`` tokens (``truncate``),
    or leave it out (``drop``). ``error`` changes nothing; preflight refuses such data first.

    A cut keeps the prompt and the start of the answer: input ids and labels (and any other
    per-token list ``encode`` adds) are cut at the same place, so they stay aligned. An example
    whose cut leaves no token carrying loss (the prompt alone fills the limit) would teach
    nothing and is always left out.
    """
    out = Fitted([], limit, len(encoded), longest=max((len(e) for e in encoded), default=0))
    for example in encoded:
        if not any(label != IGNORE for label in example.labels[1:]):
            continue  # every turn has weight 0: nothing to learn (the data check warned already)
        if len(example) <= limit:
            out.examples.append(example)
            continue
        out.over += 1
        if policy == "error":
            out.examples.append(example)
            continue
        cut = _cut(example, limit)
        if not any(label != IGNORE for label in cut.labels[1:]):  # position 0 is never a target
            out.no_answer += 1
            out.dropped += 1
        elif policy == "drop":
            out.dropped += 1
        else:
            out.examples.append(cut)
    return out


def _cut(example: Encoded, limit: int) -> Encoded:
    changes = {
        f.name: getattr(example, f.name)[:limit]
        for f in dataclasses.fields(example)
        if isinstance(getattr(example, f.name), list)
        and len(getattr(example, f.name)) == len(example)
    }
    return dataclasses.replace(example, **changes)


def over_length_message(
    fitted: Fitted, backend: str, policy: str, context: int | None, where: str = ""
) -> tuple[str, str]:
    """The one sentence that counts the over-long training examples, and what to do about them."""
    n, total, limit, longest = fitted.over, fitted.total, fitted.limit, fitted.longest
    head = (
        f"{n} of {total} training examples are over max_seq_length {limit} (longest {longest}"
        + (f", at {where}" if where else "")
        + ")"
    )
    if policy == "error":
        what = "long_examples=error refuses them"
    elif policy == "drop":
        what = "left out"
    elif fitted.no_answer:
        what = (
            f"{n - fitted.no_answer} truncated to fit, {fitted.no_answer} left out "
            "(the prompt alone fills max_seq_length)"
        )
    else:
        what = "truncated to fit"
    if context is not None and longest > context:
        keep = (
            f"the model's context is {context} tokens, so they cannot be kept whole: shorten them"
        )
    else:
        keep = f"--set {backend}.max_seq_length={longest} keeps them whole"
    if policy == "error":
        other = f"--set {backend}.long_examples=truncate trains on their first {limit} tokens"
    else:
        other = f"--set {backend}.long_examples=error refuses such data"
    return f"{head}; {what}", f"{keep}, or {other}"


def eval_prompt_problems(
    prompts: list[tuple[int, str]], context: int | None, max_new_tokens: int | None
) -> list[Problem]:
    """Eval prompts (length, where) against the model's context: an error for those that leave
    no room for an answer, one warning for those whose answer would run out of context first."""
    if context is None or not prompts:
        return []
    problems = []
    total = len(prompts)
    full = [(n, where) for n, where in prompts if n >= context]
    if full:
        n, where = max(full)
        problems.append(
            Problem(
                f"{len(full)} of {total} eval prompts do not fit the model's context of "
                f"{context} tokens with room for an answer (longest {n}, at {where})",
                hint="shorten them or leave them out of the eval data, "
                "or use a model with a longer context",
            )
        )
    if max_new_tokens is not None:
        short = [(n, where) for n, where in prompts if n < context and n + max_new_tokens > context]
        if short:
            n, where = max(short)
            problems.append(
                Problem(
                    f"{len(short)} of {total} eval prompts leave less than max_new_tokens "
                    f"{max_new_tokens} for the answer in the model's context of {context} tokens "
                    f"(longest {n}, at {where}); those answers stop where the context ends",
                    hint="they are counted as cut short in the report",
                    severity="warning",
                )
            )
    return problems
