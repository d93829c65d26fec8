"""One hosted fine-tuning lifecycle: what every hosted backend (OpenAI, Vertex AI, Together,
Fireworks, a plugin's provider) shares, written once.

A provider subclasses ``HostedBackend`` (an untuned model as a baseline) or ``HostedFineTune``
and fills in a few small methods that talk to its SDK: ``connect``, ``failure`` (what one of its
exceptions means), ``verify`` (one read-only call), ``ask`` (one prompt), and for tuning
``data_problems``, ``billable_tokens``, ``write_data``, ``upload``, ``create_job``, ``read_job``,
``cancel_job``, and where the tuned model needs an endpoint ``deploy`` and ``undeploy``. The
lifecycle owns the rest, in the order it happens:

    preflight   ``check``: the model, the data rules, the token count and the cost (training
                and any endpoint hours), then the credentials with one read-only call
    upload      each file once: its id is saved the moment it exists
    job         created once, its id saved the moment it exists; ``ftx resume`` re-attaches
    follow      polled with backoff until it ends, waking at once on Ctrl-C; normalised states
                (``queued``, ``running``, ``succeeded``, ``failed``, ``cancelled``); the
                provider's metrics as ``train_log`` events and ``train_log.jsonl``
    deploy      only where the provider needs an endpoint and ``dedicated_endpoint`` allows
                it; reused on resume; always deleted when answering ends, fails or is stopped,
                and by ``ftx cancel``; one that could not be deleted is an error the user sees
    answer      many prompts at once, each answer kept the moment it exists, its cost recorded
    cancel      ``ftx cancel``: the job, and any endpoint ftx created

The options have the same names in every hosted backend: ``ClientOptions`` (the API, retries,
concurrency, answer prices), ``TuneOptions`` (epochs, validation share, polling, training price)
and ``EndpointOptions`` (``serverless``, ``dedicated_endpoint``, ``endpoint_hourly_price``,
``endpoint_minutes``, ``endpoint_wait``) for a provider whose tuned model may need an endpoint.

Every request goes through ``call``: retried on 429, 5xx and network errors, waiting as long as
Retry-After asks (else backing off), waking at once on Ctrl-C, and the provider's errors turned
into one sentence. SDKs' own retries are turned off, so the two never multiply.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ftx import preference
from ftx.backend import Backend, BackendContext, Cancelled, TrainedModel
from ftx.data import holdout_share
from ftx.display import money
from ftx.errors import BackendError, FtxError
from ftx.options import bound_problems, option
from ftx.prices import Prices
from ftx.secrets import redact
from ftx.types import Completion, Example, GenerationParams, Message, Problem, Splits, TrainStats

#: HTTP statuses worth another try: timeouts, rate limits, and the server's own failures
RETRIED = frozenset({408, 409, 429, 500, 502, 503, 504})
#: when a provider picks the epoch count itself, the estimate assumes this many
ASSUMED_EPOCHS = 3
#: the normalised job states
ENDED = ("succeeded", "failed", "cancelled")
#: the tuning methods a hosted backend may offer: supervised, and DPO on preference pairs
METHODS = ("sft", "dpo")


# --- options ----------------------------------------------------------------------------------


@dataclass
class ClientOptions:
    """How a hosted backend (or the LLM judge) talks to its API: the same names everywhere.
    ``request_timeout`` is still read, as ``timeout``."""

    model: str = option("", "the model: the base to tune, or the one to ask")
    base_url: str | None = option(
        None,
        "API base URL (a compatible service, a private endpoint or proxy; default: the provider's)",
    )
    timeout: float = option(
        60.0, "seconds before one request is abandoned (and retried)", aliases=("request_timeout",)
    )
    max_retries: int = option(
        6, "retries on 429 (honouring Retry-After), 5xx and network errors, with backoff"
    )
    concurrency: int = option(8, "requests in flight at once during evaluation")
    input_price: float | None = option(
        None, "dollars per 1M prompt tokens (default: ftx's price table)"
    )
    output_price: float | None = option(
        None, "dollars per 1M completion tokens (default: ftx's price table)"
    )

    def validate(self) -> list[str]:
        return bound_problems(
            self,
            at_least={"concurrency": 1, "max_retries": 0, "input_price": 0, "output_price": 0},
            above={"timeout": 0},
        )


@dataclass
class TuneOptions(ClientOptions):
    """What every hosted tuning takes, besides the provider's own hyperparameters."""

    epochs: int | None = option(None, "training epochs (default: chosen by the provider)")
    validation_size: float = option(
        0.0,
        "share of the training split uploaded as the validation file (the provider reports its "
        "loss; never the eval split)",
    )
    poll_interval: float = option(
        30.0, "longest wait between status checks, in seconds (backoff starts at 1)"
    )
    training_price: float | None = option(
        None, "dollars per 1M training tokens (default: ftx's price table)"
    )
    method: str = option(
        "sft",
        "sft (supervised, on the final answers) or dpo (on preference pairs, where the provider "
        "offers it)",
    )
    beta: float | None = option(
        None, "DPO's beta: how far the tuned model may move from the base (default: the provider's)"
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        problems += bound_problems(
            self,
            at_least={"epochs": 1, "training_price": 0},
            above={"poll_interval": 0, "beta": 0},
        )
        if not 0 <= self.validation_size < 1:
            problems.append("validation_size must be a fraction in [0, 1)")
        if self.method not in METHODS:
            problems.append(f"method must be one of {', '.join(METHODS)}, got '{self.method}'")
        elif self.beta is not None and self.method != "dpo":
            problems.append("beta applies to method=dpo only")
        return problems


@dataclass
class EndpointOptions(TuneOptions):
    """What a provider whose tuned model may need an endpoint of its own takes, besides the
    tuning: where the model is asked, and whether ftx may create, pay for and wait for an
    endpoint. The endpoint's hardware and other settings are the provider's own options."""

    serverless: bool | None = option(
        None,
        "ask the tuned model serverless (default: where the provider says the base allows it)",
    )
    dedicated_endpoint: bool = option(
        False,
        "allow ftx to create a dedicated endpoint, billed while it runs, where the tuned model "
        "cannot be asked serverless (ftx deletes it when answering ends)",
    )
    endpoint_hourly_price: float | None = option(
        None, "dollars per hour of the endpoint (default: ftx's price table)"
    )
    endpoint_minutes: float | None = option(
        None,
        "minutes the endpoint is expected to be up (start-up and answering), for the estimate "
        "(default: the provider's estimate)",
    )
    endpoint_wait: float = option(
        30.0, "minutes to wait for the endpoint to be ready before deleting it and failing"
    )

    def validate(self) -> list[str]:
        return super().validate() + bound_problems(
            self,
            at_least={"endpoint_hourly_price": 0},
            above={"endpoint_minutes": 0, "endpoint_wait": 0},
        )


# --- prices -----------------------------------------------------------------------------------


def resolve(table: Prices | None, opts: Any) -> Prices | None:
    """``table`` with any ``training_price``, ``input_price``, ``output_price`` options put over
    it; None when neither says what answers cost."""
    training = getattr(opts, "training_price", None)
    if table is None and None in (opts.input_price, opts.output_price):
        return None
    table = table or (0.0, 0.0, 0.0)
    return Prices(
        training if training is not None else table[0],
        opts.input_price if opts.input_price is not None else table[1],
        opts.output_price if opts.output_price is not None else table[2],
    )


def usage_cost(prompt_tokens: float, completion_tokens: float, prices: Prices) -> float:
    """Dollars for that many prompt and completion tokens at ``prices``."""
    return (prompt_tokens * prices[1] + completion_tokens * prices[2]) / 1e6


def answering_cost(completions: list[Completion], prices: Prices | None) -> float | None:
    """What ``completions`` cost at ``prices`` (None when the prices are unknown)."""
    if not prices:
        return None
    return usage_cost(
        sum(c.prompt_tokens for c in completions),
        sum(c.completion_tokens for c in completions),
        prices,
    )


# --- requests ---------------------------------------------------------------------------------


@dataclass
class Failure:
    """What a provider's exception means: its HTTP status (None: the network failed, or a
    timeout), the server's message, and how long it asked to wait."""

    status: int | None
    message: str
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRIED


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After header (at most 5 minutes), or None."""
    try:
        value = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
        return min(max(float(value), 0.0), 300.0)
    except (TypeError, ValueError, AttributeError):
        return None


def api_failure(exc: BaseException, sdk: Any) -> Failure | None:
    """What an exception of an OpenAI-shaped SDK (``openai``, ``together``, ``fireworks``: the
    same generated client) means: its status, the server's message and Retry-After."""
    if isinstance(exc, sdk.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error")
        message = body.get("message") or (
            error.get("message") if isinstance(error, dict) else error
        )
        return Failure(exc.status_code, str(message or exc), retry_after(exc.response.headers))
    if isinstance(exc, sdk.APIConnectionError):  # timeouts included
        return Failure(None, str(exc))
    return None


def chat_completion(
    client: Any,
    model: str,
    messages: list[Message],
    params: GenerationParams,
    length: str = "max_tokens",
) -> Completion:
    """One answer from an OpenAI-compatible ``chat.completions`` endpoint; ``length`` is what
    the API calls the answer's token limit (OpenAI: ``max_completion_tokens``)."""
    kwargs: dict[str, Any] = {"temperature": params.temperature, length: params.max_new_tokens}
    if params.temperature > 0:
        kwargs.update(top_p=params.top_p, seed=params.seed)
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": m.role, "content": m.content} for m in messages],
        **kwargs,
    )
    usage, choice = response.usage, response.choices[0]
    return Completion(
        choice.message.content or "",
        usage.prompt_tokens if usage else 0,
        usage.completion_tokens if usage else 0,
        truncated=choice.finish_reason == "length",
    )


def answer_concurrently(
    prompts: list[list[Message]],
    ask: Callable[[list[Message]], Completion],
    *,
    ctx: BackendContext,
    label: str,
    info: str,
    concurrency: int,
    prices: Prices | None,
    on_answer: Callable[[int, Completion], None] | None = None,
) -> list[Completion]:
    """``ask`` every prompt, ``concurrency`` requests at a time, with a progress bar. Each answer
    goes to ``on_answer`` the moment it exists (a killed run does not pay for it again); what the
    answers cost is recorded with ``ctx.add_cost("answering", ...)``: a resumed evaluation asks
    only the prompts not answered before, so the costs add up."""
    task = ctx.task(f"{label}: answering", total=len(prompts), info=info)

    def one(index: int, messages: list[Message]) -> Completion:
        completion = ask(messages)
        task.advance()
        if on_answer is not None:
            on_answer(index, completion)
        return completion

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        completions = list(pool.map(one, range(len(prompts)), prompts))
    cost = answering_cost(completions, prices)
    if cost is None:
        ctx.save_state()
    else:
        ctx.add_cost("answering", cost)
    return completions


# --- the job ----------------------------------------------------------------------------------


@dataclass
class Job:
    """A tuning job as ``read_job`` sees it, in the lifecycle's words."""

    state: str  # queued | running | succeeded | failed | cancelled
    status: str = ""  # the provider's own word for it
    model: str | None = None  # the tuned model to ask, once succeeded
    error: str = ""  # why it failed
    trained_tokens: int | None = None  # what the provider bills
    seconds: float | None = None  # from creation to the end, as the provider says
    metrics: list[dict[str, Any]] = field(default_factory=list)  # new train_log entries
    messages: list[str] = field(default_factory=list)  # new lines for the backend's log
    keep: dict[str, Any] = field(default_factory=dict)  # what the provider wants in the state


class HostedModel(TrainedModel):
    """A hosted model answering through ``backend.ask``, many requests at once; ``release``
    runs when it is closed (an endpoint ftx created is deleted then; if it cannot be, ``close``
    raises the FtxError that says so)."""

    def __init__(
        self,
        backend: HostedBackend,
        client: Any,
        model: str,
        opts: Any,
        ctx: BackendContext,
        stats: TrainStats,
        price_model: str | None = None,
        release: Callable[[], None] | None = None,
    ):
        self.backend, self.client, self.model, self.opts, self.ctx = (
            backend,
            client,
            model,
            opts,
            ctx,
        )
        self.stats, self.price_model, self.release = stats, price_model or model, release

    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        def ask(messages: list[Message]) -> Completion:
            return self.backend.call(
                lambda: self.backend.ask(self.client, self.model, messages, params, self.opts),
                f"asking {self.model}",
                self.opts,
                self.ctx.cancelled,
            )

        return answer_concurrently(
            prompts,
            ask,
            ctx=self.ctx,
            label=self.backend.name,
            info=self.model.rsplit("/", 1)[-1],
            concurrency=self.opts.concurrency,
            prices=self.backend.prices(self.opts, self.price_model),
            on_answer=on_answer,
        )

    def close(self) -> None:
        if self.release is not None:
            release, self.release = self.release, None
            release()


class HostedBackend(Backend):
    """A provider's untuned model as a baseline, and what every hosted backend shares: the
    client, requests with retries, credentials and answering."""

    remote = True
    is_baseline = True
    #: how messages name the provider ("OpenAI", "Google", "Together")
    provider: ClassVar[str] = "the provider"
    #: what a 401 rejected ("API key", "credentials")
    credential: ClassVar[str] = "API key"
    #: what to do about a 401, a 403
    credential_hint: ClassVar[str] = "Check the API key."
    permission_hint: ClassVar[str] = "Check the account's access to this API."

    # --- what a provider fills in --------------------------------------------------------

    def connect(self, opts: Any) -> Any:
        """The SDK's client, with its own retries off (``call`` retries)."""
        raise NotImplementedError

    def credentials_problem(self, opts: Any) -> Problem | None:
        """What is missing before any request can be made (the SDK, a key), or None."""
        return None

    def failure(self, exc: BaseException) -> Failure | None:
        """What an exception of the SDK means; None for one that is not the API's (a bug)."""
        return None

    def verify(self, client: Any, opts: Any) -> list[Problem]:
        """One read-only request: the credentials work and the model exists (tunable, not past
        its shutdown date, where the API says so); what is wrong with it. Like every method
        here that talks to the API, it makes one attempt: the lifecycle retries."""
        return []

    def ask(
        self, client: Any, model: str, messages: list[Message], params: GenerationParams, opts: Any
    ) -> Completion:
        raise NotImplementedError

    def prices(self, opts: Any, model: str) -> Prices | None:
        """Dollars per 1M (training, prompt, completion) tokens with the options over them."""
        return resolve(None, opts)

    # --- the lifecycle -------------------------------------------------------------------

    def call(
        self,
        request: Callable[[], Any],
        what: str,
        opts: Any,
        cancelled: threading.Event | None = None,
    ) -> Any:
        """``request()``, retried on 429/5xx/network errors (waiting as long as Retry-After
        asks, else backing off, and waking at once on Ctrl-C); a failure as one sentence."""
        delay = 1.0
        for attempt in range(opts.max_retries + 1):
            try:
                return request()
            except Exception as exc:
                failure = self.failure(exc)
                if failure is None:
                    raise
                if failure.retryable and attempt < opts.max_retries:
                    wait = failure.retry_after
                    if wait is None:
                        wait, delay = delay, min(delay * 2, 60.0)
                    if (cancelled or threading.Event()).wait(wait):
                        raise Cancelled from None
                    continue
                raise self.error(failure, what) from None
        raise AssertionError("unreachable")

    def error(self, failure: Failure, what: str) -> FtxError:
        """A failed request as one sentence, with what to do."""
        message, status, who = redact(failure.message), failure.status, self.provider
        if status is None:
            return FtxError(
                f"cannot reach {who} while {what}: {message}",
                hint=f"Check the network, or --set {self.name}.base_url.",
            )
        if status == 401:
            return FtxError(
                f"{who} rejected the {self.credential} while {what} (401).",
                hint=self.credential_hint,
            )
        if status == 403:
            return FtxError(f"{who} refused {what} (403): {message}", hint=self.permission_hint)
        if status == 429:
            return FtxError(
                f"{who} kept rate-limiting {what} after all retries: {message}",
                hint=f"Raise --set {self.name}.max_retries or lower --set {self.name}.concurrency.",
            )
        return FtxError(f"{who} answered {status} while {what}: {message}")

    def check(self, splits: Splits, opts: Any) -> list[Problem]:
        return self.check_access(opts)

    def check_access(self, opts: Any) -> list[Problem]:
        """The credentials, then one read-only call."""
        missing = self.credentials_problem(opts)
        if missing is not None:
            return [missing]
        try:
            client = self.connect(opts)
            return self.call(
                lambda: self.verify(client, opts), f"checking the model {opts.model}", opts
            )
        except FtxError as exc:
            return [Problem(exc.message.rstrip("."), self.name, hint=exc.hint)]

    def train(self, splits: Splits, opts: Any, ctx: BackendContext) -> TrainedModel:
        return HostedModel(self, self.connect(opts), opts.model, opts, ctx, TrainStats())

    def attach(self, state: dict[str, Any], opts: Any, ctx: BackendContext) -> TrainedModel:
        return self.train(Splits([], []), opts, ctx)


class HostedFineTune(HostedBackend):
    """A provider's tuning job, from preflight to the tuned model answering."""

    is_baseline = False
    #: the job's name in messages ("fine-tuning job", "tuning job")
    job_noun: ClassVar[str] = "fine-tuning job"
    #: where to look when a job fails
    failed_hint: ClassVar[str] = "See the job's events in log.txt."
    #: how a failed job is named ("OpenAI job"; default: the provider and job_noun)
    job_label: ClassVar[str] = ""
    #: what ``deploy`` keeps in the state about the endpoint besides ``endpoint``: forgotten
    #: with it once it is deleted
    endpoint_keys: ClassVar[tuple[str, ...]] = ()
    #: the ``method`` values the provider offers (``write_data`` and ``create_job`` read
    #: ``opts.method``); preflight refuses the others
    methods: ClassVar[tuple[str, ...]] = ("sft",)
    #: why the provider does not offer DPO, for the refusal (default: it does not say)
    no_dpo: ClassVar[str] = ""

    # --- what a provider fills in --------------------------------------------------------

    def data_problems(self, examples: list[Example], validation: int, opts: Any) -> list[Problem]:
        """The provider's rules for the training split, of which ``validation`` examples will be
        uploaded as the validation file (which ones depends on the run's seed; how many does
        not)."""
        return []

    def model_problems(self, opts: Any) -> list[Problem]:
        """What is wrong with the model or options without a request (not tunable, ...)."""
        return []

    def billable_tokens(self, splits: Splits, opts: Any) -> tuple[int, bool]:
        """Tokens of one epoch over the training split, and whether the count is exact."""
        raise NotImplementedError

    def write_data(self, examples: list[Example], opts: Any) -> str:
        """The examples as the provider's JSONL."""
        raise NotImplementedError

    def upload(self, client: Any, path: Path, opts: Any, ctx: BackendContext) -> str:
        """Upload ``path`` (training or validation data); its id (file id, URI)."""
        raise NotImplementedError

    def create_job(self, client: Any, files: dict[str, str], opts: Any, ctx: BackendContext) -> str:
        """Start the job on ``files`` (``training_file``, maybe ``validation_file``); its id."""
        raise NotImplementedError

    def read_job(self, client: Any, job_id: str, opts: Any, ctx: BackendContext) -> Job:
        """The job now, with the metrics and messages not seen before (``ctx.state`` may keep
        what was seen)."""
        raise NotImplementedError

    def cancel_job(self, client: Any, job_id: str, opts: Any) -> str:
        """Cancel the job; what the provider says of it."""
        raise NotImplementedError

    def deploy(self, client: Any, model: str, opts: Any, ctx: BackendContext) -> str | None:
        """Where the tuned model cannot be asked as it is: create what serves it (a dedicated
        endpoint), save its id in ``ctx.state["endpoint"]`` the moment it exists, wait until it
        is ready, and return the model name to ask. None (the default): ask ``model``."""
        return None

    def undeploy(self, client: Any, endpoint: str, opts: Any) -> None:
        """Delete the endpoint ``deploy`` created."""

    def endpoint_cost(self, splits: Splits, opts: Any) -> float | None:
        """Estimated dollars for the endpoint's time, where one will be created."""
        return None

    # --- preflight -----------------------------------------------------------------------

    def check(self, splits: Splits, opts: Any) -> list[Problem]:
        """Every problem at once: the model, the data, the cost, the credentials and the one
        read-only request."""
        problems = self.model_problems(opts)
        method = self.method_problem(opts)
        if method is not None:  # the data rules are the method's: none apply
            return [*problems, method, *self.check_access(opts)]
        if getattr(opts, "method", "sft") == "dpo":
            pairs = preference.pairs_problem(splits.train, self.name)
            problems += [pairs] if pairs is not None else []
        examples = self.trained_on(splits, opts)
        _, validation = holdout_share(examples, opts.validation_size, 0)
        problems += self.data_problems(examples, len(validation), opts)
        return problems + self.cost_notes(splits, opts) + self.check_access(opts)

    def trained_on(self, splits: Splits, opts: Any) -> list[Example]:
        """The examples the job trains on, the validation file's among them: for DPO the
        preference pairs only (a validation file of examples without a rejected answer would
        be empty, or refused)."""
        if getattr(opts, "method", "sft") == "dpo":
            return preference.pairs(splits.train)
        return splits.train

    def method_problem(self, opts: Any) -> Problem | None:
        """One sentence where the provider does not offer ``opts.method``."""
        method = getattr(opts, "method", "sft")
        if method in self.methods:
            return None
        why = f": {self.no_dpo}" if method == "dpo" and self.no_dpo else ""
        return Problem(
            f"{self.provider} does not offer method={method} through ftx{why}",
            self.name,
            hint="use method=sft here, or local-dpo (docs/preference.md, Hosted DPO)",
        )

    def cost_notes(self, splits: Splits, opts: Any) -> list[Problem]:
        tokens, exact = self.billable_tokens(splits, opts)
        prices = self.prices(opts, opts.model)
        epochs = opts.epochs or ASSUMED_EPOCHS
        if prices is None:
            return [
                Problem(
                    f"no price known for {opts.model}; cannot estimate the cost",
                    self.name,
                    hint=f"--set {self.name}.training_price=DOLLARS_PER_1M_TOKENS",
                    severity="warning",
                )
            ]
        how = "" if exact else " (approximate token count)"
        note = (
            f"estimated training cost {money(tokens * epochs * prices[0] / 1e6)}: {tokens:,} "
            f"tokens x {epochs} epochs at {money(prices[0])}/1M{how}"
        )
        endpoint = self.endpoint_cost(splits, opts)
        if endpoint:
            note += f"; an endpoint to answer with, about {money(endpoint)}"
        return [Problem(note, self.name, severity="warning")]

    def estimate_cost(self, splits: Splits, opts: Any) -> float | None:
        tokens, _ = self.billable_tokens(splits, opts)
        prices = self.prices(opts, opts.model)
        endpoint = self.endpoint_cost(splits, opts)
        if prices is None:  # the training's price is unknown (preflight warns); an endpoint's not
            return endpoint
        return tokens * (opts.epochs or ASSUMED_EPOCHS) * prices[0] / 1e6 + (endpoint or 0.0)

    # --- upload and job: each once, its id saved the moment it exists --------------------

    def train(self, splits: Splits, opts: Any, ctx: BackendContext) -> TrainedModel:
        client = self.connect(opts)
        state = ctx.state
        if "job_id" not in state:  # after a crash the job exists already: never a second one
            train, validation = holdout_share(
                self.trained_on(splits, opts), opts.validation_size, ctx.seed
            )
            for key, examples in (("training_file", train), ("validation_file", validation)):
                if key in state or not examples:
                    continue
                path = ctx.dir / ("train.jsonl" if key == "training_file" else "validation.jsonl")
                path.write_text(self.write_data(examples, opts), encoding="utf-8")
                state[key] = self.call(
                    lambda path=path: self.upload(client, path, opts, ctx),
                    f"uploading {path.name}",
                    opts,
                    ctx.cancelled,
                )
                ctx.save_state()  # an uploaded file is never uploaded again
                ctx.log(f"uploaded {path.name} as {state[key]}")
            files = {k: state[k] for k in ("training_file", "validation_file") if k in state}
            state["job_id"] = self.call(
                lambda: self.create_job(client, files, opts, ctx),
                f"creating the {self.job_noun}",
                opts,
                ctx.cancelled,
            )
            ctx.save_state()
            ctx.log(f"created {self.job_noun} {state['job_id']}")
        return self.follow(client, opts, ctx)

    def attach(self, state: dict[str, Any], opts: Any, ctx: BackendContext) -> TrainedModel:
        if not state.get("fine_tuned_model"):
            return self.follow(self.connect(opts), opts, ctx)
        client = self.connect(opts)
        return self.served(client, state["fine_tuned_model"], opts, ctx, TrainStats())

    # --- follow --------------------------------------------------------------------------

    def follow(self, client: Any, opts: Any, ctx: BackendContext) -> TrainedModel:
        """Poll the job with backoff until it ends, waking at once on Ctrl-C; its metrics go to
        train_log.jsonl and the run's events."""
        job_id = ctx.state["job_id"]
        task = ctx.task(f"{self.name}: {job_id.rsplit('/', 1)[-1]}")
        wait, started, last_status = min(1.0, opts.poll_interval), time.time(), None
        log_path, steps, loss = ctx.dir / "train_log.jsonl", 0, None
        while True:
            job = self.call(
                lambda: self.read_job(client, job_id, opts, ctx),
                f"checking {self.job_noun} {job_id}",
                opts,
                ctx.cancelled,
            )
            for entry in job.metrics:
                steps, loss = entry.get("step", steps), entry.get("loss", loss)
                with open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
                ctx.emit("train_log", entry)
            for message in job.messages:
                ctx.log(f"{self.name}: {redact(message)}")
            if job.status != last_status:
                ctx.log(f"{self.job_noun} {job_id}: {job.status}")
                last_status = job.status
            ctx.state.update(job.keep, job_status=job.status)
            ctx.save_state()
            progress = f" · step {steps} loss {loss:.3f}" if isinstance(loss, float) else ""
            task.update(info=f"{job.state}{progress}")
            if job.state == "succeeded":
                break
            if job.state in ("failed", "cancelled"):
                label = self.job_label or f"{self.provider} {self.job_noun}"
                raise BackendError(
                    f"{label} {job_id} {job.state}: {redact(job.error or job.status)}",
                    hint=self.failed_hint,
                )
            ctx.sleep(wait)  # queued or running: wait, but stop at once (Cancelled) on Ctrl-C
            wait = min(wait * 1.5, opts.poll_interval)
        if not job.model:
            raise BackendError(f"{self.job_noun} {job_id} succeeded without a model to ask.")
        ctx.state["fine_tuned_model"] = job.model
        ctx.save_state()
        prices = self.prices(opts, opts.model)
        tokens = job.trained_tokens or 0
        stats = TrainStats(
            seconds=job.seconds if job.seconds is not None else time.time() - started,
            train_tokens=tokens,
            steps=steps,
            final_loss=loss if isinstance(loss, float) else None,
            cost_usd=round(tokens * prices[0] / 1e6, 6) if prices and tokens else None,
        )
        task.done(info=f"succeeded: {job.model.rsplit('/', 1)[-1]}")
        return self.served(client, job.model, opts, ctx, stats)

    # --- deploy: only where needed, always deleted ---------------------------------------

    def served(
        self, client: Any, model: str, opts: Any, ctx: BackendContext, stats: TrainStats
    ) -> TrainedModel:
        """The tuned model, ready to answer: through an endpoint ``deploy`` creates (or the one
        a stopped run created) where the provider needs one, deleted when the model is closed."""
        with self.releasing_on_failure(client, opts, ctx):
            asked = self.deploy(client, model, opts, ctx)
        if asked is None:
            return HostedModel(self, client, model, opts, ctx, stats, opts.model)
        return HostedModel(
            self,
            client,
            asked,
            opts,
            ctx,
            stats,
            opts.model,
            release=lambda: self.release(client, opts, ctx),
        )

    @contextlib.contextmanager
    def releasing_on_failure(self, client: Any, opts: Any, ctx: BackendContext) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.release(client, opts, ctx)
            raise

    def release(self, client: Any, opts: Any, ctx: BackendContext) -> None:
        """Delete the endpoint ftx created, if any; forget it once it is gone. One that cannot
        be deleted stays in the state, for ``ftx cancel``, and raises an FtxError that says it
        may still bill (the runner prints it as a warning: the answers are kept)."""
        endpoint = ctx.state.get("endpoint")
        if not endpoint:
            return
        try:
            self.call(lambda: self.undeploy(client, endpoint, opts), f"deleting {endpoint}", opts)
        except FtxError as exc:
            failed = FtxError(
                f"could not delete {endpoint}, which may still bill: {exc.message}",
                hint=f"Run 'ftx cancel {ctx.run_id}' to delete it, or delete it in the "
                f"{self.provider} dashboard.",
            )
            ctx.log(str(failed))
            raise failed from exc
        for key in ("endpoint", *self.endpoint_keys):
            ctx.state.pop(key, None)
        ctx.save_state()
        ctx.log(f"deleted the endpoint {endpoint}")

    # --- cancel --------------------------------------------------------------------------

    def cancel(self, state: dict[str, Any], opts: Any) -> str:
        """Delete the endpoint ftx created, forgetting it in ``state`` (which the caller saves),
        then cancel the job if it has not ended."""
        said = []
        client = None
        if state.get("endpoint"):
            client = self.connect(opts)
            endpoint = state["endpoint"]
            self.call(lambda: self.undeploy(client, endpoint, opts), f"deleting {endpoint}", opts)
            for key in ("endpoint", *self.endpoint_keys):
                state.pop(key, None)
            said.append(f"endpoint {endpoint} deleted")
        job_id = state.get("job_id")
        if not job_id:
            said.append(f"no {self.job_noun} was created")
        elif state.get("fine_tuned_model"):
            said.append(f"job {job_id} had already finished")
        else:
            client = client or self.connect(opts)
            said.append(
                self.call(
                    lambda: self.cancel_job(client, job_id, opts), f"cancelling {job_id}", opts
                )
            )
        return "; ".join(said)
