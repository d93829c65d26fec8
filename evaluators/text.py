"""Text normalisation and tokenization shared by the word-level metrics.

Unicode-aware on purpose: rouge-score's own tokenizer drops every non-ASCII letter, which would
score any non-English answer as empty. Scripts written without spaces between words (Chinese,
Japanese, Thai, Lao, Khmer, Myanmar) are split into characters: otherwise a whole clause is one
"word", and one changed character makes the clause a miss. Hangul is written with spaces, so
Korean words stay words.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"\w+", re.UNICODE)

# Han (with 々 〆 〇 and the compatibility and supplementary ideographs) and kana.
_HAN = "\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_KANA = "\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f"
# Scripts of South-East Asia written without spaces; their vowel and tone marks stay on the letter.
_SOUTHEAST = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_UNSPACED = _HAN + _KANA + _SOUTHEAST
_HAN_RE = re.compile(f"[{_HAN}]")
_KANA_RE = re.compile(f"[{_KANA}]")


def normalize(text: str) -> str:
    """Case-folded, NFKC, punctuation (any Unicode P* category) removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Case-folded NFKC words; one token per character in unspaced scripts, and combining marks
    kept on their letter (``\\w`` alone would split "हिन्दी" at every vowel sign).

    Text with neither takes the plain ``\\w+`` path, so English tokens are exactly what they
    were."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii() or not _special().search(text):
        return _WORD.findall(text)
    return _tokens().findall(text)


@functools.cache
def _marks() -> str:
    """Every combining mark (Unicode M*) as a regex character class body; built once (~0.1 s)."""
    spans: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if spans and spans[-1][1] == code - 1:
                spans[-1][1] = code
            else:
                spans.append([code, code])
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in spans
    )


@functools.cache
def _special() -> re.Pattern[str]:
    return re.compile(f"[{_UNSPACED}{_marks()}]")


@functools.cache
def _tokens() -> re.Pattern[str]:
    marks = _marks()
    unspaced = rf"(?=\w)[{_UNSPACED}][{marks}]*"  # one character, with its marks
    word = rf"(?:(?![{_UNSPACED}])\w)(?:(?![{_UNSPACED}])[\w{marks}])*"
    return re.compile(f"{unspaced}|{word}")


@dataclass(frozen=True)
class ScriptShare:
    """How much of a corpus is Chinese or Japanese, counted in ``words`` tokens."""

    cjk: float  # Han and kana characters over all tokens
    kana: float  # kana over Han and kana: Japanese writes it in every sentence, Chinese never


def script_share(texts: Iterable[str]) -> ScriptShare:
    """The shares that pick a corpus's BLEU tokenizer (see ``ftx.evaluators.bleu``)."""
    total = han = kana = 0
    for text in texts:
        tokens = words(text)
        total += len(tokens)
        han += sum(1 for t in tokens if _HAN_RE.match(t))
        kana += sum(1 for t in tokens if _KANA_RE.match(t))
    cjk = han + kana
    return ScriptShare(cjk / total if total else 0.0, kana / cjk if cjk else 0.0)
