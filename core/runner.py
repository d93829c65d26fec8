"""The run lifecycle: data → split → preflight → train → predict → evaluate → report.

Every step's result is written to the run directory before the next starts, so ``ftx resume``
continues where a run stopped: a backend that finished training is re-attached, not trained
again, and predictions already on disk are kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import platform
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ftx import data as datamod
from ftx import distributed
from ftx.backend import Backend, BackendContext, TrainedModel
from ftx.config import AUTO_NEW_TOKENS_FLOOR, Config, RunConfig, auto_max_new_tokens
from ftx.display import markup, money
from ftx.errors import ConfigError, FtxError, PreflightError, StoreError
from ftx.evaluator import Evaluator
from ftx.events import RunEvent
from ftx.options import build, to_dict
from ftx.plugins import Registry, call_run_event, get_registry
from ftx.reporter import Reporter
from ftx.results import RunResult, load_result
from ftx.secrets import redact
from ftx.store import Run, RunStore, atomic_write_json, read_json
from ftx.tokens import approximate
from ftx.types import Completion, GenerationParams, Problem, Splits, TrainStats

EXIT_OK = 0
EXIT_PARTIAL = 3  # some backends failed; the report covers the others


@dataclass
class Plan:
    """The resolved plugins of a run and their typed options."""

    backends: list[tuple[Backend, Any]]
    evaluators: list[Evaluator]
    reporters: list[Reporter]
    baseline: str | None


def make_plan(config: Config, registry: Registry | None = None) -> Plan:
    registry = registry or get_registry()
    registry.raise_errors()
    config.check_sections(registry)
    problems: list[str] = []
    backends, evaluators, reporters = [], [], []
    for name in config.run.backends:
        try:
            cls = registry.get("backend", name)
            backends.append(
                (cls(), config.options_for(name, cls.Options, model_option=cls.model_option))
            )
        except ConfigError as exc:
            problems.append(str(exc))
        except Exception as exc:  # a plugin's bug: named, with its reason, before anything runs
            problems.append(
                f"{_by(registry, 'backend', name)} could not be set up: {failure_reason(exc)}"
            )
    for name in config.run.evaluators:
        try:
            cls = registry.get("evaluator", name)
            evaluators.append(cls(config.options_for(name, cls.Options)))
        except ConfigError as exc:
            problems.append(str(exc))
        except Exception as exc:
            problems.append(
                f"{_by(registry, 'evaluator', name)} could not be set up: {failure_reason(exc)}"
            )
    for name in config.run.reporters:
        try:
            reporters.append(registry.get("reporter", name)())
        except ConfigError as exc:
            problems.append(str(exc))
        except Exception as exc:
            problems.append(
                f"{_by(registry, 'reporter', name)} could not be set up: {failure_reason(exc)}"
            )
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else "bad configuration:\n  " + "\n  ".join(problems)
        )
    baseline = config.run.baseline
    if baseline is not None and baseline not in config.run.backends:
        raise ConfigError(
            f"baseline '{baseline}' is not one of the run's backends ({', '.join(config.run.backends)})."
        )
    if baseline is None:
        baseline = next((b.name for b, _ in backends if b.is_baseline), None)
    return Plan(backends, evaluators, reporters, baseline)


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
        if dataset is None:
            continue
        if run_config.skip_invalid and dataset.examples:
            skipped = dataset.skip_invalid()
            if skipped and console is not None:
                console.print(f"[yellow]warning:[/] skipped {markup(skipped)}")
        dataset.raise_for_errors()
        if console is not None:
            for warning in dataset.warnings[:5]:
                console.print(f"[yellow]warning:[/] {markup(warning)}")
            if len(dataset.warnings) > 5:
                console.print(
                    f"[yellow]warning:[/] ... and {len(dataset.warnings) - 5} more (ftx data validate lists them)"
                )
    splits = datamod.split(
        train.examples,
        eval_size=run_config.eval_size,
        seed=run_config.seed,
        eval_examples=evalset.examples if evalset else None,
    )
    if splits.leaked and console is not None:
        console.print(
            f"[yellow]warning:[/] {len(splits.leaked)} eval example(s) have a prompt that is also in the training data "
            f"(e.g. {markup(splits.leaked[0])}); their scores overstate what the model learned."
        )
    return splits


def size_answers(plan: Plan, splits: Splits, run_config: RunConfig) -> dict[str, Any] | None:
    """Resolve ``max_new_tokens=auto`` from the eval references' lengths, counted with the
    tokenizer of the first backend that offers one (``token_counter``), else approximately.
    Returns what was chosen and why, for run.json; None when the value was given."""
    if run_config.max_new_tokens != "auto":
        return None
    count, counted_with = approximate, "approximate"
    for backend, options in plan.backends:
        if hasattr(backend, "token_counter"):
            try:
                count, counted_with = backend.token_counter(options), f"{backend.name}'s tokenizer"
                break
            except (
                Exception
            ):  # no tokenizer here (a missing model, no torch): its preflight says why
                continue
    lengths = [count(e.reference) for e in splits.eval]
    run_config.max_new_tokens = auto_max_new_tokens(lengths)
    return {
        "max_new_tokens": run_config.max_new_tokens,
        "from": "auto",
        "longest_reference_tokens": max(lengths, default=0),
        "counted_with": counted_with,
    }


def preflight(
    plan: Plan, splits: Splits, generation: GenerationParams | None = None
) -> list[Problem]:
    """Every backend's ``check``; those whose check takes ``generation`` (how long answers may
    be) get it."""
    problems: list[Problem] = []
    for backend, options in plan.backends:
        try:
            if (
                generation is not None
                and "generation" in inspect.signature(backend.check).parameters
            ):
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


class Runner:
    """Runs (or resumes) one run directory to the end."""

    def __init__(self, console: Any, err_console: Any):
        self.console = console  # stdout: the report
        self.err = err_console  # stderr: progress, warnings
        self.needs: set[str] = set()  # what the run's evaluators need beyond text (Evaluator.needs)
        self._hook_failures: dict[
            str, dict[str, Any]
        ] = {}  # plugin -> its entry in run.json's failures
        if not distributed.is_main():  # one process of a launcher speaks for all
            console.quiet = err_console.quiet = True

    # --- entry points ----------------------------------------------------------------------

    def start(self, config: Config, run_name: str | None = None) -> tuple[RunResult | None, int]:
        if not distributed.is_main():
            return self._follow(distributed.share(None), config.run.runs_dir)
        try:
            run, plan, splits = self._create(config, run_name)
        except BaseException:
            distributed.share(None)  # tell the other processes there is nothing to train
            raise
        distributed.share(run.id)
        return self._execute(run, config.run, plan, splits)

    def _create(self, config: Config, run_name: str | None) -> tuple[Run, Plan, Splits]:
        registry = get_registry()
        plan = make_plan(config, registry)
        splits = load_data(config.run, registry, self.err)
        sized = size_answers(plan, splits, config.run)
        if sized and sized["max_new_tokens"] > AUTO_NEW_TOKENS_FLOOR:
            self.err.print(
                f"max_new_tokens={sized['max_new_tokens']} (auto: the longest eval reference is "
                f"{sized['longest_reference_tokens']} tokens, by {markup(sized['counted_with'])})"
            )
        problems = preflight(plan, splits, config.run.generation)
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
        self._confirm_cost(plan, splits, config.run)

        meta = {
            "config": {"run": to_dict(config.run), "sections": config.sections},
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
            f"run [bold]{markup(run.id)}[/] in {markup(run.path)} · {len(splits.train)} train / {len(splits.eval)} eval examples"
        )
        return run, plan, splits

    def _confirm_cost(self, plan: Plan, splits: Splits, run_config: RunConfig) -> None:
        """Refuse to start above --max-cost unless --yes, or the user says yes at a terminal."""
        answers = len(splits.eval) * len(plan.backends)  # every backend's answers are scored
        estimates = [
            (b.name, lambda b=b, o=o: b.estimate_cost(splits, o)) for b, o in plan.backends
        ]
        estimates += [
            (e.name, lambda e=e: e.estimate_cost(splits, answers)) for e in plan.evaluators
        ]
        costs: dict[str, float | None] = {}
        for name, estimate in estimates:
            try:
                cost = estimate()
                if cost is not None and (
                    not isinstance(cost, (int, float)) or isinstance(cost, bool)
                ):
                    raise TypeError(f"it returned {cost!r}, not dollars")
            except (
                Exception
            ) as exc:  # an unknown cost is never waved through: --max-cost is a promise
                raise PreflightError(
                    f"preflight failed: {name}: its estimate_cost() failed: {failure_reason(exc)}. "
                    "Nothing was trained or paid for.",
                    [],
                ) from None
            costs[name] = cost
        total = sum(c for c in costs.values() if c)
        if run_config.max_cost is None or total <= run_config.max_cost or run_config.yes:
            return
        detail = ", ".join(f"{n} {money(c)}" for n, c in costs.items() if c)
        question = f"The estimated cost is {money(total)} ({detail}), above --max-cost {money(run_config.max_cost)}."
        if sys.stdin.isatty():
            import click

            if click.confirm(question + " Start anyway?", default=False, err=True):
                return
            raise PreflightError(
                "not started: the estimated cost was declined. Nothing was trained or paid for.", []
            )
        raise PreflightError(
            f"not started: {question} Nothing was trained or paid for.",
            [],
            hint="Pass --yes to accept it, or raise --max-cost.",
        )

    def resume(self, run: Run) -> tuple[RunResult | None, int]:
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
        if (len(splits.train), len(splits.eval)) != (saved.get("train"), saved.get("eval")):
            raise StoreError(
                f"run {run.id} stopped before its data was saved, and {config.run.data or 'the bundled data'} has changed "
                f"since ({len(splits.train)} train / {len(splits.eval)} eval examples now, "
                f"{saved.get('train')} / {saved.get('eval')} then).",
                hint="Start a new run with 'ftx run'.",
            )
        datamod.write_jsonl(folder / "train.jsonl", splits.train)
        datamod.write_jsonl(folder / "eval.jsonl", splits.eval)
        self.err.print(
            f"run {markup(run.id)} stopped before its data was saved: split {markup(config.run.data or 'the bundled data')} again "
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

    # --- the lifecycle ----------------------------------------------------------------------

    def _execute(
        self, run: Run, run_config: RunConfig, plan: Plan, splits: Splits
    ) -> tuple[RunResult, int]:
        from ftx.progress import RunProgress

        self.needs = {need for evaluator in plan.evaluators for need in evaluator.needs}
        run.meta["status"] = "running"
        run.meta[
            "failures"
        ] = []  # a resumed run evaluates and reports again; what fails then is listed
        self._hook_failures = {}
        run.save()
        self._event("run_started", run, None, {"backends": [b.name for b, _ in plan.backends]})
        progress = RunProgress(self.err)
        cancelled = threading.Event()
        with (
            progress,
            _graceful_interrupt(cancelled, self.err),
            ThreadPoolExecutor(max_workers=max(1, sum(b.remote for b, _ in plan.backends))) as pool,
        ):
            # Hosted jobs start first, each in a thread, and run while local backends train one
            # after another on this machine's accelerator.
            begun = {b.name: threading.Event() for b, _ in plan.backends if b.remote}
            remote = [
                pool.submit(
                    self._run_backend,
                    run,
                    run_config,
                    b,
                    o,
                    splits,
                    progress,
                    cancelled,
                    begun[b.name],
                )
                for b, o in plan.backends
                if b.remote
            ]
            for event in (
                begun.values()
            ):  # each hosted backend is under way before local training takes the CPU
                event.wait(timeout=10)
            try:
                for backend, options in plan.backends:
                    if not backend.remote:
                        self._run_backend(
                            run, run_config, backend, options, splits, progress, cancelled
                        )
                        if backend.distributed:
                            distributed.barrier()  # the other processes wait here while this one generates
                for future in remote:
                    future.result()
            except KeyboardInterrupt:
                cancelled.set()  # hosted backends stop polling at once and save their state
                for future in remote:
                    try:
                        future.result()
                    except KeyboardInterrupt:
                        pass
                run.meta["status"] = "interrupted"
                run.save()
                raise
        self._evaluate(run, plan, splits)
        self._set_final_status(run, plan)
        result = load_result(run)
        # File reporters first, so the terminal table can point at the files.
        for reporter in sorted(plan.reporters, key=lambda r: r.writes is None):
            try:
                reporter.report(result, run.path, self.console)
            except (Exception, SystemExit) as exc:  # a reporter never loses a finished run
                reason = failure_reason(exc)
                self._record_failure(run, "reporter", reporter.name, reason)
                self.err.print(
                    f"[yellow]warning:[/] reporter '{markup(reporter.name)}' failed: {markup(reason)} "
                    f"(write it again with: ftx report {markup(run.id)} --reporter {markup(reporter.name)})"
                )
        if run.meta["failures"]:
            self._set_final_status(run, plan)
        self._event(
            "run_finished", run, None, {"status": run.meta["status"], "run_dir": str(run.path)}
        )
        run.save()  # with what the observers of run_finished did wrong, if anything
        if run.meta["status"] == "done":
            return result, EXIT_OK
        return result, EXIT_PARTIAL if run.meta["status"] == "partial" else 1

    def _run_backend(
        self,
        run: Run,
        run_config: RunConfig,
        backend: Backend,
        options: Any,
        splits: Splits,
        progress: Any,
        cancelled: threading.Event | None = None,
        begun: threading.Event | None = None,
    ) -> None:
        begun = begun or threading.Event()
        state = run.backend_state(backend.name)
        if state.get("status") == "done":
            begun.set()
            return
        folder = run.backend_dir(backend.name)
        log_path = folder / "log.txt"

        def log(line: str) -> None:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%H:%M:%S')} {redact(line)}\n")

        def emit(kind: str, data: dict[str, Any]) -> None:
            self._event(kind, run, backend.name, data)

        persisted = state.setdefault("state", {})
        ctx = BackendContext(
            run.id,
            folder,
            persisted,
            run.save,
            log,
            emit,
            progress,
            seed=run_config.seed,
            cancelled=cancelled or threading.Event(),
        )
        model: TrainedModel | None = None
        try:
            if state.get("trained"):
                self._set_state(run, backend.name, "attaching")
                begun.set()
                model = backend.attach(persisted, options, ctx)
            else:
                self._set_state(run, backend.name, "training")
                begun.set()
                started = time.time()
                model = backend.train(splits, options, ctx)
                stats = model.stats if getattr(model, "stats", None) else TrainStats()
                if not stats.seconds:
                    stats.seconds = time.time() - started
                state["train"] = dataclasses.asdict(stats)
                state["trained"] = True
                run.save()
            self._predict(run, run_config, backend.name, model, splits, ctx.cancelled)
            self._set_state(run, backend.name, "done")
        except KeyboardInterrupt:
            self._set_state(run, backend.name, "interrupted")
            raise
        except StoreError:
            raise  # the run directory cannot be written (a full disk): stop the run, keep what is saved
        except (Exception, SystemExit) as exc:  # a plugin that calls sys.exit() fails only itself
            log(traceback.format_exc())
            state["error"] = failure_reason(exc)
            state["log"] = str(log_path)
            self._set_state(run, backend.name, "failed")
            self.err.print(
                f"[red]{markup(backend.name)} failed:[/] {markup(state['error'])} (log: {markup(log_path)})"
            )
        finally:
            begun.set()
            if model is not None:
                try:
                    model.close()
                except (
                    Exception,
                    SystemExit,
                ) as exc:  # its answers are saved; only the memory is not freed
                    log(f"close() failed: {failure_reason(exc)}")

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

        def on_answer(index: int, completion: Completion) -> None:
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
            self._event(
                "answer", run, name, {"id": example.id, "done": count, "total": len(splits.eval)}
            )
            if cancelled.is_set():
                raise KeyboardInterrupt  # Ctrl-C: this answer is kept, the rest wait for 'ftx resume'

        if todo:
            prompts = [e.prompt for e in todo]
            if "on_answer" in inspect.signature(model.generate).parameters:
                model.generate(prompts, run_config.generation, on_answer=on_answer)
            else:  # a plugin written before on_answer: its answers are kept when it returns
                for index, completion in enumerate(model.generate(prompts, run_config.generation)):
                    on_answer(index, completion)
        missing = [e.id for e in splits.eval if e.id not in done]
        if missing:
            raise FtxError(
                f"{name} returned no answer for {len(missing)} eval example(s), e.g. {missing[0]}."
            )
        if "reference_logprob" in self.needs and hasattr(model, "reference_logprobs"):
            unscored = [e for e in splits.eval if "reference_logprob" not in done[e.id]]
            for example, (logprob, tokens) in zip(
                unscored, model.reference_logprobs(unscored) if unscored else []
            ):
                done[example.id].update(reference_logprob=logprob, reference_tokens=tokens)
        run.write_predictions(name, [done[e.id] for e in splits.eval])

    def _evaluate(self, run: Run, plan: Plan, splits: Splits) -> None:
        references = [e.reference for e in splits.eval]
        prompts = [e.prompt[-1].content if e.prompt else "" for e in splits.eval]
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
            rows = run.read_predictions(backend.name)
            predictions = [r["prediction"] for r in rows]
            scored: dict[str, Any] = {
                "per_example": {},
                "corpus": {},
                "corpus_stats": {},
                "signatures": {},
            }
            # What scoring paid, added up over every evaluation of this run (a resumed run
            # scores again, and cached verdicts cost nothing the second time).
            costs = dict(before.get(backend.name, {}).get("cost_usd", {}))
            for evaluator in plan.evaluators:
                try:
                    if evaluator.needs:
                        scores = evaluator.score(predictions, references, prompts, rows=rows)
                    else:
                        scores = evaluator.score(predictions, references, prompts)
                    scores = _checked_scores(scores, len(predictions))
                except (Exception, SystemExit) as exc:
                    reason = failure_reason(exc)
                    self._record_failure(
                        run, "evaluator", evaluator.name, reason, backend=backend.name
                    )
                    self.err.print(
                        f"[yellow]warning:[/] evaluator '{markup(evaluator.name)}' failed on {markup(backend.name)}: "
                        f"{markup(reason)}"
                    )
                    paid = (
                        getattr(exc, "cost_usd", None) or None
                    )  # what it paid before failing still counts
                else:
                    scored["per_example"].update(scores.per_example)
                    scored["corpus"].update(scores.corpus)
                    scored["corpus_stats"].update(
                        scores.corpus_stats
                    )  # lets reports resample corpus metrics
                    scored["signatures"].update(scores.signatures)
                    paid = scores.cost_usd
                if paid is not None:
                    costs[evaluator.name] = round(costs.get(evaluator.name, 0.0) + paid, 6)
            if costs:
                scored["cost_usd"] = costs
            out["backends"][backend.name] = scored
            means = {m: sum(v) / len(v) for m, v in scored["per_example"].items() if v}
            self._event("eval_done", run, backend.name, {"mean": means, "corpus": scored["corpus"]})
        atomic_write_json(run.path / "scores.json", out)

    # --- helpers ---------------------------------------------------------------------------

    def _set_state(self, run: Run, backend: str, status: str) -> None:
        run.backend_state(backend)["status"] = status
        run.save()
        self._event("backend_state", run, backend, {"status": status})

    def _set_final_status(self, run: Run, plan: Plan) -> None:
        """done: every backend, evaluator and reporter did its part; failed: no backend did;
        partial: the rest (run.json says which failed and why). An observer of run events that
        fails is listed too, but does not make a run partial: the results are all there."""
        failed = [n for n, s in run.meta["backends"].items() if s.get("status") != "done"]
        parts = [f for f in run.meta.get("failures", []) if f["kind"] != "event hook"]
        if len(failed) == len(plan.backends):
            run.meta["status"] = "failed"
        else:
            run.meta["status"] = "partial" if failed or parts else "done"
        run.save()

    def _record_failure(self, run: Run, kind: str, name: str, reason: str, **where: str) -> None:
        """Note in run.json that an evaluator or reporter failed, with its plugin and why."""
        with run.lock:
            run.meta.setdefault("failures", []).append(
                {
                    "kind": kind,
                    "name": name,
                    "plugin": _plugin_of(kind, name),
                    **where,
                    "error": reason,
                }
            )
            run.save()

    def _event(self, kind: str, run: Run, backend: str | None, data: dict[str, Any]) -> None:
        for plugin, reason in call_run_event(RunEvent(kind, run.id, backend, data)):
            with run.lock:  # one warning per plugin and run; run.json counts the rest
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
                run.meta.setdefault("failures", []).append(seen)
            self.err.print(
                f"[yellow]warning:[/] plugin '{markup(plugin)}' failed in ftx_run_event ({kind}): {markup(seen['error'])}; "
                "the run goes on (later failures of it are counted in run.json)"
            )


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
                "\n[yellow]stopping (SIGTERM):[/] saving a checkpoint and what is done; a second signal stops at once"
            )
        else:
            err.print(
                "\n[yellow]stopping:[/] saving a checkpoint and what is done; press Ctrl-C again to stop at once"
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

    from ftx.types import Scores

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


def config_of(run: Run) -> Config:
    """The configuration a run was started with, from its run.json."""
    saved = run.meta["config"]
    return Config(run=build(RunConfig, saved["run"], "run"), sections=saved.get("sections", {}))


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
    for key, package in (
        ("ftx", DISTRIBUTION),
        *(
            (p, p)
            for p in ("torch", "transformers", "peft", "bitsandbytes", "openai", "google-genai")
        ),
    ):
        try:
            versions[key] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
