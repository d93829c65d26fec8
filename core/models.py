"""The models of every run: what ``ftx models`` lists, ``ftx chat`` talks to and ``ftx serve``
serves.

A model is one backend (or variant) of a run that finished training: its run, its name in the
run, the backend it uses, its base model, the method (``lora``, ``qlora``, ``full``, ``hosted``,
or ``base`` for an untuned baseline), where it lives (the adapter or model folder, or the hosted
model's id), its scores on the run's held-out examples (from ``report.json``) and the tags and
description given with ``ftx models tag`` (``RunStore.set_tags``, kept in the runs index).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftx.errors import ConfigError, FtxError
from ftx.results import MetricInfo, RunResult, primary_metric
from ftx.store import Run, RunStore, read_json

# Where a hosted backend keeps the id of the model it made, in its persisted state.
HOSTED_IDS = ("fine_tuned_model", "endpoint", "tuned_model", "model_id")


@dataclass
class ModelInfo:
    run: str
    name: str  # the backend or variant, as the run names it
    backend: str  # the registered backend it uses
    method: str  # lora, qlora, full, hosted, base
    base: str  # the base model
    location: str  # adapter or model folder, or the hosted model's id
    created: float
    baseline: bool
    scores: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, MetricInfo] = field(default_factory=dict, repr=False)
    primary: str | None = None  # the run's primary metric (rougeL where it has it)
    tags: list[str] = field(default_factory=list)
    description: str = ""

    def score(self, metric: str) -> float | None:
        value = self.scores.get(metric)
        return value if isinstance(value, (int, float)) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "model": self.name,
            "backend": self.backend,
            "method": self.method,
            "base": self.base,
            "location": self.location,
            "created": self.created,
            "baseline": self.baseline,
            "primary_metric": self.primary,
            "scores": self.scores,
            "tags": self.tags,
            "description": self.description,
        }


def models_of(
    run: Run, tags: dict[tuple[str, str], dict[str, Any]] | None = None
) -> list[ModelInfo]:
    """Every model of ``run`` that finished training (its baseline too), in the run's order."""
    from ftx.plugins import get_registry
    from ftx.runner import config_of

    registry = get_registry()
    try:
        config = config_of(run)
    except FtxError:
        config = None
    metrics, scores = _scores(run)
    primary = primary_metric(RunResult(run.id, run.path, "", list(metrics.values()), []))
    found = []
    for name, record in run.meta["backends"].items():
        if not record.get("trained"):
            continue
        used = config.backend_of(name) if config else name
        registered = registry.items.get("backend", {}).get(used)
        cls = registered.cls if registered else None
        state = record.get("state") if isinstance(record.get("state"), dict) else {}
        entry = (tags or {}).get((run.id, name), {})
        found.append(
            ModelInfo(
                run=run.id,
                name=name,
                backend=used,
                method=method_of(cls, state),
                base=_base(config, name, cls),
                location=_location(run, name, cls, state),
                created=float(run.meta.get("created") or 0),
                baseline=name == run.meta.get("baseline") or bool(getattr(cls, "is_baseline", 0)),
                scores=scores.get(name, {}),
                metrics=metrics,
                primary=primary.name if primary else None,
                tags=list(entry.get("tags", [])),
                description=entry.get("description", ""),
            )
        )
    return found


def method_of(cls: type | None, state: dict[str, Any]) -> str:
    """How a model was made, from its backend's class and persisted state."""
    if cls is None:
        return "?"  # a plugin's backend that is no longer installed
    if getattr(cls, "is_baseline", False):
        return "base"
    artifact = state.get("artifact")
    if artifact == "adapter":
        return "qlora" if getattr(cls, "four_bit", False) else "lora"
    if artifact == "model":
        return "full"
    return "hosted" if getattr(cls, "remote", False) else "tuned"


def list_models(
    store: RunStore,
    *,
    tags: tuple[str, ...] | list[str] = (),
    base: str | None = None,
    best: str | None = None,
    baselines: bool = False,
) -> list[ModelInfo]:
    """The models of every run in ``store``, newest run first: the tuned ones (and the untuned
    baselines with ``baselines``), those with every tag in ``tags``, on a base model whose name
    contains ``base``; with ``best``, only each run's best model on that metric."""
    kept = store.tags()
    found: list[ModelInfo] = []
    for row in store.list():
        try:
            run = store.open(row["path"])
        except FtxError:
            continue  # a damaged run: 'ftx runs' shows it as such
        found += [m for m in models_of(run, kept) if baselines or not m.baseline]
    if tags:
        found = [m for m in found if set(tags) <= set(m.tags)]
    if base:
        found = [m for m in found if base.lower() in m.base.lower()]
    if best:
        found = best_of_each_run(found, best)
    return found


def best_of_each_run(found: list[ModelInfo], metric: str) -> list[ModelInfo]:
    """Each run's best model on ``metric``. Scores of different runs were measured on different
    held-out examples, so only models of one run are ranked against each other."""
    scored = [m for m in found if m.score(metric) is not None]
    if found and not scored:
        known = sorted({name for m in found for name in m.scores})
        raise ConfigError(
            f"no model listed has a score for '{metric}'.",
            hint=f"Metrics of these runs: {', '.join(known)}." if known else "No run was scored.",
        )
    best: dict[str, ModelInfo] = {}
    for model in scored:
        info = model.metrics.get(metric) or MetricInfo(metric, "")
        held = best.get(model.run)
        if held is None or info.closeness(model.score(metric)) > info.closeness(held.score(metric)):
            best[model.run] = model
    return [m for m in found if best.get(m.run) is m]


def best_model(run: Run) -> ModelInfo | None:
    """The model of ``run`` to talk to when none is named: its best tuned model on its primary
    metric, else its first tuned model, else its baseline."""
    models = models_of(run)
    tuned = [m for m in models if not m.baseline]
    if tuned and tuned[0].primary:
        scored = [m for m in tuned if m.score(tuned[0].primary) is not None]
        if scored:
            return best_of_each_run(scored, tuned[0].primary)[0]
    return (tuned or models or [None])[0]


def _scores(run: Run) -> tuple[dict[str, MetricInfo], dict[str, dict[str, float]]]:
    """The run's metrics and each backend's headline values, from its report.json."""
    path = run.path / "report.json"
    if not path.exists():
        return {}, {}
    try:
        report = read_json(path)
        metrics = {
            m["name"]: MetricInfo(
                m["name"], m.get("evaluator", ""), m.get("higher_is_better", True), m.get("target")
            )
            for m in report.get("metrics", [])
        }
        scores = {
            b["name"]: {
                k: v for k, v in (b.get("scores") or {}).items() if isinstance(v, (int, float))
            }
            for b in report.get("backends", [])
        }
    except (FtxError, AttributeError, KeyError, TypeError):
        return {}, {}  # a damaged report: the models are listed without scores
    return metrics, scores


def _base(config: Any, name: str, cls: type | None) -> str:
    """The base model the backend started from: its ``model`` option (``--model`` for the
    local backends), as the run was configured."""
    if config is None or cls is None or not hasattr(cls, "Options"):
        return "?"
    try:
        options = config.options_for(name, cls.Options, model_option=cls.model_option)
    except FtxError:
        return "?"
    model = getattr(options, cls.model_option or "model", None)
    if model in (None, "", "bundled"):
        return "bundled SmolLM2-135M-Instruct" if cls.model_option else "?"
    return str(model)


def _location(run: Run, name: str, cls: type | None, state: dict[str, Any]) -> str:
    artifact = state.get("artifact")
    if isinstance(artifact, str) and artifact:
        return str(run.path / name / artifact)
    for key in HOSTED_IDS:
        if isinstance(state.get(key), str):
            return state[key]
    return "(the base model)" if getattr(cls, "is_baseline", False) else ""
