"""The outcome of a run as reporters see it, built from the run directory."""

from __future__ import annotations

import functools
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftx.errors import StoreError
from ftx.stats import (
    Comparison,
    CorpusScore,
    adjust,
    bootstrap_ci,
    corpus_bootstrap,
    interval,
    paired_test,
    resampled_comparison,
)
from ftx.store import Run, read_json


@dataclass
class MetricInfo:
    name: str
    evaluator: str
    higher_is_better: bool = True
    target: float | None = None  # for metrics whose best value is a target (length_ratio: 1.0)

    def closeness(self, value: float) -> float:
        """Higher is better, whatever the metric's direction."""
        if self.target is not None:
            return -abs(value - self.target)
        return value if self.higher_is_better else -value


@dataclass
class BackendResult:
    name: str
    status: str  # done | failed | pending | ...
    error: str = ""
    log: str = ""  # path of the backend's log, for failures
    baseline: bool = False
    train: dict[str, Any] = field(default_factory=dict)  # TrainStats as a dict
    per_example: dict[str, list[float]] = field(default_factory=dict)
    corpus: dict[str, float] = field(default_factory=dict)
    corpus_stats: dict[str, list[list[float]]] = field(
        default_factory=dict
    )  # per-example statistics of corpus metrics
    signatures: dict[str, str] = field(
        default_factory=dict
    )  # how a metric was computed (sacrebleu's signature)
    predictions: list[str] = field(default_factory=list)
    ci: dict[str, tuple[float, float]] = field(
        default_factory=dict
    )  # 95% bootstrap interval (see interval())
    corpus_ci: set[str] = field(
        default_factory=set
    )  # corpus metrics whose ci was resampled as corpus values
    vs_baseline: dict[str, Comparison] = field(
        default_factory=dict
    )  # paired test against the baseline
    cost: float | None = None  # dollars spent on a hosted API: training plus answering
    scoring_cost: dict[str, float] = field(
        default_factory=dict
    )  # dollars paid to score its answers, per evaluator (an LLM judge)
    train_log: list[dict[str, Any]] = field(
        default_factory=list
    )  # the loss curve: {"step", "loss"} or {"step", "eval_loss"}
    answers_cut_short: int | None = (
        None  # answers that stopped at max_new_tokens ("truncated"); None unless done
    )

    def value(self, metric: str) -> float | None:
        """The headline value: the corpus value where the metric has one, else the mean."""
        if metric in self.corpus:
            return self.corpus[metric]
        values = self.per_example.get(metric)
        return statistics.fmean(values) if values else None

    def interval(self, metric: str) -> tuple[float, float] | None:
        """The 95% interval of ``value(metric)``: of the mean, or of the corpus value where it was
        resampled as one. None for a corpus value whose statistics were not kept (a run scored
        before they were, or an evaluator no longer installed): its ``ci`` is of the
        per-example mean, which need not contain the corpus value."""
        if metric not in self.ci or (metric in self.corpus and metric not in self.corpus_ci):
            return None
        return self.ci[metric]


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: str
    metrics: list[MetricInfo]
    backends: list[BackendResult]
    example_ids: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    baseline: str | None = None
    data: str = ""
    model: str = ""
    max_new_tokens: int | None = (
        None  # the answer length limit the run used (as chosen, when it was auto)
    )
    scorers: dict[str, CorpusScore] = field(
        default_factory=dict
    )  # corpus metric -> summed statistics to its value
    seed: int = 0  # the run's: its statistics are seeded with it
    swept: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # variant -> the values a --sweep gave it, for plots against each swept option

    @functools.cached_property
    def winners(self) -> dict[str, Winner]:
        """The best backend and the runner-up of each metric, tested (``find_winners``): every
        reporter reads them, and the paired bootstrap is computed once."""
        return find_winners(self)

    def scoring_cost(self) -> dict[str, float]:
        """Dollars each paying evaluator (an LLM judge) spent scoring all backends' answers."""
        total: dict[str, float] = {}
        for b in self.backends:
            for name, usd in b.scoring_cost.items():
                total[name] = round(total.get(name, 0.0) + usd, 6)
        return total

    def best(self, metric: MetricInfo) -> str | None:
        """The backend with the best value of ``metric`` (None when nothing was scored)."""
        scored = [
            (b.value(metric.name), b.name)
            for b in self.backends
            if b.value(metric.name) is not None
        ]
        if not scored:
            return None
        if len({round(metric.closeness(v), 12) for v, _ in scored}) == 1:
            return None  # a tie between all: nobody is best
        return max(scored, key=lambda pair: metric.closeness(pair[0]))[1]


def _cost(state: dict[str, Any]) -> float | None:
    """What a backend spent: the total of its ``cost_usd`` record in run.json (what it gave
    ``BackendContext.add_cost``, by kind). Runs written before that record existed kept the
    training cost in ``train.cost_usd`` and the answering cost in ``state.eval_cost_usd``."""
    costs = state.get("cost_usd") or {}
    parts = list(costs.values())
    if "training" not in costs:
        parts.append((state.get("train") or {}).get("cost_usd"))
    parts.append((state.get("state") or {}).get("eval_cost_usd"))
    known = [p for p in parts if p is not None]
    return round(sum(known), 6) if known else None


def read_train_log(path: Path) -> list[dict[str, Any]]:
    """A backend's training log; lines that do not parse (a killed write) are skipped."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").split(
        "\n"
    ):  # not splitlines: JSON keeps U+2028 raw
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "step" in entry:
            entries.append(entry)
    return entries


def load_result(run: Run) -> RunResult:
    """Rebuild the result of ``run`` from ``scores.json`` and the predictions on disk."""
    scores_path = run.path / "scores.json"
    scores = read_json(scores_path) if scores_path.exists() else {"metrics": {}, "backends": {}}
    if (
        not isinstance(scores, dict)
        or not isinstance(scores.get("metrics"), dict)
        or not isinstance(scores.get("backends"), dict)
    ):
        raise StoreError(
            f"{scores_path} is damaged: it is not the scores ftx wrote.",
            hint=f"Delete it and run 'ftx resume {run.id}' to score the answers again (nothing is "
            "trained or paid again).",
        )
    metrics = [
        MetricInfo(name, m["evaluator"], m.get("higher_is_better", True), m.get("target"))
        for name, m in scores["metrics"].items()
    ]
    backends = []
    for name, state in run.meta["backends"].items():
        scored = scores["backends"].get(name, {})
        rows = run.read_predictions(name)
        done = state.get("status", "pending") == "done"
        backends.append(
            BackendResult(
                name=name,
                status=state.get("status", "pending"),
                error=state.get("error", ""),
                log=state.get("log", ""),
                baseline=name == run.meta.get("baseline"),
                train=state.get("train", {}),
                per_example=scored.get("per_example", {}),
                corpus=scored.get("corpus", {}),
                corpus_stats=scored.get("corpus_stats", {}),
                signatures=scored.get("signatures", {}),
                predictions=[r["prediction"] for r in rows],
                answers_cut_short=sum(1 for r in rows if r.get("truncated"))
                if done
                else None,  # not recorded before: not cut
                train_log=read_train_log(run.path / name / "train_log.jsonl"),
                cost=_cost(state),
                scoring_cost=scored.get("cost_usd", {}),
            )
        )
    scorers = corpus_scorers(run, metrics)
    add_statistics(backends, metrics, run.meta.get("baseline"), run.meta.get("seed", 0), scorers)
    from ftx.data import read_jsonl_examples

    eval_rows = read_jsonl_examples(
        run.path / "data" / "eval.jsonl"
    )  # missing or damaged: one clear error
    config = run.meta.get("config", {}).get("run", {})
    limit = config.get("max_new_tokens")  # "auto" in a run that stopped before choosing it
    return RunResult(
        run_id=run.id,
        run_dir=run.path,
        status=run.meta.get("status", ""),
        metrics=metrics,
        backends=backends,
        example_ids=[e.id for e in eval_rows],
        prompts=[e.prompt[-1].content if e.prompt else "" for e in eval_rows],
        references=[e.reference for e in eval_rows],
        baseline=run.meta.get("baseline"),
        data=config.get("data") or "(bundled Pride and Prejudice Q&A)",
        model=config.get("model") or "(bundled SmolLM2-135M-Instruct)",
        max_new_tokens=limit if type(limit) is int else None,
        scorers=scorers,
        seed=run.meta.get("seed", 0),
        swept=run.meta.get("config", {}).get("swept", {}),
    )


def ranked(result: RunResult) -> None:
    """Order ``result``'s backends best first on its primary metric; those without a value
    (failed, unfinished) last, in the run's order."""
    metric = primary_metric(result)
    if metric is None:
        return
    result.backends.sort(
        key=lambda b: (
            b.value(metric.name) is None,
            -metric.closeness(b.value(metric.name)) if b.value(metric.name) is not None else 0,
        )
    )


def primary_metric(result: RunResult) -> MetricInfo | None:
    """The metric examples are ranked by: rougeL when the run has it, else the first."""
    return next(
        (m for m in result.metrics if m.name == "rougeL"),
        result.metrics[0] if result.metrics else None,
    )


def divergent_examples(result: RunResult, n: int) -> list[int]:
    """Indexes of the ``n`` eval examples on which the backends disagree most (the spread of the
    primary metric), the ones most worth reading; ties keep eval order."""
    metric = primary_metric(result)
    done = [b for b in result.backends if b.status == "done"]
    if metric is None or not done:
        return list(range(min(n, len(result.example_ids))))

    def spread(i: int) -> float:
        values = [
            b.per_example[metric.name][i]
            for b in done
            if len(b.per_example.get(metric.name, [])) > i
        ]
        return max(values) - min(values) if values else 0.0

    return sorted(range(len(result.example_ids)), key=lambda i: -spread(i))[:n]


def corpus_scorers(run: Run, metrics: list[MetricInfo]) -> dict[str, CorpusScore]:
    """For each metric whose evaluator implements ``Evaluator.corpus_value``, that function, on
    an evaluator built with the options the run was scored with. An evaluator no longer
    installed, or whose options no longer build, is left out: its metric keeps the interval of
    the per-example mean, as runs scored before corpus statistics existed do."""
    from ftx.evaluator import Evaluator
    from ftx.options import build
    from ftx.plugins import get_registry

    sections = run.meta.get("config", {}).get("sections", {})
    scorers: dict[str, CorpusScore] = {}
    for name in {m.evaluator for m in metrics}:
        try:
            cls = get_registry().get("evaluator", name)
            if cls.corpus_value is Evaluator.corpus_value:
                continue
            evaluator = cls(build(cls.Options, sections.get(name, {}), name))
        except Exception:  # a missing or broken plugin must not stop a report
            continue
        for m in metrics:
            if m.evaluator == name:
                scorers[m.name] = functools.partial(evaluator.corpus_value, m.name)
    return scorers


def add_statistics(
    backends: list[BackendResult],
    metrics: list[MetricInfo],
    baseline: str | None,
    seed: int,
    scorers: dict[str, CorpusScore] | None = None,
) -> None:
    """Bootstrap intervals for every backend and metric, and paired tests against the baseline
    over the same examples; seeded with the run's seed, so a report is reproducible.

    A metric with a corpus value is resampled as a corpus value (``ftx.stats.corpus_bootstrap``)
    where the backend kept its statistics and ``scorers`` can recompute it; otherwise, as for
    every other metric, its per-example values are resampled as a mean."""
    base = next((b for b in backends if b.name == baseline and b.status == "done"), None)
    for m in metrics:
        resampled = _corpus_resamples(backends, m, (scorers or {}).get(m.name), seed)
        for b in backends:
            values = b.per_example.get(m.name)
            if b.name in resampled:
                b.ci[m.name] = interval(resampled[b.name])
                b.corpus_ci.add(m.name)
            elif values:
                b.ci[m.name] = bootstrap_ci(values, seed=seed)
            else:
                continue
            if base is None or b is base:
                continue
            if b.name in resampled and base.name in resampled:
                diffs = [
                    m.closeness(x) - m.closeness(y)
                    for x, y in zip(resampled[b.name], resampled[base.name])
                ]
                b.vs_baseline[m.name] = resampled_comparison(
                    m.closeness(b.corpus[m.name]) - m.closeness(base.corpus[m.name]), diffs
                )
            elif values and len(base.per_example.get(m.name, [])) == len(values):
                b.vs_baseline[m.name] = paired_test(
                    [m.closeness(v) for v in values],
                    [m.closeness(v) for v in base.per_example[m.name]],
                    seed=seed,
                )
        # Several backends against one baseline: the marks hold for the family (Holm).
        compared = [b for b in backends if m.name in b.vs_baseline]
        for b, c in zip(compared, adjust([b.vs_baseline[m.name] for b in compared])):
            b.vs_baseline[m.name] = c


@dataclass
class Winner:
    """The best backend on a metric, and whether it beats the runner-up on the same examples."""

    best: str
    runner_up: str
    comparison: Comparison  # best against runner-up: "better" when significantly so


def find_winners(result: RunResult) -> dict[str, Winner]:
    """For each metric, the best backend and a paired test against the runner-up (the second
    best), when at least two backends were scored on the same examples: with several variants,
    whether the winner is really better than the next, or only by the luck of the examples."""
    out = {}
    for m in result.metrics:
        scored = sorted(
            (
                b
                for b in result.backends
                # per-example metrics: a corpus value (BLEU) is not the mean of its examples
                if b.per_example.get(m.name) and m.name not in b.corpus
            ),
            key=lambda b: m.closeness(b.value(m.name)),
            reverse=True,
        )
        if len(scored) < 2 or result.best(m) is None:
            continue
        best, second = scored[0], scored[1]
        if len(best.per_example[m.name]) != len(second.per_example[m.name]):
            continue
        comparison = paired_test(
            [m.closeness(v) for v in best.per_example[m.name]],
            [m.closeness(v) for v in second.per_example[m.name]],
            seed=result.seed,
        )
        out[m.name] = Winner(best.name, second.name, comparison)
    return out


def _corpus_resamples(
    backends: list[BackendResult], metric: MetricInfo, score: CorpusScore | None, seed: int
) -> dict[str, list[float]]:
    """Backend name -> its corpus value on each bootstrap resample, for the backends that can;
    backends with the same number of examples share the resamples, so they can be paired."""
    able = [
        b for b in backends if score and b.corpus_stats.get(metric.name) and metric.name in b.corpus
    ]
    out: dict[str, list[float]] = {}
    for n in sorted({len(b.corpus_stats[metric.name]) for b in able}):
        group = [b for b in able if len(b.corpus_stats[metric.name]) == n]
        try:
            values = corpus_bootstrap(
                [b.corpus_stats[metric.name] for b in group], score, seed=seed
            )
        except (
            Exception
        ):  # a plugin's corpus_value that fails: no interval, and the report is still written
            continue
        out.update(zip((b.name for b in group), values))
    return out
