"""The run lifecycle, in the order it happens (each stage a function or method below):

    plan        make_plan: the chosen plugins, built with their typed options
    data        load_data, size_answers: read, validate and split; how long answers may be
    preflight   preflight, Runner._confirm_cost: every backend's check; the cost question
    create      Runner._create_run: the run directory, with its exact splits
    schedule    Runner._schedule: hosted backends in threads, local ones one after another
    train       Runner._train: train a backend (or attach to what it trained before)
    predict     Runner._predict: its answers to the eval prompts, kept one by one
    score       Runner._score: every evaluator on every finished backend
    report      Runner._report: every reporter, and the run's final status

Every step's result is written to the run directory before the next starts, so ``ftx resume``
continues where a run stopped: a backend that finished training is re-attached, not trained
again, and predictions already on disk are kept.

The library shows no terminal UI of its own: the caller gives the ``Runner`` a progress factory
and a way to ask the user about costs (``ftx.cli`` gives rich bars and ``click.confirm``);
without them progress is silent and a cost above ``--max-cost`` is refused.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import platform
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ftx import data as datamod
from ftx import distributed, executors
from ftx.backend import Backend, BackendContext, Cancelled, Pruned, TrainedModel
from ftx.config import AUTO_NEW_TOKENS_FLOOR, Config, RunConfig, auto_max_new_tokens
from ftx.display import markup, money
from ftx.errors import ConfigError, FtxError, PreflightError, StoreError
from ftx.evaluator import Evaluator, EvaluatorFailed
from ftx.events import RunEvent
from ftx.executors import merge_record
from ftx.options import build, to_dict
from ftx.plugins import Registry, call_run_event, get_registry
from ftx.reporter import Reporter
from ftx.results import RunResult, load_result
from ftx.secrets import redact
from ftx.store import Run, RunStore, atomic_write_json, read_json
from ftx.tokens import approximate
from ftx.types import Completion, GenerationParams, Problem, Scores, Splits, TrainStats

EXIT_OK = 0
EXIT_PARTIAL = 3  # some backends failed; the report covers the others


# --- plan ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The resolved plugins of a run and their typed options."""

    backends: list[tuple[Backend, Any]]
    evaluators: list[Evaluator]
    reporters: list[Reporter]
    baseline: str | None


def make_plan(config: Config, registry: Registry | None = None) -> Plan:
    """Every chosen plugin built with its options; every problem at once, before anything runs."""
    registry = registry or get_registry()
    registry.raise_errors()
    config.check_sections(registry)
    problems: list[str] = []
    backends = _build(
        registry,
        "backend",
        config.run.backends,
        lambda cls, name: (
            _named(cls(), name),
            config.options_for(name, cls.Options, model_option=cls.model_option),
        ),
        problems,
        registered=config.backend_of,
    )
    evaluators = _build(
        registry,
        "evaluator",
        config.run.evaluators,
        lambda cls, name: cls(config.options_for(name, cls.Options)),
        problems,
    )
    reporters = _build(registry, "reporter", config.run.reporters, lambda cls, _: cls(), problems)
    problems += _order_problems(backends)
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else "bad configuration:\n  " + "\n  ".join(problems)
        )
    return Plan(backends, evaluators, reporters, _baseline(config, backends))


def _order_problems(backends: list[tuple[Backend, Any]]) -> list[str]:
    """A backend that builds on others (``depends_on``: local-dpo on local-lora's adapter)
    comes after them in the run."""
    problems, before = [], []
    for backend, options in backends:
        for needed in backend.depends_on(options):
            if needed not in before:
                problems.append(
                    f"{backend.name} builds on {needed}, which the run does not train before "
                    f"it: list --backend {needed} before --backend {backend.name}."
                )
        before.append(backend.name)
    return problems


def _build(
    registry: Registry,
    kind: str,
    names: list[str],
    make: Callable[[type, str], Any],
    problems: list[str],
    registered: Callable[[str], str] = lambda name: name,
) -> list[Any]:
    """``make(cls, name)`` for each registered plugin of ``kind`` named (``registered`` maps a
    variant's name to its backend's); what fails goes to ``problems``, naming the plugin."""
    built = []
    for name in names:
        try:
            built.append(make(registry.get(kind, registered(name)), name))
        except ConfigError as exc:
            problems.append(str(exc))
        except Exception as exc:  # a plugin's bug: named, with its reason, before anything runs
            problems.append(
                f"{_by(registry, kind, name)} could not be set up: {failure_reason(exc)}"
            )
    return built


def _named(backend: Backend, name: str) -> Backend:
    """The backend under ``name``: a variant is its backend's class under its own name (its
    folder, state, log lines and report row)."""
    if backend.name != name:
        backend.name = name
    return backend


def _baseline(config: Config, backends: list[tuple[Backend, Any]]) -> str | None:
    """The backend the others are tested against: the configured one, else the first that
    does not train."""
    baseline = config.run.baseline
    if baseline is not None and baseline not in config.run.backends:
        raise ConfigError(
            f"baseline '{baseline}' is not one of the run's backends "
            f"({', '.join(config.run.backends)})."
        )
    if baseline is None:
        baseline = next((b.name for b, _ in backends if b.is_baseline), None)
    return baseline


# --- data ------------------------------------------------------------------------------------


def load_data(run_config: RunConfig, registry: Registry, console: Any = None) -> Splits:
    """Read, validate and split the data; every problem at once, warnings printed."""
    formatters = registry.items["formatter"]
    classes = {name: r.cls for name, r in formatters.items()}
    path = run_config.data or datamod.bundled_path()
    train = datamod.load(path, formatters=classes, format=run_config.format)
    evalset = (
        datamod.load(run_config.eval_data, formatters=classes, format=run_config.format)
        if run_config.eval_data
        else None
    )
    for dataset in (train, evalset):
        if dataset is not None:
            _check_dataset(dataset, run_config, console)
    splits = datamod.split(
        train.examples,
        eval_size=run_config.eval_size,
        seed=run_config.seed,
        eval_examples=evalset.examples if evalset else None,
    )
    if splits.leaked and console is not None:
        console.print(
            f"[yellow]warning:[/] {len(splits.leaked)} eval example(s) have a prompt that is "
            f"also in the training data (e.g. {markup(splits.leaked[0])}); their scores "
            "overstate what the model learned."
        )
    return splits


def _check_dataset(dataset: Any, run_config: RunConfig, console: Any) -> None:
    """Skip invalid records if asked, raise for the rest, print the first warnings."""
    if run_config.skip_invalid and dataset.examples:
        skipped = dataset.skip_invalid()
        if skipped and console is not None:
            console.print(f"[yellow]warning:[/] skipped {markup(skipped)}")
    dataset.raise_for_errors()
    if console is None:
        return
    for warning in dataset.warnings[:5]:
        console.print(f"[yellow]warning:[/] {markup(warning)}")
    if len(dataset.warnings) > 5:
        console.print(
            f"[yellow]warning:[/] ... and {len(dataset.warnings) - 5} more "
            "(ftx data validate lists them)"
        )


def size_answers(plan: Plan, splits: Splits, run_config: RunConfig) -> dict[str, Any] | None:
    """Resolve ``max_new_tokens=auto`` from the eval references' lengths, counted with the
    tokenizer of the first backend that offers one (``token_counter``), else approximately.
    Returns what was chosen and why, for run.json; None when the value was given."""
    if run_config.max_new_tokens != "auto":
        return None
    count, counted_with = approximate, "approximate"
    for backend, options in plan.backends:
        try:
            counter = backend.token_counter(options)
        except Exception:  # no tokenizer here (a missing model, no torch): preflight says why
            continue
        if counter is not None:
            count, counted_with = counter, f"{backend.name}'s tokenizer"
            break
    lengths = [count(e.reference) for e in splits.eval]
    run_config.max_new_tokens = auto_max_new_tokens(lengths)
    return {
        "max_new_tokens": run_config.max_new_tokens,
        "from": "auto",
        "longest_reference_tokens": max(lengths, default=0),
        "counted_with": counted_with,
    }


# --- preflight -------------------------------------------------------------------------------


def preflight(
    plan: Plan, splits: Splits, generation: GenerationParams | None = None
) -> list[Problem]:
    """Every backend's ``check``, with ``generation`` (how long answers may be) for those that
    take it (``Backend.check_takes_generation``)."""
    problems: list[Problem] = []
    for backend, options in plan.backends:
        try:
            if generation is not None and backend.check_takes_generation:
                found = backend.check(splits, options, generation=generation)
            else:
                found = backend.check(splits, options)
        except FtxError as exc:
            found = [Problem(str(exc))]
        except Exception as exc:  # a bug in the plugin: this backend cannot be vouched for
            found = [
                Problem(
                    f"its check() failed: {failure_reason(exc)}",
                    hint="a bug in the backend's plugin; "
                    "leave the backend out, or set FTX_LOAD_PLUGINS to skip the plugin",
                )
            ]
        if not isinstance(found, list) or not all(isinstance(p, Problem) for p in found):
            found = [
                Problem(
                    f"its check() returned {type(found).__name__}, not a list of ftx.types.Problem",
                    hint="a bug in the backend's plugin",
                )
            ]
        problems.extend(dataclasses.replace(p, where=p.where or backend.name) for p in found)
    return problems


def estimate_costs(plan: Plan, splits: Splits) -> dict[str, float | None]:
    """What each backend (training) and evaluator (scoring every backend's answers) expects to
    charge, by name. A plugin whose estimate fails stops the run: --max-cost is a promise."""
    answers = len(splits.eval) * len(plan.backends)  # every backend's answers are scored
    estimates = [(b.name, lambda b=b, o=o: b.estimate_cost(splits, o)) for b, o in plan.backends]
    estimates += [(e.name, lambda e=e: e.estimate_cost(splits, answers)) for e in plan.evaluators]
    costs: dict[str, float | None] = {}
    for name, estimate in estimates:
        try:
            cost = estimate()
            if cost is not None and (not isinstance(cost, (int, float)) or isinstance(cost, bool)):
                raise TypeError(f"it returned {cost!r}, not dollars")
        except Exception as exc:  # an unknown cost is never waved through
            raise PreflightError(
                f"preflight failed: {name}: its estimate_cost() failed: {failure_reason(exc)}. "
                "Nothing was trained or paid for.",
                [],
            ) from None
        costs[name] = cost
    return costs


# --- the runner ------------------------------------------------------------------------------


class Runner:
    """Runs (or resumes) one run directory to the end.

    ``console`` gets the report, ``err_console`` progress and warnings. ``progress`` makes the
    progress display of a run: a context manager that is a rich ``Progress``
    (``ftx.progress.RunProgress``; default: silent). ``confirm(question)`` asks the user
    whether to start above ``--max-cost`` and returns the answer; None (the default): nobody
    to ask, so such a run is refused with a hint."""

    def __init__(
        self,
        console: Any,
        err_console: Any,
        *,
        progress: Callable[[], Any] | None = None,
        confirm: Callable[[str], bool] | None = None,
    ):
        self.console = console  # stdout: the report
        self.err = err_console  # stderr: progress, warnings
        self.progress = progress or _silent_progress
        self.confirm = confirm
        self.needs: set[str] = set()  # what the run's evaluators need beyond text (Evaluator.needs)
        self._hook_failures: dict[str, dict[str, Any]] = {}  # plugin -> its entry in failures
        self._searches: dict[str, Any] = {}  # searched backend -> its ftx.study.Search
        if not distributed.is_main():  # one process of a launcher speaks for all
            console.quiet = err_console.quiet = True

    # --- entry points ----------------------------------------------------------------------

    def start(self, config: Config, run_name: str | None = None) -> tuple[RunResult | None, int]:
        """Plan, check and create a run, then run it; returns its result and exit code. Raises
        ``Cancelled`` or ``KeyboardInterrupt`` when stopped (the run is then ``interrupted``)."""
        if not distributed.is_main():
            return self._follow(distributed.share(None), config.run.runs_dir)
        try:
            plan, splits, sized = self._prepare(config)
            run = self._create_run(config, plan, splits, sized, run_name)
        except BaseException:
            distributed.share(None)  # tell the other processes there is nothing to train
            raise
        distributed.share(run.id)
        return self._execute(run, config.run, plan, splits)

    def resume(self, run: Run) -> tuple[RunResult | None, int]:
        """Run a run that stopped to its end, redoing nothing that finished."""
        if not distributed.is_main():
            return self._follow(distributed.share(None), run.path.parent)
        config = config_of(run)
        try:  # before the other processes of a launcher read the data folder
            self._restore_data(run, config)
        except BaseException:
            distributed.share(None)
            raise
        distributed.share(run.id)
        plan = make_plan(config)
        self.err.print(f"resuming run [bold]{markup(run.id)}[/]")
        splits = splits_of(run)
        size_answers(plan, splits, config.run)  # only for a run.json written by hand with "auto"
        return self._execute(run, config.run, plan, splits)

    def run_alone(self, run: Run, name: str, cancelled: threading.Event) -> None:
        """Train (or attach) one backend of a run and answer with it, as a worker process of an
        executor does (``ftx.worker``). Raises ``KeyboardInterrupt`` when stopped."""
        config = config_of(run)
        plan = make_plan(config)
        self.needs = {need for evaluator in plan.evaluators for need in evaluator.needs}
        backend, options = next((b, o) for b, o in plan.backends if b.name == name)
        with self.progress() as progress:
            try:
                self._run_backend(
                    run,
                    config.run,
                    backend,
                    options,
                    splits=splits_of(run),
                    progress=progress,
                    cancelled=cancelled,
                )
            except Cancelled:
                raise KeyboardInterrupt from None

    # --- plan, data, preflight: everything that can fail before a run exists ----------------

    def _prepare(self, config: Config) -> tuple[Plan, Splits, dict[str, Any] | None]:
        """plan → data → how long answers may be → preflight → the cost question."""
        registry = get_registry()
        plan = make_plan(config, registry)
        splits = load_data(config.run, registry, self.err)
        sized = size_answers(plan, splits, config.run)
        if sized and sized["max_new_tokens"] > AUTO_NEW_TOKENS_FLOOR:
            self.err.print(
                f"max_new_tokens={sized['max_new_tokens']} (auto: the longest eval reference is "
                f"{sized['longest_reference_tokens']} tokens, by {markup(sized['counted_with'])})"
            )
        self._preflight(plan, splits, config.run)
        self._confirm_cost(plan, splits, config.run)
        return plan, splits, sized

    def _preflight(self, plan: Plan, splits: Splits, run_config: RunConfig) -> None:
        """Print the warnings; raise with every error."""
        problems = preflight(plan, splits, run_config.generation)
        for p in problems:
            if p.severity == "warning":
                self.err.print(f"[yellow]warning:[/] {markup(p)}")
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise PreflightError(
                f"preflight failed: {str(errors[0]).rstrip('.')}{more}. Nothing was trained.",
                errors,
            )

    def _confirm_cost(self, plan: Plan, splits: Splits, run_config: RunConfig) -> None:
        """Refuse to start above --max-cost unless --yes, or the user says yes when asked."""
        costs = estimate_costs(plan, splits)
        total = sum(c for c in costs.values() if c)
        if run_config.max_cost is None or total <= run_config.max_cost or run_config.yes:
            return
        detail = ", ".join(f"{n} {money(c)}" for n, c in costs.items() if c)
        question = (
            f"The estimated cost is {money(total)} ({detail}), above --max-cost "
            f"{money(run_config.max_cost)}."
        )
        if self.confirm is None:
            raise PreflightError(
                f"not started: {question} Nothing was trained or paid for.",
                [],
                hint="Pass --yes to accept it, or raise --max-cost.",
            )
        if not self.confirm(question + " Start anyway?"):
            raise PreflightError(
                "not started: the estimated cost was declined. Nothing was trained or paid for.", []
            )

    # --- create ------------------------------------------------------------------------------

    def _create_run(
        self,
        config: Config,
        plan: Plan,
        splits: Splits,
        sized: dict[str, Any] | None,
        run_name: str | None,
    ) -> Run:
        """The run directory: run.json with the configuration, and the exact splits."""
        meta = {
            "config": {
                "run": _absolute(to_dict(config.run)),
                "sections": {name: _absolute(values) for name, values in config.sections.items()},
                "variants": config.variants,
                "swept": config.swept,
                "search": config.search,
                "trials": config.trials,
            },
            "baseline": plan.baseline,
            "versions": _versions(),
            "seed": config.run.seed,
            "splits": {
                "train": len(splits.train),
                "eval": len(splits.eval),
                "leaked": splits.leaked,
            },
        }
        if sized:  # config.run holds the value chosen, so a resumed run answers with the same
            meta["generation"] = sized
        if distributed.enabled():
            meta["world_size"] = distributed.world_size()
        run = RunStore(config.run.runs_dir).create(meta, run_name)
        for backend, _ in plan.backends:
            run.backend_state(backend.name)
        datamod.write_jsonl(run.path / "data" / "train.jsonl", splits.train)
        datamod.write_jsonl(run.path / "data" / "eval.jsonl", splits.eval)
        run.save()
        self.err.print(
            f"run [bold]{markup(run.id)}[/] in {markup(run.path)} · {len(splits.train)} train / "
            f"{len(splits.eval)} eval examples"
        )
        return run

    def _restore_data(self, run: Run, config: Config) -> None:
        """A run stopped while it was being created (by a full disk, say) has its run.json but
        not all of its data folder. Nothing was trained yet, so the splits are made again from
        the same data, configuration and seed, which give the same split."""
        folder = run.path / "data"
        if run.meta.get("status") != "created" or all(
            (folder / f"{n}.jsonl").is_file() for n in ("train", "eval")
        ):
            return
        splits = load_data(config.run, get_registry(), self.err)
        saved = run.meta.get("splits", {})
        data = config.run.data or "the bundled data"
        if (len(splits.train), len(splits.eval)) != (saved.get("train"), saved.get("eval")):
            raise StoreError(
                f"run {run.id} stopped before its data was saved, and {data} has changed since "
                f"({len(splits.train)} train / {len(splits.eval)} eval examples now, "
                f"{saved.get('train')} / {saved.get('eval')} then).",
                hint="Start a new run with 'ftx run'.",
            )
        datamod.write_jsonl(folder / "train.jsonl", splits.train)
        datamod.write_jsonl(folder / "eval.jsonl", splits.eval)
        self.err.print(
            f"run {markup(run.id)} stopped before its data was saved: split {markup(data)} again "
            f"(seed {config.run.seed})"
        )

    def _follow(self, run_id: str | None, runs_dir: Any) -> tuple[None, int]:
        """A worker process of a launcher: train the distributed backends alongside the main
        process, which alone writes the run directory, answers prompts and reports."""
        if run_id is None:
            return None, 1  # the main process failed before the run existed and said why
        run = RunStore(runs_dir).open(run_id)
        config = config_of(run)
        plan = make_plan(config)
        splits = splits_of(run)
        for backend, options in plan.backends:
            if not backend.distributed:
                continue
            state = run.backend_state(backend.name)
            if not state.get("trained"):
                ctx = BackendContext(
                    run.id,
                    run.backend_dir(backend.name),
                    dict(state.get("state", {})),
                    lambda: None,
                    lambda line: None,
                    lambda kind, data: None,
                    _silent_progress(),
                    seed=config.run.seed,
                )
                try:
                    backend.train(splits, options, ctx).close()
                except Exception:
                    pass  # the main process fails the same way and records why
            distributed.barrier()  # while the main process answers the eval prompts
        return None, 0

    # --- schedule --------------------------------------------------------------------------

    def _execute(
        self, run: Run, run_config: RunConfig, plan: Plan, splits: Splits
    ) -> tuple[RunResult, int]:
        """The stages of a run that exists: schedule (train and predict), score, report."""
        self.needs = {need for evaluator in plan.evaluators for need in evaluator.needs}
        with run.editing() as meta:
            meta["status"] = "running"
            meta["failures"] = []  # a resumed run evaluates and reports again: what fails then
            # who runs it, for 'ftx cancel' from another terminal (stop_running)
            meta["process"] = {"pid": os.getpid(), "host": socket.gethostname()}
        self._hook_failures = {}
        self._event("run_started", run, None, {"backends": [b.name for b, _ in plan.backends]})
        self._schedule(run, run_config, plan, splits)
        self._score(run, plan, splits)
        return self._report(run, plan)

    def _schedule(self, run: Run, run_config: RunConfig, plan: Plan, splits: Splits) -> None:
        """Hosted backends start first, each in a thread, and run while local backends train one
        after another on this machine's accelerator. Ctrl-C: every backend stops at its next
        safe point, and the run is ``interrupted``."""
        cancelled = threading.Event()
        remote = [(b, o) for b, o in plan.backends if b.remote]
        for backend, _ in plan.backends:  # what workers saved before a kill (ftx.executors)
            merge_record(run, backend.name)
        away = self._offloaded(run, run_config, plan)
        executor = executors.choose(run_config, away)
        if executor is None:
            away = []
        with (
            executor or contextlib.nullcontext(),
            self.progress() as progress,
            _graceful_interrupt(cancelled, self.err),
            ThreadPoolExecutor(max_workers=len(remote) + 1) as pool,
        ):
            work = functools.partial(
                self._run_backend, run, run_config, splits=splits, progress=progress
            )
            begun = {b.name: threading.Event() for b, _ in remote}
            futures = [
                pool.submit(work, b, o, cancelled=cancelled, begun=begun[b.name]) for b, o in remote
            ]
            if away:
                futures.append(
                    pool.submit(self._execute_away, executor, run, away, cancelled, progress)
                )
            for event in begun.values():  # each hosted one is under way before local training
                event.wait(timeout=10)  # takes the CPU
            try:
                for backend, options in plan.backends:
                    if not backend.remote and backend.name not in away:
                        if away and set(backend.depends_on(options)) & set(away):
                            futures[-1].result()  # what it builds on trains in the executor
                        work(backend, options, cancelled=cancelled)
                        if backend.distributed:
                            distributed.barrier()  # the other processes wait while this answers
                for future in futures:
                    future.result()
            except (KeyboardInterrupt, Cancelled):
                self._stop(run, cancelled, futures)
                # Cancelled is how backends and threads stop; to the caller, as to a terminal,
                # a stopped run is a KeyboardInterrupt.
                raise KeyboardInterrupt from None

    def _offloaded(self, run: Run, run_config: RunConfig, plan: Plan) -> list[str]:
        """The local backends an executor may run in processes of their own: not finished, not
        an Optuna trial (each waits for the trials before it), not one that builds on another
        (it trains here once the executor is done), not trained by a launcher's processes
        together."""
        trials = config_trials(run)
        dependent = {b.name for b, o in plan.backends if b.depends_on(o)}  # waits: stays here
        return [
            b.name
            for b, _ in plan.backends
            if not b.remote
            and not (b.distributed and distributed.enabled())
            and b.name not in trials
            and b.name not in dependent
            and run.backend_state(b.name).get("status") not in ("done", "pruned")
        ]

    def _execute_away(
        self, executor: Any, run: Run, names: list[str], cancelled: threading.Event, progress: Any
    ) -> None:
        """``names`` trained and answered by ``executor`` (worker processes, Ray tasks), a
        progress line each; then their events, as if they had run here."""
        from ftx.progress import ProgressTask

        tasks = {n: ProgressTask(progress, n, None, f"{executor.label}") for n in names}

        def on_status(name: str, status: str) -> None:
            tasks[name].update(info=status)

        try:
            executor.run(run, names, cancelled, on_status)
        finally:
            for name in names:
                status = run.backend_state(name).get("status", "")
                tasks[name].done(info=status)
                self._event("backend_state", run, name, {"status": status})
                if status == "failed":
                    error = run.backend_state(name).get("error", "")
                    self.err.print(f"[red]{markup(name)} failed:[/] {markup(error)}")

    def _stop(self, run: Run, cancelled: threading.Event, futures: list[Future]) -> None:
        """Ctrl-C: hosted backends stop polling at once and save their state."""
        cancelled.set()
        for future in futures:
            try:
                future.result()
            except (KeyboardInterrupt, Cancelled):
                pass
        with run.editing() as meta:
            meta["status"] = "interrupted"

    def _run_backend(
        self,
        run: Run,
        run_config: RunConfig,
        backend: Backend,
        options: Any,
        *,
        splits: Splits,
        progress: Any,
        cancelled: threading.Event,
        begun: threading.Event | None = None,
    ) -> None:
        """Train (or attach) one backend and answer the eval prompts with it. What fails here
        fails this backend only; Ctrl-C leaves it ``interrupted``, for ``ftx resume``."""
        begun = begun or threading.Event()
        if run.backend_state(backend.name).get("status") in ("done", "pruned"):
            begun.set()
            return
        ctx = self._context(run, run_config, backend.name, progress, cancelled)
        model: TrainedModel | None = None
        trial = backend.name in config_trials(run)
        try:
            if trial:
                options = self._start_trial(run, backend, options)
            model = self._train(run, backend, options, splits, ctx, begun)
            if trial:
                self._end_trial(run, backend.name, "complete")
            self._predict(run, run_config, backend.name, model, splits, cancelled)
            self._set_state(run, backend.name, "done", ctx)
        except Pruned as exc:
            self._set_state(run, backend.name, "pruned", ctx, error=str(exc))
            self._end_trial(run, backend.name, "pruned")
            self.err.print(f"{markup(backend.name)} pruned: {markup(exc)}")
        except (KeyboardInterrupt, Cancelled):
            self._set_state(run, backend.name, "interrupted", ctx)
            raise
        except StoreError:
            raise  # the run directory cannot be written (a full disk): stop, keep what is saved
        except (Exception, SystemExit) as exc:  # a plugin that calls sys.exit() fails only itself
            self._fail(run, backend.name, exc, ctx)
            if trial and "trial" in run.backend_state(backend.name):
                self._end_trial(run, backend.name, "failed")
        finally:
            begun.set()
            if model is not None:
                _close(model, ctx.log, self.err, backend.name)

    def _context(
        self,
        run: Run,
        run_config: RunConfig,
        name: str,
        progress: Any,
        cancelled: threading.Event,
    ) -> BackendContext:
        """What a backend gets from the run: its folder, log, events, progress, and a copy of
        its persisted state and costs that ``save_state`` writes back into run.json."""
        record = run.backend_state(name)
        folder = run.backend_dir(name)
        log_path = folder / "log.txt"

        def log(line: str) -> None:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {redact(line)}\n")

        def save_state() -> None:
            run.update_backend(name, **_persisted(ctx))

        ctx = BackendContext(
            run.id,
            folder,
            _json_copy(record.get("state", {})),
            save_state,
            log,
            lambda kind, data: self._event(kind, run, name, data),
            progress,
            seed=run_config.seed,
            cancelled=cancelled,
            costs=dict(record.get("cost_usd", {})),
        )
        return ctx

    # --- trials (ftx.study) -----------------------------------------------------------------

    def _search(self, run: Run, name: str) -> Any:
        """The study of the backend that trial ``name`` searches, opened once."""
        from ftx.study import Search, parse_space

        section = config_trials(run)[name]
        if section not in self._searches:
            table = run.meta["config"]["search"][section]
            space = parse_space(section, table, str(run.path / "run.json"))
            self._searches[section] = Search(run.path, section, space, run.meta.get("seed", 42))
        return self._searches[section]

    def _start_trial(self, run: Run, backend: Backend, options: Any) -> Any:
        """A trial's options: sampled by its study when it first starts, then kept in run.json
        (``config.sections``, and ``config.swept`` for the report's labels and plots), so that
        ``ftx resume`` trains it on with the same."""
        from ftx.study import shown

        name = backend.name
        if "trial" not in run.backend_state(name):
            number, params = self._search(run, name).ask()
            with run.editing() as meta:
                saved = meta["config"]
                saved["sections"].setdefault(name, {}).update(params)
                saved.setdefault("swept", {})[name] = {k: shown(v) for k, v in params.items()}
                meta["backends"][name]["trial"] = number
            self.err.print(
                f"{markup(name)} (Optuna trial {number}): "
                + ", ".join(f"{k}={shown(v)}" for k, v in params.items())
            )
        return config_of(run).options_for(
            name, type(options), model_option=getattr(backend, "model_option", None)
        )

    def _end_trial(self, run: Run, name: str, state: str) -> None:
        """Tell the study how the trial ended: its last validation loss when it trained."""
        from ftx.results import read_train_log

        losses = [
            e["eval_loss"]
            for e in read_train_log(run.path / name / "train_log.jsonl")
            if isinstance(e.get("eval_loss"), (int, float))
        ]
        number = run.backend_state(name)["trial"]
        self._search(run, name).tell(number, losses[-1] if losses else None, state)

    def _watch_trial(self, run: Run, name: str, data: dict[str, Any]) -> None:
        """A validation loss of a trial, reported to its study; raises ``Pruned`` when the
        trial lags the median of the trials before it."""
        loss, epoch = data.get("eval_loss"), data.get("epoch", 0)
        number = run.backend_state(name).get("trial")
        if not isinstance(loss, (int, float)) or number is None:
            return
        if self._search(run, name).should_prune(number, epoch, loss):
            raise Pruned(
                f"validation loss {loss:.4f} after epoch {epoch:g} is worse than the median of "
                "the trials before it at that epoch"
            )

    # --- train -------------------------------------------------------------------------------

    def _train(
        self,
        run: Run,
        backend: Backend,
        options: Any,
        splits: Splits,
        ctx: BackendContext,
        begun: threading.Event,
    ) -> TrainedModel:
        """Train the backend, or attach to what it trained before a stop (``ftx resume``)."""
        if run.backend_state(backend.name).get("trained"):
            self._set_state(run, backend.name, "attaching", ctx)
            begun.set()
            return _checked_model(backend.attach(ctx.state, options, ctx), "attach")
        self._set_state(run, backend.name, "training", ctx)
        begun.set()
        started = time.time()
        model = _checked_model(backend.train(splits, options, ctx), "train")
        stats = model.stats if getattr(model, "stats", None) else TrainStats()
        if not stats.seconds:
            stats.seconds = time.time() - started
        trained_for = getattr(stats, "cost_usd", None)  # the bill, if TrainStats says it
        if trained_for is not None and "training" not in ctx.costs:
            ctx.costs["training"] = trained_for
        run.update_backend(
            backend.name, train=dataclasses.asdict(stats), trained=True, **_persisted(ctx)
        )
        return model

    # --- predict -----------------------------------------------------------------------------

    def _predict(
        self,
        run: Run,
        run_config: RunConfig,
        name: str,
        model: TrainedModel,
        splits: Splits,
        cancelled: threading.Event,
    ) -> None:
        """Answer the eval prompts not yet answered, keeping each answer the moment it exists."""
        self._set_state(run, name, "generating")
        done = {r["id"]: r for r in run.read_predictions(name)}
        todo = [e for e in splits.eval if e.id not in done]
        if todo:
            keep = self._keeper(run, name, todo, done, len(splits.eval))

            def on_answer(index: int, completion: Completion) -> None:
                keep(index, completion)
                if cancelled.is_set():
                    raise Cancelled  # this answer is kept, the rest wait for 'ftx resume'

            prompts = [e.prompt for e in todo]
            answers = model.generate(prompts, run_config.generation, on_answer=on_answer)
            for index, completion in enumerate(answers or []):  # those not given to on_answer
                if todo[index].id not in done:
                    keep(index, completion)
            if cancelled.is_set():
                raise Cancelled
        missing = [e.id for e in splits.eval if e.id not in done]
        if missing:
            raise FtxError(
                f"{name} returned no answer for {len(missing)} eval example(s), e.g. {missing[0]}."
            )
        if "reference_logprob" in self.needs and model.can_score_references:
            unscored = [e for e in splits.eval if "reference_logprob" not in done[e.id]]
            for example, (logprob, tokens) in zip(
                unscored, model.reference_logprobs(unscored) if unscored else []
            ):
                done[example.id].update(reference_logprob=logprob, reference_tokens=tokens)
        if "pair_logprobs" in self.needs and getattr(model, "can_score_pairs", False):
            pairs = [e for e in splits.eval if e.rejected is not None]
            unscored = [e for e in pairs if "chosen_logprob" not in done[e.id]]
            for example, scored in zip(unscored, model.pair_logprobs(unscored) if unscored else []):
                done[example.id].update(scored.row())
        run.write_predictions(name, [done[e.id] for e in splits.eval])

    def _keeper(
        self, run: Run, name: str, todo: list[Any], done: dict[str, Any], total: int
    ) -> Callable[[int, Completion], None]:
        """``keep(i, completion)``: the answer to ``todo[i]``, appended to the backend's
        predictions on disk at once (answers arrive from many threads of a hosted backend)."""

        def keep(index: int, completion: Completion) -> None:
            example = todo[index]
            # An endpoint that echoes the request (an Authorization header) must not put the key
            # in predictions.jsonl, and from there in every report.
            row = {
                "id": example.id,
                "prediction": redact(completion.text),
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "truncated": bool(getattr(completion, "truncated", False)),
            }
            run.append_prediction(name, row)
            with run.lock:
                done[example.id] = row
                count = len(done)
            self._event("answer", run, name, {"id": example.id, "done": count, "total": total})

        return keep

    # --- score -------------------------------------------------------------------------------

    def _score(self, run: Run, plan: Plan, splits: Splits) -> None:
        """Every evaluator on every backend that finished, into scores.json."""
        out: dict[str, Any] = {
            "metrics": {},
            "backends": {},
            "example_ids": [e.id for e in splits.eval],
        }
        try:  # the costs of earlier evaluations of this run are kept; a damaged file is rebuilt
            before = read_json(run.path / "scores.json").get("backends", {})
        except StoreError:
            before = {}
        for evaluator in plan.evaluators:
            for metric in evaluator.metrics:
                out["metrics"][metric] = {
                    "evaluator": evaluator.name,
                    "higher_is_better": metric not in evaluator.lower_is_better,
                    "target": evaluator.targets.get(metric),
                }
        for backend, _ in plan.backends:
            if run.backend_state(backend.name).get("status") != "done":
                continue
            scored = self._score_backend(run, plan, splits, backend.name, before)
            out["backends"][backend.name] = scored
            means = {m: sum(v) / len(v) for m, v in scored["per_example"].items() if v}
            self._event("eval_done", run, backend.name, {"mean": means, "corpus": scored["corpus"]})
        atomic_write_json(run.path / "scores.json", out)

    def _score_backend(
        self, run: Run, plan: Plan, splits: Splits, name: str, before: dict[str, Any]
    ) -> dict[str, Any]:
        """One backend's answers through every evaluator: scores, and what scoring paid."""
        rows = run.read_predictions(name)
        if "other_answers" in self.needs:  # a pairwise judge: the other backends' answers too
            others = {
                other.name: {r["id"]: r["prediction"] for r in run.read_predictions(other.name)}
                for other, _ in plan.backends
                if other.name != name and run.backend_state(other.name).get("status") == "done"
            }
            rows = [
                {
                    **row,
                    "other_answers": {o: a[row["id"]] for o, a in others.items() if row["id"] in a},
                }
                for row in rows
            ]
        texts = (
            [r["prediction"] for r in rows],
            [e.reference for e in splits.eval],
            [e.prompt[-1].content if e.prompt else "" for e in splits.eval],
        )
        scored: dict[str, Any] = {
            "per_example": {},
            "corpus": {},
            "corpus_stats": {},
            "signatures": {},
        }
        # What scoring paid, added up over every evaluation of this run (a resumed run scores
        # again, and cached verdicts cost nothing the second time).
        costs = dict(before.get(name, {}).get("cost_usd", {}))
        for evaluator in plan.evaluators:
            scores, paid = self._score_one(run, evaluator, name, texts, rows)
            if scores is not None:
                scored["per_example"].update(scores.per_example)
                scored["corpus"].update(scores.corpus)
                scored["corpus_stats"].update(scores.corpus_stats)  # reports resample with them
                scored["signatures"].update(scores.signatures)
            if paid is not None:
                costs[evaluator.name] = round(costs.get(evaluator.name, 0.0) + paid, 6)
        if costs:
            scored["cost_usd"] = costs
        return scored

    def _score_one(
        self,
        run: Run,
        evaluator: Evaluator,
        backend: str,
        texts: tuple[list[str], list[str], list[str]],
        rows: list[dict[str, Any]],
    ) -> tuple[Scores | None, float | None]:
        """An evaluator's scores of one backend's answers and what it paid; when it fails,
        None and what it paid before failing (``EvaluatorFailed.cost_usd``)."""
        try:
            if evaluator.needs:  # the contract: rows= goes only to evaluators that need it
                scores = evaluator.score(*texts, rows=rows)
            else:
                scores = evaluator.score(*texts)
            scores = _checked_scores(scores, len(texts[0]))
        except (Exception, SystemExit) as exc:
            reason = failure_reason(exc)
            self._record_failure(run, "evaluator", evaluator.name, reason, backend=backend)
            self.err.print(
                f"[yellow]warning:[/] evaluator '{markup(evaluator.name)}' failed on "
                f"{markup(backend)}: {markup(reason)}"
            )
            if isinstance(exc, EvaluatorFailed):
                return None, exc.cost_usd or None
            return None, getattr(exc, "cost_usd", None) or None  # plugins older than that
        return scores, scores.cost_usd

    # --- report ------------------------------------------------------------------------------

    def _report(self, run: Run, plan: Plan) -> tuple[RunResult, int]:
        """Every reporter (file reporters first, so the terminal table can point at the files),
        then the run's final status; returns the result and the exit code."""
        self._set_final_status(run, plan)
        result = load_result(run)
        for reporter in sorted(plan.reporters, key=lambda r: r.writes is None):
            try:
                reporter.report(result, run.path, self.console)
            except (Exception, SystemExit) as exc:  # a reporter never loses a finished run
                reason = failure_reason(exc)
                self._record_failure(run, "reporter", reporter.name, reason)
                self.err.print(
                    f"[yellow]warning:[/] reporter '{markup(reporter.name)}' failed: "
                    f"{markup(reason)} (write it again with: ftx report {markup(run.id)} "
                    f"--reporter {markup(reporter.name)})"
                )
        if run.meta["failures"]:
            self._set_final_status(run, plan)
        status = run.meta["status"]
        self._event("run_finished", run, None, {"status": status, "run_dir": str(run.path)})
        run.save()  # with what the observers of run_finished did wrong, if anything
        if status == "done":
            return result, EXIT_OK
        return result, EXIT_PARTIAL if status == "partial" else 1

    # --- state, failures and events ------------------------------------------------------------

    def _set_state(
        self, run: Run, backend: str, status: str, ctx: BackendContext | None = None, **fields: Any
    ) -> None:
        """A backend's new status (with its context's state and costs), saved; then the event."""
        if ctx is not None:
            fields.update(_persisted(ctx))
        run.update_backend(backend, status=status, **fields)
        self._event("backend_state", run, backend, {"status": status})

    def _fail(self, run: Run, name: str, exc: BaseException, ctx: BackendContext) -> None:
        """A backend failed: why goes into run.json, the traceback into its log."""
        ctx.log(traceback.format_exc())
        error, log_path = failure_reason(exc), ctx.dir / "log.txt"
        self._set_state(run, name, "failed", ctx, error=error, log=str(log_path))
        self.err.print(f"[red]{markup(name)} failed:[/] {markup(error)} (log: {markup(log_path)})")

    def _set_final_status(self, run: Run, plan: Plan) -> None:
        """done: every backend, evaluator and reporter did its part; failed: no backend did;
        partial: the rest (run.json says which failed and why). An observer of run events that
        fails is listed too, but does not make a run partial: the results are all there."""
        with run.editing() as meta:
            failed = [
                n for n, s in meta["backends"].items() if s.get("status") not in ("done", "pruned")
            ]
            parts = [f for f in meta.get("failures", []) if f["kind"] != "event hook"]
            if len(failed) == len(plan.backends):
                meta["status"] = "failed"
            else:
                meta["status"] = "partial" if failed or parts else "done"

    def _record_failure(self, run: Run, kind: str, name: str, reason: str, **where: str) -> None:
        """Note in run.json that an evaluator or reporter failed, with its plugin and why."""
        entry = {"kind": kind, "name": name, "plugin": _plugin_of(kind, name), **where}
        with run.editing() as meta:
            meta.setdefault("failures", []).append({**entry, "error": reason})

    def _event(self, kind: str, run: Run, backend: str | None, data: dict[str, Any]) -> None:
        """Tell the observers; one warning per observer that fails, run.json counts the rest.
        A trial's validation loss goes to its study first, which may prune it."""
        if kind == "train_log" and backend in config_trials(run):
            self._watch_trial(run, backend, data)
        for plugin, reason in call_run_event(RunEvent(kind, run.id, backend, data)):
            with run.editing(save=False) as meta:
                seen = self._hook_failures.get(plugin)
                if seen is not None:
                    seen["count"] += 1
                    continue
                seen = self._hook_failures[plugin] = {
                    "kind": "event hook",
                    "name": "ftx_run_event",
                    "plugin": plugin,
                    "event": kind,
                    "error": redact(reason),
                    "count": 1,
                }
                meta.setdefault("failures", []).append(seen)
            self.err.print(
                f"[yellow]warning:[/] plugin '{markup(plugin)}' failed in ftx_run_event ({kind}): "
                f"{markup(seen['error'])}; the run goes on (later failures of it are counted in "
                "run.json)"
            )


# --- helpers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _graceful_interrupt(cancelled: threading.Event, err: Any) -> Iterator[None]:
    """Ctrl-C once: backends stop at their next safe point (a training step is checkpointed, the
    answer in hand is kept, hosted jobs stop being polled) and the run can be resumed. Twice:
    stop at once. SIGTERM, which Slurm, Kubernetes and systemd send some seconds before SIGKILL,
    does the same."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: Any) -> None:
        if cancelled.is_set():
            raise KeyboardInterrupt
        cancelled.set()
        if signum == signal.SIGTERM:
            err.print(
                "\n[yellow]stopping (SIGTERM):[/] saving a checkpoint and what is done; a second "
                "signal stops at once"
            )
        else:
            err.print(
                "\n[yellow]stopping:[/] saving a checkpoint and what is done; press Ctrl-C again "
                "to stop at once"
            )

    previous = {
        signum: signal.signal(signum, on_interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(signum, handler)


def _persisted(ctx: BackendContext) -> dict[str, Any]:
    """What run.json keeps of a backend's context: its state, and its costs if it has any."""
    kept: dict[str, Any] = {"state": _json_copy(ctx.state)}
    if ctx.costs:
        kept["cost_usd"] = dict(ctx.costs)
    return kept


def _json_copy(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` as run.json holds it (anything not JSON as text), sharing nothing with it."""
    return json.loads(json.dumps(state, ensure_ascii=False, default=str))


def _checked_model(model: Any, phase: str) -> TrainedModel:
    if not isinstance(model, TrainedModel):
        raise FtxError(
            f"{phase}() returned {type(model).__name__}, not an ftx.backend.TrainedModel"
        )
    return model


def _close(model: TrainedModel, log: Callable[[str], None], err: Any, name: str) -> None:
    """Close ``model``; a failure is logged and shown as a warning (an endpoint that could not
    be deleted may still bill), never a failed backend: its answers are saved."""
    try:
        model.close()
    except (Exception, SystemExit) as exc:
        reason = failure_reason(exc)
        log(f"close() failed: {reason}")
        said = reason if isinstance(exc, FtxError) else f"close() failed: {reason}"
        err.print(f"[yellow]warning:[/] {markup(name)}: {markup(said)}")


def failure_reason(exc: BaseException) -> str:
    """A plugin's exception as one line: an FtxError's own message, else its type and message;
    any key in it masked."""
    reason = redact(
        str(exc) if isinstance(exc, FtxError) else f"{type(exc).__name__}: {exc}"
    ).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def _checked_scores(scores: Any, count: int) -> Any:
    """What an evaluator returned, as reports can use it: one number (a Python float) per
    answer for each metric. A broken evaluator fails here, alone, and not every report later."""
    import numbers

    def number(metric: str, value: Any) -> float:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise FtxError(
                f"score() gave metric '{metric}' a value that is not a number: {value!r}"
            )
        return float(value)

    if not isinstance(scores, Scores):
        raise FtxError(f"score() returned {type(scores).__name__}, not ftx.types.Scores")
    per_example = {}
    for metric, values in scores.per_example.items():
        if not isinstance(values, (list, tuple)) or len(values) != count:
            got = len(values) if isinstance(values, (list, tuple)) else type(values).__name__
            raise FtxError(f"score() gave metric '{metric}' {got} values for {count} answers")
        per_example[metric] = [number(metric, v) for v in values]
    corpus = {metric: number(metric, value) for metric, value in scores.corpus.items()}
    corpus_stats = {
        metric: [[number(metric, x) for x in vector] for vector in vectors]
        for metric, vectors in scores.corpus_stats.items()
    }
    return dataclasses.replace(
        scores, per_example=per_example, corpus=corpus, corpus_stats=corpus_stats
    )


def _plugin_of(kind: str, name: str) -> str:
    try:
        return get_registry().items[kind][name].plugin
    except (KeyError, FtxError):
        return ""


def _by(registry: Registry, kind: str, name: str) -> str:
    """``backend 'x' (plugin 'y')``, for errors about a plugin's part."""
    registered = registry.items.get(kind, {}).get(name)
    return f"{kind} '{name}'" + (f" (plugin '{registered.plugin}')" if registered else "")


#: options that may name a local file or folder
PATH_OPTIONS = ("data", "eval_data", "model")


def _absolute(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each path option that names an existing file or folder made absolute:
    ``ftx resume``, ``export``, ``chat`` and ``serve`` read run.json from any folder."""
    out = dict(values)
    for key in PATH_OPTIONS:
        value = out.get(key)
        if isinstance(value, str) and value and os.path.exists(value):
            out[key] = os.path.abspath(value)
    return out


def config_of(run: Run) -> Config:
    """The configuration a run was started with, from its run.json."""
    saved = run.meta["config"]
    return Config(
        run=build(RunConfig, saved["run"], "run"),
        sections=saved.get("sections", {}),
        variants=saved.get("variants", {}),
        swept=saved.get("swept", {}),
        search=saved.get("search", {}),
        trials=saved.get("trials", {}),
    )


def stop_running(run: Run, wait: float = 120.0) -> str | None:
    """Stop the ``ftx run`` (or ``resume``) running ``run`` on this machine, as a scheduler's
    SIGTERM does: every backend stops at its next safe point, workers and Ray tasks included,
    with a checkpoint. Waits up to ``wait`` seconds for it to end; says what happened, or None
    when no process of this machine runs it."""
    process = run.meta.get("process") or {}
    pid = process.get("pid")
    if run.meta.get("status") != "running" or process.get("host") != socket.gethostname():
        return None
    try:  # the pid is ftx's still, not a process that took the number since
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"ftx" not in f.read():
                return None
        os.kill(pid, signal.SIGTERM)
    except (OSError, TypeError):
        return None
    deadline = time.time() + wait
    while time.time() < deadline and _alive(pid):
        time.sleep(0.5)
    if _alive(pid):
        return f"asked the run's process {pid} to stop; it is still saving its work"
    return f"stopped the run's process {pid}: its backends saved what they had"


def _alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def config_trials(run: Run) -> dict[str, str]:
    """The run's Optuna trials: trial variant -> the backend it searches (``--trials``)."""
    return run.meta.get("config", {}).get("trials") or {}


def splits_of(run: Run) -> Splits:
    """The train and eval examples a run was started with, from its data folder."""
    return Splits(
        datamod.read_jsonl_examples(run.path / "data" / "train.jsonl"),
        datamod.read_jsonl_examples(run.path / "data" / "eval.jsonl"),
        run.meta.get("splits", {}).get("leaked", []),
    )


def _silent_progress() -> Any:
    from ftx.progress import silent_progress

    return silent_progress()


def plan_of(run: Run) -> Plan:
    return make_plan(config_of(run))


def _versions() -> dict[str, str]:
    from importlib import metadata

    from ftx import DISTRIBUTION

    versions = {"python": platform.python_version(), "platform": sys.platform}
    packages = ("torch", "transformers", "peft", "bitsandbytes", "openai", "google-genai")
    for key, package in (("ftx", DISTRIBUTION), *((p, p) for p in packages)):
        try:
            versions[key] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
