"""The plugin contract of ftx. Read this file first.

Every built-in backend, evaluator, formatter, template and reporter is registered through these
hooks, exactly as a third-party plugin would register its own. The hook reference in
docs/hooks.md is generated from these docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("ftx")
hookimpl = pluggy.HookimplMarker("ftx")


# --- Registration: called once, when plugins are loaded ------------------------------------


@hookspec
def ftx_register_formatters(register: Callable[[type], None]) -> None:
    """Register data formatters: classes that recognise one input schema and parse its
    records into :class:`ftx.types.Example`.

    Called once when plugins load. Call ``register(FormatterClass)`` for each formatter; the
    class must subclass :class:`ftx.formatters.Formatter` and have a unique ``name``.
    All implementations are called; the return value is ignored.

    Example::

        @hookimpl
        def ftx_register_formatters(register):
            register(QuestionAnswerFormatter)
    """


@hookspec
def ftx_register_templates(register: Callable[[type], None]) -> None:
    """Register prompt templates: classes that render an Example's messages into the text a
    causal language model is trained on (``prompt`` and ``completion``).

    Called once when plugins load. Call ``register(TemplateClass)`` for each; the class must
    subclass :class:`ftx.templates.Template` and have a unique ``name``.
    All implementations are called; the return value is ignored.

    Example::

        @hookimpl
        def ftx_register_templates(register):
            register(ChatMLTemplate)
    """


@hookspec
def ftx_register_backends(register: Callable[[type], None]) -> None:
    """Register training backends (``local-lora``, ``openai``, ...).

    Called once when plugins load. Call ``register(BackendClass)`` for each backend; the class
    must subclass :class:`ftx.backend.Backend`, set a unique ``name`` and an ``Options``
    dataclass. All implementations are called; the return value is ignored.

    Example::

        @hookimpl
        def ftx_register_backends(register):
            register(EchoBackend)
    """


@hookspec
def ftx_register_evaluators(register: Callable[[type], None]) -> None:
    """Register evaluators (``rouge``, ``bleu``, ...).

    Called once when plugins load. Call ``register(EvaluatorClass)`` for each; the class must
    subclass :class:`ftx.evaluator.Evaluator`, set a unique ``name`` and list its ``metrics``.
    All implementations are called; the return value is ignored.

    Example::

        @hookimpl
        def ftx_register_evaluators(register):
            register(LengthEvaluator)
    """


@hookspec
def ftx_register_reporters(register: Callable[[type], None]) -> None:
    """Register reporters: classes that present a finished run (terminal table, JSON,
    Markdown, ...).

    Called once when plugins load. Call ``register(ReporterClass)`` for each; the class must
    subclass :class:`ftx.reporter.Reporter` and have a unique ``name``.
    All implementations are called; the return value is ignored.

    Example::

        @hookimpl
        def ftx_register_reporters(register):
            register(CsvReporter)
    """


# --- Commands ------------------------------------------------------------------------------


@hookspec
def ftx_register_commands(cli: Any) -> None:
    """Add commands to the ``ftx`` command line.

    Called once when the CLI starts. ``cli`` is the top-level :class:`click.Group`; add
    commands with ``@cli.command()``. All implementations are called; the return value is
    ignored.

    Example::

        @hookimpl
        def ftx_register_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello")
    """


# --- Run events ----------------------------------------------------------------------------


@hookspec
def ftx_run_event(event: Any) -> None:
    """Observe a run as it happens: for loggers (W&B, MLflow), notifications, dashboards.

    Called for every :class:`ftx.events.RunEvent`: ``run_started``, ``backend_state``
    (a backend moved to preflight/training/generating/done/failed), ``train_log`` (a training
    step's ``step``, ``loss``, ``learning_rate``), ``answer`` (an eval answer was saved: ``id``,
    ``done`` and ``total``), ``eval_done`` (``mean`` and ``corpus``: metric
    name to value) and ``run_finished`` (``status``).
    ``event.kind`` says which, ``event.run_id`` names the run, ``event.backend`` the backend
    (or ``None``) and ``event.data`` holds the details. All implementations are called; the
    return value is ignored. An exception raised here (or ``sys.exit``) never breaks the run,
    and the other observers still get the event: the first one of each plugin is printed as a
    warning, and run.json lists it under ``failures`` with a count of the others. The run's
    status does not change: its results are all there.

    Example::

        @hookimpl
        def ftx_run_event(event):
            if event.kind == "train_log":
                print(event.backend, event.data["step"], event.data["loss"])
    """
