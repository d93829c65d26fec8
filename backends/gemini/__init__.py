"""Gemini tuning on Vertex AI, and the untuned Gemini model as a baseline (google-genai).

    gcloud auth application-default login        # or GOOGLE_APPLICATION_CREDENTIALS=key.json
    ftx run --data qa.jsonl --backend gemini-base --backend gemini \\
        --set gemini.project=my-project --set gemini.bucket=gs://my-bucket/ftx

``gemini`` converts the training split to Vertex's supervised-tuning JSONL, checks it against
Vertex's limits and estimates the cost (preflight), uploads it to Cloud Storage, creates a tuning
job and follows it; the upload's URI and the job's name are saved in the run directory the
moment they exist, so ``ftx resume`` re-attaches and never uploads or tunes twice. The tuned
model is asked through its endpoint with ``generate_content``.

What we found reading google-genai (3.x) and how ftx deals with it:
- Tuning exists only on Vertex AI: in API-key (Developer API) mode ``tunings.tune()`` drops
  ``TuningDataset.examples`` from the request and ``tunings.list()`` raises. ftx tunes on Vertex
  only and says so; the Developer API may serve ``gemini-base``.
- The client does not retry 429s unless ``HttpOptions(retry_options=...)`` is set, and its retry
  waits with exponential jitter, ignoring Retry-After. ftx retries itself (``retrying``),
  honouring Retry-After, and leaves the SDK's retry off so the two do not multiply.
- A client object that is garbage-collected closes its connections: models keep theirs.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ftx import secrets
from ftx.backend import Backend, BackendContext, Cancelled, TrainedModel
from ftx.data import holdout_share
from ftx.display import money
from ftx.errors import BackendError, ConfigError, FtxError, require
from ftx.hookspecs import hookimpl
from ftx.hosted import answer_concurrently, resolve
from ftx.options import bound_problems, option
from ftx.prices import Prices, gemini_prices
from ftx.secrets import redact
from ftx.types import Completion, GenerationParams, Message, Problem, Splits, TrainStats

from . import wire

DEFAULT_MODEL = "gemini-2.5-flash"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
RETRIED = (408, 429, 500, 502, 503, 504)


@dataclass
class GeminiOptions:
    model: str = option(DEFAULT_MODEL, "base model to tune (gemini) or to ask (gemini-base)")
    project: str = option(
        "", "Google Cloud project (default: GOOGLE_CLOUD_PROJECT, or the credentials' project)"
    )
    location: str = option("", "Vertex AI region (default: GOOGLE_CLOUD_LOCATION, or us-central1)")
    credentials_file: str = option(
        "", "service-account or ADC JSON file (default: Application Default Credentials)"
    )
    api_key_env: str = option(
        "GOOGLE_API_KEY", "gemini-base without a project: the Developer API key's variable"
    )
    base_url: str = option("", "API base URL (a private endpoint or proxy; default: Google's)")
    concurrency: int = option(8, "generate_content requests in flight at once during evaluation")
    max_retries: int = option(6, "retries on 429 (honouring Retry-After), 5xx and timeouts")
    request_timeout: float = option(120.0, "seconds before one request is abandoned (and retried)")
    input_price: float | None = option(
        None, "dollars per 1M input tokens (default: ftx's price table)"
    )
    output_price: float | None = option(
        None, "dollars per 1M output tokens (default: ftx's price table)"
    )

    def validate(self) -> list[str]:
        return bound_problems(
            self,
            at_least={"concurrency": 1, "max_retries": 0, "input_price": 0, "output_price": 0},
            above={"request_timeout": 0},
        )


@dataclass
class GeminiTuneOptions(GeminiOptions):
    bucket: str = option("", "gs://bucket[/prefix] the training data is uploaded to")
    training_uri: str = option(
        "", "a gs:// JSONL already in Vertex's format, used instead of uploading the training split"
    )
    epochs: int | None = option(None, "epochs (default: chosen by Vertex)")
    learning_rate_multiplier: float | None = option(
        None, "learning-rate multiplier (default: chosen by Vertex)"
    )
    adapter_size: int | None = option(
        None, "LoRA adapter size: 1, 2, 4, 8, 16 or 32 (default: chosen by Vertex)"
    )
    validation_size: float = option(
        0.0, "share of the training split uploaded as the validation set (never the eval split)"
    )
    display_name: str = option(
        "ftx", "name shown for the tuned model in the Cloud console (the run id is added)"
    )
    poll_interval: float = option(
        60.0, "longest wait between status checks, in seconds (backoff starts at 1)"
    )
    training_price: float | None = option(
        None, "dollars per 1M training tokens (default: ftx's price table)"
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        problems += bound_problems(
            self,
            at_least={"epochs": 1, "training_price": 0},
            above={"learning_rate_multiplier": 0, "poll_interval": 0},
        )
        if self.adapter_size is not None and self.adapter_size not in (1, 2, 4, 8, 16, 32):
            problems.append(f"adapter_size must be 1, 2, 4, 8, 16 or 32, got {self.adapter_size}")
        if not 0 <= self.validation_size < 1:
            problems.append("validation_size must be a fraction in [0, 1)")
        return problems


# --- connections ------------------------------------------------------------------------------


def project_and_location(
    opts: GeminiOptions, credentials_project: str | None = None
) -> tuple[str, str]:
    project = opts.project or os.environ.get("GOOGLE_CLOUD_PROJECT") or credentials_project or ""
    location = opts.location or os.environ.get("GOOGLE_CLOUD_LOCATION") or "us-central1"
    return project, location


def load_credentials(opts: GeminiOptions) -> tuple[Any, str | None]:
    """Google credentials and the project they name: the file given, or Application Default
    Credentials. Nothing is fetched: tokens are obtained on the first request."""
    import google.auth
    from google.auth import exceptions

    try:
        if opts.credentials_file:
            return google.auth.load_credentials_from_file(
                os.path.expanduser(opts.credentials_file), scopes=SCOPES
            )
        return google.auth.default(scopes=SCOPES)
    except exceptions.DefaultCredentialsError as exc:
        where = opts.credentials_file or "Application Default Credentials"
        raise ConfigError(
            f"no usable Google credentials ({where}): {str(exc).splitlines()[0]}",
            hint="Run 'gcloud auth application-default login', or set "
            "GOOGLE_APPLICATION_CREDENTIALS (or --set gemini.credentials_file) to a "
            "service-account key file.",
        ) from None


@dataclass
class Connection:
    """A google-genai client and how it was made. Kept for as long as it is used: a client that
    is garbage-collected closes its connections."""

    client: Any
    vertex: bool
    project: str = ""
    location: str = ""
    credentials: Any = None


def connect(opts: GeminiOptions, *, need_vertex: bool) -> Connection:
    require("google.genai", package="google-genai", extra="gemini", purpose="The Gemini backends")
    from google import genai
    from google.genai import types

    http = types.HttpOptions(
        base_url=opts.base_url or None, timeout=int(opts.request_timeout * 1000)
    )
    key = secrets.get(opts.api_key_env)
    if not need_vertex and key and not (opts.project or os.environ.get("GOOGLE_CLOUD_PROJECT")):
        return Connection(genai.Client(api_key=key, http_options=http), vertex=False)
    credentials, found_project = load_credentials(opts)
    project, location = project_and_location(opts, found_project)
    if not project:
        raise ConfigError(
            "no Google Cloud project for Vertex AI.",
            hint="--set gemini.project=PROJECT_ID, or export GOOGLE_CLOUD_PROJECT=PROJECT_ID",
        )
    client = genai.Client(
        vertexai=True,
        project=project,
        location=location,
        credentials=credentials,
        http_options=http,
    )
    return Connection(client, True, project, location, credentials)


def retrying(
    call: Callable[[], Any],
    what: str,
    opts: GeminiOptions,
    cancelled: threading.Event | None = None,
) -> Any:
    """``call()`` with retries on 429/5xx, waiting as long as Retry-After asks (else backing
    off), and Google's errors as one sentence."""
    from google.genai import errors

    delay = 1.0
    for attempt in range(opts.max_retries + 1):
        try:
            return call()
        except errors.APIError as exc:
            code = exc.code or 0
            if code in RETRIED and attempt < opts.max_retries:
                wait = _retry_after(exc)
                if wait is None:  # no Retry-After: back off exponentially
                    wait, delay = delay, min(delay * 2, 60.0)
                if (cancelled or threading.Event()).wait(wait):  # wakes at once on Ctrl-C
                    raise Cancelled from None
                continue
            raise _api_error(exc, what) from None
        except Exception as exc:  # network failures: httpx, google-auth transport
            if type(exc).__module__.startswith(("httpx", "google.auth", "requests")):
                raise FtxError(
                    f"cannot reach Google while {what}: {redact(str(exc))}",
                    hint="Check the network, or --set gemini.base_url.",
                ) from None
            raise
    raise AssertionError("unreachable")


def _retry_after(exc: Any) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return min(float(headers.get("retry-after") or headers.get("Retry-After")), 300.0)
    except (TypeError, ValueError):
        return None


def _api_error(exc: Any, what: str) -> FtxError:
    code, message = exc.code, redact(str(exc.message or exc.status or exc))
    if code == 401:
        return FtxError(
            f"Google rejected the credentials while {what} (401): {message}",
            hint="Refresh them: gcloud auth application-default login, or check "
            "GOOGLE_APPLICATION_CREDENTIALS.",
        )
    if code == 403:
        return FtxError(
            f"Google refused {what} (403): {message}",
            hint="The account needs the Vertex AI User role (roles/aiplatform.user) and, for "
            "uploads, Storage Object Admin on the bucket; and the Vertex AI API must be enabled.",
        )
    if code == 404:
        return FtxError(
            f"not found while {what} (404): {message}",
            hint="Check the model name, project and location.",
        )
    if code == 429:
        return FtxError(
            f"Google kept rate-limiting {what} after all retries: {message}",
            hint="Raise --set gemini.max_retries, lower --set gemini.concurrency, or ask for more "
            "quota.",
        )
    return FtxError(f"Google answered {code} while {what}: {message}")


def _prices(opts: GeminiOptions, model: str) -> Prices | None:
    return resolve(gemini_prices(model), opts)


# --- answering --------------------------------------------------------------------------------


class GeminiModel(TrainedModel):
    """A Gemini model (base, or a tuned model's endpoint) answering through generate_content."""

    def __init__(
        self,
        connection: Connection,
        model: str,
        opts: GeminiOptions,
        ctx: BackendContext,
        label: str,
        stats: TrainStats,
        price_model: str,
    ):
        self.connection, self.model, self.opts, self.ctx, self.label = (
            connection,
            model,
            opts,
            ctx,
            label,
        )
        self.stats, self.price_model = stats, price_model

    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        from google.genai import types

        def ask(messages: list[Message]) -> Completion:
            system, turns = wire.contents(messages)
            config = types.GenerateContentConfig(
                system_instruction=system,
                temperature=params.temperature,
                max_output_tokens=params.max_new_tokens,
                top_p=params.top_p if params.temperature > 0 else None,
                seed=params.seed,
            )
            response = retrying(
                lambda: self.connection.client.models.generate_content(
                    model=self.model, contents=turns, config=config
                ),
                f"asking {self.model}",
                self.opts,
                self.ctx.cancelled,
            )
            usage = response.usage_metadata
            reason = response.candidates[0].finish_reason if response.candidates else None
            return Completion(
                (response.text or "").strip(),
                (usage.prompt_token_count or 0) if usage else 0,
                (usage.candidates_token_count or 0) if usage else 0,
                truncated=getattr(reason, "name", reason) == "MAX_TOKENS",
            )

        return answer_concurrently(
            prompts,
            ask,
            ctx=self.ctx,
            label=self.label,
            info=self.model.rsplit("/", 1)[-1],
            concurrency=self.opts.concurrency,
            prices=_prices(self.opts, self.price_model),
            on_answer=on_answer,
        )


# --- the backends -----------------------------------------------------------------------------


class _GeminiBackend(Backend):
    remote = True

    def _connect_check(
        self, opts: GeminiOptions, *, need_vertex: bool, call: bool = True
    ) -> list[Problem]:
        """Credentials, project and model, with one read-only call (the model's metadata);
        ``call=False`` checks what can be checked without it."""
        try:
            require(
                "google.genai",
                package="google-genai",
                extra="gemini",
                purpose="The Gemini backends",
            )
            connection = connect(opts, need_vertex=need_vertex)
            if call:
                retrying(
                    lambda: connection.client.models.get(model=opts.model),
                    f"checking the model {opts.model}",
                    opts,
                )
        except FtxError as exc:
            return [Problem(exc.message.rstrip("."), self.name, hint=exc.hint)]
        return []


class GeminiBase(_GeminiBackend):
    name = "gemini-base"
    description = (
        "a Gemini model, untuned, as a baseline (Vertex AI, or the Developer API with a key)"
    )
    Options = GeminiOptions
    is_baseline = True

    def check(self, splits: Splits, opts: GeminiOptions) -> list[Problem]:
        return self._connect_check(opts, need_vertex=False)

    def train(self, splits: Splits, opts: GeminiOptions, ctx: BackendContext) -> TrainedModel:
        return GeminiModel(
            connect(opts, need_vertex=False),
            opts.model,
            opts,
            ctx,
            self.name,
            TrainStats(),
            opts.model,
        )

    def attach(
        self, state: dict[str, Any], opts: GeminiOptions, ctx: BackendContext
    ) -> TrainedModel:
        return self.train(Splits([], []), opts, ctx)


class GeminiTune(_GeminiBackend):
    name = "gemini"
    description = "supervised tuning of Gemini on Vertex AI (data through Cloud Storage)"
    Options = GeminiTuneOptions

    # --- preflight -------------------------------------------------------------------------

    def check(self, splits: Splits, opts: GeminiTuneOptions) -> list[Problem]:
        problems = []
        if opts.model not in wire.TUNABLE:
            problems.append(
                Problem(
                    f"'{opts.model}' cannot be tuned on Vertex AI",
                    self.name,
                    hint="tunable bases: " + ", ".join(wire.TUNABLE),
                )
            )
        if opts.adapter_size is not None and opts.adapter_size not in wire.ADAPTER_SIZES:
            problems.append(
                Problem(
                    f"adapter_size {opts.adapter_size} is not one of "
                    f"{', '.join(map(str, wire.ADAPTER_SIZES))}",
                    self.name,
                )
            )
        if opts.training_uri and not opts.training_uri.startswith("gs://"):
            problems.append(
                Problem(f"training_uri must be a gs:// URI, got '{opts.training_uri}'", self.name)
            )
        if not opts.training_uri:
            if not opts.bucket:
                problems.append(
                    Problem(
                        "no Cloud Storage bucket for the training data",
                        self.name,
                        hint=f"--set {self.name}.bucket=gs://BUCKET[/prefix]",
                    )
                )
            elif not opts.bucket.startswith("gs://"):
                problems.append(
                    Problem(
                        f"bucket must look like gs://BUCKET[/prefix], got '{opts.bucket}'",
                        self.name,
                    )
                )
            train, validation = holdout_share(splits.train, opts.validation_size, 0)
            problems += wire.validate(train, validation, self.name)
            try:
                require(
                    "google.cloud.storage",
                    package="google-cloud-storage",
                    extra="gemini",
                    purpose="Uploading to Cloud Storage",
                )
            except FtxError as exc:
                problems.append(Problem(exc.message.rstrip("."), self.name, hint=exc.hint))
        tokens, epochs, prices = self._billable(splits, opts)
        if prices is not None:
            problems.append(
                Problem(
                    f"estimated training cost {money(tokens * epochs * prices[0] / 1e6)}: about "
                    f"{tokens:,} tokens x {epochs} epochs at {money(prices[0])}/1M (approximate "
                    "token count)",
                    self.name,
                    severity="warning",
                )
            )
        # Every problem at once: credentials and project are checked whatever else is wrong;
        # the call to Google only when nothing else is (it is the one check that costs a request).
        return problems + self._connect_check(
            opts, need_vertex=True, call=not any(p.severity == "error" for p in problems)
        )

    def _billable(
        self, splits: Splits, opts: GeminiTuneOptions
    ) -> tuple[int, int, tuple[float, float, float] | None]:
        return (
            sum(wire.tokens(e) for e in splits.train),
            opts.epochs or 3,
            _prices(opts, opts.model),
        )

    def estimate_cost(self, splits: Splits, opts: GeminiTuneOptions) -> float | None:
        tokens, epochs, prices = self._billable(splits, opts)
        return tokens * epochs * prices[0] / 1e6 if prices else None

    # --- training ----------------------------------------------------------------------------

    def train(self, splits: Splits, opts: GeminiTuneOptions, ctx: BackendContext) -> TrainedModel:
        connection = connect(opts, need_vertex=True)
        state = ctx.state
        if "job_name" not in state:  # after a crash the job exists already: never a second one
            if opts.training_uri:
                state.setdefault("training_uri", opts.training_uri)
            train, validation = holdout_share(splits.train, opts.validation_size, ctx.seed)
            for key, examples in (("training_uri", train), ("validation_uri", validation)):
                if key in state or not examples:
                    continue
                path = ctx.dir / ("train.jsonl" if key == "training_uri" else "validation.jsonl")
                path.write_text(wire.to_jsonl(examples), encoding="utf-8")
                state[key] = self._upload(connection, opts, path, f"{ctx.run_id}/{path.name}")
                ctx.save_state()  # an uploaded file is never uploaded again
                ctx.log(f"uploaded {path.name} to {state[key]}")
            job = retrying(
                lambda: self._create_job(connection, opts, state, ctx.run_id),
                "creating the tuning job",
                opts,
            )
            state["job_name"] = job.name
            ctx.save_state()
            ctx.log(f"created tuning job {job.name}")
        return self._follow(connection, opts, ctx)

    def _upload(self, connection: Connection, opts: GeminiTuneOptions, path: Any, name: str) -> str:
        storage = require(
            "google.cloud.storage",
            package="google-cloud-storage",
            extra="gemini",
            purpose="Uploading to Cloud Storage",
        )
        from google.api_core import exceptions

        bucket_name, _, prefix = opts.bucket.removeprefix("gs://").partition("/")
        blob_name = "/".join(part for part in (prefix.strip("/"), "ftx", name) if part)
        try:
            client = storage.Client(project=connection.project, credentials=connection.credentials)
            client.bucket(bucket_name).blob(blob_name).upload_from_filename(
                str(path), content_type="application/jsonl"
            )
        except exceptions.GoogleAPICallError as exc:
            raise FtxError(
                f"cannot upload {path.name} to gs://{bucket_name}/{blob_name}: "
                f"{redact(str(exc.message))}",
                hint="Check that the bucket exists and that the account may write to it (Storage "
                "Object Admin).",
            ) from None
        return f"gs://{bucket_name}/{blob_name}"

    def _create_job(
        self, connection: Connection, opts: GeminiTuneOptions, state: dict[str, Any], run_id: str
    ) -> Any:
        from google.genai import types

        config = types.CreateTuningJobConfig(
            epoch_count=opts.epochs,
            learning_rate_multiplier=opts.learning_rate_multiplier,
            adapter_size=wire.ADAPTER_SIZES.get(opts.adapter_size) if opts.adapter_size else None,
            tuned_model_display_name=f"{opts.display_name}-{run_id}"[:128],
            validation_dataset=types.TuningValidationDataset(gcs_uri=state["validation_uri"])
            if state.get("validation_uri")
            else None,
        )
        with _quiet_experimental():
            return connection.client.tunings.tune(
                base_model=opts.model,
                training_dataset=types.TuningDataset(gcs_uri=state["training_uri"]),
                config=config,
            )

    def _follow(
        self, connection: Connection, opts: GeminiTuneOptions, ctx: BackendContext
    ) -> TrainedModel:
        """Poll the job with backoff until it ends; record its state changes and data statistics."""
        name = ctx.state["job_name"]
        task = ctx.task(f"{self.name}: {name.rsplit('/', 1)[-1]}")
        wait, started, last = 1.0, time.time(), None
        while True:
            job = retrying(
                lambda: connection.client.tunings.get(name=name),
                f"checking tuning job {name}",
                opts,
                ctx.cancelled,
            )
            status = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
            if status != last:
                ctx.log(f"tuning job {name}: {status}")
                last = status
            ctx.state["job_state"] = status
            ctx.save_state()
            task.update(info=status.removeprefix("JOB_STATE_").lower())
            if status == "JOB_STATE_SUCCEEDED":
                break
            if status in ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"):
                reason = (
                    job.error.message
                    if job.error and job.error.message
                    else status.removeprefix("JOB_STATE_").lower()
                )
                raise BackendError(
                    f"Vertex AI tuning job {name} {status.removeprefix('JOB_STATE_').lower()}: "
                    f"{redact(reason)}",
                    hint="See the job in the Cloud console (Vertex AI > Tuning) for details.",
                )
            ctx.sleep(wait)  # pending or running: wait, but stop at once (Cancelled) on Ctrl-C
            wait = min(wait * 1.5, opts.poll_interval)
        endpoint = job.tuned_model.endpoint if job.tuned_model else None
        if not endpoint:
            raise BackendError(f"tuning job {name} succeeded without an endpoint to ask.")
        ctx.state["endpoint"] = endpoint
        ctx.state["tuned_model"] = job.tuned_model.model
        stats = _data_stats(job)
        prices = _prices(opts, opts.model)
        billable = stats.get("total_billable_token_count") or 0
        ctx.state["data_stats"] = stats
        ctx.save_state()
        train = TrainStats(
            seconds=_job_seconds(job, started),
            train_tokens=billable,
            steps=0,
            cost_usd=round(billable * prices[0] / 1e6, 6) if prices and billable else None,
        )
        task.done(info=f"succeeded: {endpoint.rsplit('/', 1)[-1]}")
        return GeminiModel(connection, endpoint, opts, ctx, self.name, train, opts.model)

    def attach(
        self, state: dict[str, Any], opts: GeminiTuneOptions, ctx: BackendContext
    ) -> TrainedModel:
        connection = connect(opts, need_vertex=True)
        if not state.get("endpoint"):
            return self._follow(connection, opts, ctx)
        return GeminiModel(
            connection, state["endpoint"], opts, ctx, self.name, TrainStats(), opts.model
        )

    def cancel(self, state: dict[str, Any], opts: GeminiTuneOptions) -> str:
        name = state.get("job_name")
        if not name:
            return "no tuning job was created"
        if state.get("endpoint"):
            return f"job {name} had already finished"
        connection = connect(opts, need_vertex=True)
        retrying(lambda: connection.client.tunings.cancel(name=name), f"cancelling {name}", opts)
        job = retrying(lambda: connection.client.tunings.get(name=name), f"checking {name}", opts)
        return f"job {name}: {job.state.name if job.state else 'cancelling'}"


def _data_stats(job: Any) -> dict[str, Any]:
    stats = getattr(getattr(job, "tuning_data_stats", None), "supervised_tuning_data_stats", None)
    if stats is None:
        return {}
    keep = (
        "total_billable_token_count",
        "tuning_dataset_example_count",
        "total_tuning_character_count",
        "tuning_step_count",
    )
    return {k: getattr(stats, k) for k in keep if getattr(stats, k, None) is not None}


def _job_seconds(job: Any, started: float) -> float:
    if job.create_time and job.end_time:
        return (job.end_time - job.create_time).total_seconds()
    return time.time() - started


@contextlib.contextmanager
def _quiet_experimental() -> Iterator[None]:
    """google-genai warns that tuning is experimental on every call; once in the docs is enough."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tuning implementation is experimental.*")
        yield


@hookimpl
def ftx_register_backends(register):
    register(GeminiBase)
    register(GeminiTune)
