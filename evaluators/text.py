"""Text normalisation shared by the word-level metrics.

Unicode-aware on purpose: rouge-score's own tokenizer drops every non-ASCII letter, which would
score any non-English answer as empty.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)


def normalize(text: str) -> str:
    """Case-folded, NFKC, punctuation (any Unicode P* category) removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())



