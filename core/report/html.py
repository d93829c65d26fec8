"""report.html: one self-contained page (inline CSS and SVG, no scripts, no network) with the
comparison table, a chart per metric with its confidence intervals, the loss curves and the
examples the backends disagree on most. It opens offline and can be mailed as one file.

Charts are hand-made SVG rather than a plotting library: a bar with a whisker and a polyline
are a few lines each, and the core stays free of matplotlib and of JavaScript.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ftx.display import plain
from ftx.hookspecs import hookimpl
from ftx.report import (
    answers_to,
    cut_short_note,
    cut_short_warnings,
    fmt_interval,
    fmt_metric,
    legend,
    rows,
    scoring_cost_note,
    signature_notes,
    winner_notes,
)
from ftx.reporter import Reporter
from ftx.results import RunResult, divergent_examples
from ftx.store import atomic_write_text

COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]

CSS = """
body {
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #222;
  margin: 2rem auto;
  max-width: 72rem;
  padding: 0 1rem;
}
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td {
  padding: .3rem .7rem;
  border-bottom: 1px solid #eee;
  text-align: right;
  vertical-align: top;
}
th:first-child, td:first-child { text-align: left; }
th { background: #f6f6f6; }
td.best { font-weight: 700; color: #1a7f37; }
.ci { color: #888; font-size: .85em; }
.failed { color: #c62828; }
.better { color: #1a7f37; }
.worse { color: #c62828; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: .2rem; }
.legend span { margin-right: 1rem; }
.example { margin: 1rem 0; }
.example td { text-align: left; }
.example td.answer { max-width: 40rem; white-space: pre-wrap; }
.note { color: #666; font-size: .9em; }
.warning { color: #9a6700; }
"""


def text(value: object, limit: int | None = None) -> str:
    """Text ftx did not write, for the page: HTML escaped, and control characters (NUL, ESC,
    U+202E, which would reverse what follows) shown as escapes; cut to ``limit`` characters."""
    shown = plain(value)
    return escape(shown[:limit] if limit else shown)


def sentence(value: str) -> str:
    return value[:1].upper() + value[1:]


def colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def table_html(result: RunResult) -> str:
    head = "".join(
        f"<th>{text(m.name)}{' ↓' if not m.higher_is_better and m.target is None else ''}"
        f"{f' →{m.target:g}' if m.target is not None else ''}</th>"
        for m in result.metrics
    )
    out = [
        f"<table><tr><th>backend</th>{head}<th>train time</th><th>train "
        f"tokens</th><th>cost</th></tr>"
    ]
    for row in rows(result):
        b = row["backend"]
        tail = f"<td>{row['time']}</td><td>{row['tokens']}</td><td>{row['cost']}</td>"
        if b.status != "done":
            out.append(
                f"<tr><td>{text(row['label'])}</td><td class=failed colspan={len(result.metrics)}>"
                f"{text(b.status)}: {text(b.error or 'did not finish')}</td>{tail}</tr>"
            )
            continue
        cells = []
        for m in result.metrics:
            verdict = b.vs_baseline.get(m.name)
            mark = {
                "better": " <span class=better>▲</span>",
                "worse": " <span class=worse>▼</span>",
            }.get(verdict.verdict if verdict else "", "")
            ci = f" <span class=ci>{escape(row['ci'][m.name])}</span>" if row["ci"][m.name] else ""
            css = " class=best" if m.name in row["best"] else ""
            cells.append(f"<td{css}>{escape(row['values'][m.name])}{ci}{mark}</td>")
        out.append(f"<tr><td>{text(row['label'])}</td>{''.join(cells)}{tail}</tr>")
    out.append("</table>")
    return "\n".join(out)


def metric_chart(result: RunResult, metric: Any) -> str:
    """Horizontal bars, one per backend, with the 95% interval as a whisker."""
    done = [
        (i, b)
        for i, b in enumerate(result.backends)
        if b.status == "done" and b.value(metric.name) is not None
    ]
    if not done:
        return ""
    label_w, bar_w, row_h = 120, 240, 26
    highs = [max(b.value(metric.name), (b.interval(metric.name) or (0, 0))[1]) for _, b in done]
    top = max(max(highs), 1e-9) * 1.1
    height = row_h * len(done) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" '
        f'height="{height}" role="img" '
        f'aria-label="{text(metric.name)} by backend">'
    ]
    for row, (i, b) in enumerate(done):
        y = row * row_h + 4
        value = b.value(metric.name)
        width = max(0.0, value) / top * bar_w
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{text(b.name, 18)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="18" fill="{colour(i)}"/>'
        )
        if ci := b.interval(metric.name):
            low, high = ci
            x1, x2 = label_w + max(0.0, low) / top * bar_w, label_w + max(0.0, high) / top * bar_w
            parts.append(
                f'<path d="M{x1:.1f} {y + 9}H{x2:.1f}M{x1:.1f} {y + 4}V{y + 14}M{x2:.1f} '
                f'{y + 4}V{y + 14}" stroke="#333" fill="none">'
                f"<title>95% interval {escape(fmt_interval(metric.name, low, high))}</title></path>"
            )
        parts.append(
            f'<text x="{label_w + bar_w + 6}" y="{y + 15}" '
            f'font-size="12">{escape(fmt_metric(metric.name, value))}</text>'
        )
    axis_y = row_h * len(done) + 8
    parts.append(f'<path d="M{label_w} 0V{axis_y}" stroke="#999"/>')
    parts.append(f'<text x="{label_w}" y="{axis_y + 14}" font-size="10" fill="#666">0</text>')
    parts.append(
        f'<text x="{label_w + bar_w}" y="{axis_y + 14}" font-size="10" fill="#666" '
        f'text-anchor="end">'
        f"{escape(fmt_metric(metric.name, top))}</text></svg>"
    )
    arrow = (
        " (lower is better)"
        if not metric.higher_is_better and metric.target is None
        else (f" (closest to {metric.target:g} is best)" if metric.target is not None else "")
    )
    return f"<figure><figcaption>{text(metric.name)}{arrow}</figcaption>{''.join(parts)}</figure>"


def sweep_charts(result: RunResult) -> str:
    """After a sweep: the primary metric against each swept option, a dot per variant (its 95%
    interval as a whisker), the baseline as a dashed line."""
    from ftx.results import primary_metric

    metric = primary_metric(result)
    if metric is None or not result.swept:
        return ""
    by_name = {b.name: (i, b) for i, b in enumerate(result.backends)}
    points = [
        (name, values, *by_name[name])
        for name, values in result.swept.items()
        if name in by_name and by_name[name][1].value(metric.name) is not None
    ]
    if not points:
        return ""
    base = next((b for b in result.backends if b.name == result.baseline), None)
    base_value = base.value(metric.name) if base else None
    tops = [max(b.value(metric.name), (b.interval(metric.name) or (0, 0))[1]) for *_, b in points]
    top = max([*tops, base_value or 0, 1e-9]) * 1.1
    w, h, left, bottom = 320, 180, 40, 30

    def y(value: float) -> float:
        return h - bottom - max(0.0, value) / top * (h - bottom - 10)

    figures = []
    for option in dict.fromkeys(k for _, values, *_ in points for k in values):
        ticks = list(dict.fromkeys(values[option] for _, values, *_ in points if option in values))
        step = (w - left - 20) / max(len(ticks), 1)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
            f'aria-label="{text(metric.name)} by {text(option)}">',
            f'<path d="M{left} 0V{h - bottom}H{w}" stroke="#999" fill="none"/>',
            f'<text x="2" y="12" font-size="10" fill="#666">'
            f"{escape(fmt_metric(metric.name, top))}</text>",
        ]
        if base_value is not None:
            parts.append(
                f'<path d="M{left} {y(base_value):.1f}H{w}" stroke="#999" stroke-dasharray="4 3">'
                f"<title>baseline {text(result.baseline)}: "
                f"{escape(fmt_metric(metric.name, base_value))}</title></path>"
            )
        for t, tick in enumerate(ticks):
            x = left + step * (t + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{h - bottom + 14}" font-size="11" text-anchor="middle">'
                f"{text(tick, 12)}</text>"
            )
        same = {}  # variants at one tick spread a little sideways
        for name, values, i, b in points:
            if option not in values:
                continue
            t = ticks.index(values[option])
            offset = same.setdefault(t, -1) + 1
            same[t] = offset
            x = left + step * (t + 0.5) + (offset - 1) * 8
            value = b.value(metric.name)
            if ci := b.interval(metric.name):
                parts.append(
                    f'<path d="M{x:.1f} {y(ci[0]):.1f}V{y(ci[1]):.1f}" stroke="{colour(i)}"/>'
                )
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y(value):.1f}" r="4" fill="{colour(i)}">'
                f"<title>{text(name)}: {escape(fmt_metric(metric.name, value))}</title></circle>"
            )
        parts.append(
            f'<text x="{w - 2}" y="{h - 2}" font-size="10" fill="#666" text-anchor="end">'
            f"{text(option)}</text></svg>"
        )
        figures.append(
            f"<figure><figcaption>{text(metric.name)} by {text(option)}</figcaption>"
            f"{''.join(parts)}</figure>"
        )
    return "".join(figures)


def loss_chart(result: RunResult) -> str:
    """Training loss against step, one line per backend; validation loss dashed."""
    series = []
    for i, b in enumerate(result.backends):
        train = [
            (e["step"], e["loss"]) for e in b.train_log if isinstance(e.get("loss"), (int, float))
        ]
        evals = [
            (e["step"], e["eval_loss"])
            for e in b.train_log
            if isinstance(e.get("eval_loss"), (int, float))
        ]
        if len(train) >= 2 or len(evals) >= 2:
            series.append((i, b.name, train, evals))
    if not series:
        return ""
    points = [p for _, _, t, e in series for p in t + e]
    max_step = max(s for s, _ in points) or 1
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    w, h, left, bottom = 560, 240, 48, 24

    def xy(step: float, value: float) -> str:
        x = left + step / max_step * (w - left - 10)
        y = (h - bottom) - (value - low) / span * (h - bottom - 10)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="loss curves">',
        f'<path d="M{left} 5V{h - bottom}H{w - 5}" stroke="#999" fill="none"/>',
    ]
    for frac in (0, 0.5, 1):
        value = low + frac * span
        y = (h - bottom) - frac * (h - bottom - 10)
        parts.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" fill="#666" '
            f'text-anchor="end">{value:.2f}</text>'
        )
    parts.append(
        f'<text x="{w - 5}" y="{h - 6}" font-size="10" fill="#666" text-anchor="end">step '
        f"{max_step}</text>"
    )
    keys = []
    for i, name, train, evals in series:
        if len(train) >= 2:
            parts.append(
                f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" '
                f'points="{" ".join(xy(s, v) for s, v in train)}"/>'
            )
        if len(evals) >= 2:
            parts.append(
                f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2" stroke-dasharray="5 '
                f'4" '
                f'points="{" ".join(xy(s, v) for s, v in evals)}"/>'
            )
        keys.append(f'<span style="color:{colour(i)}">■</span> {text(name)}')
    parts.append("</svg>")
    return (
        f"<figure><figcaption>loss (solid: training, dashed: "
        f"validation)</figcaption>{''.join(parts)}"
        f"<div class=legend>{' '.join(f'<span>{item}</span>' for item in keys)}</div></figure>"
    )


def examples_html(result: RunResult, n: int = 10) -> str:
    out = []
    for i in divergent_examples(result, n):
        answers = "".join(
            f"<tr><td>{text(name)}</td><td "
            f"class=answer>{text(answer)}</td><td>{text(' · '.join(scores))}</td></tr>"
            for name, answer, scores in answers_to(result, i)
        )
        out.append(
            f"<div class=example><b>{text(result.example_ids[i])}</b> · "
            f"{text(result.prompts[i])}<table>"
            f"<tr><td>reference</td><td "
            f"class=answer>{text(result.references[i])}</td><td></td></tr>{answers}</table></div>"
        )
    return "\n".join(out)


def render(result: RunResult) -> str:
    charts = "".join(metric_chart(result, m) for m in result.metrics)
    swept = sweep_charts(result)
    winners = "".join(f"<p>{text(sentence(note))}.</p>" for note in winner_notes(result))
    note = scoring_cost_note(result)
    loss = loss_chart(result)
    warnings = "".join(f"<p class=warning>⚠ {text(w)}</p>" for w in cut_short_warnings(result))
    cut = cut_short_note(result)
    explained = legend(result)
    signatures = " · ".join(signature_notes(result))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ftx run {text(result.run_id)}</title><style>{CSS}</style></head>
<body>
<h1>ftx run {text(result.run_id)}</h1>
<div class=meta>data: {text(result.data)} · model: {text(result.model)} ·
{len(result.example_ids)} held-out examples ·
status: {text(result.status)}
{f" · baseline: {text(result.baseline)}" if result.baseline else ""}</div>
<h2>Comparison</h2>
{table_html(result)}
<p class=note>Green bold marks the best value of each column
{f"; {escape(explained)}" if explained else ""}.
{f" {text(sentence(note))}." if note else ""}{f" {text(sentence(cut))}." if cut else ""}
{f" {text(signatures)}" if signatures else ""}</p>
{winners}
{warnings}
<h2>Metrics</h2>
<p class=note>Bars are means over the held-out examples (corpus values for BLEU, chrF and
perplexity); whiskers are 95% bootstrap intervals of the value shown (none for a corpus value
whose per-example statistics were not kept).</p>
<div class=charts>{charts}</div>
{f"<h2>Sweep</h2><div class=charts>{swept}</div>" if swept else ""}
{f"<h2>Training</h2>{loss}" if loss else ""}
<h2>Examples the backends disagree on most</h2>
{examples_html(result)}
</body></html>
"""


class HtmlReporter(Reporter):
    name = "html"
    description = (
        "report.html: one self-contained page with the table, metric charts, loss curves "
        "and examples"
    )
    writes = "report.html"

    def report(self, result: RunResult, run_dir: Path, console: Any) -> None:
        atomic_write_text(run_dir / self.writes, render(result))


@hookimpl
def ftx_register_reporters(register):
    register(HtmlReporter)
