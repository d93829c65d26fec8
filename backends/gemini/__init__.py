"""Gemini tuning on Vertex AI, and the untuned Gemini model as a baseline (google-genai).

    gcloud auth application-default login        # or GOOGLE_APPLICATION_CREDENTIALS=key.json
    ftx run --data qa.jsonl --backend gemini-base --backend gemini \\
        --set gemini.project=my-project --set gemini.bucket=gs://my-bucket/ftx

``gemini`` converts the training split to Vertex's supervised-tuning JSONL, checks it against
Vertex's limits and estimates the cost (preflight), uploads it to Cloud Storage, creates a tuning
job and follows it; the upload's URI and the job's name are saved in the run directory the
moment they exist, so ``ftx resume`` re-attaches and never uploads or tunes twice. The tuned
model is asked through its endpoint with ``generate_content``.

With ``method=dpo`` the job is Vertex AI preference tuning (``method=PREFERENCE_TUNING`` in
google-genai's ``CreateTuningJobConfig``, ``beta`` with it) on the training split's pairs, written
in Vertex's preference format (``ftx.preference.to_jsonl(..., "gemini")``).

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx import preference, secrets
from ftx.backend import BackendContext
from ftx.errors import ConfigError, FtxError, require
from ftx.hookspecs import hookimpl
from ftx.hosted import (
    ClientOptions,
    Failure,
    HostedBackend,
    HostedFineTune,
    Job,
    TuneOptions,
    resolve,
    retry_after,
)
from ftx.options import bound_problems, option
from ftx.prices import Prices, gemini_prices
from ftx.secrets import redact
from ftx.types import Completion, Example, GenerationParams, Message, Problem, Splits

from . import wire

DEFAULT_MODEL = "gemini-2.5-flash"
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
STATES = {  # Vertex AI's job states in the lifecycle's words
    "JOB_STATE_QUEUED": "queued",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "failed",
}


@dataclass
class GeminiOptions(ClientOptions):
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
    timeout: float = option(
        120.0,
        "seconds before one request is abandoned (and retried)",
        aliases=("request_timeout",),
    )


@dataclass
class GeminiTuneOptions(GeminiOptions, TuneOptions):
    bucket: str = option("", "gs://bucket[/prefix] the training data is uploaded to")
    training_uri: str = option(
        "", "a gs:// JSONL already in Vertex's format, used instead of uploading the training split"
    )
    learning_rate_multiplier: float | None = option(
        None, "learning-rate multiplier (default: chosen by Vertex)"
    )
    adapter_size: int | None = option(
        None, "LoRA adapter size: 1, 2, 4, 8, 16 or 32 (default: chosen by Vertex)"
    )
    display_name: str = option(
        "ftx", "name shown for the tuned model in the Cloud console (the run id is added)"
    )
    poll_interval: float = option(
        60.0, "longest wait between status checks, in seconds (backoff starts at 1)"
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        problems += bound_problems(self, above={"learning_rate_multiplier": 0})
        if self.adapter_size is not None and self.adapter_size not in (1, 2, 4, 8, 16, 32):
            problems.append(f"adapter_size must be 1, 2, 4, 8, 16 or 32, got {self.adapter_size}")
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

    http = types.HttpOptions(base_url=opts.base_url or None, timeout=int(opts.timeout * 1000))
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


class _Gemini(HostedBackend):
    """What both Gemini backends share: the client, its errors, the check, generate_content."""

    provider = "Google"
    credential = "credentials"
    credential_hint = (
        "Refresh them: gcloud auth application-default login, or check "
        "GOOGLE_APPLICATION_CREDENTIALS."
    )
    permission_hint = (
        "The account needs the Vertex AI User role (roles/aiplatform.user) and, for uploads, "
        "Storage Object Admin on the bucket; and the Vertex AI API must be enabled."
    )
    need_vertex = False

    def connect(self, opts: GeminiOptions) -> Connection:
        return connect(opts, need_vertex=self.need_vertex)

    def credentials_problem(self, opts: GeminiOptions) -> Problem | None:
        try:
            require(
                "google.genai",
                package="google-genai",
                extra="gemini",
                purpose="The Gemini backends",
            )
        except FtxError as exc:
            return Problem(exc.message.rstrip("."), self.name, hint=exc.hint)
        return None

    def failure(self, exc: BaseException) -> Failure | None:
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return Failure(
                exc.code or 0, str(exc.message or exc.status or exc), retry_after(headers)
            )
        if type(exc).__module__.startswith(("httpx", "google.auth", "requests")):
            return Failure(None, str(exc))  # the network, or a token that could not be fetched
        return None

    def verify(self, client: Connection, opts: GeminiOptions) -> list[Problem]:
        client.client.models.get(model=opts.model)
        return []

    def ask(
        self,
        client: Connection,
        model: str,
        messages: list[Message],
        params: GenerationParams,
        opts: GeminiOptions,
    ) -> Completion:
        from google.genai import types

        system, turns = wire.contents(messages)
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=params.temperature,
            max_output_tokens=params.max_new_tokens,
            top_p=params.top_p if params.temperature > 0 else None,
            seed=params.seed,
        )
        response = client.client.models.generate_content(model=model, contents=turns, config=config)
        usage = response.usage_metadata
        reason = response.candidates[0].finish_reason if response.candidates else None
        return Completion(
            (response.text or "").strip(),
            (usage.prompt_token_count or 0) if usage else 0,
            (usage.candidates_token_count or 0) if usage else 0,
            truncated=getattr(reason, "name", reason) == "MAX_TOKENS",
        )

    def prices(self, opts: Any, model: str) -> Prices | None:
        return resolve(gemini_prices(model), opts)


class GeminiBase(_Gemini):
    name = "gemini-base"
    description = (
        "a Gemini model, untuned, as a baseline (Vertex AI, or the Developer API with a key)"
    )
    Options = GeminiOptions


class GeminiTune(_Gemini, HostedFineTune):
    name = "gemini"
    description = "supervised tuning of Gemini on Vertex AI (data through Cloud Storage)"
    Options = GeminiTuneOptions
    need_vertex = True
    job_noun = "tuning job"
    job_label = "Vertex AI tuning job"
    failed_hint = "See the job in the Cloud console (Vertex AI > Tuning) for details."
    methods = ("sft", "dpo")

    # --- preflight -------------------------------------------------------------------------

    def model_problems(self, opts: GeminiTuneOptions) -> list[Problem]:
        problems = []
        if opts.model.startswith(wire.RETIRED):
            problems.append(
                Problem(
                    f"'{opts.model}' cannot be tuned on Vertex AI",
                    self.name,
                    hint="tunable bases: " + ", ".join(wire.TUNABLE),
                )
            )
        elif opts.model not in wire.TUNABLE:
            problems.append(
                Problem(
                    f"'{opts.model}' is not among the bases ftx knows Vertex AI tunes "
                    f"({', '.join(wire.TUNABLE)}); Vertex will refuse the job if it cannot",
                    self.name,
                    severity="warning",
                )
            )
        if opts.method == "dpo" and opts.adapter_size == 32:
            problems.append(
                Problem(
                    "Vertex AI preference tuning takes adapter sizes 1, 2, 4, 8 and 16, not 32",
                    self.name,
                    hint=f"--set {self.name}.adapter_size=16",
                )
            )
        if opts.training_uri and not opts.training_uri.startswith("gs://"):
            problems.append(
                Problem(f"training_uri must be a gs:// URI, got '{opts.training_uri}'", self.name)
            )
        if opts.training_uri:
            return problems
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
                    f"bucket must look like gs://BUCKET[/prefix], got '{opts.bucket}'", self.name
                )
            )
        try:
            require(
                "google.cloud.storage",
                package="google-cloud-storage",
                extra="gemini",
                purpose="Uploading to Cloud Storage",
            )
        except FtxError as exc:
            problems.append(Problem(exc.message.rstrip("."), self.name, hint=exc.hint))
        return problems

    def data_problems(
        self, examples: list[Example], validation: int, opts: GeminiTuneOptions
    ) -> list[Problem]:
        if opts.training_uri:  # the user's own file: Vertex checks it
            return []
        if opts.method == "dpo":  # trains on the pairs only (preflight warns of the others)
            examples = preference.pairs(examples)
        return wire.validate(examples, validation, self.name)

    def billable_tokens(self, splits: Splits, opts: GeminiTuneOptions) -> tuple[int, bool]:
        examples = splits.train
        if opts.method == "dpo":  # the prompt with each answer: what a DPO step reads
            pairs = preference.pairs(examples)
            examples = pairs + [preference.rejected_example(e) for e in pairs]
        return sum(wire.tokens(e) for e in examples), False

    # --- training ----------------------------------------------------------------------------

    def train(self, splits: Splits, opts: GeminiTuneOptions, ctx: BackendContext) -> Any:
        _upgrade(ctx.state)
        if opts.training_uri:
            ctx.state.setdefault("training_file", opts.training_uri)
        return super().train(splits, opts, ctx)

    def attach(self, state: dict[str, Any], opts: GeminiTuneOptions, ctx: BackendContext) -> Any:
        _upgrade(ctx.state)
        return super().attach(ctx.state, opts, ctx)

    def write_data(self, examples: list[Example], opts: GeminiTuneOptions) -> str:
        if opts.method == "dpo":
            return preference.to_jsonl(preference.pairs(examples), "gemini")
        return wire.to_jsonl(examples)

    def upload(
        self, client: Connection, path: Path, opts: GeminiTuneOptions, ctx: BackendContext
    ) -> str:
        storage = require(
            "google.cloud.storage",
            package="google-cloud-storage",
            extra="gemini",
            purpose="Uploading to Cloud Storage",
        )
        from google.api_core import exceptions

        bucket_name, _, prefix = opts.bucket.removeprefix("gs://").partition("/")
        name = f"{ctx.run_id}/{path.name}"
        blob_name = "/".join(part for part in (prefix.strip("/"), "ftx", name) if part)
        try:
            storage_client = storage.Client(project=client.project, credentials=client.credentials)
            storage_client.bucket(bucket_name).blob(blob_name).upload_from_filename(
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

    def create_job(
        self,
        client: Connection,
        files: dict[str, str],
        opts: GeminiTuneOptions,
        ctx: BackendContext,
    ) -> str:
        from google.genai import types

        dpo = opts.method == "dpo"
        config = types.CreateTuningJobConfig(
            method=types.TuningMethod.PREFERENCE_TUNING if dpo else None,
            beta=opts.beta if dpo else None,
            epoch_count=opts.epochs,
            learning_rate_multiplier=opts.learning_rate_multiplier,
            adapter_size=wire.ADAPTER_SIZES.get(opts.adapter_size) if opts.adapter_size else None,
            tuned_model_display_name=f"{opts.display_name}-{ctx.run_id}"[:128],
            validation_dataset=types.TuningValidationDataset(gcs_uri=files["validation_file"])
            if files.get("validation_file")
            else None,
        )
        with _quiet_experimental():
            return client.client.tunings.tune(
                base_model=opts.model,
                training_dataset=types.TuningDataset(gcs_uri=files["training_file"]),
                config=config,
            ).name

    def read_job(
        self, client: Connection, job_id: str, opts: GeminiTuneOptions, ctx: BackendContext
    ) -> Job:
        job = client.client.tunings.get(name=job_id)
        status = job.state.name if job.state is not None else "JOB_STATE_UNSPECIFIED"
        read = Job(STATES.get(status, "running"), status)
        if read.state == "failed":
            read.error = job.error.message if job.error and job.error.message else ""
        if read.state == "succeeded":
            # The tuned model answers at its endpoint, which Vertex creates and keeps.
            read.model = job.tuned_model.endpoint if job.tuned_model else None
            stats = _data_stats(job)
            read.trained_tokens = stats.get("total_billable_token_count")
            if job.create_time and job.end_time:
                read.seconds = (job.end_time - job.create_time).total_seconds()
            read.keep.update(
                data_stats=stats, tuned_model=job.tuned_model.model if job.tuned_model else None
            )
        return read

    def cancel_job(self, client: Connection, job_id: str, opts: GeminiTuneOptions) -> str:
        client.client.tunings.cancel(name=job_id)
        job = client.client.tunings.get(name=job_id)
        return f"job {job_id}: {job.state.name if job.state else 'cancelling'}"


def _upgrade(state: dict[str, Any]) -> None:
    """A run started before the hosted lifecycle named its ids differently."""
    for old, new in (
        ("job_name", "job_id"),
        ("job_state", "job_status"),
        ("training_uri", "training_file"),
        ("validation_uri", "validation_file"),
        ("endpoint", "fine_tuned_model"),  # Vertex's own endpoint of the tuned model
    ):
        if old in state and new not in state:
            state[new] = state.pop(old)


def _data_stats(job: Any) -> dict[str, Any]:
    found = getattr(job, "tuning_data_stats", None)
    stats = getattr(found, "supervised_tuning_data_stats", None) or getattr(
        found, "preference_optimization_data_stats", None
    )
    if stats is None:
        return {}
    keep = (
        "total_billable_token_count",
        "tuning_dataset_example_count",
        "total_tuning_character_count",
        "tuning_step_count",
    )
    return {k: getattr(stats, k) for k in keep if getattr(stats, k, None) is not None}


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
