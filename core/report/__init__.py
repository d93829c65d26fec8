"""Built-in reporters (each a plugin module) and the formatting they share.

The helpers here return plain text with the user's text (backend names, ids, answers, reasons)
as it is; each reporter escapes it for its medium: rich ``Text`` for the terminal
(``ftx.display.plain``), ``cell`` in markdown.py, ``html.escape`` after ``plain`` in html.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ftx.config import name_part
from ftx.display import money
from ftx.results import BackendResult, MetricInfo, RunResult


def fmt_metric(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric in ("bleu", "chrf") or 10 <= abs(value) < 100:
        return f"{value:.1f}"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"


def fmt_seconds(seconds: float | None) -> str:
    if not seconds:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def fmt_count(n: int | None) -> str:
    if not n:
        return "–"
    return f"{n / 1000:.1f}k" if n >= 10_000 else str(n)


MARKS = {"better": "▲", "worse": "▼"}
MARKS_LEGEND = "▲/▼ better/worse than the baseline (paired bootstrap, p < 0.05)"


def fmt_interval(metric: str, low: float, high: float) -> str:
    return f"[{fmt_metric(metric, low)}, {fmt_metric(metric, high)}]"


def fmt_ci(backend: BackendResult, metric: str) -> str:
    """The 95% interval of the value shown: '±.063' (its half-width) for a mean; '[6.0, 33.6]'
    for a corpus value (BLEU, chrF, perplexity), whose interval is far from symmetric around it;
    '' where there is none (a corpus value whose statistics were not kept)."""
    ci = backend.interval(metric)
    if ci is None:
        return ""
    low, high = ci
    if metric in backend.corpus:
        return fmt_interval(metric, low, high)
    return "±" + fmt_metric(metric, (high - low) / 2).lstrip("0")


def legend(result: RunResult, sep: str = " · ") -> str:
    """What the interval notation and the marks of ``result``'s tables mean, parts joined by
    ``sep``."""
    done = [b for b in result.backends if b.status == "done"]
    shown = {
        (m.name in b.corpus) for b in done for m in result.metrics if b.interval(m.name) is not None
    }
    parts = []
    if False in shown:
        parts.append("± half-width of the 95% bootstrap interval")
    if True in shown:
        parts.append("[low, high] 95% bootstrap interval of a corpus value")
    if result.baseline:
        tested = sum(1 for b in done if b.vs_baseline)
        parts.append(
            MARKS_LEGEND
            if tested < 2
            else MARKS_LEGEND[:-1] + f", Holm-corrected for {tested} backends)"
        )
    return sep.join(parts)


def winner_notes(result: RunResult) -> list[str]:
    """For each metric where the best and the runner-up both differ from the baseline (variants
    compared with each other): whether the best is significantly better than the runner-up."""
    notes = []
    by_name = {m.name: m for m in result.metrics}
    for metric, w in result.winners.items():
        if result.baseline in (w.best, w.runner_up):
            continue  # the ▲/▼ against the baseline already says it
        c = w.comparison
        diff = fmt_metric(metric, abs(c.diff))
        sign = "+" if c.diff >= 0 else "-"
        name = by_name[metric].name
        notes.append(
            f"best {name}: {w.best}, "
            + (
                f"significantly better than the runner-up {w.runner_up} ({sign}{diff}, "
                f"p = {c.p_value:.3f})"
                if c.verdict == "better"
                else f"not significantly better than the runner-up {w.runner_up} ({sign}{diff}, "
                f"p = {c.p_value:.2f}): on these held-out examples they are not told apart"
            )
        )
    return notes


def mark(backend: BackendResult, metric: str) -> str:
    comparison = backend.vs_baseline.get(metric)
    return MARKS.get(comparison.verdict, "") if comparison else ""


BASELINE_TAG = " (baseline)"


def rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per backend with display strings; ``best`` holds the metric names it wins."""
    best = {m.name: result.best(m) for m in result.metrics}
    out = []
    for b in result.backends:
        out.append(
            {
                "backend": b,
                "label": b.name + (BASELINE_TAG if b.baseline else ""),
                "lines": label_lines(result, b),
                "values": {m.name: fmt_metric(m.name, b.value(m.name)) for m in result.metrics},
                "ci": {m.name: fmt_ci(b, m.name) for m in result.metrics},
                "marks": {m.name: mark(b, m.name) for m in result.metrics},
                "best": {
                    m.name
                    for m in result.metrics
                    if best[m.name] == b.name and len(result.backends) > 1
                },
                "time": fmt_seconds(b.train.get("seconds")) if b.train.get("steps") else "–",
                "tokens": fmt_count(b.train.get("train_tokens")),
                "cost": money(b.cost) if b.cost is not None else "–",
            }
        )
    return out


def label_lines(result: RunResult, b: Any) -> list[str]:
    """A backend's name in lines for narrow tables: a swept variant as its backend, then one
    ``key=value`` a line (``local-lora-lora_r8-learning_rate1e-4`` cut at 80 columns would be
    ``local-lora-lear…`` for every variant of the sweep)."""
    tail = [BASELINE_TAG] if b.baseline else []
    point = result.swept.get(b.name)
    if not point:
        return [b.name + "".join(tail)]
    suffix = "".join(f"-{key}{name_part(value)}" for key, value in point.items())
    section = b.name[: -len(suffix)] if b.name.endswith(suffix) else b.name
    return [section, *(f"  {key}={value}" for key, value in point.items()), *tail]


def scoring_cost_note(result: RunResult) -> str:
    """'scoring paid: llm_judge $0.04' when an evaluator paid to score the answers, else ''.
    Kept apart from the cost column, which is what each backend itself charged."""
    paid = result.scoring_cost()
    return (
        "scoring paid: " + ", ".join(f"{name} {money(usd)}" for name, usd in paid.items())
        if paid
        else ""
    )


def signature_notes(result: RunResult) -> list[str]:
    """'bleu signature: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.4.0', one per
    metric that records how it was computed (sacrebleu's signature); per backend when they
    differ, since such values do not compare."""
    notes = []
    for m in result.metrics:
        found = {
            b.name: b.signatures[m.name]
            for b in result.backends
            if b.status == "done" and m.name in b.signatures
        }
        if len(set(found.values())) == 1:
            notes.append(f"{m.name} signature: {next(iter(found.values()))}")
        elif found:
            notes.append(
                f"{m.name} signature, not the same for every backend: "
                + "; ".join(f"{n} {s}" for n, s in found.items())
            )
    return notes


CUT_SHORT_WARNING = 0.10  # above this share of a backend's answers cut short, the reports warn


@dataclass
class CutShort:
    """A backend's answers that stopped at the length limit, not where the model ended them."""

    backend: str
    count: int
    answers: int

    @property
    def share(self) -> float:
        return self.count / self.answers if self.answers else 0.0

    @property
    def many(self) -> bool:
        return self.share > CUT_SHORT_WARNING


def cut_short(result: RunResult) -> list[CutShort]:
    """Per finished backend, how many answers stopped at max_new_tokens (or the end of a local
    model's context); predictions written before ftx recorded it count as not cut."""
    return [
        CutShort(b.name, b.answers_cut_short, len(b.predictions))
        for b in result.backends
        if b.status == "done" and b.answers_cut_short is not None
    ]


def cut_short_warnings(result: RunResult) -> list[str]:
    """One sentence per backend with many answers cut short, saying what to do."""
    limit = result.max_new_tokens
    at = f"max_new_tokens={limit}" if limit else "max_new_tokens"
    advice = f"--set run.max_new_tokens={limit * 2}" if limit else "a higher run.max_new_tokens"
    return [
        f"{c.backend}: {c.count} of {c.answers} answers ({c.share:.0%}) stopped at {at} before "
        f"the model ended them, "
        f"and their scores count the cut; {advice} gives longer answers room."
        for c in cut_short(result)
        if c.many
    ]


def cut_short_note(result: RunResult) -> str:
    """'answers cut at max_new_tokens=64: local-base 3/40' when any was, else ''."""
    counts = [c for c in cut_short(result) if c.count]
    if not counts:
        return ""
    limit = result.max_new_tokens
    return f"answers cut at max_new_tokens{f'={limit}' if limit else ''}: " + ", ".join(
        f"{c.backend} {c.count}/{c.answers}" for c in counts
    )


def answers_to(result: RunResult, i: int) -> list[tuple[str, str, list[str]]]:
    """Each finished backend's name, its answer to eval example ``i``, and its first three
    scores on it ("rougeL 0.500"), for the reports that show examples side by side."""
    out = []
    for b in result.backends:
        if b.status != "done":
            continue
        answer = b.predictions[i] if i < len(b.predictions) else ""
        scores = [
            f"{m.name} {fmt_metric(m.name, b.per_example[m.name][i])}"
            for m in result.metrics[:3]
            if len(b.per_example.get(m.name, [])) > i
        ]
        out.append((b.name, answer, scores))
    return out


__all__ = [
    "BackendResult",
    "MetricInfo",
    "RunResult",
    "legend",
    "winner_notes",
    "fmt_metric",
    "fmt_seconds",
    "fmt_count",
    "fmt_ci",
    "fmt_interval",
    "mark",
    "rows",
    "answers_to",
    "signature_notes",
    "CutShort",
    "cut_short",
    "cut_short_note",
    "cut_short_warnings",
]
