"""``ftx compare RUN_A RUN_B``: two runs side by side, metric by metric.

Backends are matched by name. When both runs scored the same eval examples (same ids), each
change is tested with the paired bootstrap over those examples, so "better" means better on the
same questions, not luck of the draw; otherwise only the change is shown. A corpus metric (BLEU,
chrF, perplexity) whose per-example statistics both runs kept is tested as a corpus value, on
the same resamples of the examples (``ftx.stats.corpus_paired_test``), as ``ftx run`` tests it
against the baseline; one computed differently in the two runs (another tokenizer, other
options: the signature says) is not tested at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftx.results import BackendResult, MetricInfo, RunResult
from ftx.stats import corpus_paired_test, paired_test


@dataclass
class Change:
    backend: str
    metric: str
    before: float | None
    after: float | None
    verdict: str  # better | worse | no significant difference | "" (not testable)


def _signature(b: BackendResult, metric: str) -> str:
    """How ``metric`` was computed, less the library version (which does not change the counts)."""
    return "|".join(
        part for part in b.signatures.get(metric, "").split("|") if not part.startswith("version:")
    )


def differently_computed(a: RunResult, b: RunResult) -> list[str]:
    """'bleu: tok:13a → tok:zh' for each metric a backend of both runs computed differently."""
    notes: dict[str, str] = {}
    by_name = {x.name: x for x in a.backends}
    for after in b.backends:
        before = by_name.get(after.name)
        for metric in after.signatures if before else ():
            old, new = _signature(before, metric), _signature(after, metric)
            if old and new and old != new and metric not in notes:
                changed = [(x, y) for x, y in zip(old.split("|"), new.split("|")) if x != y] or [
                    (old, new)
                ]
                notes[metric] = f"{metric}: " + ", ".join(f"{x} → {y}" for x, y in changed)
    return list(notes.values())


def _verdict(
    m: MetricInfo,
    before: BackendResult,
    after: BackendResult,
    a: RunResult,
    b: RunResult,
    seed: int,
) -> str:
    old, new = _signature(before, m.name), _signature(after, m.name)
    if old and new and old != new:
        return ""  # not the same measure: a difference says nothing about the models
    x, y = before.corpus_stats.get(m.name, []), after.corpus_stats.get(m.name, [])
    score = b.scorers.get(m.name)
    if (
        score
        and a.scorers.get(m.name)
        and m.target is None
        and x
        and len(x) == len(y)
        and len(x[0]) == len(y[0])
    ):
        return corpus_paired_test(
            y, x, score, higher_is_better=m.higher_is_better, seed=seed
        ).verdict
    x, y = before.per_example.get(m.name, []), after.per_example.get(m.name, [])
    if x and len(x) == len(y):
        return paired_test(
            [m.closeness(v) for v in y], [m.closeness(v) for v in x], seed=seed
        ).verdict
    return ""


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
            verdict = _verdict(m, before, after, a, b, seed) if paired else ""
            changes.append(
                Change(after.name, m.name, before.value(m.name), after.value(m.name), verdict)
            )
    return changes, paired


def changes_table(a: RunResult, b: RunResult) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ftx.display import plain
    from ftx.report import fmt_metric

    changes, paired = compare_runs(a, b)
    note = (
        "same eval examples: ▲/▼ better/worse in run B (paired bootstrap, p < 0.05)"
        if paired
        else "the runs scored different eval examples: changes are not tested"
    )
    differ = differently_computed(a, b)
    if differ:
        note += "\ncomputed differently in the two runs, so not tested: " + "; ".join(differ)
    title = f"{plain(a.run_id, newlines=False)} (A) → {plain(b.run_id, newlines=False)} (B)"
    table = Table(
        title=Text(title),
        title_justify="left",
        caption=Text(plain(note)),
        caption_justify="left",
        box=box.SIMPLE_HEAVY,
    )
    for column, justify in (
        ("backend", "left"),
        ("metric", "left"),
        ("A", "right"),
        ("B", "right"),
        ("change", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)
    last = None
    for c in changes:
        delta = Text("–" if c.before is None or c.after is None else f"{c.after - c.before:+.3f}")
        if c.verdict in ("better", "worse"):
            delta.append(
                " ▲" if c.verdict == "better" else " ▼",
                style="green" if c.verdict == "better" else "red",
            )
        table.add_row(
            Text(plain(c.backend, newlines=False) if c.backend != last else ""),
            Text(plain(c.metric, newlines=False)),
            fmt_metric(c.metric, c.before),
            fmt_metric(c.metric, c.after),
            delta,
        )
        last = c.backend
    return table
