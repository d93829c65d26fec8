"""Supervised LoRA fine-tuning on Fireworks AI, and the untuned Fireworks model as a baseline.

    export FIREWORKS_API_KEY=... FIREWORKS_ACCOUNT_ID=my-account
    ftx run --data qa.jsonl --backend fireworks-base --backend fireworks \\
        --set fireworks.dedicated_endpoint=true

``fireworks`` converts the training split to Fireworks' chat JSONL, checks it against Fireworks'
rules and estimates the cost (preflight), creates a dataset and uploads it (and a validation
dataset from the training split), runs a supervised fine-tuning job that trains a LoRA, and asks
the tuned model the held-out prompts, all through the hosted lifecycle (``ftx.hosted``) and the
official SDK (``fireworks-ai``): every id is saved the moment it exists, and ftx names what it
creates itself, so a retried or resumed request finds what an earlier one made instead of making
a second one.

Fireworks serves a fine-tuned LoRA only from a dedicated (on-demand) deployment, billed by the
GPU-hour, so ftx creates one only when ``dedicated_endpoint`` allows it, counts it in the
estimate and ``--max-cost``, and deletes it when answering ends, fails or is stopped, and on
``ftx cancel`` (``serve.py``). Where Fireworks loads LoRAs on a serverless base,
``serverless=true`` asks for that instead. The key is read from FIREWORKS_API_KEY and never
written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ftx import secrets
from ftx.backend import BackendContext
from ftx.display import money
from ftx.errors import FtxError, require
from ftx.hookspecs import hookimpl
from ftx.hosted import (
    ClientOptions,
    EndpointOptions,
    Failure,
    HostedBackend,
    HostedFineTune,
    Job,
    api_failure,
    chat_completion,
    resolve,
)
from ftx.options import bound_problems, option
from ftx.prices import Prices
from ftx.types import Completion, Example, GenerationParams, Message, Problem, Splits

from . import serve, wire
from .wire import ACCOUNT, DEFAULT_MODEL, KEY, account, uid

RETIRING_WARNING_DAYS = 30


@dataclass
class ChatOptions(ClientOptions):
    model: str = option(DEFAULT_MODEL, "the serverless model to ask: accounts/ACCOUNT/models/ID")


@dataclass
class FineTuneOptions(EndpointOptions):
    """The shared endpoint options, as Fireworks reads them: ``serverless`` unset is no
    (Fireworks' docs say it serves no LoRA serverless), the endpoint is an on-demand deployment,
    and ``endpoint_minutes`` unset is 15 minutes to start plus the answers' time."""

    model: str = option(DEFAULT_MODEL, "base model to tune: accounts/ACCOUNT/models/ID")
    account_id: str = option("", f"your Fireworks account id (default: {ACCOUNT})")
    learning_rate: float | None = option(None, "learning rate (default: chosen by Fireworks)")
    lora_rank: int | None = option(None, "LoRA rank (default: chosen by Fireworks)")
    batch_size: int | None = option(
        None, "examples per gradient batch (default: chosen by Fireworks)"
    )
    accelerator_type: str = option("NVIDIA_H100_80GB", "GPU of the deployment")
    accelerator_count: int = option(1, "GPUs of the deployment")
    deployment_shape: str = option(
        "", "a deployment shape (default: none; the GPUs above are asked for)"
    )
    # A deployment on scarce GPUs can take well over the 15 minutes the estimate allows.
    endpoint_wait: float = option(
        60.0, "minutes to wait for the endpoint to be ready before deleting it and failing"
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        return problems + bound_problems(
            self,
            at_least={"lora_rank": 1, "batch_size": 1, "accelerator_count": 1},
            above={"learning_rate": 0},
        )


class _Fireworks(HostedBackend):
    """What both Fireworks backends share: the client, its errors, the model, chat completions."""

    provider = "Fireworks"
    credential = "API key"
    credential_hint = f"Check {KEY}."
    permission_hint = f"Check that the key belongs to the account ({ACCOUNT}) and may do this."

    def connect(self, opts: Any) -> Any:
        import fireworks

        return fireworks.Fireworks(
            api_key=secrets.get(KEY),
            account_id=account(opts) or None,
            base_url=opts.base_url or os.environ.get("FIREWORKS_BASE_URL") or None,
            max_retries=0,  # ftx.hosted retries, honouring Retry-After and Ctrl-C
            timeout=opts.timeout,
        )

    def credentials_problem(self, opts: Any) -> Problem | None:
        try:
            require("fireworks", package="fireworks-ai", extra="fireworks", purpose="Fireworks")
        except FtxError as exc:
            return Problem(exc.message.rstrip("."), self.name, hint=exc.hint)
        if not secrets.get(KEY):
            return Problem(
                f"{KEY} is not set",
                self.name,
                hint=secrets.where(KEY) + "; ftx never writes keys down",
            )
        return None

    def failure(self, exc: BaseException) -> Failure | None:
        import fireworks

        return api_failure(exc, fireworks)

    def model_record(self, client: Any, model: str) -> Any:
        """What Fireworks says of ``model`` (one request; raises when it does not exist)."""
        owner, model_id = wire.split_name(model)
        return client.models.get(model_id, account_id=owner)

    def name_problems(self, opts: Any) -> list[Problem]:
        if wire.is_model_name(opts.model):
            return []
        return [
            Problem(
                f"'{opts.model}' is not a Fireworks model name",
                self.name,
                hint=f"name it in full, e.g. --set {self.name}.model={DEFAULT_MODEL}",
            )
        ]

    def ask(
        self, client: Any, model: str, messages: list[Message], params: GenerationParams, opts: Any
    ) -> Completion:
        return chat_completion(client, model, messages, params)


class FireworksBase(_Fireworks):
    name = "fireworks-base"
    description = "a Fireworks serverless model, untuned, as a baseline"
    Options = ChatOptions

    def verify(self, client: Any, opts: ChatOptions) -> list[Problem]:
        problems = self.name_problems(opts)
        if problems:
            return problems
        record = self.model_record(client, opts.model)
        if record.supports_serverless is False:
            return [
                Problem(
                    f"{opts.model} is not served serverless, and fireworks-base asks only "
                    "serverless models",
                    self.name,
                    hint="pick a model with the Serverless tag in Fireworks' model library",
                )
            ]
        return self.retiring_problems(opts.model, record.deprecation_date)

    def retiring_problems(self, model: str, when: Any) -> list[Problem]:
        """A model whose serverless deployment has been taken down is refused; one within 30
        days of it is warned about, with the date."""
        try:
            day = date(when.year, when.month or 12, when.day or 28)
        except (AttributeError, TypeError, ValueError):
            return []  # no date, or not a whole one
        days = (day - date.today()).days
        if days < 0:
            return [Problem(f"{model} left Fireworks' serverless on {day.isoformat()}", self.name)]
        if days <= RETIRING_WARNING_DAYS:
            return [
                Problem(
                    f"{model} leaves Fireworks' serverless on {day.isoformat()}, in {days} day(s)",
                    self.name,
                    severity="warning",
                )
            ]
        return []

    def prices(self, opts: Any, model: str) -> Prices | None:
        return resolve(wire.serverless_prices(model), opts)


class FireworksFineTune(_Fireworks, HostedFineTune):
    name = "fireworks"
    description = "supervised LoRA fine-tuning on Fireworks AI (answers from a deployment)"
    Options = FineTuneOptions
    job_label = "Fireworks job"
    failed_hint = "See the job in the Fireworks dashboard (Fine-tuning) for its details."
    endpoint_keys = ("endpoint_created",)
    # fireworks-ai still has dpo_jobs, but a job Fireworks no longer accepts cannot be tested
    no_dpo = (
        "its docs (read 2026-11-30) say managed DPO jobs no longer accept new jobs, so ftx does "
        "not create them"
    )

    # --- preflight ---------------------------------------------------------------------------

    def model_problems(self, opts: FineTuneOptions) -> list[Problem]:
        problems = self.name_problems(opts)
        if not opts.dedicated_endpoint and not opts.serverless:
            hourly = serve.hourly_price(opts)
            about = f" (about {money(hourly)} an hour)" if hourly else ""
            problems.append(
                Problem(
                    "the tuned model needs a Fireworks deployment to answer, billed by the "
                    f"GPU-hour{about}, and none is allowed",
                    self.name,
                    hint=f"--set {self.name}.dedicated_endpoint=true lets ftx create one and "
                    "delete it when answering ends",
                )
            )
        elif opts.dedicated_endpoint and serve.hourly_price(opts) is None:
            problems.append(
                Problem(
                    f"no price known for a deployment on {opts.accelerator_type}; its cost is "
                    "not estimated",
                    self.name,
                    hint=f"--set {self.name}.endpoint_hourly_price=DOLLARS_PER_HOUR",
                    severity="warning",
                )
            )
        return problems

    def verify(self, client: Any, opts: FineTuneOptions) -> list[Problem]:
        if not account(opts):
            names = [a.name.rsplit("/", 1)[-1] for a in client.accounts.list() if a.name]
            return [
                Problem(
                    "no Fireworks account id to tune in",
                    self.name,
                    hint=f"export {ACCOUNT}=ID or --set {self.name}.account_id=ID"
                    + (f" (this key's: {', '.join(names)})" if names else ""),
                )
            ]
        if not wire.is_model_name(opts.model):
            return []  # model_problems said so
        record = self.model_record(client, opts.model)
        if record.tunable is False:
            return [
                Problem(
                    f"{opts.model} cannot be tuned on Fireworks",
                    self.name,
                    hint="pick a model with the Tunable tag in Fireworks' model library",
                )
            ]
        if opts.serverless and record.supports_serverless is False:
            return [
                Problem(
                    f"{opts.model} is not served serverless, so its LoRA cannot be"
                    + ("; a deployment will be created" if opts.dedicated_endpoint else ""),
                    self.name,
                    hint=""
                    if opts.dedicated_endpoint
                    else f"--set {self.name}.dedicated_endpoint=true",
                    severity="warning" if opts.dedicated_endpoint else "error",
                )
            ]
        return []

    def data_problems(
        self, examples: list[Example], validation: int, opts: FineTuneOptions
    ) -> list[Problem]:
        return wire.validate(examples, validation, self.name)

    def billable_tokens(self, splits: Splits, opts: FineTuneOptions) -> tuple[int, bool]:
        return sum(wire.tokens(e) for e in splits.train), False

    def prices(self, opts: Any, model: str) -> Prices | None:
        """Training by the token; answers from a deployment cost its hours (``endpoint_cost``),
        not tokens; answers from a serverless LoRA cost what the base's do."""
        training = (
            wire.training_price(model) if opts.training_price is None else opts.training_price
        )
        if training is None:
            return None
        answers = (wire.serverless_prices(model) if opts.serverless else None) or Prices(0, 0, 0)
        return resolve(Prices(training, answers.input, answers.output), opts)

    def endpoint_cost(self, splits: Splits, opts: FineTuneOptions) -> float | None:
        return serve.estimate(len(splits.eval), opts) if opts.dedicated_endpoint else None

    def error(self, failure: Failure, what: str) -> FtxError:
        exc = super().error(failure, what)
        if what == f"creating the {self.job_noun}" and failure.status in (400, 403, 404, 410):
            # Fireworks' docs (read 2026-11-30) say managed SFT and DPO "no longer accept new
            # jobs" and point to its Training API; its API reference still lists this call.
            closing = (
                "Fireworks' docs say managed fine-tuning no longer accepts new jobs on some "
                "accounts (see docs/backends/fireworks.md, Limits)."
            )
            exc.hint = f"{exc.hint} {closing}" if exc.hint else closing
        return exc

    # --- upload and job ----------------------------------------------------------------------

    def write_data(self, examples: list[Example], opts: FineTuneOptions) -> str:
        return wire.to_jsonl(examples)

    def upload(self, client: Any, path: Path, opts: FineTuneOptions, ctx: BackendContext) -> str:
        """Create the dataset (named by ftx, so a retry finds it), upload the file in one
        request, and wait until Fireworks has it ready."""
        import fireworks

        dataset_id = f"ftx-{uid(ctx)}-{path.stem}"
        lines = path.read_text(encoding="utf-8").count("\n")
        try:
            dataset = client.datasets.create(
                dataset_id=dataset_id,
                dataset={
                    "display_name": f"ftx {ctx.run_id} {path.stem}"[:63],
                    "example_count": str(lines),
                    "format": "CHAT",
                    "user_uploaded": {},
                },
            )
        except fireworks.ConflictError:  # an attempt whose answer was lost created it
            dataset = client.datasets.get(dataset_id)
        if dataset.state != "READY":
            try:
                with open(path, "rb") as f:
                    client.datasets.upload(dataset_id, file=(path.name, f, "application/jsonl"))
            except fireworks.BadRequestError as exc:
                if "already uploaded" not in str(exc).lower():
                    raise
            pause = min(1.0, opts.poll_interval)
            while (dataset := client.datasets.get(dataset_id)).state != "READY":
                if dataset.status and dataset.status.code not in (None, "OK"):
                    raise FtxError(
                        f"Fireworks refused {path.name}: {dataset.status.message}",
                        hint="Check the examples it names; ftx checked the rules it knows.",
                    )
                ctx.sleep(pause)  # this runs in one request's retries: no retries of its own
                pause = min(pause * 1.5, opts.poll_interval)
        return dataset.name or f"accounts/{account(opts)}/datasets/{dataset_id}"

    def create_job(
        self, client: Any, files: dict[str, str], opts: FineTuneOptions, ctx: BackendContext
    ) -> str:
        import fireworks

        job_id = f"ftx-{uid(ctx)}"
        settings = {
            "epochs": opts.epochs,
            "learning_rate": opts.learning_rate,
            "lora_rank": opts.lora_rank,
            "batch_size_samples": opts.batch_size,
            "evaluation_dataset": files.get("validation_file"),
        }
        try:
            job = client.supervised_fine_tuning_jobs.create(
                supervised_fine_tuning_job_id=job_id,
                dataset=files["training_file"],
                base_model=opts.model,
                display_name=f"ftx {ctx.run_id} {ctx.dir.name}"[:63],
                **{k: v for k, v in settings.items() if v is not None},
            )
        except fireworks.ConflictError:  # created by an attempt whose answer was lost
            job = client.supervised_fine_tuning_jobs.get(job_id)
        return job.name or f"accounts/{account(opts)}/supervisedFineTuningJobs/{job_id}"

    def read_job(self, client: Any, job_id: str, opts: FineTuneOptions, ctx: BackendContext) -> Job:
        """The job now; its progress (epoch, percent) as train_log entries when it moves.
        Fireworks bills "dataset tokens x epochs": the tokens are its count of the dataset."""
        job = client.supervised_fine_tuning_jobs.get(job_id.rsplit("/", 1)[-1])
        status = job.state or "JOB_STATE_UNSPECIFIED"
        read = Job(wire.STATES.get(status, "running"), status)
        if read.state in ("failed", "cancelled"):
            read.error = (job.status.message if job.status else "") or status
        progress = job.job_progress
        if progress is not None and progress.percent is not None:
            entry = {"epoch": progress.epoch, "percent": progress.percent}
            if entry != ctx.state.get("progress"):
                read.metrics.append(entry)
                read.keep["progress"] = entry
        if read.state == "succeeded":
            read.model = job.output_model
            if job.create_time and job.completed_time:
                read.seconds = (job.completed_time - job.create_time).total_seconds()
            read.trained_tokens = self.trained_tokens(client, job)
            cost = wire.amount(job.estimated_cost)
            if cost is not None:
                read.keep["fireworks_estimated_cost_usd"] = cost
        return read

    def trained_tokens(self, client: Any, job: Any) -> int | None:
        """Fireworks' token count of the training dataset x the job's epochs; None when it does
        not say (the dataset deleted meanwhile, say)."""
        import fireworks

        try:
            dataset = client.datasets.get(job.dataset.rsplit("/", 1)[-1])
        except fireworks.NotFoundError:
            return None
        if not dataset.estimated_token_count or not job.epochs:
            return None
        return int(dataset.estimated_token_count) * job.epochs

    def cancel_job(self, client: Any, job_id: str, opts: FineTuneOptions) -> str:
        short = job_id.rsplit("/", 1)[-1]
        client.supervised_fine_tuning_jobs.cancel(short, body={})
        job = client.supervised_fine_tuning_jobs.get(short)
        return f"job {short}: {job.state or 'cancelling'}"

    # --- answering: a deployment, created and deleted here -------------------------------------

    def deploy(self, client: Any, model: str, opts: FineTuneOptions, ctx: BackendContext) -> str:
        return serve.deploy(self, client, model, opts, ctx)

    def undeploy(self, client: Any, endpoint: str, opts: FineTuneOptions) -> None:
        serve.undeploy(client, endpoint)

    def release(self, client: Any, opts: Any, ctx: BackendContext) -> None:
        """Delete the deployment (the lifecycle), then record what its hours cost."""
        created = ctx.state.get("endpoint_created")
        super().release(client, opts, ctx)
        if created is not None and "endpoint" not in ctx.state:
            serve.record_hours(created, opts, ctx)


@hookimpl
def ftx_register_backends(register):
    register(FireworksBase)
    register(FireworksFineTune)
