"""Optuna trials: ``ftx run --trials N`` samples a backend's options from the ranges in
``[search.BACKEND]`` of ftx.toml.

Each trial is a variant of the backend (``local-lora-trial1`` ...) that trains, answers the
held-out examples and gets its row in the report like any variant, so the Holm-corrected marks
and the winner against the runner-up apply to trials too. Optuna sees only the **validation
loss** (the ``validation_size`` share of the training split, never the held-out examples): the
search cannot fit the examples the report tests on. A trial whose validation loss is worse than
the median of the trials before it at the same epoch is pruned (it stops, and gets no row).

The study is kept in the run folder (``study/BACKEND.log``, an Optuna journal, and a readable
``study/BACKEND.json``), so ``ftx resume`` continues it. Optuna is imported only here, and only
for a run with trials (``pip install 'ftx-finetune[sweep]'``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx.errors import ConfigError
from ftx.store import atomic_write_json

#: the share of the training split a trial holds out for its validation loss, unless set
DEFAULT_VALIDATION_SIZE = 0.1


@dataclass
class Dimension:
    """One searched option: a range (``low``..``high``, on a log scale if ``log``; integers if
    both ends are) or a list of ``choices``."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def distribution(self) -> Any:
        import optuna

        if self.choices is not None:
            return optuna.distributions.CategoricalDistribution(self.choices)
        if self.integer:
            return optuna.distributions.IntDistribution(
                int(self.low), int(self.high), log=self.log, step=int(self.step or 1)
            )
        return optuna.distributions.FloatDistribution(
            float(self.low), float(self.high), log=self.log, step=self.step
        )


def parse_space(section: str, table: Any, where: str) -> dict[str, Dimension]:
    """``[search.local-lora]``: ``learning_rate = {low = 1e-4, high = 3e-3, log = true}``,
    ``epochs = {low = 2, high = 6}``, ``lora_r = [8, 16, 32]``; every problem in one sentence."""
    head = f"{where}: [search.{section}]"
    example = "learning_rate = {low = 1e-4, high = 3e-3, log = true} or lora_r = [8, 16, 32]"
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{head} names no option to search.", hint=f"For example: {example}")
    space = {}
    for key, spec in table.items():
        if isinstance(spec, list):
            if len(spec) < 2 or len({repr(v) for v in spec}) != len(spec):
                raise ConfigError(
                    f"{head} {key}: a list of choices needs two or more different values.",
                    hint=f"For example: {example}",
                )
            space[key] = Dimension(key, choices=list(spec))
            continue
        if not isinstance(spec, dict) or not {"low", "high"} <= set(spec):
            raise ConfigError(
                f"{head} {key} must be a range {{low = ..., high = ...}} or a list of choices.",
                hint=f"For example: {example}",
            )
        unknown = set(spec) - {"low", "high", "log", "step"}
        if unknown:
            raise ConfigError(
                f"{head} {key}: unknown key {', '.join(sorted(unknown))}.",
                hint="A range takes low, high, log (true/false) and step.",
            )
        low, high = spec["low"], spec["high"]
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high:
            raise ConfigError(f"{head} {key}: low must be a number below high.")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{head} {key}: a log range needs low above 0.")
        if spec.get("log") and spec.get("step") is not None:
            raise ConfigError(f"{head} {key}: a log range takes no step.")
        space[key] = Dimension(key, low, high, bool(spec.get("log")), spec.get("step"))
    return space


def trial_names(section: str, count: int) -> list[str]:
    return [f"{section}-trial{k}" for k in range(1, count + 1)]


def shown(value: Any) -> str:
    """A sampled value as the report shows it (and plots it): 0.00123 as 0.00123, not 17
    digits."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


class Search:
    """The study of one searched backend, kept in ``RUN/study/``."""

    def __init__(self, run_path: Path, section: str, space: dict[str, Dimension], seed: int):
        self.folder = run_path / "study"
        self.section, self.space, self.seed = section, space, seed
        self._trials: dict[int, Any] = {}  # number -> optuna Trial asked in this process

    @functools.cached_property
    def study(self) -> Any:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # ftx prints what matters
        self.folder.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(self.folder / f"{self.section}.log")))
        return optuna.create_study(
            study_name=self.section,
            storage=storage,
            load_if_exists=True,
            direction="minimize",
            # TPE samples at random for its first 10 trials (n_startup_trials): a short search
            # is a seeded random search, which is as much as a few trials can support.
            sampler=optuna.samplers.TPESampler(seed=self.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        )

    def ask(self) -> tuple[int, dict[str, Any]]:
        """A new trial: its number and the options sampled for it."""
        trial = self.study.ask({k: d.distribution() for k, d in self.space.items()})
        self._trials[trial.number] = trial
        return trial.number, dict(trial.params)

    def should_prune(self, number: int, epoch: float, loss: float) -> bool:
        """Report the validation loss after ``epoch``; True when the trial is to stop. A trial
        asked before a stop (continued by ``ftx resume``) is not pruned: only its final loss
        counts."""
        trial = self._trials.get(number)
        if trial is None or not math.isfinite(loss):
            return False
        trial.report(loss, step=max(1, round(epoch)))
        return trial.should_prune()

    def tell(self, number: int, value: float | None, state: str) -> None:
        """The trial's end: ``complete`` with its final validation loss, ``pruned`` or
        ``failed``; then ``study/BACKEND.json`` is written again."""
        from optuna.trial import TrialState

        states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED}
        if state == "complete" and (value is None or not math.isfinite(value)):
            state = "failed"
        trial = self.study.get_trials(deepcopy=False)[number]
        if trial.state.is_finished():  # told before a stop; ftx resume only rewrites the summary
            self.write_summary()
            return
        self.study.tell(
            number,
            value if state == "complete" else None,
            state=states.get(state, TrialState.FAIL),
        )
        self.write_summary()

    def write_summary(self) -> None:
        """``study/BACKEND.json``: each trial's number, state, options and validation loss."""
        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.value is not None]
        best = min(done, key=lambda t: t.value) if done else None
        atomic_write_json(
            self.folder / f"{self.section}.json",
            {
                "backend": self.section,
                "objective": "validation loss (minimize)",
                "sampler": "TPE",
                "pruner": "median",
                "seed": self.seed,
                "best_trial": best.number if best else None,
                "trials": [
                    {
                        "number": t.number,
                        "state": t.state.name.lower(),
                        "params": t.params,
                        "validation_loss": t.value,
                        "intermediate": {str(k): v for k, v in t.intermediate_values.items()},
                    }
                    for t in trials
                ],
            },
        )
