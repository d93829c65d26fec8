"""The comparison table in the terminal (rich)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftx.display import plain
from ftx.hookspecs import hookimpl
from ftx.report import (
    BASELINE_TAG,
    answers_to,
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


def shown(text: object, style: str = "", *, newlines: bool = True) -> Any:
    """Text ftx did not write (names, ids, data, answers, reasons) for rich: a ``Text``, so that
    neither markup (``[/INST]``, ``[link=...]``) nor emoji codes (``:warning:``) are read in it,
    with control characters shown as escapes (``ftx.display.plain``)."""
    from rich.text import Text

    return Text(plain(text, newlines=newlines), style=style)


def header(m: Any) -> str:
    """The metric's name and direction: ↓ lower is better, →1 closest to 1 is better."""
    return plain(m.name, newlines=False) + (
        f" →{m.target:g}" if m.target is not None else "" if m.higher_is_better else " ↓"
    )


def _title(result: RunResult) -> Any:
    return shown(
        f"ftx run {plain(result.run_id, newlines=False)} · {len(result.example_ids)} held-out "
        f"examples",
        newlines=False,
    )


def _caption(result: RunResult, best: str) -> Any:
    first = best + (
        f" · baseline: {plain(result.baseline, newlines=False)}" if result.baseline else ""
    )
    return shown("\n".join(filter(None, [first, legend(result, sep="\n")])))


def _status(b: Any) -> str:
    """The style of a backend that did not finish: red, but dim for a pruned Optuna trial."""
    return "dim" if b.status == "pruned" else "red"


def _value(row: dict[str, Any], metric: str) -> Any:
    """A finished backend's value of ``metric``: its ▲/▼, green and ★ where it is the best."""
    from rich.text import Text

    value = row["values"][metric] + row["marks"][metric]
    return Text(value + "★", style="bold green") if metric in row["best"] else Text(value)


def comparison_table(result: RunResult, width: int = 80) -> Any:
    """Backends as rows, metrics as columns; metrics as rows when that would not fit ``width``."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    shown_rows = rows(result)
    names = max([7, *(len(plain(line, newlines=False)) for r in shown_rows for line in r["lines"])])
    metrics = [
        max(
            len(line)
            for line in [
                *header(m).split("_"),
                *(str(_value(row, m.name)) for row in shown_rows),
                *(row["ci"][m.name] for row in shown_rows),
            ]
        )
        for m in result.metrics
    ]
    wide = (
        names + sum(w + 3 for w in metrics) + 3 + 9 + 1
    )  # each column padded and ruled, the train column, the edge
    if wide > width:
        return metric_rows_table(result)
    table = Table(
        title=_title(result),
        title_justify="left",
        caption=_caption(result, "★ best in column"),
        caption_justify="left",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("backend", style="bold", no_wrap=True)
    for m in result.metrics:
        table.add_column(
            shown(header(m).replace("_", "\n")), justify="right", no_wrap=True
        )  # exact_match: two short lines
    table.add_column(
        "train\ntokens" + ("\ncost" if any(b.cost is not None for b in result.backends) else ""),
        justify="right",
        no_wrap=True,
    )
    for row in shown_rows:
        b = row["backend"]
        train = Text(row["time"])
        for extra in (row["tokens"], row["cost"]):
            if extra != "–":
                train.append("\n" + extra, style="dim")
        label = shown("\n".join(plain(line, newlines=False) for line in row["lines"]))
        if b.status != "done":
            cells = (
                [shown(b.status, _status(b), newlines=False)] + [""] * (len(result.metrics) - 1)
                if result.metrics
                else []
            )
            table.add_row(label, *cells, train)
            continue
        cells = []
        for m in result.metrics:
            cell = _value(row, m.name)
            if row["ci"][m.name]:
                cell.append("\n" + row["ci"][m.name], style="dim")
            cells.append(cell)
        table.add_row(label, *cells, train)
    return table


def metric_rows_table(result: RunResult) -> Any:
    """The same comparison turned sideways, for runs with many metrics: one column per backend."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=_title(result),
        title_justify="left",
        caption=_caption(result, "★ best in row"),
        caption_justify="left",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("metric", style="bold", no_wrap=True)
    shown_rows = rows(result)
    for row in shown_rows:
        lines = [line for line in row["lines"] if line != BASELINE_TAG]
        table.add_column(
            shown("\n".join(plain(line, newlines=False) for line in lines)),
            justify="right",
            no_wrap=True,
        )
    for m in result.metrics:
        cells = []
        for row in shown_rows:
            if row["backend"].status != "done":
                cells.append(shown(row["backend"].status, _status(row["backend"]), newlines=False))
                continue
            cell = _value(row, m.name)
            if row["ci"][m.name]:
                cell.append(" " + row["ci"][m.name], style="dim")
            cells.append(cell)
        table.add_row(shown(header(m)), *cells)
    table.add_row("train time", *[row["time"] for row in shown_rows], style="dim")
    table.add_row("train tokens", *[row["tokens"] for row in shown_rows], style="dim")
    if any(row["cost"] != "–" for row in shown_rows):
        table.add_row("cost", *[row["cost"] for row in shown_rows], style="dim")
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
    return "".join(
        SPARKS[min(len(SPARKS) - 1, int((v - low) / span * len(SPARKS)))] for v in values
    )


def loss_curves(result: RunResult) -> list[Any]:
    """One line per trained backend: first loss, the curve, last loss, steps (and eval loss)."""
    lines = []
    names = {b.name: plain(b.name, newlines=False) for b in result.backends}
    width = max((len(name) for name in names.values()), default=0)
    for b in result.backends:
        train = [e["loss"] for e in b.train_log if isinstance(e.get("loss"), (int, float))]
        if len(train) < 2:
            continue
        evals = [
            e["eval_loss"] for e in b.train_log if isinstance(e.get("eval_loss"), (int, float))
        ]
        line = shown(f"{names[b.name]:<{width}}  loss {train[0]:.3f} ")
        line.append(sparkline(train), style="cyan")
        line.append(f" {train[-1]:.3f} · {len(train)} steps")
        if len(evals) >= 2:
            line.append(f" · eval loss {evals[0]:.3f} → {evals[-1]:.3f}")
        lines.append(line)
    return lines


def print_examples(result: RunResult, n: int, console: Any) -> None:
    """The ``n`` examples the backends disagree on most, each answer beside its scores (one a
    line, so that the answer keeps most of the width)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ftx.results import divergent_examples

    for rank, i in enumerate(divergent_examples(result, n), start=1):
        title = Text.assemble(
            (f"{rank}. {plain(result.example_ids[i], newlines=False)}", "bold"),
            " · ",
            plain(result.prompts[i]),
        )
        table = Table(
            box=box.SIMPLE, show_header=True, title_justify="left", expand=False, title=title
        )
        table.add_column("", style="bold", no_wrap=True)
        table.add_column("answer", overflow="fold", ratio=1)
        table.add_column("scores", no_wrap=True, style="dim")
        table.add_row("reference", shown(result.references[i], "green"), "")
        for name, answer, scores in answers_to(result, i):
            table.add_row(
                shown(name, newlines=False),
                shown(answer) if answer else Text("(empty)", style="dim"),
                shown("\n".join(scores)),
            )
        console.print(table)


class TerminalReporter(Reporter):
    name = "terminal"
    description = "comparison table in the terminal; ★ marks the best value of each column"

    def report(self, result: RunResult, run_dir: Path, console: Any) -> None:
        from rich.text import Text

        console.print(comparison_table(result, console.width))
        for note in winner_notes(result):
            console.print(shown(note))
        for line in loss_curves(result):
            console.print(line)
        for note in signature_notes(result):
            console.print(shown(note, "dim"))
        if note := scoring_cost_note(result):
            console.print(shown(note, "dim"))
        warnings = cut_short_warnings(result)
        for warning in warnings:
            console.print(Text.assemble(("warning:", "yellow"), " ", plain(warning)))
        if not warnings and (note := cut_short_note(result)):
            console.print(shown(note, "dim"))
        for b in result.backends:
            if b.status != "done":
                why = f" {b.status}: {b.error or 'did not finish'}" + (
                    f" (log: {b.log})" if b.log else ""
                )
                pruned = b.status == "pruned"  # an Optuna trial stopped on purpose: no failure
                console.print(
                    Text.assemble(
                        (f"{'·' if pruned else '✗'} {plain(b.name, newlines=False)}", _status(b)),
                        (plain(why), "dim" if pruned else ""),
                    )
                )
        files = [
            p.name
            for p in (run_dir / "report.json", run_dir / "report.md", run_dir / "report.html")
            if p.exists()
        ]
        console.print(
            shown(f"run directory: {run_dir}" + (f" ({', '.join(files)})" if files else ""), "dim")
        )


@hookimpl
def ftx_register_reporters(register):
    register(TerminalReporter)
