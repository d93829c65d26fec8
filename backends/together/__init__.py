"""Together AI fine-tuning, and the untuned Together model as a baseline (the ``together`` SDK).

    export TOGETHER_API_KEY=...
    ftx run --data qa.jsonl --backend together-base --backend together

``together`` converts the training split to Together's conversational JSONL, checks it and
estimates the cost (preflight), uploads it with the SDK's own upload (a signed URL, a PUT that
may be redirected, then a preprocess call), asks Together's estimate endpoint for the job's
price, creates a supervised LoRA job (``lora=false``: full fine-tuning) and follows it, through
the hosted lifecycle (``ftx.hosted``): the file and job ids are saved the moment they exist, so
``ftx resume`` re-attaches and never uploads or trains twice. The key is read from
TOGETHER_API_KEY and never written anywhere.

The tuned model answers through chat completions: serverless where Together serves LoRA
fine-tunes of the base; otherwise only on a dedicated endpoint, which bills by the minute, so
ftx creates one only with ``dedicated_endpoint=true``, counts it in the estimate, and deletes it
when answering ends, fails or is stopped, and on ``ftx cancel`` (see ``endpoint``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx import preference, secrets
from ftx.backend import BackendContext, TrainedModel
from ftx.display import money
from ftx.errors import FtxError, install_command
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
from ftx.options import bound_problems, option, seed_problems
from ftx.prices import Prices
from ftx.types import (
    Completion,
    Example,
    GenerationParams,
    Message,
    Problem,
    Splits,
    TrainStats,
)

from . import endpoint, wire

KEY = "TOGETHER_API_KEY"
DEFAULT_BASE = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"  # Together's base for tuning
DEFAULT_CHAT = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"  # the same model, served serverless


@dataclass
class ChatOptions(ClientOptions):
    model: str = option(DEFAULT_CHAT, "the model to ask")


@dataclass
class FineTuneOptions(EndpointOptions):
    model: str = option(DEFAULT_BASE, "base model to fine-tune")
    epochs: int = option(1, "training epochs")
    lora: bool = option(True, "train a LoRA adapter; false: full fine-tuning")
    lora_rank: int | None = option(None, "LoRA rank (default: the model's, from Together's limits)")
    lora_alpha: float | None = option(None, "LoRA alpha (default: twice the rank)")
    learning_rate: float | None = option(None, "peak learning rate (default: Together's)")
    batch_size: int | None = option(None, "batch size (default: the largest the model allows)")
    evals: int | None = option(
        None, "validation passes during training (default: one an epoch with a validation file)"
    )
    suffix: str = option("ftx", "text in the tuned model's name (up to 40 characters)")
    seed: int | None = option(None, "job seed (default: the run's seed)")
    project_id: str = option(
        "", "project of the endpoint (default: TOGETHER_PROJECT_ID, or the API key's project)"
    )
    endpoint_config: str = option(
        "",
        "the endpoint's deployment config, i.e. its hardware (default: the first Together lists)",
    )
    endpoint_inactive_timeout: int = option(
        30, "minutes without requests before Together stops the endpoint itself (0: never)"
    )

    def validate(self) -> list[str]:
        problems = super().validate() + seed_problems("seed", self.seed)
        problems += bound_problems(
            self,
            at_least={"lora_rank": 1, "batch_size": 1, "evals": 0},
            above={"lora_alpha": 0, "learning_rate": 0},
        )
        if len(self.suffix) > 40:
            problems.append(f"suffix must be at most 40 characters, got {len(self.suffix)}")
        if self.endpoint_inactive_timeout and not 30 <= self.endpoint_inactive_timeout <= 1440:
            problems.append(
                "endpoint_inactive_timeout must be 0 or from 30 to 1440 minutes, got "
                f"{self.endpoint_inactive_timeout}"
            )
        return problems


class _Together(HostedBackend):
    """What both Together backends share: the client, its errors, the check, chat completions."""

    provider = "Together"
    credential = "API key"
    credential_hint = f"Check {KEY}."
    permission_hint = "Check the API key's project and the account's access to this API."

    def connect(self, opts: Any) -> Any:
        import together

        return together.Together(
            api_key=secrets.get(KEY),
            base_url=opts.base_url or None,  # None: TOGETHER_BASE_URL, else Together's
            project_id=getattr(opts, "project_id", "") or None,  # None: TOGETHER_PROJECT_ID
            max_retries=0,  # ftx.hosted retries, honouring Retry-After and Ctrl-C
            timeout=opts.timeout,
        )

    def credentials_problem(self, opts: Any) -> Problem | None:
        try:
            import together  # noqa: F401
        except ImportError:
            return Problem(
                "needs the 'together' package", self.name, hint=install_command("together")
            )
        if not secrets.get(KEY):
            return Problem(
                f"{KEY} is not set",
                self.name,
                hint=secrets.where(KEY) + "; ftx never writes keys down",
            )
        return None

    def failure(self, exc: BaseException) -> Failure | None:
        import together

        return api_failure(exc, together)

    def verify(self, client: Any, opts: Any) -> list[Problem]:
        client.whoami()  # the key works (the model is checked by its first answer)
        return []

    def ask(
        self, client: Any, model: str, messages: list[Message], params: GenerationParams, opts: Any
    ) -> Completion:
        return chat_completion(client, model, messages, params)

    def prices(self, opts: Any, model: str) -> Prices | None:
        return resolve(wire.table_prices(model, getattr(opts, "lora", True)), opts)


class TogetherBase(_Together):
    name = "together-base"
    description = "a Together AI chat model, untuned, as a baseline"
    Options = ChatOptions


class TogetherFineTune(_Together, HostedFineTune):
    name = "together"
    description = "supervised fine-tuning (LoRA or full) on Together AI"
    Options = FineTuneOptions
    methods = ("sft", "dpo")
    job_label = "Together job"
    failed_hint = "See the job's events in log.txt."
    endpoint_keys = endpoint.KEPT

    # --- preflight -------------------------------------------------------------------------

    def serverless(self, opts: FineTuneOptions) -> bool:
        """Whether the tuned model can be asked without an endpoint of its own."""
        if opts.serverless is not None:
            return opts.serverless
        return opts.lora and opts.model in wire.SERVERLESS_LORA

    def model_problems(self, opts: FineTuneOptions) -> list[Problem]:
        if self.serverless(opts):
            return []
        why = (
            "a full fine-tune (lora=false)"
            if not opts.lora
            else f"a LoRA of {opts.model}, which Together is not known to serve serverless,"
        )
        if not opts.dedicated_endpoint:
            cost = money(self.hourly(opts) * self.minutes(opts) / 60)
            hint = (
                f"--set {self.name}.dedicated_endpoint=true to allow one (about {cost} for "
                f"{self.minutes(opts):g} minutes; ftx deletes it when answering ends)"
            )
            if opts.lora:
                hint += f", or --set {self.name}.serverless=true if Together serves it"
            return [
                Problem(
                    f"{why} can only answer from a dedicated endpoint, billed by the minute, "
                    "which ftx creates only when allowed",
                    self.name,
                    hint=hint,
                )
            ]
        return [
            Problem(
                f"{why} answers from a dedicated endpoint that ftx creates after training and "
                "deletes when answering ends",
                self.name,
                severity="warning",
            )
        ]

    def verify(self, client: Any, opts: FineTuneOptions) -> list[Problem]:
        """Together's limits for the model: the key works, the model is tunable, and the
        options fit it."""
        limits = client.fine_tuning.model_limits(model_name=opts.model)
        lora = limits.lora_training
        bounds = lora if opts.lora else limits.full_training
        smallest, largest = (bounds.min_batch_size, bounds.max_batch_size) if bounds else (0, 0)
        rate, batch, rank = opts.learning_rate, opts.batch_size, opts.lora_rank
        broken = [
            (not opts.lora and not limits.supports_full_training, "LoRA only (lora=true)"),
            (
                opts.epochs > limits.max_num_epochs,
                f"at most {limits.max_num_epochs} epochs, not {opts.epochs}",
            ),
            (rank is not None and rank > lora.max_rank, f"a LoRA rank up to {lora.max_rank}"),
            (
                rate is not None
                and not limits.min_learning_rate <= rate <= limits.max_learning_rate,
                f"a learning rate from {limits.min_learning_rate:g} to "
                f"{limits.max_learning_rate:g}",
            ),
            (
                batch is not None and bounds is not None and not smallest <= batch <= largest,
                f"a batch size from {smallest} to {largest}",
            ),
        ]
        return [
            Problem(f"Together tunes {opts.model} with {allowed}", self.name)
            for bad, allowed in broken
            if bad
        ]

    def data_problems(
        self, examples: list[Example], validation: int, opts: FineTuneOptions
    ) -> list[Problem]:
        if opts.method == "dpo":  # trains on the pairs only (preflight warns of the others)
            examples = preference.pairs(examples)
        return wire.validate(examples, self.name, validation)

    def billable_tokens(self, splits: Splits, opts: FineTuneOptions) -> tuple[int, bool]:
        # Validation examples are billed once per evaluation, and there is one an epoch by
        # default: so the whole training split, once an epoch.
        examples = splits.train
        if opts.method == "dpo":  # the prompt with each answer: what a DPO step reads
            pairs = preference.pairs(examples)
            examples = pairs + [preference.rejected_example(e) for e in pairs]
        return sum(wire.tokens(e) for e in examples), False

    def endpoint_cost(self, splits: Splits, opts: FineTuneOptions) -> float | None:
        if self.serverless(opts) or not opts.dedicated_endpoint:
            return None
        return self.hourly(opts) * self.minutes(opts) / 60

    def hourly(self, opts: FineTuneOptions) -> float:
        if opts.endpoint_hourly_price is not None:
            return opts.endpoint_hourly_price
        return wire.ENDPOINT_HOURLY[wire.DEFAULT_ENDPOINT_HARDWARE]

    def minutes(self, opts: FineTuneOptions) -> float:
        """How long the endpoint is expected to run: the option, else ftx's allowance."""
        if opts.endpoint_minutes is not None:
            return opts.endpoint_minutes
        return wire.ENDPOINT_MINUTES

    # --- upload and job ----------------------------------------------------------------------

    def write_data(self, examples: list[Example], opts: FineTuneOptions) -> str:
        if opts.method == "dpo":  # Together's preference format is OpenAI's
            return preference.to_jsonl(preference.pairs(examples), "openai")
        return wire.to_jsonl(examples)

    def upload(self, client: Any, path: Path, opts: FineTuneOptions, ctx: BackendContext) -> str:
        from together.lib import FileTypeError

        try:
            uploaded = client.files.upload(file=path, purpose="fine-tune", check=True)
        except FileTypeError as exc:
            raise FtxError(f"the together SDK refused {path.name}: {exc}") from None
        if uploaded.processing_status in ("FAILED", "INVALID_FORMAT"):
            raise FtxError(
                f"Together rejected {path.name} ({uploaded.processing_status}).",
                hint=f"See file {uploaded.id} in Together's dashboard for its validation report.",
            )
        return uploaded.id

    def create_job(
        self, client: Any, files: dict[str, str], opts: FineTuneOptions, ctx: BackendContext
    ) -> str:
        """Together's price for the job first (an account that may not proceed is stopped
        here, before anything is billed), then the job."""
        from together import omit

        limits = client.fine_tuning.model_limits(model_name=opts.model)
        rank = opts.lora_rank or limits.lora_training.default_rank
        alpha = int(opts.lora_alpha or 2 * rank)
        validation = files.get("validation_file")
        evals = opts.evals if opts.evals is not None else (opts.epochs if validation else 0)
        dpo = opts.method == "dpo"
        method: dict[str, Any] = {"method": "sft", "train_on_inputs": "auto"}
        if dpo:
            method = {"method": "dpo"} | ({"dpo_beta": opts.beta} if opts.beta is not None else {})
        estimate = client.fine_tuning.estimate_price(
            training_file=files["training_file"],
            validation_file=validation or omit,
            model=opts.model,
            n_epochs=opts.epochs,
            n_evals=evals,
            training_method=method,
            training_type={"type": "Lora", "lora_r": rank, "lora_alpha": alpha}
            if opts.lora
            else {"type": "Full"},
        )
        self.note_estimate(estimate, ctx)
        hyper = {"learning_rate": opts.learning_rate} if opts.learning_rate is not None else {}
        try:
            job = client.fine_tuning.create(
                training_file=files["training_file"],
                validation_file=validation or "",
                model=opts.model,
                n_epochs=opts.epochs,
                n_evals=evals,
                batch_size=opts.batch_size or "max",
                lora=opts.lora,
                lora_r=rank if opts.lora else None,
                lora_alpha=alpha if opts.lora else None,
                suffix=opts.suffix or None,
                random_seed=opts.seed if opts.seed is not None else ctx.seed,
                train_on_inputs=None if dpo else "auto",
                training_method=opts.method,
                dpo_beta=opts.beta if dpo else None,
                model_limits=limits,
                **hyper,
            )
        except ValueError as exc:  # the SDK's own checks of the request
            raise FtxError(f"the together SDK refused the job: {exc}") from None
        return job.id

    def note_estimate(self, estimate: Any, ctx: BackendContext) -> None:
        if estimate.estimation_available is False:
            ctx.log(
                f"Together gave no price estimate ({estimate.unavailable_reason}): ftx's stands"
            )
            return
        price = estimate.estimated_total_price
        ctx.state["estimated_cost_usd"] = price
        ctx.save_state()
        ctx.log(
            f"Together estimates the job at {money(price or 0)} "
            f"({estimate.estimated_train_token_count or 0:,.0f} training tokens)"
        )
        if estimate.allowed_to_proceed is False:
            raise FtxError(
                f"Together estimates the job at {money(price or 0)} and says this account may "
                f"not proceed (its limit is {money(estimate.user_limit or 0)}); no job was "
                "created.",
                hint="Raise the credit limit in Together's billing settings, then ftx resume.",
            )

    def read_job(self, client: Any, job_id: str, opts: FineTuneOptions, ctx: BackendContext) -> Job:
        """The job, its events not seen before (log lines; an error event says why it failed)
        and its new metrics (train_log entries)."""
        job = client.fine_tuning.retrieve(job_id)
        status = str(job.status)
        read = Job(wire.STATES.get(status, "running"), status)  # a status added later: going on
        seen = set(ctx.state.get("events_seen", []))
        for event in client.fine_tuning.list_events(job_id).data:
            key = f"{event.created_at}|{event.type}"
            if event.level == "error":
                read.error = event.message
            if key not in seen:
                seen.add(key)
                read.messages.append(event.message)
        read.keep["events_seen"] = sorted(seen)
        if read.state in ("running", "succeeded"):
            last = ctx.state.get("metrics_step", 0)
            rows = client.fine_tuning.list_metrics(job_id, global_step_from=last + 1).metrics
            for entry in filter(None, map(wire.metric, rows or [])):
                read.metrics.append(entry)
                last = max(last, entry["step"])
            read.keep["metrics_step"] = last
        if read.state == "succeeded":
            read.model = job.x_model_output_name
            read.trained_tokens = job.token_count
            if job.created_at and job.updated_at:
                read.seconds = (job.updated_at - job.created_at).total_seconds()
            read.keep.update(
                total_price=job.total_price,
                model_object=job.api_model_object_id or job.adapter_object_id,
                model_revision=job.api_model_object_revision_id,
            )
        return read

    def cancel_job(self, client: Any, job_id: str, opts: FineTuneOptions) -> str:
        job = client.fine_tuning.cancel(job_id)
        return f"job {job.id}: {job.status}"

    # --- answering: serverless, or a dedicated endpoint always deleted -------------------------

    def served(
        self, client: Any, model: str, opts: FineTuneOptions, ctx: BackendContext, stats: TrainStats
    ) -> TrainedModel:
        if ctx.state.get("total_price") is not None:  # what Together billed, once it says
            stats.cost_usd = round(ctx.state["total_price"] / wire.NANODOLLARS, 6)
            if "training" not in ctx.costs:  # recorded now: paid even if no endpoint starts
                ctx.add_cost("training", stats.cost_usd)
        model_served = super().served(client, model, opts, ctx, stats)
        if ctx.state.get("endpoint"):  # an endpoint bills by the minute, not by the token
            model_served.price_model = model_served.model
        return model_served

    def deploy(
        self, client: Any, model: str, opts: FineTuneOptions, ctx: BackendContext
    ) -> str | None:
        if self.serverless(opts):
            return None
        target = ctx.state.get("model_object")
        if not target:
            raise FtxError(f"Together did not say which model object {model} is: cannot deploy it.")
        revision = ctx.state.get("model_revision")
        return endpoint.deploy(
            lambda request, what: self.call(request, what, opts, ctx.cancelled),
            client,
            target + (f"/revisions/{revision}" if revision else ""),
            opts,
            ctx,
        )

    def undeploy(self, client: Any, path: str, opts: FineTuneOptions) -> None:
        endpoint.undeploy(client, path)

    def release(self, client: Any, opts: FineTuneOptions, ctx: BackendContext) -> None:
        """Delete the endpoint (the lifecycle), then record what its time cost at the hourly
        price."""
        started = ctx.state.get("endpoint_started") if ctx.state.get("endpoint") else None
        super().release(client, opts, ctx)
        if started:
            ctx.add_cost("endpoint", (time.time() - started) / 3600 * self.hourly(opts))


@hookimpl
def ftx_register_backends(register):
    register(TogetherBase)
    register(TogetherFineTune)
