"""report.md: the comparison table as Markdown, for pull requests and notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftx.hookspecs import hookimpl
from ftx.report import LEGEND, cut_short_note, cut_short_warnings, rows, scoring_cost_note
from ftx.reporter import Reporter
from ftx.results import RunResult
from ftx.store import atomic_write_text


def render(result: RunResult) -> str:
    header = ["backend", *[m.name for m in result.metrics], "train time", "train tokens", "cost"]
    lines = [
        f"# ftx run {result.run_id}",
        "",
        f"Data: {result.data} · {len(result.example_ids)} held-out examples · status: {result.status}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for row in rows(result):
        b = row["backend"]
        if b.status != "done":
            cells = [f"{b.status}: {b.error}"] + [""] * (len(result.metrics) - 1)
        else:
            cells = []
            for m in result.metrics:
                value = row["values"][m.name] + (f" {row['ci'][m.name]}" if row["ci"][m.name] else "") + (f" {row['marks'][m.name]}" if row["marks"][m.name] else "")
                cells.append(f"**{value}**" if m.name in row["best"] else value)
        lines.append("| " + " | ".join([row["label"], *cells, row["time"], row["tokens"], row["cost"]]) + " |")
    lines += ["", "Bold marks the best value in each column; " + LEGEND + "."]
    if note := scoring_cost_note(result):
        lines += ["", note.capitalize() + "."]
    if note := cut_short_note(result):
        lines += ["", note.capitalize() + "."]
    for warning in cut_short_warnings(result):
        lines += ["", f"> **Warning:** {warning}"]
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
