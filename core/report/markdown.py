"""report.md: the comparison table as Markdown, for pull requests and notebooks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ftx.display import plain
from ftx.hookspecs import hookimpl
from ftx.report import (
    cut_short_note,
    cut_short_warnings,
    legend,
    rows,
    scoring_cost_note,
    signature_notes,
    winner_notes,
)
from ftx.reporter import Reporter
from ftx.results import RunResult
from ftx.store import atomic_write_text

_LINE_BREAK = re.compile("\r\n|[\r\n\u2028\u2029]")


def cell(text: object, line_break: str = "<br>") -> str:
    """``text`` as Markdown that stays in its table cell or line: control characters shown as
    escapes, ``\\`` and ``|`` escaped, ``<`` as ``&lt;`` (no HTML from the data), line breaks
    as ``<br>`` (or ``line_break``)."""
    text = (
        plain(_LINE_BREAK.sub("\n", str(text)))
        .replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
    )
    return text.replace("\n", line_break)


def line(text: object) -> str:
    """``text`` as one line of Markdown outside a table."""
    return cell(text, " ")


def sentence(text: str) -> str:
    """A note of ftx's own words as a sentence: capital first letter, full stop."""
    return line(text[:1].upper() + text[1:]) + "."


def render(result: RunResult) -> str:
    header = [
        "backend",
        *[cell(m.name) for m in result.metrics],
        "train time",
        "train tokens",
        "cost",
    ]
    lines = [
        f"# ftx run {cell(result.run_id, ' ')}",
        "",
        f"Data: {cell(result.data, ' ')} · {len(result.example_ids)} held-out examples · status: "
        f"{cell(result.status, ' ')}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for row in rows(result):
        b = row["backend"]
        if b.status != "done":
            cells = [cell(f"{b.status}: {b.error or 'did not finish'}")] + [""] * (
                len(result.metrics) - 1
            )
        else:
            cells = []
            for m in result.metrics:
                value = (
                    row["values"][m.name]
                    + (f" {row['ci'][m.name]}" if row["ci"][m.name] else "")
                    + (f" {row['marks'][m.name]}" if row["marks"][m.name] else "")
                )
                cells.append(f"**{value}**" if m.name in row["best"] else value)
        lines.append(
            "| "
            + " | ".join([cell(row["label"]), *cells, row["time"], row["tokens"], row["cost"]])
            + " |"
        )
    lines += [
        "",
        "Bold marks the best value in each column"
        + (f"; {legend(result)}." if legend(result) else "."),
    ]
    for note in winner_notes(result):
        lines += ["", sentence(note)]
    if notes := signature_notes(result):
        lines += ["", " · ".join(cell(note, " ") for note in notes)]
    if note := scoring_cost_note(result):
        lines += ["", sentence(note)]
    if note := cut_short_note(result):
        lines += ["", sentence(note)]
    for warning in cut_short_warnings(result):
        lines += ["", f"> **Warning:** {line(warning)}"]
    return "\n".join(lines) + "\n"


class MarkdownReporter(Reporter):
    name = "markdown"
    description = "report.md: the comparison table in Markdown"
    writes = "report.md"

    def report(self, result: RunResult, run_dir: Path, console: Any) -> None:
        atomic_write_text(run_dir / self.writes, render(result))


@hookimpl
def ftx_register_reporters(register):
    register(MarkdownReporter)
