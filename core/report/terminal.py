"""The comparison table in the terminal (rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftx.hookspecs import hookimpl
from ftx.report import LEGEND, answers_to, cut_short_note, cut_short_warnings, rows, scoring_cost_note
from ftx.reporter import Reporter
from ftx.results import RunResult


def header(m: Any) -> str:
    """The metric's name and direction: ↓ lower is better, →1 closest to 1 is better."""
    return m.name + (f" →{m.target:g}" if m.target is not None else "" if m.higher_is_better else " ↓")


def comparison_table(result: RunResult, width: int = 80) -> Any:
    """Backends as rows, metrics as columns; metrics as rows when that would not fit ``width``."""
    from rich import box
    from rich.table import Table

    wide = max((len(b.name) for b in result.backends), default=7) + 9 * (len(result.metrics) + 1) + 4
    if wide > width:
        return metric_rows_table(result)
    caption = f"★ best in column · baseline: {result.baseline}\n{LEGEND}" if result.baseline else "★ best in column"
    table = Table(title=f"ftx run {result.run_id} · {len(result.example_ids)} held-out examples", title_justify="left",
                  caption=caption, caption_justify="left", box=box.SIMPLE_HEAVY)
    table.add_column("backend", style="bold", no_wrap=True)
    for m in result.metrics:
        table.add_column(header(m).replace("_", "\n"), justify="right", no_wrap=True)  # exact_match: two short lines
    table.add_column("train\ntokens" + ("\ncost" if any(b.cost is not None for b in result.backends) else ""),
                     justify="right", no_wrap=True)
    for row in rows(result):
        b = row["backend"]
        train = row["time"] + (f"\n[dim]{row['tokens']}[/]" if row["tokens"] != "–" else "") + (
            f"\n[dim]{row['cost']}[/]" if row["cost"] != "–" else "")
        if b.status != "done":
            cells = [f"[red]{b.status}[/]"] + [""] * (len(result.metrics) - 1) if result.metrics else []
            table.add_row(b.name, *cells, train)
            continue
        cells = []
        for m in result.metrics:
            value = row["values"][m.name] + row["marks"][m.name]
            value = f"[bold green]{value}★[/]" if m.name in row["best"] else value
            cells.append(value + (f"\n[dim]{row['ci'][m.name]}[/]" if row["ci"][m.name] else ""))
        table.add_row(b.name, *cells, train)
    return table


def metric_rows_table(result: RunResult) -> Any:
    """The same comparison turned sideways, for runs with many metrics: one column per backend."""
    from rich import box
    from rich.table import Table

    caption = f"★ best in row · baseline: {result.baseline}\n{LEGEND}" if result.baseline else "★ best in row"
    table = Table(title=f"ftx run {result.run_id} · {len(result.example_ids)} held-out examples", title_justify="left",
                  caption=caption, caption_justify="left", box=box.SIMPLE_HEAVY)
    table.add_column("metric", style="bold", no_wrap=True)
    shown = rows(result)
    for row in shown:
        table.add_column(row["backend"].name, justify="right", no_wrap=True)
    for m in result.metrics:
        cells = []
        for row in shown:
            if row["backend"].status != "done":
                cells.append(f"[red]{row['backend'].status}[/]")
                continue
            value = row["values"][m.name] + row["marks"][m.name]
            value = f"[bold green]{value}★[/]" if m.name in row["best"] else value
            cells.append(value + (f" [dim]{row['ci'][m.name]}[/]" if row["ci"][m.name] else ""))
        table.add_row(header(m), *cells)
    table.add_row("train time", *[row["time"] for row in shown], style="dim")
    table.add_row("train tokens", *[row["tokens"] for row in shown], style="dim")
    if any(row["cost"] != "–" for row in shown):
        table.add_row("cost", *[row["cost"] for row in shown], style="dim")
    return table


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 32) -> str:
    """``values`` as one line of block characters, resampled to at most ``width``."""
    if not values:
        return ""
    if len(values) > width:  # average each of ``width`` equal slices
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        values = [sum(values[a:b]) / (b - a) for a, b in zip(edges, edges[1:]) if b > a]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))] for v in values)


def loss_curves(result: RunResult) -> list[str]:
    """One line per trained backend: first loss, the curve, last loss, steps (and eval loss)."""
    lines = []
    width = max((len(b.name) for b in result.backends), default=0)
    for b in result.backends:
        train = [e["loss"] for e in b.train_log if isinstance(e.get("loss"), (int, float))]
        if len(train) < 2:
            continue
        evals = [e["eval_loss"] for e in b.train_log if isinstance(e.get("eval_loss"), (int, float))]
        line = f"{b.name:<{width}}  loss {train[0]:.3f} [cyan]{sparkline(train)}[/] {train[-1]:.3f} · {len(train)} steps"
        if len(evals) >= 2:
            line += f" · eval loss {evals[0]:.3f} → {evals[-1]:.3f}"
        lines.append(line)
    return lines


def print_examples(result: RunResult, n: int, console: Any) -> None:
    """The ``n`` examples the backends disagree on most, each answer beside its scores."""
    from rich import box
    from rich.table import Table

    from ftx.results import divergent_examples

    for rank, i in enumerate(divergent_examples(result, n), start=1):
        table = Table(box=box.SIMPLE, show_header=True, title_justify="left", expand=False,
                      title=f"[bold]{rank}. {result.example_ids[i]}[/] · {result.prompts[i]}")
        table.add_column("", style="bold", no_wrap=True)
        table.add_column("answer", overflow="fold", ratio=1)
        table.add_column("scores", no_wrap=True, style="dim")
        table.add_row("reference", f"[green]{result.references[i]}[/]", "")
        for name, answer, scores in answers_to(result, i):
            table.add_row(name, answer or "[dim](empty)[/]", " ".join(scores))
        console.print(table)


class TerminalReporter(Reporter):
    name = "terminal"
    description = "comparison table in the terminal; ★ marks the best value of each column"

    def report(self, result: RunResult, run_dir: Path, console: Any) -> None:
        console.print(comparison_table(result, console.width))
        for line in loss_curves(result):
            console.print(line)
        if note := scoring_cost_note(result):
            console.print(f"[dim]{note}[/]")
        warnings = cut_short_warnings(result)
        for warning in warnings:
            console.print(f"[yellow]warning:[/] {warning}")
        if not warnings and (note := cut_short_note(result)):
            console.print(f"[dim]{note}[/]")
        for b in result.backends:
            if b.status != "done":
                console.print(f"[red]✗ {b.name}[/] {b.status}: {b.error or 'did not finish'}" + (f" (log: {b.log})" if b.log else ""))
        files = [p.name for p in (run_dir / "report.json", run_dir / "report.md", run_dir / "report.html") if p.exists()]
        console.print(f"[dim]run directory: {run_dir}" + (f" ({', '.join(files)})" if files else "") + "[/]")


@hookimpl
def ftx_register_reporters(register):
    register(TerminalReporter)
