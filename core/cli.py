"""The ``ftx`` command line. Thin: it parses arguments, calls the library, and turns every
``FtxError`` into one line on stderr (with the traceback only under ``--debug``)."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

import click

from ftx import DISTRIBUTION
from ftx.errors import ConfigError, DataError, FtxError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _consoles() -> tuple[Any, Any]:
    from rich.console import Console

    # emoji=False: ":thumbs_up:" in a path or an answer is text, not a picture.
    # In a log (not a terminal) a warning stays one line however long: no wrapping at 80 columns.
    return Console(emoji=False, soft_wrap=not sys.stdout.isatty()), Console(
        stderr=True, emoji=False, soft_wrap=not sys.stderr.isatty()
    )


def _runner(out: Any, err: Any) -> Any:
    """The library's runner with the terminal's parts: live progress on stderr, and the cost
    question when someone is at the keyboard (without one, a run above --max-cost is refused
    with a hint)."""
    from ftx.progress import RunProgress
    from ftx.runner import Runner

    def confirm(question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    return Runner(
        out,
        err,
        progress=lambda: RunProgress(err),
        confirm=confirm if sys.stdin.isatty() else None,
    )


def _store(runs_dir: str | None) -> Any:
    """The runs folder: --runs-dir, else ``runs_dir`` from ftx.toml or FTX_RUN__RUNS_DIR, as
    ``ftx run`` uses it, so that every command finds the runs it made."""
    from ftx.store import RunStore

    if runs_dir is None:
        from ftx import config as configmod

        runs_dir = configmod.load(None).run.runs_dir
    return RunStore(runs_dir)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name=DISTRIBUTION, prog_name="ftx")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Fine-tune language models on several backends at once and compare them side by side.

    \b
    Quick start (offline, a few minutes on a laptop CPU):
      ftx run                      bundled data + model: local-base vs local-lora
      ftx run --data qa.jsonl --backend local-base --backend local-lora
      ftx data validate qa.jsonl   check a dataset before spending anything
      ftx runs                     list past runs; ftx show RUN prints one
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(os.environ.get("FTX_DEBUG"))


# --- run ----------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option(
    "--data",
    "-d",
    metavar="PATH",
    help="Training data: .jsonl .json .csv .parquet or a saved datasets dir. Default: bundled Q&A.",
)
@click.option(
    "--eval", "eval_data", metavar="PATH", help="Held-out evaluation data (wins over --eval-size)."
)
@click.option(
    "--eval-size",
    type=float,
    metavar="N",
    help="Held-out share: a fraction (0.15) or a count (40).",
)
@click.option(
    "--backend",
    "-b",
    "backends",
    multiple=True,
    metavar="NAME",
    help="Backend to train; repeat for several (ftx backends lists them). NAME=BACKEND adds a "
    "variant of BACKEND named NAME, set with --set NAME.OPTION=VALUE.",
)
@click.option(
    "--evaluator",
    "-e",
    "evaluators",
    multiple=True,
    metavar="NAME",
    help="Evaluator; repeat for several (ftx evaluators lists them).",
)
@click.option(
    "--model",
    "-m",
    metavar="PATH",
    help="Local model directory or .gguf file for the local backends.",
)
@click.option(
    "--format",
    "format_",
    metavar="NAME",
    help="Input schema (default: detected). ftx formatters lists them.",
)
@click.option("--seed", type=int, help="Seed for the split, training and sampling.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    default=None,
    help="Use the valid records and skip invalid ones (counted in a warning).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Set an option, e.g. --set local-lora.epochs=3. Repeatable.",
)
@click.option(
    "--sweep",
    "sweeps",
    multiple=True,
    metavar="BACKEND.KEY=V1,V2",
    help="Train a variant of BACKEND for each value (repeat for a grid), e.g. "
    "--sweep local-lora.lora_r=8,16,32.",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "local", "processes", "ray"]),
    help="Where local backends train: this process, worker processes (one per GPU), or Ray "
    "tasks (default: auto, processes with several GPUs).",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    metavar="N",
    help="Sample N variants of each backend with a [search.BACKEND] table in ftx.toml "
    "(Optuna; ranked and pruned by validation loss).",
)
@click.option(
    "--config", "config_file", metavar="FILE", help="Config file (default: ./ftx.toml if present)."
)
@click.option("--runs-dir", metavar="DIR", help="Where run directories go (default: runs).")
@click.option("--name", metavar="ID", help="Run id (default: a timestamp).")
@click.option(
    "--max-cost",
    type=float,
    metavar="DOLLARS",
    help="Refuse to start if hosted training is estimated to cost more.",
)
@click.option(
    "--yes",
    "-y",
    is_flag=True,
    default=None,
    help="Accept an estimated cost above --max-cost without asking.",
)
def run(
    data,
    eval_data,
    eval_size,
    backends,
    evaluators,
    model,
    format_,
    seed,
    skip_invalid,
    sets,
    sweeps,
    executor,
    trials,
    config_file,
    runs_dir,
    name,
    max_cost,
    yes,
) -> None:
    """Train every chosen backend on the same data and compare them on held-out examples.

    \b
    With no options: fine-tunes the bundled SmolLM2-135M-Instruct with LoRA on the bundled
    Pride and Prejudice Q&A, and compares it with the untuned model.

    \b
    Examples:
      ftx run
      ftx run --data qa.jsonl --eval-size 50 --backend local-base --backend local-lora
      ftx run --model ./my-model --set local-lora.epochs=2 --set local-lora.lora_r=8
      ftx run --backend r8=local-lora --backend r32=local-lora --set r8.lora_r=8 \
        --set r32.lora_r=32
      ftx run --sweep local-lora.lora_r=8,32 --sweep local-lora.learning_rate=1e-4,1e-3
      ftx run --trials 8     # with [search.local-lora] ranges in ftx.toml
    """
    from ftx import config as configmod
    from ftx.store import check_run_name

    if name is not None:
        check_run_name(name)  # before anything is read or trained
    cli_values = {
        "data": data,
        "eval_data": eval_data,
        "eval_size": eval_size,
        "model": model,
        "format": format_,
        "seed": seed,
        "skip_invalid": skip_invalid,
        "runs_dir": runs_dir,
        "max_cost": max_cost,
        "yes": yes,
        "trials": trials,
        "executor": executor,
        "backends": list(backends) or None,
        "evaluators": list(evaluators) or None,
    }
    config = configmod.load(config_file, cli=cli_values, sets=sets, sweeps=sweeps)
    out, err = _consoles()
    _, code = _runner(out, err).start(config, name)
    sys.exit(code)


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def resume(run_ref: str, runs_dir: str) -> None:
    """Continue an interrupted run: finished backends are kept, trained ones re-attached."""
    out, err = _consoles()
    run = _store(runs_dir).open(run_ref)
    _, code = _runner(out, err).resume(run)
    sys.exit(code)


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--backend",
    "-b",
    "backend_name",
    required=True,
    metavar="NAME",
    help="The backend whose model to export.",
)
@click.option(
    "--merge",
    "merge_out",
    metavar="DIR",
    help="Write a merged model (adapter folded into the base weights) here.",
)
@click.option(
    "--out",
    "plain_out",
    metavar="DIR",
    help="Write the artifact as it is (e.g. the LoRA adapter) here.",
)
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def export(
    run_ref: str, backend_name: str, merge_out: str | None, plain_out: str | None, runs_dir: str
) -> None:
    """Write a trained model where other tools can load it.

    \b
    Examples:
      ftx export latest --backend local-lora --merge ./merged    # plain transformers model
      ftx export latest --backend local-lora --out ./adapter     # the peft adapter
    """
    from pathlib import Path

    from ftx.runner import plan_of

    if bool(merge_out) == bool(plain_out):
        raise click.UsageError("give exactly one of --merge DIR or --out DIR.")
    run = _store(runs_dir).open(run_ref)
    state = run.meta["backends"].get(backend_name)
    if state is None:
        raise click.UsageError(
            f"run {run.id} has no backend '{backend_name}' (it has "
            f"{', '.join(run.meta['backends'])})."
        )
    if not state.get("trained"):
        raise click.UsageError(
            f"backend '{backend_name}' of run {run.id} has not finished training."
        )
    out = Path(merge_out or plain_out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "a file" if not out.is_dir() else "a folder that is not empty"
        raise ConfigError(
            f"{out} is {what}; ftx export writes a new folder and overwrites nothing.",
            hint="Choose another path.",
        )
    backend, options = next((b, o) for b, o in plan_of(run).backends if b.name == backend_name)
    backend.export(run.path / backend_name, options, out, merge=bool(merge_out))
    click.echo(f"wrote {out}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def cancel(run_ref: str, runs_dir: str) -> None:
    """Stop a run: its process on this machine (workers and Ray tasks with it, each saving a
    checkpoint), its hosted jobs, and any endpoint it created."""
    from ftx.runner import plan_of, stop_running

    store = _store(runs_dir)
    run = store.open(run_ref)
    stopped = stop_running(run)
    if stopped:
        click.echo(stopped)
        run = store.open(run_ref)  # as the stopped process left it
    for backend, options in plan_of(run).backends:
        record = run.backend_state(backend.name)
        state = dict(record.get("state", {}))
        try:
            outcome = backend.cancel(state, options)
        finally:
            if state != record.get("state", {}):  # what it deleted (an endpoint) is forgotten
                run.update_backend(backend.name, state=state)
        click.echo(f"{backend.name}: {outcome}")
    run.meta["status"] = "cancelled" if run.meta.get("status") != "done" else "done"
    run.save()


# --- runs ---------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def runs(runs_dir: str) -> None:
    """List runs, newest first."""
    import time

    from rich.table import Table

    from ftx.display import markup

    out, _ = _consoles()
    store = _store(runs_dir)
    found = store.list()
    if not found:
        out.print(f"No runs in {markup(store.root)}. Start one with: ftx run")
        return
    table = Table("run", "created", "status", "backends", "data")
    # Ids are what users type next: never cut them; the data path gives way instead.
    table.columns[0].no_wrap = True
    table.columns[0].min_width = max(len(r["id"]) for r in found)
    table.columns[4].overflow = "fold"
    for r in found:
        created = (
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r["created"] else ""
        )
        table.add_row(
            markup(r["id"], newlines=False),
            created,
            markup(r["status"] or ""),
            markup(r["backends"].replace(",", ", "), newlines=False),
            markup(r["data"] or "", newlines=False),
        )
    out.print(table)


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def show(run_ref: str, runs_dir: str) -> None:
    """Show a run's comparison table and status (RUN: id, id prefix, or 'latest')."""
    from ftx.display import markup
    from ftx.report.terminal import TerminalReporter
    from ftx.results import load_result

    out, _ = _consoles()
    run = _store(runs_dir).open(run_ref)
    result = load_result(run)
    out.print(
        f"run {markup(run.id)} · status: {markup(run.meta.get('status'))} · data: "
        f"{markup(result.data)}"
    )
    TerminalReporter().report(result, run.path, out)


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN", default="latest")
@click.option(
    "--examples",
    "-n",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also show the N examples the backends disagree on most, answers side by side.",
)
@click.option(
    "--reporter",
    "reporters",
    multiple=True,
    metavar="NAME",
    help="Reporters to run (default: the run's own).",
)
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def report(run_ref: str, examples: int, reporters: tuple[str, ...], runs_dir: str) -> None:
    """Write a run's reports again (report.json, .md, .html, plugins') and show its table,
    ranked: the best backend on the primary metric first.

    \b
    Examples:
      ftx report latest --examples 5
      ftx report 20261123-1012 --reporter html
    """
    from ftx.config import RunConfig
    from ftx.plugins import get_registry
    from ftx.report.terminal import print_examples
    from ftx.results import load_result, ranked
    from ftx.runner import config_of

    out, _ = _consoles()
    run = _store(runs_dir).open(run_ref)
    result = load_result(run)
    ranked(result)
    registry = get_registry()
    # The run's own reporters, and today's defaults (report.html for a run made before it existed).
    names = list(reporters) or list(
        dict.fromkeys([*config_of(run).run.reporters, *RunConfig().reporters])
    )
    chosen = [registry.get("reporter", name)() for name in names]
    if all(
        reporter.writes for reporter in chosen
    ):  # only file reporters named: the table still shows, and where they wrote
        from ftx.report.terminal import TerminalReporter

        chosen.append(TerminalReporter())
    for reporter in sorted(chosen, key=lambda r: r.writes is None):  # files first, as in a run
        reporter.report(result, run.path, out)
    if examples:
        print_examples(result, examples, out)


@cli.command(context_settings=CONTEXT)
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def compare(run_a: str, run_b: str, runs_dir: str) -> None:
    """Compare two runs: each backend's metrics in both, the change, and whether it is
    significant (paired over the same eval examples)."""
    from ftx.report.compare import changes_table
    from ftx.results import load_result

    out, _ = _consoles()
    store = _store(runs_dir)
    out.print(changes_table(load_result(store.open(run_a)), load_result(store.open(run_b))))


# --- plugins ------------------------------------------------------------------------------


@cli.command(context_settings=CONTEXT)
def plugins() -> None:
    """List installed plugins: where each comes from, its version, and what it registers."""
    from ftx.plugins import get_registry

    registry = get_registry()
    for info in sorted(registry.plugins.values(), key=lambda i: (i.source != "built-in", i.name)):
        click.echo(f"{info.name}  [{info.source}{' ' + info.version if info.version else ''}]")
        for item in info.registers:
            click.echo(f"    {item}")
        if info.error:
            click.echo(f"    ERROR: {info.error}")
    for error in registry.errors:
        click.echo(f"error: {error}", err=True)
    if registry.errors:
        sys.exit(1)


def _list_kind(kind: str) -> None:
    from ftx.options import describe
    from ftx.plugins import get_registry

    registry = get_registry()
    registry.raise_errors()
    for name in registry.names(kind):
        item = registry.items[kind][name]
        cls = item.cls
        click.echo(f"{name}  ({item.plugin})")
        if getattr(cls, "description", ""):
            click.echo(f"    {cls.description}")
        if kind == "evaluator":
            click.echo(f"    metrics: {', '.join(cls.metrics)}")
        options = getattr(cls, "Options", None)
        if options is not None:
            for f in describe(options):
                click.echo(f"    --set {name}.{f.name}={f.default!r}  ({f.type}) {f.help}")


@cli.command(context_settings=CONTEXT)
def backends() -> None:
    """List training backends and their options (set with --set NAME.OPTION=VALUE)."""
    _list_kind("backend")


@cli.command(context_settings=CONTEXT)
def evaluators() -> None:
    """List evaluators, the metrics they produce, and their options."""
    _list_kind("evaluator")


@cli.command(context_settings=CONTEXT)
def formatters() -> None:
    """List input formatters (data schemas) and prompt templates."""
    _list_kind("formatter")
    click.echo("\ntemplates (--set <local backend>.template=NAME):")
    _list_kind("template")


# --- data ---------------------------------------------------------------------------------


@cli.group(context_settings=CONTEXT)
def data() -> None:
    """Check and describe datasets before training on them."""


def _load_dataset(path: str, format_: str, tokenizer: str | None, max_tokens: int | None):
    from ftx import data as datamod
    from ftx import tokens
    from ftx.plugins import get_registry

    registry = get_registry()
    registry.raise_errors()
    count, how = tokens.counter(tokenizer)
    formatters = {n: r.cls for n, r in registry.items["formatter"].items()}
    dataset = datamod.load(
        path, formatters=formatters, format=format_, count_tokens=count, max_tokens=max_tokens
    )
    return dataset, count, how


@data.command(context_settings=CONTEXT)
@click.argument("path", metavar="FILE")
@click.option(
    "--format", "format_", default="auto", show_default=True, metavar="NAME", help="Input schema."
)
@click.option("--max-tokens", type=int, metavar="N", help="Flag examples longer than N tokens.")
@click.option(
    "--tokenizer",
    metavar="DIR",
    help="Model directory whose tokenizer counts tokens (default: an approximation).",
)
def validate(path: str, format_: str, max_tokens: int | None, tokenizer: str | None) -> None:
    """Check FILE and list every problem with file:line and field. Exit 0 if usable, 1 if not."""
    from ftx.data import grouped
    from ftx.display import plain

    dataset, _, _ = _load_dataset(path, format_, tokenizer, max_tokens)
    for problem in grouped(dataset.problems):
        color = "red" if problem.severity == "error" else "yellow"
        click.echo(click.style(f"{problem.severity}: ", fg=color) + plain(problem))
    n_err, n_warn = len(dataset.errors), len(dataset.warnings)
    summary = (
        f"{plain(dataset.path)}: {len(dataset.examples)} valid examples "
        f"(schema: {dataset.schema}), {n_err} error(s), {n_warn} warning(s)"
    )
    click.echo(summary, err=bool(n_err))
    sys.exit(1 if n_err else 0)


@data.command(context_settings=CONTEXT)
@click.argument("path", metavar="FILE")
@click.option("--format", "format_", default="auto", show_default=True, metavar="NAME")
@click.option(
    "--tokenizer",
    metavar="DIR",
    help="Model directory whose tokenizer counts tokens (default: an approximation).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
def stats(path: str, format_: str, tokenizer: str | None, as_json: bool) -> None:
    """Counts, token length percentiles, duplicates and the detected schema of FILE."""
    import json

    from ftx import data as datamod

    dataset, count, how = _load_dataset(path, format_, tokenizer, None)
    result = datamod.stats(dataset, count)
    result["token_counts"] = how
    if not dataset.examples:  # nothing usable: say so, and fail, whatever the output format
        if as_json:
            click.echo(json.dumps(result, indent=2))
        raise DataError(
            f"{path}: no valid examples ({len(dataset.errors)} error(s)).",
            hint="Run 'ftx data validate' to list them.",
        )
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    from rich.table import Table

    out, _ = _consoles()
    from ftx.display import markup

    table = Table(
        title=f"{markup(path)} · schema: {markup(result['schema'])}",
        show_header=False,
        title_justify="left",
    )
    for key in (
        "records",
        "examples",
        "errors",
        "duplicates",
        "with_system_prompt",
        "multi_turn",
        "total_tokens",
    ):
        table.add_row(key.replace("_", " "), str(result[key]))
    for key in ("prompt_tokens", "answer_tokens"):
        p = result[key]
        table.add_row(
            key.replace("_", " "),
            f"p50 {p['p50']} · p90 {p['p90']} · p99 {p['p99']} · max {p['max']}",
        )
    table.add_row("token counts", how)
    out.print(table)


# --- the models of runs: list, tag, chat, serve -------------------------------------------


@cli.group(context_settings=CONTEXT, invoke_without_command=True)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Only models with this tag (repeat: with every one of them).",
)
@click.option("--base", metavar="TEXT", help="Only models whose base model's name contains TEXT.")
@click.option(
    "--best",
    metavar="METRIC",
    help="Only each run's best model on METRIC (e.g. rougeL); runs are never ranked together, "
    "as each scored its own held-out examples.",
)
@click.option("--baselines", is_flag=True, help="List the untuned baselines too.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
@click.pass_context
def models(
    ctx: click.Context,
    tags: tuple[str, ...],
    base: str | None,
    best: str | None,
    baselines: bool,
    as_json: bool,
    runs_dir: str | None,
) -> None:
    """List the tuned models of every run: method, base model, where it lives, its score on the
    run's primary metric, tags and description. Newest run first.

    \b
    Examples:
      ftx models
      ftx models --tag prod
      ftx models --base SmolLM2 --best rougeL
      ftx models tag latest local-lora --tag prod --description "the one we ship"
    """
    if ctx.invoked_subcommand is not None:
        return
    import json

    from ftx.models import list_models

    store = _store(runs_dir)
    found = list_models(store, tags=tags, base=base, best=best, baselines=baselines)
    if as_json:
        click.echo(json.dumps([m.as_dict() for m in found], indent=2, ensure_ascii=False))
        return
    out, _ = _consoles()
    if not found:
        filtered = " matching the filters" if tags or base or best else ""
        out.print(f"No trained models{filtered} in {_text(store.root)}.")
        return
    _models_table(found, best, out)


def _text(text: object) -> str:
    from ftx.display import markup

    return markup(text, newlines=False)


def _models_table(found: list[Any], metric: str | None, out: Any) -> None:
    import time

    from rich.table import Table

    table = Table("run", "model", "method", "base", "score", "tags", "created", "where")
    # Run ids and model names are what users type next: never cut them; the rest gives way.
    for column, longest in (
        (0, max(len(m.run) for m in found)),
        (1, max(len(m.name) for m in found)),
    ):
        table.columns[column].no_wrap = True
        table.columns[column].min_width = longest
    for column in (3, 5, 7):
        table.columns[column].overflow = "fold"
    table.columns[6].no_wrap, table.columns[6].min_width = True, 10
    for m in found:
        shown = metric or m.primary
        value = m.score(shown) if shown else None
        description = f"\n[dim]{_text(m.description)}[/]" if m.description else ""
        table.add_row(
            _text(m.run),
            _text(m.name) + description,
            m.method,
            _text(m.base),
            f"{shown} {value:.3f}" if value is not None else "–",
            _text(", ".join(m.tags)),
            time.strftime("%Y-%m-%d", time.localtime(m.created)) if m.created else "",
            _text(m.location),
        )
    out.print(table)


@models.command("tag", context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.argument("model", metavar="MODEL")
@click.option("--tag", "add", multiple=True, metavar="TAG", help="Add a tag (repeat for several).")
@click.option("--untag", "remove", multiple=True, metavar="TAG", help="Remove a tag.")
@click.option("--description", metavar="TEXT", help="Describe the model ('' clears it).")
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
@click.pass_context
def tag_model(
    ctx: click.Context,
    run_ref: str,
    model: str,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    description: str | None,
    runs_dir: str | None,
) -> None:
    """Tag and describe MODEL of RUN (a backend or variant: ftx models lists them). Tags are
    kept in the run folder and the runs index; filter on them with ftx models --tag.

    \b
    Examples:
      ftx models tag latest local-lora --tag prod --description "ships on Monday"
      ftx models tag 20261123-1012 local-lora --untag prod
    """
    if not add and not remove and description is None:
        raise click.UsageError("give --tag, --untag or --description.")
    store = _store(runs_dir or ctx.parent.params.get("runs_dir"))
    run = store.open(run_ref)
    entry = store.set_tags(run, model, add=add, remove=remove, description=description)
    tags = ", ".join(entry["tags"]) or "no tags"
    click.echo(
        f"{run.id} {model}: {tags}" + (f" · {entry['description']}" if entry["description"] else "")
    )


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.argument("model", metavar="[MODEL]", required=False)
@click.option(
    "--compare", is_flag=True, help="Send each message to every model of the run, side by side."
)
@click.option("--system", metavar="TEXT", help="The system prompt of the conversation.")
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Most tokens an answer may have.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0, 2),
    help="Sampling temperature (default: the run's, 0 = greedy).",
)
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def chat(
    run_ref: str,
    model: str | None,
    compare: bool,
    system: str | None,
    max_tokens: int,
    temperature: float | None,
    runs_dir: str | None,
) -> None:
    """Chat with a model of RUN in the terminal (MODEL: a backend or variant; default: the
    run's best tuned model). Local models stream their answers; /reset starts a new
    conversation, /exit leaves. From a pipe, each line is a question and gets one line of answer.

    \b
    Examples:
      ftx chat latest
      ftx chat latest local-lora --system "Answer in one sentence."
      ftx chat latest --compare
      ftx chat latest local-lora < questions.txt > answers.txt
    """
    from ftx import chat as chatting
    from ftx.answering import open_models
    from ftx.display import markup, plain

    if compare and model:
        raise click.UsageError("--compare talks to every model of the run: leave MODEL out.")
    run = _store(runs_dir).open(run_ref)
    out, err = _consoles()
    if compare or model:
        names = None if compare else [model]
    else:
        from ftx.models import best_model

        chosen = best_model(run)
        if chosen is None:
            raise FtxError(
                f"run {run.id} has no trained model.", hint="'ftx show' says how its backends did."
            )
        names = [chosen.name]
        err.print(
            f"{markup(chosen.name)}: the run's best model"
            + (f" on {markup(chosen.primary)}" if chosen.primary else "")
            + " (name another: ftx chat RUN MODEL)"
        )
    loaded = open_models(run, names, warn=lambda line: err.print(f"warning: {plain(line)}"))
    try:
        params = loaded.params(max_tokens, temperature)
        if sys.stdin.isatty():
            chatting.at_terminal(loaded, loaded.names, params, system=system, read=input, out=out)
            return
        failed = chatting.from_pipe(
            loaded,
            loaded.names,
            params,
            system=system,
            lines=sys.stdin,
            write=click.echo,
            warn=lambda line: click.echo(f"error: {plain(line)}", err=True),
        )
    finally:
        loaded.close()
    sys.exit(1 if failed else 0)


@cli.command(context_settings=CONTEXT)
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--model",
    "names",
    multiple=True,
    metavar="NAME",
    help="Serve this model of the run (repeat for several; default: every trained one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; any but this machine's needs an API key.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--api-key",
    metavar="KEY",
    help="Key every request must send (Authorization: Bearer KEY). Better: set "
    "FTX_SERVE_API_KEY, which other users cannot read in the process list.",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Requests answered at once; more get 429.",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1024),
    default=1_000_000,
    show_default=True,
    help="Largest request body; larger get 413.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Answer length when a request gives none, and the most one may ask.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Most requests a local model answers in one batch (default: the backend's "
    "eval_batch_size).",
)
@click.option(
    "--engine",
    type=click.Choice(["ftx", "vllm"]),
    default="ftx",
    show_default=True,
    help="vllm: vLLM's own OpenAI server with the run's LoRA adapters (needs vLLM and a GPU).",
)
@click.option(
    "--runs-dir",
    metavar="DIR",
    help="Where the runs are (default: runs_dir from ftx.toml, else runs).",
)
def serve(
    run_ref: str,
    names: tuple[str, ...],
    host: str,
    port: int,
    api_key: str | None,
    max_concurrency: int,
    max_request_bytes: int,
    max_tokens: int,
    batch_size: int | None,
    engine: str,
    runs_dir: str | None,
) -> None:
    """Serve the models of RUN over an OpenAI-compatible API (GET /v1/models,
    POST /v1/chat/completions, streaming too): point the openai SDK's base_url at it.

    \b
    Listens on 127.0.0.1 (this machine only) unless --host says otherwise; then an API key is
    required. Local adapters share one base model in memory; hosted models are asked through
    their provider with your own credentials.

    \b
    Examples:
      ftx serve latest
      ftx serve latest --model local-lora --port 8001
      FTX_SERVE_API_KEY=... ftx serve latest --host 0.0.0.0
      ftx serve latest --engine vllm
    """
    from ftx import secrets
    from ftx import serve as serving
    from ftx.display import plain

    run = _store(runs_dir).open(run_ref)
    key = api_key or secrets.get(serving.API_KEY_ENV)
    serving.check_exposure(host, key)
    chosen = list(names) or None
    _, err = _consoles()
    if engine == "vllm":
        executable = serving.vllm_ready()
        plan = serving.vllm_plan(run, chosen)
        for name, why in plan.left_out.items():
            err.print(f"warning: {plain(name)} is left out: {plain(why)}")
        command = serving.vllm_command(plan, host=host, port=port, executable=executable)
        click.echo(" ".join(command), err=True)
        import subprocess

        env = {**os.environ, **({"VLLM_API_KEY": key} if key else {})}
        sys.exit(subprocess.call(command, env=env))
    from ftx.answering import open_models
    from ftx.errors import require

    for module in ("fastapi", "uvicorn"):
        require(module, extra="serve", purpose="ftx serve")
    sock = serving.listen(host, port)  # at once: a port in use is said before models load
    loaded = open_models(
        run, chosen, batch_size=batch_size, warn=lambda line: err.print(f"warning: {plain(line)}")
    )
    try:
        limits = serving.Limits(
            max_request_bytes=max_request_bytes,
            max_tokens=max_tokens,
            max_concurrency=max_concurrency,
        )
        app = serving.make_app(loaded, api_key=key, limits=limits)
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(
            f"ftx serve: run {run.id} · {', '.join(loaded.names)} · "
            f"http://{shown}:{bound}/v1 · "
            + ("API key required" if key else "no API key: this machine only")
        )
        serving.run_server(app, sock)
    finally:
        loaded.close()


# --- entry point --------------------------------------------------------------------------


def _add_plugin_commands() -> None:
    from ftx.plugins import get_plugin_manager

    try:
        get_plugin_manager().hook.ftx_register_commands(cli=cli)
    except Exception as exc:  # a broken plugin must not take the CLI down
        click.echo(
            f"warning: a plugin failed to add commands: {type(exc).__name__}: {exc}", err=True
        )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the CLI and renders errors as one line."""
    args = argv if argv is not None else sys.argv[1:]
    debug = "--debug" in args or bool(os.environ.get("FTX_DEBUG"))
    resumable = bool({"run", "resume"} & set(args))
    from ftx.backend import Cancelled

    _terminate_like_ctrl_c()
    try:
        _add_plugin_commands()
        cli.main(args=argv, prog_name="ftx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
            _interrupted(resumable)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except FtxError as exc:
        if debug:
            raise
        from ftx.display import plain

        click.echo(click.style("error: ", fg="red", bold=True) + plain(exc), err=True)
        for problem in getattr(exc, "problems", [])[1:20]:
            click.echo(f"  {plain(problem)}", err=True)
        extra = len(getattr(exc, "problems", [])) - 20
        if extra > 0:
            click.echo(f"  ... and {extra} more", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, Cancelled):  # Ctrl-C, or a backend's thread saw it first
        _interrupted(resumable)
    except Exception as exc:
        if debug:
            raise
        from ftx.display import plain

        click.echo(
            click.style("error: ", fg="red", bold=True)
            + f"unexpected {type(exc).__name__}: {plain(exc)}. Run again with --debug for the "
            f"traceback, and please report it.",
            err=True,
        )
        sys.exit(1)


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (what Slurm, Kubernetes and systemd send before SIGKILL) does what Ctrl-C does:
    a run saves what it has and says how to resume, instead of dying with no word."""
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _interrupted(resumable: bool) -> None:
    hint = " Continue with: ftx resume latest" if resumable else ""
    click.echo(f"\ninterrupted.{hint}", err=True)
    sys.exit(130)


if __name__ == "__main__":
    main()
