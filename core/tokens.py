"""Counting tokens without a model at hand.

Exact counts need the model's tokenizer, which backends have (they check lengths in preflight).
For ``ftx data stats`` without ``--tokenizer`` this approximation is used: words and
punctuation marks, with long words counted as several pieces, as BPE tokenizers split them.
It is within about 15% of Llama-family tokenizers on English prose, and counts a character
of Chinese or Japanese as one token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

# Scripts written without spaces (Chinese, Japanese) and Hangul syllables: BPE tokenizers spend
# about one token per character on them (0.7 for Qwen's, 1.0-1.3 for Llama 3's, 1.7 for
# SmolLM2's), where counting "words" saw a whole clause as one and came out 5x too low.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\uff66-\uff9f"
_PIECE = re.compile(rf"[{_CJK}]|(?:(?![{_CJK}])\w)+|[^\w\s]", re.UNICODE)


def approximate(text: str) -> int:
    return sum(
        max(1, math.ceil(len(p) / 6)) if p[0].isalnum() and len(p) > 1 else 1
        for p in _PIECE.findall(text)
    )


def counter(tokenizer: str | None) -> tuple[Callable[[str], int], str]:
    """A token counter and a description of it; ``tokenizer`` is a model directory or None."""
    if not tokenizer:
        return approximate, "approximate (words and punctuation; pass --tokenizer for exact counts)"
    from ftx.errors import ConfigError, require

    if not Path(tokenizer).exists():
        raise ConfigError(
            f"tokenizer directory {tokenizer} does not exist.", hint="Pass a local model directory."
        )
    transformers = require(
        "transformers", extra="local", purpose="Counting tokens with a model's tokenizer"
    )
    tok = transformers.AutoTokenizer.from_pretrained(tokenizer)
    return (
        lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    ), f"exact ({tokenizer})"
