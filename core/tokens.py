"""Counting tokens without a model at hand.

Exact counts need the model's tokenizer, which backends have (they check lengths in preflight).
For ``ftx data stats`` without ``--tokenizer`` this approximation is used: words and
punctuation marks, with long words counted as several pieces, as BPE tokenizers split them.
It is within about 15% of Llama-family tokenizers on English prose.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approximate(text: str) -> int:
    return sum(max(1, math.ceil(len(p) / 6)) if p[0].isalnum() else 1 for p in _PIECE.findall(text))


def counter(tokenizer: str | None) -> tuple[Callable[[str], int], str]:
    """A token counter and a description of it; ``tokenizer`` is a model directory or None."""
    if not tokenizer:
        return approximate, "approximate (words and punctuation; pass --tokenizer for exact counts)"
    from ftx.errors import ConfigError, require

    if not Path(tokenizer).exists():
        raise ConfigError(f"tokenizer directory {tokenizer} does not exist.", hint="Pass a local model directory.")
    transformers = require("transformers", extra="local", purpose="Counting tokens with a model's tokenizer")
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer)
    return (lambda text: len(tok(text, add_special_tokens=False)["input_ids"])), f"exact ({tokenizer})"
