"""The OpenAI fine-tuning backend and the untuned OpenAI model as a baseline.

    export OPENAI_API_KEY=...
    ftx run --data qa.jsonl --backend local-qlora --backend openai --backend openai-base

``openai`` converts the training split to chat fine-tuning JSONL, checks it against OpenAI's
rules and estimates the cost (preflight), uploads it, creates a supervised fine-tuning job and
follows it, through the hosted lifecycle (``ftx.hosted``): the file and job ids are saved the
moment they exist, so ``ftx resume`` re-attaches and never uploads or trains twice. Any
OpenAI-compatible service works through ``base_url`` (or OPENAI_BASE_URL). The key is read from
OPENAI_API_KEY and never written anywhere.

With ``method=dpo`` the job is OpenAI's DPO on the training split's preference pairs
(``ftx.preference.to_jsonl(..., "openai")``), ``beta`` among its hyperparameters.

OpenAI stops creating fine-tuning jobs on 2027-01-06 (and serves fine-tuned models for a short
while after): preflight reads the model's ``shutdown_date`` where the API gives one, refuses a
model past it and warns within 30 days of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ftx import preference, secrets
from ftx.backend import BackendContext
from ftx.errors import install_command
from ftx.hookspecs import hookimpl
from ftx.hosted import (
    ClientOptions,
    Failure,
    HostedBackend,
    HostedFineTune,
    Job,
    TuneOptions,
    api_failure,
    chat_completion,
    resolve,
)
from ftx.options import bound_problems, option, seed_problems
from ftx.prices import Prices, openai_prices
from ftx.types import Completion, Example, GenerationParams, Message, Problem, Splits

from . import wire

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
KEY = "OPENAI_API_KEY"
SHUTDOWN_WARNING_DAYS = 30
STATES = {  # OpenAI's job statuses in the lifecycle's words
    "validating_files": "queued",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
}


@dataclass
class ChatOptions(ClientOptions):
    model: str = option(DEFAULT_MODEL, "base model (openai) or the model to ask (openai-base)")


@dataclass
class FineTuneOptions(TuneOptions):
    model: str = option(DEFAULT_MODEL, "base model to fine-tune")
    batch_size: int | None = option(None, "training batch size (default: chosen by OpenAI)")
    learning_rate_multiplier: float | None = option(
        None, "learning-rate multiplier (default: chosen by OpenAI)"
    )
    suffix: str | None = option("ftx", "text in the fine-tuned model's name")
    seed: int | None = option(None, "job seed (default: the run's seed)")

    def validate(self) -> list[str]:
        problems = super().validate() + seed_problems("seed", self.seed)
        return problems + bound_problems(
            self, at_least={"batch_size": 1}, above={"learning_rate_multiplier": 0}
        )


class _OpenAI(HostedBackend):
    """What both OpenAI backends share: the client, its errors, the check, chat completions."""

    provider = "OpenAI"
    credential = "API key"
    credential_hint = f"Check {KEY}."
    permission_hint = (
        "Self-serve fine-tuning is closing for some accounts; check your organisation's access."
    )

    def connect(self, opts: ChatOptions) -> Any:
        import openai

        return openai.OpenAI(
            api_key=secrets.get(KEY),
            base_url=opts.base_url or os.environ.get("OPENAI_BASE_URL"),
            max_retries=0,  # ftx.hosted retries, honouring Retry-After and Ctrl-C
            timeout=opts.timeout,
        )

    def credentials_problem(self, opts: ChatOptions) -> Problem | None:
        try:
            import openai  # noqa: F401
        except ImportError:
            return Problem("needs the 'openai' package", self.name, hint=install_command("openai"))
        if not secrets.get(KEY):
            return Problem(
                f"{KEY} is not set",
                self.name,
                hint=secrets.where(KEY) + "; ftx never writes keys down",
            )
        return None

    def failure(self, exc: BaseException) -> Failure | None:
        import openai

        return api_failure(exc, openai)

    def verify(self, client: Any, opts: ChatOptions) -> list[Problem]:
        model = client.models.retrieve(opts.model)
        return self.lifetime_problems(opts.model, getattr(model, "shutdown_date", None))

    def lifetime_problems(self, model: str, shutdown: Any) -> list[Problem]:
        """A model past its shutdown date (as the API says it) is refused; one within 30 days
        is warned about, with the date."""
        if shutdown is None:
            return []
        when = _date(shutdown)
        if when is None:
            return []
        days = (when - datetime.now(timezone.utc)).total_seconds() / 86400
        day = when.date().isoformat()
        if days <= 0:
            return [
                Problem(
                    f"{model} was shut down on {day}",
                    self.name,
                    hint="choose a current model: https://platform.openai.com/docs/models",
                )
            ]
        if days <= SHUTDOWN_WARNING_DAYS:
            return [
                Problem(
                    f"{model} shuts down on {day}, in {int(days)} day(s); a job that has not "
                    "finished by then, or the model's answers after it, are lost",
                    self.name,
                    severity="warning",
                )
            ]
        return []

    def ask(
        self,
        client: Any,
        model: str,
        messages: list[Message],
        params: GenerationParams,
        opts: ChatOptions,
    ) -> Completion:
        return chat_completion(client, model, messages, params, "max_completion_tokens")

    def prices(self, opts: Any, model: str) -> Prices | None:
        return resolve(openai_prices(model), opts)


class OpenAIBase(_OpenAI):
    name = "openai-base"
    description = "an OpenAI (or compatible) chat model, untuned, as a baseline"
    Options = ChatOptions


class OpenAIFineTune(_OpenAI, HostedFineTune):
    name = "openai"
    description = "supervised fine-tuning through the OpenAI API (or an OpenAI-compatible service)"
    Options = FineTuneOptions
    job_label = "OpenAI job"
    methods = ("sft", "dpo")

    def data_problems(
        self, examples: list[Example], validation: int, opts: FineTuneOptions
    ) -> list[Problem]:
        count, _ = wire.token_counter(opts.model)
        if opts.method == "dpo":  # trains on the pairs only (preflight warns of the others)
            examples = preference.pairs(examples)
        return wire.validate(examples, count, self.name, validation)

    def billable_tokens(self, splits: Splits, opts: FineTuneOptions) -> tuple[int, bool]:
        count, exact = wire.token_counter(opts.model)
        examples = splits.train
        if opts.method == "dpo":  # the prompt with each answer: what a DPO step reads
            pairs = preference.pairs(examples)
            examples = pairs + [preference.rejected_example(e) for e in pairs]
        return sum(count(m.content) + 4 for e in examples for m in e.messages), exact

    def write_data(self, examples: list[Example], opts: FineTuneOptions) -> str:
        if opts.method == "dpo":
            return preference.to_jsonl(preference.pairs(examples), "openai")
        return wire.to_jsonl(examples)

    def upload(self, client: Any, path: Path, opts: FineTuneOptions, ctx: BackendContext) -> str:
        with open(path, "rb") as f:
            return client.files.create(file=f, purpose="fine-tune").id

    def create_job(
        self, client: Any, files: dict[str, str], opts: FineTuneOptions, ctx: BackendContext
    ) -> str:
        hyper = {
            k: v
            for k, v in (
                ("n_epochs", opts.epochs),
                ("batch_size", opts.batch_size),
                ("learning_rate_multiplier", opts.learning_rate_multiplier),
            )
            if v is not None
        }
        if opts.method == "dpo":
            beta = {"beta": opts.beta} if opts.beta is not None else {}
            method = {"type": "dpo", "dpo": {"hyperparameters": hyper | beta}}
        else:
            method = {"type": "supervised", "supervised": {"hyperparameters": hyper}}
        return client.fine_tuning.jobs.create(
            model=opts.model,
            training_file=files["training_file"],
            validation_file=files.get("validation_file"),
            suffix=opts.suffix,
            seed=opts.seed if opts.seed is not None else ctx.seed,
            method=method,
        ).id

    def read_job(self, client: Any, job_id: str, opts: FineTuneOptions, ctx: BackendContext) -> Job:
        """The job, and its events not seen before: metrics become train_log entries."""
        job = client.fine_tuning.jobs.retrieve(job_id)
        events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
        seen = set(ctx.state.get("events_seen", []))
        read = Job(
            STATES.get(job.status, "running"),  # a state OpenAI adds later: still going
            job.status,
            model=job.fine_tuned_model,
            error=job.error.message if job.status == "failed" and job.error else "",
            trained_tokens=job.trained_tokens,
            seconds=float(job.finished_at - job.created_at) if job.finished_at else None,
        )
        for event in reversed(events):  # oldest first
            if event.id in seen:
                continue
            seen.add(event.id)
            data = event.data if isinstance(event.data, dict) else {}
            if event.type == "metrics" and "step" in data:
                entry = {
                    "step": data["step"],
                    "loss": data.get("train_loss"),
                    "total_steps": data.get("total_steps"),
                }
                if data.get("valid_loss") is not None:
                    entry["eval_loss"] = data["valid_loss"]
                read.metrics.append(entry)
            else:
                read.messages.append(event.message)
        read.keep["events_seen"] = sorted(seen)
        return read

    def cancel_job(self, client: Any, job_id: str, opts: FineTuneOptions) -> str:
        job = client.fine_tuning.jobs.cancel(job_id)
        return f"job {job.id}: {job.status}"


def _date(value: Any) -> datetime | None:
    """A shutdown date as the API gives it: Unix seconds, or an ISO date."""
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, timezone.utc)
        when = datetime.fromisoformat(str(value))
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


@hookimpl
def ftx_register_backends(register):
    register(OpenAIBase)
    register(OpenAIFineTune)
