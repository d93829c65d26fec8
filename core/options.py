"""Typed options for plugins and runs: dataclasses filled from TOML, environment and CLI.

Values from TOML arrive typed; values from the environment and ``--set`` arrive as strings and
are converted by the field's annotation. Every problem is collected, so the user sees all of
them at once, with the valid keys and a "did you mean".
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from ftx.errors import ConfigError
from ftx.plugins import suggest


@dataclass(frozen=True)
class OptionField:
    name: str
    type: str
    default: Any
    help: str


def option(default: Any, help: str, *, aliases: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """A dataclass field with help text: ``epochs: int = option(3, "passes over the data")``.
    ``aliases``: old names still read as this one (a renamed option keeps users' files working)."""
    metadata = {"help": help, "aliases": aliases}
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(
            default_factory=lambda: type(value)(value), metadata=metadata, **kwargs
        )
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def renamed(
    cls: type, values: dict[str, Any], section: str, sources: dict[str, str] | None = None
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """``values`` (and their ``sources``) with every alias under its option's name, and the
    problems (an option given under both names)."""
    out, where, problems = dict(values), dict(sources or {}), []
    for f in dataclasses.fields(cls):
        for alias in f.metadata.get("aliases", ()):
            if alias not in out:
                continue
            if f.name in out:
                problems.append(
                    f"'{section}.{alias}' is the old name of '{section}.{f.name}': set one of them"
                )
                continue
            out[f.name] = out.pop(alias)
            if alias in where:
                where[f.name] = where.pop(alias)
    return out, where, problems


def describe(cls: type) -> list[OptionField]:
    """The fields of an options dataclass, for ``ftx backends`` and the docs."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        fields.append(
            OptionField(f.name, type_name(hints[f.name]), default, f.metadata.get("help", ""))
        )
    return fields


def type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in get_args(annotation))
    if origin is list:
        return f"list[{type_name(get_args(annotation)[0])}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


# numpy's np.random.seed (which transformers' set_seed calls) takes 0 <= seed < 2^32; torch more.
SEED_LIMIT = 2**32


def seed_problems(name: str, seed: int | None) -> list[str]:
    """For a ``validate()``: a seed that torch, numpy and Python's random all take, or None."""
    if seed is None or 0 <= seed < SEED_LIMIT:
        return []
    return [f"{name} must be from 0 to 4294967295 (2^32 - 1, what numpy takes), got {seed}"]


def bound_problems(
    options: Any, *, at_least: dict[str, float] | None = None, above: dict[str, float] | None = None
) -> list[str]:
    """For a ``validate()``: each named option (unless None) must be at least its bound
    (``at_least``) or above it (``above``):
    ``bound_problems(self, at_least={"concurrency": 1})``."""
    problems = []
    for name, low in (at_least or {}).items():
        value = getattr(options, name)
        if value is not None and value < low:
            problems.append(f"{name} must be at least {low:g}, got {value:g}")
    for name, low in (above or {}).items():
        value = getattr(options, name)
        if value is not None and value <= low:
            problems.append(f"{name} must be above {low:g}, got {value:g}")
    return problems


def build(
    cls: type, values: dict[str, Any], section: str, sources: dict[str, str] | None = None
) -> Any:
    """An instance of ``cls`` from ``values``; a ConfigError lists every bad key or value.

    ``sources`` maps a key to where its value came from (``ftx.toml``, ``FTX_...``, ``--set``)
    for the error message.
    """
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    values, sources, problems = renamed(cls, values, section, sources)
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        where = f" (from {sources[key]})" if sources and key in sources else ""
        if key not in valid:
            problems.append(f"unknown option '{section}.{key}'{where}. {suggest(key, valid)}")
            continue
        try:
            kwargs[key] = coerce(raw, hints[key])
        except ValueError as exc:
            problems.append(f"bad value for '{section}.{key}'{where}: {exc}")
    if problems:
        raise ConfigError(
            problems[0] if len(problems) == 1 else "bad options:\n  " + "\n  ".join(problems)
        )
    instance = cls(**kwargs)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        try:
            errors = validate()
        except (
            Exception
        ) as exc:  # a plugin's validate() with a bug: its options cannot be vouched for
            raise ConfigError(
                f"{section}: checking its options failed: {type(exc).__name__}: {exc}.",
                hint="It is a bug in the plugin: leave it out, or set FTX_LOAD_PLUGINS to skip it.",
            ) from None
        if errors:
            raise ConfigError("; ".join(f"{section}: {e}" for e in errors))
    return instance


def coerce(value: Any, annotation: Any) -> Any:
    """Convert ``value`` (typed from TOML, or a string from env/CLI) to ``annotation``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = get_args(annotation)
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        ):
            return None
        if type(None) in args and isinstance(value, str) and not value.strip():
            # FTX_RUN__DATA= is a mistake far more often than a wish for the default.
            raise ValueError(
                "it is empty; leave the option out (or unset the variable) to use the default"
            )
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg)
            except ValueError:
                continue
        raise ValueError(f"expected {type_name(annotation)}, got {value!r}")
    if origin is Literal:
        choices = get_args(annotation)
        if value in choices:
            return value
        raise ValueError(
            f"expected one of {', '.join(repr(c) for c in choices)}, got {value!r}. "
            f"{suggest(str(value), [str(c) for c in choices])}"
        )
    if origin is list:
        (item,) = get_args(annotation)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise ValueError(
                        f'expected a list like ["a", "b"] or a,b — got {value!r}'
                    ) from None
            else:
                value = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, got {value!r}")
        return [coerce(v, item) for v in value]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        number = None
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.replace("_", ""))
            except ValueError:
                pass
        if number is None:
            raise ValueError(f"expected an integer, got {value!r}")
        if abs(number) >= 2**63:  # what torch, numpy and the index store take
            raise ValueError(f"expected an integer below 2^63, got {number}")
        return number
    if annotation is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = None
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise ValueError(f"expected a number, got {value!r}")
        if not math.isfinite(
            number
        ):  # nan and inf compare false with every bound a validate() checks
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"expected a string, got {value!r}")
    if annotation is Any:
        return value
    raise ValueError(f"unsupported option type {annotation!r}")


def to_dict(options: Any) -> dict[str, Any]:
    return dataclasses.asdict(options)
