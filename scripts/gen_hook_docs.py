"""Write docs/hooks.md from the docstrings in core/hookspecs.py (the one copy of the contract).

python scripts/gen_hook_docs.py          # rewrite docs/hooks.md
python scripts/gen_hook_docs.py --check  # exit 1 if it is out of date (the tests do this)
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "hooks.md"


def render() -> str:
    from ftx import hookspecs

    out = [
        "# Plugin hook reference",
        "",
        "Generated from `core/hookspecs.py` by `scripts/gen_hook_docs.py`; edit the docstrings, "
        "not this file.",
        "Implement a hook with `@ftx.hookimpl` on a function of the same name; an implementation "
        "may",
        "accept any subset of the arguments. See [plugins.md](plugins.md) for a tutorial.",
        "",
    ]
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not name.startswith("ftx_"):
            continue
        signature = str(inspect.signature(fn)).replace("'", "")
        doc = inspect.cleandoc(fn.__doc__ or "")
        doc = re.sub(r":(?:class|func):`([^`]+)`", r"`\1`", doc).replace("``", "`")
        doc = doc.replace("Example::\n", "Example:\n\n```python").rstrip()
        if "```python" in doc:
            head, code = doc.split("```python", 1)
            doc = head + "```python\n" + textwrap.dedent(code).strip("\n") + "\n```"
        out += [f"## `{name}{signature}`", "", doc, ""]
    return "\n".join(out)


if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv:
        current = TARGET.read_text() if TARGET.exists() else ""
        sys.exit(0 if current == text else 1)
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
