"""Built-in reporters (each a plugin module) and the formatting they share."""

from __future__ import annotations

from typing import Any

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
LEGEND = "± half-width of the 95% bootstrap interval · ▲/▼ better/worse than the baseline (paired bootstrap, p < 0.05)"


def fmt_ci(backend: BackendResult, metric: str) -> str:
    """'±0.063' for a mean; nothing for corpus-level values, whose interval is not computed."""
    if metric in backend.corpus or metric not in backend.ci:
        return ""
    low, high = backend.ci[metric]
    return "±" + fmt_metric(metric, (high - low) / 2).lstrip("0")


def mark(backend: BackendResult, metric: str) -> str:
    comparison = backend.vs_baseline.get(metric)
    return MARKS.get(comparison.verdict, "") if comparison else ""


def rows(result: RunResult) -> list[dict[str, Any]]:
    """One row per backend with display strings; ``best`` holds the metric names it wins."""
    best = {m.name: result.best(m) for m in result.metrics}
    out = []
    for b in result.backends:
        out.append({
            "backend": b,
            "label": b.name + (" (baseline)" if b.baseline else ""),
            "values": {m.name: fmt_metric(m.name, b.value(m.name)) for m in result.metrics},
            "ci": {m.name: fmt_ci(b, m.name) for m in result.metrics},
            "marks": {m.name: mark(b, m.name) for m in result.metrics},
            "best": {m.name for m in result.metrics if best[m.name] == b.name and len(result.backends) > 1},
            "time": fmt_seconds(b.train.get("seconds")) if b.train.get("steps") else "–",
            "tokens": fmt_count(b.train.get("train_tokens")),
            "cost": f"${b.cost:.2f}" if b.cost is not None else "–",
        })
    return out


def scoring_cost_note(result: RunResult) -> str:
    """'scoring paid: llm_judge $0.04' when an evaluator paid to score the answers, else ''.
    Kept apart from the cost column, which is what each backend itself charged."""
    paid = result.scoring_cost()
    return "scoring paid: " + ", ".join(f"{name} ${usd:.2f}" for name, usd in paid.items()) if paid else ""


def answers_to(result: RunResult, i: int) -> list[tuple[str, str, list[str]]]:
    """Each finished backend's name, its answer to eval example ``i``, and its first three
    scores on it ("rougeL 0.500"), for the reports that show examples side by side."""
    out = []
    for b in result.backends:
        if b.status != "done":
            continue
        answer = b.predictions[i] if i < len(b.predictions) else ""
        scores = [f"{m.name} {fmt_metric(m.name, b.per_example[m.name][i])}" for m in result.metrics[:3]
                  if len(b.per_example.get(m.name, [])) > i]
        out.append((b.name, answer, scores))
    return out


__all__ = ["BackendResult", "MetricInfo", "RunResult", "LEGEND", "fmt_metric", "fmt_seconds", "fmt_count", "fmt_ci", "mark", "rows", "answers_to"]
