"""report.json: the machine-readable comparison (schema documented in docs/reports.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftx.hookspecs import hookimpl
from ftx.reporter import Reporter
from ftx.results import RunResult
from ftx.store import atomic_write_json

REPORT_SCHEMA = 1


def as_dict(result: RunResult) -> dict[str, Any]:
    return {
        "schema_version": REPORT_SCHEMA,
        "run_id": result.run_id,
        "status": result.status,
        "data": result.data,
        "baseline": result.baseline,
        "examples": len(result.example_ids),
        "metrics": [
            {
                "name": m.name,
                "evaluator": m.evaluator,
                "higher_is_better": m.higher_is_better,
                "target": m.target,
            }
            for m in result.metrics
        ],
        "best": {m.name: result.best(m) for m in result.metrics},
        "winners": {
            metric: {
                "best": w.best,
                "runner_up": w.runner_up,
                "diff": w.comparison.diff,
                "p_value": w.comparison.p_value,
                "significant": w.comparison.verdict == "better",
            }
            for metric, w in result.winners.items()
        },
        "scoring_cost_usd": result.scoring_cost(),
        "max_new_tokens": result.max_new_tokens,
        "backends": [
            {
                "name": b.name,
                "status": b.status,
                "error": b.error or None,
                "baseline": b.baseline,
                "train": b.train,
                "cost_usd": b.cost,
                "scoring_cost_usd": b.scoring_cost,
                "answers_cut_short": b.answers_cut_short,
                "scores": {m.name: b.value(m.name) for m in result.metrics},
                "ci95": {m.name: list(ci) for m in result.metrics if (ci := b.interval(m.name))},
                "signatures": b.signatures,
                "vs_baseline": {
                    m: {
                        "diff": c.diff,
                        "p_value": c.p_value,
                        "p_holm": c.p_adjusted,
                        "verdict": c.verdict,
                    }
                    for m, c in b.vs_baseline.items()
                },
            }
            for b in result.backends
        ],
    }


class JsonReporter(Reporter):
    name = "json"
    description = "report.json: scores, training stats and status per backend"
    writes = "report.json"

    def report(self, result: RunResult, run_dir: Path, console: Any) -> None:
        atomic_write_json(run_dir / self.writes, as_dict(result))


@hookimpl
def ftx_register_reporters(register):
    register(JsonReporter)
