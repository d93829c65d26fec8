"""Configuration: ``ftx.toml`` < environment < command line.

``ftx.toml`` has a ``[run]`` table and one table per backend or evaluator::

    [run]
    data = "qa.jsonl"
    backends = ["local-base", "local-lora"]

    [local-lora]
    epochs = 3

    [backends.lora-r8]      # a variant: local-lora under its own name, with its own options
    use = "local-lora"
    lora_r = 8

On the command line a variant is ``--backend lora-r8=local-lora`` with ``--set lora-r8.lora_r=8``.
A variant takes its backend's table first, then its own.

The environment overrides it with ``FTX_<SECTION>__<KEY>`` (``FTX_RUN__SEED=7``,
``FTX_LOCAL_LORA__EPOCHS=2``), and the command line with flags and ``--set section.key=value``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ftx import options as opt
from ftx.errors import ConfigError
from ftx.options import option
from ftx.plugins import Registry, suggest
from ftx.types import GenerationParams

CONFIG_FILE = "ftx.toml"
ENV_PREFIX = "FTX_"


@dataclass
class RunConfig:
    """Settings of a whole run (the ``[run]`` table)."""

    data: str | None = option(
        None, "training data file or directory (default: the bundled Pride and Prejudice Q&A)"
    )
    eval_data: str | None = option(None, "held-out evaluation file; wins over eval_size")
    eval_size: float = option(0.15, "held-out share of the data: a fraction (0.15) or a count (40)")
    seed: int = option(42, "seed for the split, training and sampling")
    format: str = option("auto", "input schema: auto, or a formatter name (ftx formatters)")
    skip_invalid: bool = option(
        False,
        "train on the valid records and skip invalid ones (counted in a warning) instead of "
        "refusing the file",
    )
    backends: list[str] = option(["local-base", "local-lora"], "backends to train and compare")
    evaluators: list[str] = option(
        ["rouge", "bleu", "jaccard", "exact_match"], "evaluators to score with"
    )
    reporters: list[str] = option(
        ["terminal", "json", "markdown", "html"], "reporters for the finished run"
    )
    model: str | None = option(
        None,
        "local model directory or .gguf file for the local backends (default: bundled "
        "SmolLM2-135M-Instruct)",
    )
    baseline: str | None = option(
        None, "backend the others are compared against (default: the first untuned one)"
    )
    runs_dir: str = option("runs", "where run directories are created")
    max_cost: float | None = option(
        None,
        "refuse to start if the estimated cost of all backends is higher (dollars), unless "
        "confirmed",
    )
    yes: bool = option(False, "accept an estimated cost above max_cost without asking")
    max_new_tokens: int | Literal["auto"] = option(
        "auto",
        "longest generated answer in tokens; auto: a quarter above the longest eval reference, "
        "rounded up to 32, from 64 to 1024",
    )
    temperature: float = option(0.0, "sampling temperature for predictions; 0 is greedy")
    top_p: float = option(1.0, "nucleus sampling threshold")
    top_k: int = option(0, "sample from the k most likely tokens only (0: no limit)")
    repetition_penalty: float = option(1.0, "above 1 discourages repeating tokens")
    executor: Literal["auto", "local", "processes", "ray"] = option(
        "auto",
        "where local backends train: local (this process, one after another), processes (one "
        "worker process each, one per GPU), ray (Ray tasks); auto: processes with several GPUs",
    )
    workers: int = option(
        0, "local backends training at once with executor processes (0: one per GPU, else 1)"
    )
    ray_address: str | None = option(
        None, "the Ray cluster for executor ray (default: RAY_ADDRESS, else a Ray on this machine)"
    )
    trials: int = option(
        0,
        "Optuna trials of each backend with a [search.BACKEND] table (0: none); each trial is a "
        "variant, ranked by its validation loss and pruned when it lags",
    )

    def validate(self) -> list[str]:
        problems = []
        if self.eval_size <= 0:
            problems.append(
                f"eval_size must be a fraction in (0, 1) or a count >= 1, got {self.eval_size}"
            )
        elif self.eval_size >= 1 and not float(self.eval_size).is_integer():
            problems.append(f"eval_size above 1 is a count and must be whole, got {self.eval_size}")
        if not self.backends:
            problems.append("choose at least one backend")
        if len(set(self.backends)) != len(self.backends):
            problems.append(f"a backend is listed twice: {', '.join(self.backends)}")
        if self.workers < 0:
            problems.append(f"workers must be 0 or more, got {self.workers}")
        if self.trials < 0:
            problems.append(f"trials must be 0 or more, got {self.trials}")
        if self.max_new_tokens != "auto" and self.max_new_tokens < 1:
            problems.append("max_new_tokens must be at least 1, or auto")
        problems += opt.seed_problems("seed", self.seed)
        if self.temperature < 0:
            problems.append(f"temperature must be 0 (greedy) or more, got {self.temperature:g}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p:g}")
        if self.top_k < 0:
            problems.append(f"top_k must be 0 (no limit) or more, got {self.top_k}")
        if self.repetition_penalty <= 0:
            problems.append(
                f"repetition_penalty must be above 0 (1 changes nothing), got "
                f"{self.repetition_penalty:g}"
            )
        if self.max_cost is not None and self.max_cost < 0:
            problems.append(f"max_cost must be 0 dollars or more, got {self.max_cost:g}")
        return problems

    @property
    def generation(self) -> GenerationParams:
        """The sampling settings; ``max_new_tokens`` must be resolved first
        (``auto_max_new_tokens``)."""
        if self.max_new_tokens == "auto":
            raise ConfigError(
                "max_new_tokens=auto has not been resolved from the eval references yet."
            )
        return GenerationParams(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            seed=self.seed,
        )


# max_new_tokens=auto: room for the longest eval reference with a margin for a model that says a
# little more, or counts differently (the approximate count is within ~15% of real tokenizers).
# The floor keeps short-answer data (the bundled demo's longest reference is 25 tokens) at the
# old fixed 64; the cap bounds the time an untuned model that never stops spends on every answer.
AUTO_NEW_TOKENS_MARGIN = 1.25
AUTO_NEW_TOKENS_FLOOR = 64
AUTO_NEW_TOKENS_CAP = 1024


def auto_max_new_tokens(reference_tokens: list[int]) -> int:
    """``max_new_tokens`` for references of these lengths: a quarter above the longest, rounded
    up to a multiple of 32, between 64 and 1024."""
    wanted = math.ceil(max(reference_tokens, default=0) * AUTO_NEW_TOKENS_MARGIN / 32) * 32
    return min(max(wanted, AUTO_NEW_TOKENS_FLOOR), AUTO_NEW_TOKENS_CAP)


@dataclass
class Config:
    run: RunConfig
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # plugin name -> raw values
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, key) -> origin
    variants: dict[str, str] = field(default_factory=dict)  # variant name -> the backend it uses
    swept: dict[str, dict[str, str]] = field(default_factory=dict)  # variant -> its sweep's values
    search: dict[str, dict[str, Any]] = field(default_factory=dict)  # [search.BACKEND] tables
    trials: dict[str, str] = field(default_factory=dict)  # trial variant -> the backend searched

    def options_for(self, name: str, cls: type, *, model_option: str | None = None) -> Any:
        """The typed options of backend or evaluator ``name``; a variant's are its backend's
        table overridden by its own."""
        chain = [self.variants[name], name] if name in self.variants else [name]
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for section in chain:
            values.update(self.sections.get(section, {}))
            sources.update({k: src for (s, k), src in self.sources.items() if s == section})
        if model_option and self.run.model is not None and model_option not in values:
            values[model_option] = self.run.model
        return opt.build(cls, values, name, sources)

    def backend_of(self, name: str) -> str:
        """The registered backend that ``name`` runs: itself, or the one a variant uses."""
        return self.variants.get(name, name)

    def check_variants(self, registry: Registry) -> None:
        """Each variant uses a registered backend, under a name of its own."""
        backends = registry.names("backend")
        for name, use in self.variants.items():
            if name in backends:
                raise ConfigError(
                    f"variant '{name}' has the name of a backend.",
                    hint=f"Name the variant of '{use}' differently, e.g. '{use}-2'.",
                )
            if use in self.variants:
                raise ConfigError(
                    f"variant '{name}' uses '{use}', which is a variant itself.",
                    hint=f"Use the backend '{self.variants[use]}' and copy the options you need.",
                )
            if use not in backends:
                raise ConfigError(
                    f"variant '{name}' uses '{use}', which is not a backend.",
                    hint=suggest(use, sorted(backends)),
                )

    def check_search(self, registry: Registry) -> None:
        """Each ``[search.BACKEND]`` searches options its backend has, and the backend reports
        the validation loss that ranks and prunes trials."""
        import dataclasses

        for section, table in self.search.items():
            use = self.backend_of(section)
            cls = registry.get("backend", use)
            fields = [f.name for f in dataclasses.fields(cls.Options)]
            if cls.remote:
                raise ConfigError(
                    f"--trials trains trials one after another on this machine, and {use} is "
                    "hosted (each trial would wait for the one before it).",
                    hint=f"Compare values of {section} with --sweep, which starts them together.",
                )
            if "validation_size" not in fields:
                raise ConfigError(
                    f"--trials ranks and prunes trials by their validation loss, and {use} "
                    "reports none (it has no validation_size option).",
                    hint=f"Compare values of {section} with --sweep instead.",
                )
            for key in table:
                if key not in fields:
                    raise ConfigError(
                        f"[search.{section}] {key}: {use} has no option '{key}'.",
                        hint=suggest(key, fields),
                    )

    def check_sections(self, registry: Registry) -> None:
        """Every table must name a known backend or evaluator, and its keys must be valid."""
        self.check_variants(registry)
        self.check_search(registry)
        known = {
            **{n: ("backend", registry.get("backend", n)) for n in registry.names("backend")},
            **{n: ("backend", registry.get("backend", use)) for n, use in self.variants.items()},
            **{n: ("evaluator", registry.get("evaluator", n)) for n in registry.names("evaluator")},
        }
        for section in list(self.sections):
            canonical = _canonical(section, ["run", *known])
            if canonical != section:  # FTX_EXACT_MATCH__X arrives as "exact-match"
                self.sections.setdefault(canonical, {}).update(self.sections.pop(section))
                self.sources.update(
                    {(canonical, k): v for (s, k), v in list(self.sources.items()) if s == section}
                )
                section = canonical
            if section not in known:
                where = {src for (s, _), src in self.sources.items() if s == section}
                raise ConfigError(
                    f"unknown section '{section}' (from {', '.join(sorted(where))}).",
                    hint=suggest(section, ["run", *sorted(known)]),
                )
            _, cls = known[section]
            self.options_for(section, cls.Options)


def load(
    config_file: str | Path | None = None,
    *,
    cli: Mapping[str, Any] | None = None,
    sets: list[str] | tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
    sweeps: list[str] | tuple[str, ...] = (),
) -> Config:
    """Merge the three layers. ``cli`` holds run-level flags already typed (None = not given);
    ``sweeps`` (``SECTION.KEY=V1,V2``) expand a backend into the grid of its variants."""
    environ = os.environ if environ is None else environ
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = []

    path = Path(config_file) if config_file else Path(CONFIG_FILE)
    if config_file and not path.exists():
        raise ConfigError(
            f"config file {path} does not exist.", hint="Check the path given to --config."
        )
    variants: dict[str, str] = {}
    search: dict[str, Any] = {}
    if path.exists():
        toml = _read_toml(path)
        search = toml.pop("search", {})
        for name, table in _variant_tables(toml.pop("backends", None), path).items():
            variants[name] = table.pop("use")
            toml.setdefault(name, {}).update(table)
        layers.append((str(path), toml))
    layers.append(("environment", _from_env(environ)))
    layers.append(("--set", _from_sets(sets)))
    layers.append(
        ("command line", {"run": {k: v for k, v in (cli or {}).items() if v is not None}})
    )

    merged: dict[str, dict[str, Any]] = {}
    sources: dict[tuple[str, str], str] = {}
    for origin, layer in layers:
        for section, values in layer.items():
            for key, value in values.items():
                merged.setdefault(section, {})[key] = value
                sources[(section, key)] = (
                    origin if origin != "environment" else _env_name(section, key)
                )
    run_values = merged.pop("run", {})
    run_sources = {k: src for (s, k), src in sources.items() if s == "run"}
    run = opt.build(RunConfig, run_values, "run", run_sources)
    # --backend NAME=BACKEND (or "NAME=BACKEND" in [run] backends) defines a variant in place.
    chosen = []
    for entry in run.backends:
        name, eq, use = (part.strip() for part in entry.partition("="))
        if eq:
            _check_variant_name(name, f"--backend {entry}")
            if not use:
                raise ConfigError(
                    f"--backend {entry} names no backend for the variant '{name}'.",
                    hint=f"For example: --backend {name}=local-lora",
                )
            variants[name] = use
        chosen.append(name)
    if "backends" in run_values:
        run.backends = chosen
    else:  # the default backends, and every variant ftx.toml defines
        run.backends = chosen + [v for v in variants if v not in chosen]
    swept: dict[str, dict[str, str]] = {}
    for section, grid in _sweep_grids(sweeps).items():
        use = variants.get(section, section)
        names = []
        for point in grid:
            name = section + "".join(f"-{key}{name_part(value)}" for key, value in point)
            variants[name] = use
            # Its backend's table comes through options_for; a swept variant's own table is
            # copied, then the point's values.
            own = merged.get(section, {}) if section != use else {}
            merged[name] = {**own, **dict(point)}
            sources.update({(name, key): sources[(section, key)] for key in own})
            sources.update({(name, key): "--sweep" for key, _ in point})
            swept[name] = dict(point)
            names.append(name)
        at = run.backends.index(section) if section in run.backends else len(run.backends)
        run.backends[at : at + 1] = names  # the swept backend is replaced by its grid
    trials = _trials(run, search, path, variants, merged, sources, swept) if run.trials else {}
    if len(set(run.backends)) != len(run.backends):
        raise ConfigError(f"a backend is listed twice: {', '.join(run.backends)}.")
    return Config(
        run=run,
        sections=merged,
        sources=sources,
        variants=variants,
        swept=swept,
        search=search if trials else {},
        trials=trials,
    )


def _trials(
    run: RunConfig,
    search: dict[str, Any],
    path: Path,
    variants: dict[str, str],
    merged: dict[str, dict[str, Any]],
    sources: dict[tuple[str, str], str],
    swept: dict[str, dict[str, str]],
) -> dict[str, str]:
    """``--trials N``: each backend with a ``[search.BACKEND]`` table is replaced by N trial
    variants, whose options are sampled when each starts (``ftx.study``)."""
    from ftx.study import DEFAULT_VALIDATION_SIZE, parse_space, trial_names

    if not search:
        raise ConfigError(
            f"--trials {run.trials} needs the ranges to sample from, and {path} has no "
            "[search.BACKEND] table.",
            hint="Add, e.g., [search.local-lora] with learning_rate = {low = 1e-4, high = 3e-3, "
            "log = true}; see docs/configuration.md (Trials).",
        )
    if not isinstance(search, dict) or not all(isinstance(t, dict) for t in search.values()):
        raise ConfigError(
            f"{path}: [search] holds one table per backend, e.g. [search.local-lora].",
        )
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        raise ConfigError(
            "--trials samples with Optuna, which is not installed.",
            hint="pip install 'ftx-finetune[sweep]'",
        )
    trials: dict[str, str] = {}
    for section, table in search.items():
        parse_space(section, table, str(path))
        if section in swept or any(name.startswith(f"{section}-") for name in swept):
            raise ConfigError(
                f"{section} is both swept (--sweep) and searched (--trials).",
                hint="Give its values as a [search] range or choices instead of --sweep.",
            )
        use = variants.get(section, section)
        own = merged.get(section, {}) if section != use else {}
        names = trial_names(section, run.trials)
        for name in names:
            variants[name] = use
            merged[name] = dict(own)
            sources.update({(name, key): sources[(section, key)] for key in own})
            if "validation_size" not in {**merged.get(use, {}), **own}:
                merged[name]["validation_size"] = DEFAULT_VALIDATION_SIZE
                sources[(name, "validation_size")] = "--trials"
            trials[name] = section
        at = run.backends.index(section) if section in run.backends else len(run.backends)
        run.backends[at : at + 1] = names
    return trials


def _sweep_grids(sweeps: list[str] | tuple[str, ...]) -> dict[str, list[list[tuple[str, str]]]]:
    """``--sweep local-lora.lora_r=8,16 --sweep local-lora.learning_rate=1e-4,3e-4``: for each
    swept backend, every combination of the values, in the order given."""
    import itertools

    axes: dict[str, list[tuple[str, list[str]]]] = {}
    for item in sweeps:
        section, key, values = _assignment(item) or ("", "", "")
        choices = [v.strip() for v in values.split(",") if v.strip()]
        if not choices:  # not section.key=..., or no value
            raise ConfigError(
                f"--sweep expects backend.option=value,value,..., got '{item}'.",
                hint="For example: --sweep local-lora.lora_r=8,16,32",
            )
        if section == "run":
            raise ConfigError(
                f"--sweep {item}: run options apply to the whole run and cannot be swept.",
                hint="Sweep a backend's options, e.g. --sweep local-lora.learning_rate=1e-4,3e-4",
            )
        if len(set(choices)) != len(choices):
            raise ConfigError(f"--sweep {item} lists a value twice.")
        if any(k == key for k, _ in axes.get(section, [])):
            raise ConfigError(
                f"--sweep sweeps {section}.{key} twice.", hint="Give all its values in one --sweep."
            )
        axes.setdefault(section, []).append((key, choices))
    return {
        section: [
            list(zip([k for k, _ in keys], combo))
            for combo in itertools.product(*(v for _, v in keys))
        ]
        for section, keys in axes.items()
    }


def name_part(value: str) -> str:
    """A swept value as part of a variant's name: characters a folder name takes."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", value)[:24]


def _variant_tables(tables: Any, path: Path) -> dict[str, dict[str, Any]]:
    """The ``[backends.NAME]`` tables of ``ftx.toml``, each checked for its ``use``."""
    if tables is None:
        return {}
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError(
            f"{path}: [backends] holds one table per variant, e.g. [backends.lora-r8].",
            hint='Give each variant its backend: use = "local-lora", then its options.',
        )
    for name, table in tables.items():
        _check_variant_name(name, f"{path}: [backends.{name}]")
        if not isinstance(table.get("use"), str) or not table["use"]:
            raise ConfigError(
                f"{path}: [backends.{name}] does not say which backend it is a variant of.",
                hint=f'Add use = "local-lora" (or another of: ftx backends) to [backends.{name}].',
            )
    return {name: dict(table) for name, table in tables.items()}


def _check_variant_name(name: str, where: str) -> None:
    """A variant's name names its folder in the run directory and its row in the reports."""
    from ftx.store import FOLDER_NAME

    if not FOLDER_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: '{name}' cannot name a variant.",
            hint="Use letters, digits, '-', '_' and '.' (it names a folder), e.g. lora-r8.",
        )


def _canonical(section: str, names: list[str]) -> str:
    key = section.lower().replace("_", "-")
    for name in names:
        if name.lower().replace("_", "-") == key:
            return name
    return section


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: invalid TOML: {exc}.", hint="Fix the syntax; see docs/configuration.md."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}.") from None
    for key, value in data.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}: '{key}' must be inside a table, e.g. [run] or [local-lora].",
                hint="Top-level keys are not allowed; see docs/configuration.md.",
            )
    return data


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper().replace('-', '_')}__{key.upper()}"


def _from_env(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """FTX_<SECTION>__<KEY>: the section's hyphens are written as underscores."""
    out: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        if not section or not key:
            continue
        section_name = "run" if section == "RUN" else section.lower().replace("_", "-")
        out.setdefault(section_name, {})[key.lower()] = value
    return out


def _assignment(item: str) -> tuple[str, str, str] | None:
    """``section.key=value`` (of ``--set`` and ``--sweep``) as its three parts; None when it is
    not of that form."""
    name, eq, value = item.partition("=")
    section, dot, key = name.strip().rpartition(".")
    return (section, key, value) if eq and dot and section and key else None


def _from_sets(sets: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in sets:
        parts = _assignment(item)
        if parts is None:
            raise ConfigError(
                f"--set expects section.key=value, got '{item}'.",
                hint="For example: --set local-lora.epochs=3 or --set run.seed=7",
            )
        section, key, value = parts
        out.setdefault(section, {})[key] = value
    return out
