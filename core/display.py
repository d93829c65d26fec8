"""Showing text that ftx did not write (data, model answers, ids, paths, error reasons) in a
terminal, safely.

Two dangers: rich reads ``[bold]`` or ``[/INST]`` as markup (a crash, or a live hyperlink from
``[link=...]``), and the terminal obeys raw escape sequences (ESC clears the screen or makes
OSC-8 links; U+202E reverses the text that follows). ``plain`` shows control and bidi
characters as escapes; ``markup`` does that and escapes rich markup, for text that goes into a
string rich will parse.
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab and newline, DEL, and the bidirectional overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object, *, newlines: bool = True) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``, ``\\u202e``); with
    ``newlines=False`` line breaks too, for one-line cells."""
    text = _UNSAFE.sub(_escaped, str(text))
    if not newlines:
        text = (
            text.replace("\r", "\\r")
            .replace("\n", "\\n")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text


def money(usd: float) -> str:
    """Dollars as every message and report shows them: cents (``$1.84``, ``$1,250.00``), and an
    amount under a cent to two significant digits (``$0.0011``, ``$0.001``), never ``$0.00``
    for one that is not zero: a per-call judge cost or a small --max-cost must stay readable."""
    import math

    sign, usd = ("-" if usd < 0 else ""), abs(usd)
    if usd == 0 or usd >= 0.01:
        return f"{sign}${usd:,.2f}"
    digits = 1 - math.floor(math.log10(usd))  # places that keep two significant digits
    return f"{sign}${usd:.{digits}f}".rstrip("0")


def markup(text: object, *, newlines: bool = True) -> str:
    """``plain(text)`` with rich markup escaped, for a string that rich will parse."""
    from rich.markup import escape

    return escape(plain(text, newlines=newlines))
