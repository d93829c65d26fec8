"""The OpenAI fine-tuning backend and the untuned OpenAI model as a baseline.

    export OPENAI_API_KEY=...
    ftx run --data qa.jsonl --backend local-qlora --backend openai --backend openai-base

``openai`` converts the training split to chat fine-tuning JSONL, checks it against OpenAI's
rules and estimates the cost (preflight), uploads it, creates a supervised fine-tuning job and
follows it; the file and job ids are saved in the run directory the moment they exist, so
``ftx resume`` re-attaches to the job and never uploads or trains twice. Any OpenAI-compatible
service works through ``base_url`` (or OPENAI_BASE_URL). The key is read from OPENAI_API_KEY
and never written anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ftx import secrets
from ftx.backend import Backend, BackendContext, TrainedModel
from ftx.data import holdout_share
from ftx.display import money
from ftx.errors import BackendError, FtxError, install_command
from ftx.hookspecs import hookimpl
from ftx.hosted import answer_concurrently, resolve
from ftx.options import bound_problems, option, seed_problems
from ftx.prices import Prices, openai_prices
from ftx.secrets import redact
from ftx.types import Completion, GenerationParams, Message, Problem, Splits, TrainStats

from . import wire

DEFAULT_MODEL = "gpt-4.1-mini-2025-04-14"
ASSUMED_AUTO_EPOCHS = 3  # for the estimate when OpenAI picks the epoch count itself


@dataclass
class ChatOptions:
    model: str = option(DEFAULT_MODEL, "base model (openai) or the model to ask (openai-base)")
    base_url: str | None = option(
        None, "API base URL for OpenAI-compatible services (default: OPENAI_BASE_URL or OpenAI)"
    )
    concurrency: int = option(8, "chat requests in flight at once during evaluation")
    request_timeout: float = option(60.0, "seconds before one request is abandoned (and retried)")
    max_retries: int = option(
        6, "retries with exponential backoff on 429, 5xx and timeouts (Retry-After is honoured)"
    )
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
            above={"request_timeout": 0},
        )


@dataclass
class FineTuneOptions(ChatOptions):
    epochs: int | None = option(None, "training epochs (default: chosen by OpenAI)")
    batch_size: int | None = option(None, "training batch size (default: chosen by OpenAI)")
    learning_rate_multiplier: float | None = option(
        None, "learning-rate multiplier (default: chosen by OpenAI)"
    )
    validation_size: float = option(
        0.0,
        "share of the training split uploaded as the validation file (OpenAI reports its loss; "
        "never the eval split)",
    )
    suffix: str | None = option("ftx", "text in the fine-tuned model's name")
    seed: int | None = option(None, "job seed (default: the run's seed)")
    poll_interval: float = option(
        30.0, "longest wait between status checks, in seconds (backoff starts at 1)"
    )
    training_price: float | None = option(
        None, "dollars per 1M training tokens (default: ftx's price table)"
    )

    def validate(self) -> list[str]:
        problems = super().validate() + seed_problems("seed", self.seed)
        problems += bound_problems(
            self,
            at_least={"epochs": 1, "batch_size": 1, "training_price": 0},
            above={"learning_rate_multiplier": 0, "poll_interval": 0},
        )
        if not 0 <= self.validation_size < 1:
            problems.append("validation_size must be a fraction in [0, 1)")
        return problems


def make_client(opts: ChatOptions) -> Any:
    from ftx.errors import require

    openai = require("openai", extra="openai", purpose="The OpenAI backends")
    return openai.OpenAI(
        api_key=secrets.get("OPENAI_API_KEY"),
        base_url=opts.base_url or os.environ.get("OPENAI_BASE_URL"),
        max_retries=opts.max_retries,
        timeout=opts.request_timeout,
    )


@contextlib.contextmanager
def api_errors(what: str) -> Iterator[None]:
    """OpenAI's exceptions as one clear sentence (with any key in them masked)."""
    import openai

    try:
        yield
    except openai.AuthenticationError:
        raise FtxError(
            f"OpenAI rejected the API key while {what} (401).", hint="Check OPENAI_API_KEY."
        ) from None
    except openai.PermissionDeniedError as exc:
        raise FtxError(
            f"OpenAI refused {what} (403): {redact(_message(exc))}",
            hint="Self-serve fine-tuning is closing for some accounts; check your organisation's "
            "access.",
        ) from None
    except openai.RateLimitError as exc:
        raise FtxError(
            f"OpenAI kept rate-limiting {what} after all retries: {redact(_message(exc))}",
            hint="Raise --set openai.max_retries or lower --set openai.concurrency.",
        ) from None
    except openai.APIConnectionError as exc:
        raise FtxError(
            f"cannot reach the OpenAI API while {what}: {exc}",
            hint="Check the network and base_url.",
        ) from None
    except openai.APIStatusError as exc:
        raise FtxError(
            f"OpenAI answered {exc.status_code} while {what}: {redact(_message(exc))}"
        ) from None


def _message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error", {}).get("message") or exc)
    return str(exc)


class ChatModel(TrainedModel):
    """A hosted model answering through chat completions, many requests at once."""

    def __init__(
        self,
        client: Any,
        model: str,
        opts: ChatOptions,
        ctx: BackendContext,
        label: str,
        stats: TrainStats,
    ):
        self.client, self.model, self.opts, self.ctx, self.label, self.stats = (
            client,
            model,
            opts,
            ctx,
            label,
            stats,
        )

    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        kwargs: dict[str, Any] = {
            "temperature": params.temperature,
            "max_completion_tokens": params.max_new_tokens,
        }
        if params.temperature > 0:
            kwargs.update(top_p=params.top_p, seed=params.seed)

        def ask(messages: list[Message]) -> Completion:
            with api_errors(f"asking {self.model}"):
                response = self.client.chat.completions.create(
                    model=self.model,
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

        return answer_concurrently(
            prompts,
            ask,
            ctx=self.ctx,
            label=self.label,
            info=self.model,
            concurrency=self.opts.concurrency,
            prices=_prices(self.opts, self.model),
            on_answer=on_answer,
        )


def _prices(opts: ChatOptions, model: str) -> Prices | None:
    return resolve(openai_prices(model), opts)


class _OpenAIBackend(Backend):
    remote = True

    def _credentials(self, opts: ChatOptions) -> list[Problem]:
        try:
            import openai  # noqa: F401
        except ImportError:
            return [
                Problem("needs the 'openai' package", self.name, hint=install_command("openai"))
            ]
        if not secrets.get("OPENAI_API_KEY"):
            return [
                Problem(
                    "OPENAI_API_KEY is not set",
                    self.name,
                    hint=secrets.where("OPENAI_API_KEY") + "; ftx never writes keys down",
                )
            ]
        try:  # read-only: the key works and the model exists
            with api_errors(f"checking the model {opts.model}"):
                make_client(opts).models.retrieve(opts.model)
        except FtxError as exc:
            return [Problem(str(exc), self.name)]
        return []


class OpenAIBase(_OpenAIBackend):
    name = "openai-base"
    description = "an OpenAI (or compatible) chat model, untuned, as a baseline"
    Options = ChatOptions
    is_baseline = True

    def check(self, splits: Splits, opts: ChatOptions) -> list[Problem]:
        return self._credentials(opts)

    def train(self, splits: Splits, opts: ChatOptions, ctx: BackendContext) -> TrainedModel:
        return ChatModel(make_client(opts), opts.model, opts, ctx, self.name, TrainStats())

    def attach(self, state: dict[str, Any], opts: ChatOptions, ctx: BackendContext) -> TrainedModel:
        return self.train(Splits([], []), opts, ctx)


class OpenAIFineTune(_OpenAIBackend):
    name = "openai"
    description = "supervised fine-tuning through the OpenAI API (or an OpenAI-compatible service)"
    Options = FineTuneOptions

    # --- preflight -------------------------------------------------------------------------

    def check(self, splits: Splits, opts: FineTuneOptions) -> list[Problem]:
        count, exact = wire.token_counter(opts.model)
        problems = wire.validate(splits.train, count, self.name)
        tokens, epochs, prices = self._billable(splits, opts)
        how = (
            ""
            if exact
            else " (approximate token count: tiktoken's encoding is not available offline)"
        )
        if prices is None:
            problems.append(
                Problem(
                    f"no price known for {opts.model}; cannot estimate the cost",
                    self.name,
                    hint=f"--set {self.name}.training_price=DOLLARS_PER_1M_TOKENS",
                    severity="warning",
                )
            )
        else:
            cost = tokens * epochs * prices[0] / 1e6
            problems.append(
                Problem(
                    f"estimated training cost {money(cost)}: {tokens:,} tokens x {epochs} epochs "
                    f"at {money(prices[0])}/1M{how}",
                    self.name,
                    severity="warning",
                )
            )
        return problems + self._credentials(opts)

    def _billable(
        self, splits: Splits, opts: FineTuneOptions
    ) -> tuple[int, int, tuple[float, float, float] | None]:
        count, _ = wire.token_counter(opts.model)
        tokens = sum(count(m.content) + 4 for e in splits.train for m in e.messages)
        return tokens, opts.epochs or ASSUMED_AUTO_EPOCHS, _prices(opts, opts.model)

    def estimate_cost(self, splits: Splits, opts: FineTuneOptions) -> float | None:
        tokens, epochs, prices = self._billable(splits, opts)
        return tokens * epochs * prices[0] / 1e6 if prices else None

    # --- training ----------------------------------------------------------------------------

    def train(self, splits: Splits, opts: FineTuneOptions, ctx: BackendContext) -> TrainedModel:
        client = make_client(opts)
        state = ctx.state
        if "job_id" not in state:  # after a crash the job exists already: never a second one
            train, validation = holdout_share(splits.train, opts.validation_size, ctx.seed)
            for key, examples in (("training_file", train), ("validation_file", validation)):
                if key in state or not examples:
                    continue
                path = ctx.dir / ("train.jsonl" if key == "training_file" else "validation.jsonl")
                path.write_text(wire.to_jsonl(examples), encoding="utf-8")
                with api_errors(f"uploading {path.name}"), open(path, "rb") as f:
                    state[key] = client.files.create(file=f, purpose="fine-tune").id
                ctx.save_state()  # an uploaded file is never uploaded again
                ctx.log(f"uploaded {path.name} as {state[key]}")
            hyper = {
                k: v
                for k, v in (
                    ("n_epochs", opts.epochs),
                    ("batch_size", opts.batch_size),
                    ("learning_rate_multiplier", opts.learning_rate_multiplier),
                )
                if v is not None
            }
            with api_errors("creating the fine-tuning job"):
                job = client.fine_tuning.jobs.create(
                    model=opts.model,
                    training_file=state["training_file"],
                    validation_file=state.get("validation_file"),
                    suffix=opts.suffix,
                    seed=opts.seed if opts.seed is not None else ctx.seed,
                    method={"type": "supervised", "supervised": {"hyperparameters": hyper}},
                )
            state["job_id"] = job.id
            ctx.save_state()
            ctx.log(f"created fine-tuning job {job.id}")
        return self._follow(client, opts, ctx)

    def attach(
        self, state: dict[str, Any], opts: FineTuneOptions, ctx: BackendContext
    ) -> TrainedModel:
        if not state.get("fine_tuned_model"):
            return self._follow(make_client(opts), opts, ctx)
        return ChatModel(
            make_client(opts), state["fine_tuned_model"], opts, ctx, self.name, TrainStats()
        )

    def _follow(self, client: Any, opts: FineTuneOptions, ctx: BackendContext) -> TrainedModel:
        """Poll the job with backoff until it ends; log its metrics events for the loss curve."""
        job_id = ctx.state["job_id"]
        task = ctx.task(f"{self.name}: {job_id}")
        seen: set[str] = set(ctx.state.get("events_seen", []))
        wait, log_path, last_loss, steps = 1.0, ctx.dir / "train_log.jsonl", None, 0
        while True:
            with api_errors(f"checking job {job_id}"):
                job = client.fine_tuning.jobs.retrieve(job_id)
                events = client.fine_tuning.jobs.list_events(job_id, limit=100).data
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
                    last_loss, steps = entry["loss"], data["step"]
                    with open(log_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(entry) + "\n")
                    ctx.emit("train_log", entry)
                else:
                    ctx.log(f"openai: {redact(event.message)}")
            ctx.state["events_seen"] = sorted(seen)
            ctx.state["job_status"] = job.status
            ctx.save_state()
            task.update(
                info=f"{job.status}"
                + (f" · step {steps} loss {last_loss:.3f}" if last_loss is not None else "")
            )
            if job.status == "succeeded":
                break
            if job.status in ("failed", "cancelled"):
                reason = job.error.message if job.status == "failed" and job.error else job.status
                raise BackendError(
                    f"OpenAI job {job_id} {job.status}: {redact(reason)}",
                    hint="See the job's events in log.txt.",
                )
            # validating_files, queued, running, or a state we do not know yet: wait, but stop
            # at once (Cancelled) when the run is interrupted
            ctx.sleep(wait)
            wait = min(wait * 1.5, opts.poll_interval)
        ctx.state["fine_tuned_model"] = job.fine_tuned_model
        ctx.save_state()
        prices = _prices(opts, opts.model)
        tokens = job.trained_tokens or 0
        stats = TrainStats(
            seconds=float((job.finished_at or time.time()) - job.created_at),
            train_tokens=tokens,
            steps=steps,
            final_loss=last_loss,
            cost_usd=round(tokens * prices[0] / 1e6, 6) if prices else None,
        )
        task.done(info=f"succeeded: {job.fine_tuned_model}")
        return ChatModel(client, job.fine_tuned_model, opts, ctx, self.name, stats)

    def cancel(self, state: dict[str, Any], opts: FineTuneOptions) -> str:
        if not state.get("job_id"):
            return "no job was created"
        with api_errors(f"cancelling job {state['job_id']}"):
            job = make_client(opts).fine_tuning.jobs.cancel(state["job_id"])
        return f"job {job.id}: {job.status}"


@hookimpl
def ftx_register_backends(register):
    register(OpenAIBase)
    register(OpenAIFineTune)
