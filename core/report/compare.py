"""``ftx compare RUN_A RUN_B``: two runs side by side, metric by metric.

Backends are matched by name. When both runs scored the same eval examples (same ids), each
change is tested with the paired bootstrap over those examples, so "better" means better on the
same questions, not luck of the draw; otherwise only the change is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftx.results import RunResult
from ftx.stats import paired_test


@dataclass
class Change:
    backend: str
    metric: str
    before: float | None
    after: float | None
    verdict: str  # better | worse | no significant difference | "" (not testable)


def compare_runs(a: RunResult, b: RunResult, seed: int = 0) -> tuple[list[Change], bool]:
    """Every (backend, metric) both runs have; and whether the eval examples were the same."""
    paired = bool(a.example_ids) and a.example_ids == b.example_ids
    metrics = [m for m in b.metrics if m.name in {x.name for x in a.metrics}]
    by_name = {x.name: x for x in a.backends}
    changes = []
    for after in b.backends:
        before = by_name.get(after.name)
        if before is None:
            continue
        for m in metrics:
            verdict = ""
            x, y = before.per_example.get(m.name, []), after.per_example.get(m.name, [])
            if paired and x and len(x) == len(y):
                verdict = paired_test([m.closeness(v) for v in y], [m.closeness(v) for v in x], seed=seed).verdict
            changes.append(Change(after.name, m.name, before.value(m.name), after.value(m.name), verdict))
    return changes, paired


def changes_table(a: RunResult, b: RunResult) -> Any:
    from rich import box
    from rich.table import Table

    from ftx.report import fmt_metric

    changes, paired = compare_runs(a, b)
    note = ("same eval examples: ▲/▼ better/worse in run B (paired bootstrap, p < 0.05)" if paired
            else "the runs scored different eval examples: changes are not tested")
    table = Table(title=f"{a.run_id} (A) → {b.run_id} (B)", title_justify="left", caption=note, caption_justify="left",
                  box=box.SIMPLE_HEAVY)
    for column, justify in (("backend", "left"), ("metric", "left"), ("A", "right"), ("B", "right"), ("change", "right")):
        table.add_column(column, justify=justify, no_wrap=True)
    last = None
    for c in changes:
        delta = "–" if c.before is None or c.after is None else f"{c.after - c.before:+.3f}"
        mark = {"better": " [green]▲[/]", "worse": " [red]▼[/]"}.get(c.verdict, "")
        table.add_row(c.backend if c.backend != last else "", c.metric, fmt_metric(c.metric, c.before),
                      fmt_metric(c.metric, c.after), delta + mark)
        last = c.backend
    return table
