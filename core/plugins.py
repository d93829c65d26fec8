"""Loading plugins and collecting what they register.

Built-ins are ordinary plugin modules listed in DEFAULT_PLUGINS and use only the public
``ftx.hookimpl``. Third-party plugins are found through the ``ftx`` entry-point group;
``FTX_LOAD_PLUGINS`` restricts which of those load (``''`` loads none). Loading is lazy and
happens once per process.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from ftx import hookspecs
from ftx.errors import FtxError, PluginError

DEFAULT_PLUGINS: tuple[str, ...] = (
    "ftx.formatters",
    "ftx.templates",
    "ftx.backends.local",
    "ftx.backends.openai",
    "ftx.backends.gemini",
    "ftx.backends.together",
    "ftx.backends.fireworks",
    "ftx.evaluators.rouge",
    "ftx.evaluators.bleu",
    "ftx.evaluators.jaccard",
    "ftx.evaluators.exact_match",
    "ftx.evaluators.chrf",
    "ftx.evaluators.length_ratio",
    "ftx.evaluators.semantic",
    "ftx.evaluators.perplexity",
    "ftx.evaluators.reward",
    "ftx.evaluators.llm_judge",
    "ftx.report.terminal",
    "ftx.report.json_report",
    "ftx.report.markdown",
    "ftx.report.html",
)

ENTRY_POINT_GROUP = "ftx"

# kind -> (hook name, dotted path of the base class every registration must subclass)
KINDS: dict[str, tuple[str, str]] = {
    "formatter": ("ftx_register_formatters", "ftx.formatters:Formatter"),
    "template": ("ftx_register_templates", "ftx.templates:Template"),
    "backend": ("ftx_register_backends", "ftx.backend:Backend"),
    "evaluator": ("ftx_register_evaluators", "ftx.evaluator:Evaluator"),
    "reporter": ("ftx_register_reporters", "ftx.reporter:Reporter"),
}


@dataclass
class PluginInfo:
    name: str
    source: str  # "built-in" or "entry point (dist-name)"
    version: str
    registers: list[str] = field(default_factory=list)  # "backend local-lora", ...
    error: str = ""


@dataclass
class Registered:
    cls: type
    plugin: str


@dataclass
class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    items: dict[str, dict[str, Registered]]
    plugins: dict[str, PluginInfo]
    errors: list[str]  # bad or clashing registrations: fatal for a run
    warnings: list[str]  # plugins that failed to import: reported, not fatal

    def names(self, kind: str) -> list[str]:
        return sorted(self.items[kind])

    def get(self, kind: str, name: str) -> type:
        """The class registered as ``name``, or a ConfigError listing the valid names."""
        from ftx.errors import ConfigError

        self.raise_errors()
        try:
            return self.items[kind][name].cls
        except KeyError:
            raise ConfigError(
                f"unknown {kind} '{name}'.", hint=suggest(name, self.names(kind))
            ) from None

    def raise_errors(self) -> None:
        if self.errors:
            raise PluginError(
                self.errors[0],
                hint="Uninstall one of the plugins, or set FTX_LOAD_PLUGINS to load only the ones "
                "you need.",
            )


def suggest(name: str, valid: list[str]) -> str:
    """'Did you mean ...?' plus the full list of valid names."""
    close = difflib.get_close_matches(name, valid, n=1)
    mean = f"Did you mean '{close[0]}'? " if close else ""
    return f"{mean}Valid names: {', '.join(valid) or '(none)'}."


_pm: pluggy.PluginManager | None = None
_registry: Registry | None = None


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, with built-ins and allowed entry points loaded."""
    global _pm
    if _pm is None:
        _pm = _load()
    return _pm


def get_registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = _collect(get_plugin_manager())
    return _registry


def reset() -> None:
    """Forget loaded plugins (tests use this after registering or unregistering one)."""
    global _pm, _registry
    _pm = None
    _registry = None


def invalidate_registry() -> None:
    global _registry
    _registry = None


_load_failures: dict[str, str] = {}  # entry-point name -> why it failed to load
_hooktrace: Any = None  # pluggy's hook tracer while FTX_TRACE_HOOKS is set
_sources: dict[str, tuple[str, str]] = {}


def _load() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("ftx")
    pm.add_hookspecs(hookspecs)
    _load_failures.clear()
    _sources.clear()
    version = _ftx_version()
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        _sources[module_name] = ("built-in", version)
    _load_entry_points(pm)
    global _hooktrace
    _hooktrace = None
    if os.environ.get("FTX_TRACE_HOOKS"):
        pm.trace.root.setwriter(
            lambda text: sys.stderr.write(text)
        )  # the stderr of the moment (tests swap it)
        pm.enable_tracing()  # hooks called through pm.hook (ftx_register_commands)
        _hooktrace = pm.trace.root.get("hook")  # the ones ftx calls impl by impl (_call_impl)
    pm.check_pending()
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed_env = os.environ.get("FTX_LOAD_PLUGINS")
    allowed = (
        None if allowed_env is None else {n.strip() for n in allowed_env.split(",") if n.strip()}
    )
    found = metadata.entry_points(group=ENTRY_POINT_GROUP)
    if allowed is not None:
        for missing in sorted(allowed - {ep.name for ep in found}):
            print(
                f"warning: FTX_LOAD_PLUGINS names '{missing}', but no installed plugin has that "
                f"name.",
                file=sys.stderr,
            )
    for ep in found:
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.has_plugin(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        source = f"entry point ({dist.name})" if dist else "entry point"
        version = dist.version if dist else ""
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not take ftx down
            message = f"plugin '{ep.name}' failed to load: {type(exc).__name__}: {exc}"
            _load_failures[ep.name] = message
            _sources[ep.name] = (source, version)
            print(
                f"warning: {message} (it is skipped; FTX_LOAD_PLUGINS='' disables all plugins)",
                file=sys.stderr,
            )
            continue
        _sources[ep.name] = (source, version)


def register_plugin(plugin: Any, name: str | None = None, *, source: str = "test") -> str:
    """Register a plugin object (a module or class instance) at run time, e.g. in tests."""
    pm = get_plugin_manager()
    plugin_name = pm.register(plugin, name=name)
    _sources[plugin_name] = (source, "")
    invalidate_registry()
    return plugin_name


def unregister_plugin(name: str) -> None:
    pm = get_plugin_manager()
    pm.unregister(name=name)
    _sources.pop(name, None)
    invalidate_registry()


def _collect(pm: pluggy.PluginManager) -> Registry:
    items: dict[str, dict[str, Registered]] = {kind: {} for kind in KINDS}
    infos: dict[str, PluginInfo] = {}
    errors: list[str] = []
    for plugin_name, (source, version) in _sources.items():
        infos[plugin_name] = PluginInfo(plugin_name, source, version)
    for name, message in _load_failures.items():
        infos[name].error = message

    for kind, (hook_name, base_path) in KINDS.items():
        base = _resolve(base_path)
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order (pluggy calls them in reverse)
            plugin_name = impl.plugin_name

            def register(
                cls: Any, _plugin: str = plugin_name, _kind: str = kind, _base: type = base
            ) -> None:
                problem = _check_registration(_kind, cls, _base)
                if problem:
                    errors.append(f"plugin '{_plugin}' registered an invalid {_kind}: {problem}.")
                    return
                existing = items[_kind].get(cls.name)
                if existing is not None:
                    errors.append(
                        f"{_kind} '{cls.name}' is registered by both plugin '{existing.plugin}' "
                        f"and plugin '{_plugin}'."
                    )
                    return
                items[_kind][cls.name] = Registered(cls, _plugin)
                infos.setdefault(_plugin, PluginInfo(_plugin, "", "")).registers.append(
                    f"{_kind} {cls.name}"
                )

            try:
                _call_impl(impl, register=register)
            except FtxError:
                raise
            except Exception as exc:
                errors.append(
                    f"plugin '{plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}."
                )
    return Registry(items, infos, errors, list(_load_failures.values()))


def _call_impl(impl: Any, **kwargs: Any) -> Any:
    """Call one hook implementation with the subset of arguments it accepts (as pluggy does).

    ftx calls registration and run-event hooks one implementation at a time (to tell which
    plugin registered what, and to survive one that raises), past pluggy's hook-call monitoring;
    under FTX_TRACE_HOOKS each call is traced here, as pluggy traces a hook call."""
    args = {name: kwargs[name] for name in impl.argnames}
    if _hooktrace is None:
        return impl.function(*args.values())
    name = impl.function.__name__
    _hooktrace.root.indent += 1
    try:
        _hooktrace(name, f"({impl.plugin_name})", args)
        try:
            result = impl.function(*args.values())
        except BaseException as exc:
            _hooktrace("raised", name, "-->", f"{type(exc).__name__}: {exc}")
            raise
        _hooktrace("finish", name, "-->", result)
        return result
    finally:
        _hooktrace.root.indent -= 1


def _check_registration(kind: str, cls: Any, base: type) -> str:
    if not isinstance(cls, type):
        return f"expected a class, got {type(cls).__name__} {cls!r}"
    if not issubclass(cls, base):
        return f"{cls.__qualname__} must subclass {base.__module__}.{base.__qualname__}"
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        return f"{cls.__qualname__} has no 'name' (set a class attribute name = \"...\")"
    return ""


def _resolve(path: str) -> type:
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def _ftx_version() -> str:
    try:
        from ftx import DISTRIBUTION

        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def call_run_event(event: Any) -> list[tuple[str, str]]:
    """Deliver a run event to every plugin. An observer's exception (or ``sys.exit``) never
    breaks the run or keeps the event from the others: each is returned as ``(plugin name,
    reason)``, for the runner to warn about once and list in run.json."""
    pm = get_plugin_manager()
    failures = []
    for impl in pm.hook.ftx_run_event.get_hookimpls():
        try:
            _call_impl(impl, event=event)
        except (Exception, SystemExit) as exc:
            failures.append((impl.plugin_name, f"{type(exc).__name__}: {exc}"))
    return failures
