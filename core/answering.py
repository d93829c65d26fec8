"""The models of a run loaded to answer messages: what ``ftx chat`` and ``ftx serve`` talk to.

    models = open_models(run)                      # every trained model of the run
    completion = models["local-lora"].answer(messages, params, on_text=print)

Local models are loaded once per base model. The LoRA (and QLoRA) adapters of a run on one base
share that model in memory as peft adapters (``load_adapter``), switched per batch with
``set_adapter``; the untuned base answers with them disabled. Each model in memory has one
worker thread: requests that arrive while it is busy wait, and those for the same adapter with
the same settings are then answered together, as one batch of the local backend's own generation
(``ftx.backends.local.generate``), each answer streaming as its tokens come.

Every other model (a hosted one, a plugin's) is re-attached by its own backend, as ``ftx
resume`` does, and answers through its own ``generate``, with the user's own credentials; it
gives its answer whole, not token by token.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass, field, replace
from typing import Any

from ftx.backend import Backend, BackendContext, TrainedModel
from ftx.errors import FtxError
from ftx.secrets import redact
from ftx.store import Run
from ftx.types import Completion, GenerationParams, Message

OnText = Callable[[str], None]
HOSTED_CONCURRENCY = 8  # requests one hosted model answers at once


class RequestError(FtxError):
    """A request the model cannot answer as asked (a prompt longer than its context)."""


class Answerer:
    """One model of a run, ready to answer. ``streams``: ``on_text`` gets the answer piece by
    piece as it is generated (else once, whole). ``remote``: a provider answers it."""

    streams = False
    remote = False

    def __init__(self, name: str):
        self.name = name

    def submit(
        self, messages: list[Message], params: GenerationParams, on_text: OnText | None = None
    ) -> Future[Completion]:
        """Start answering ``messages``; the future holds the ``Completion``."""
        raise NotImplementedError

    def answer(
        self, messages: list[Message], params: GenerationParams, on_text: OnText | None = None
    ) -> Completion:
        return self.submit(messages, params, on_text).result()

    def close(self) -> None:  # noqa: B027 (optional)
        """Let go of what the model holds."""


class AttachedAnswerer(Answerer):
    """A ``TrainedModel`` its backend re-attached: it answers through its own ``generate``,
    several requests at once when its backend is hosted, one at a time otherwise."""

    def __init__(self, name: str, model: TrainedModel, concurrency: int, remote: bool):
        super().__init__(name)
        self.model, self.remote = model, remote
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"ftx-{name}")

    def submit(
        self, messages: list[Message], params: GenerationParams, on_text: OnText | None = None
    ) -> Future[Completion]:
        return self.pool.submit(self._answer, messages, params, on_text)

    def _answer(
        self, messages: list[Message], params: GenerationParams, on_text: OnText | None
    ) -> Completion:
        completion = self.model.generate([messages], params)[0]
        if on_text is not None and completion.text:
            on_text(completion.text)
        return completion

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.model.close()


class LocalAnswerer(Answerer):
    """A local model: an adapter of a model in memory (``None``: that model as it is, its
    adapters disabled), answered by the model's worker with its own prompt template."""

    streams = True

    def __init__(self, name: str, engine: Engine, adapter: str | None, template: Any):
        super().__init__(name)
        self.engine, self.adapter, self.template = engine, adapter, template

    def submit(
        self, messages: list[Message], params: GenerationParams, on_text: OnText | None = None
    ) -> Future[Completion]:
        return self.engine.submit(_Request(self.adapter, self.template, messages, params, on_text))


# --- local models: one worker per model in memory -----------------------------------------


@dataclass
class _Request:
    adapter: str | None
    template: Any
    messages: list[Message]
    params: GenerationParams
    on_text: OnText | None
    future: Future[Completion] = field(default_factory=Future)

    @property
    def key(self) -> tuple[Any, ...]:
        """Requests with the same key are generated in one batch. The seed is left out: a
        sampled batch uses its first request's seed."""
        return (self.adapter, id(self.template), astuple(replace(self.params, seed=0)))


class Engine:
    """One model in memory and the thread that answers with it, a batch at a time: the oldest
    waiting request and every other waiting one with its key, up to ``batch_size``."""

    def __init__(self, model: Any, tokenizer: Any, device: str, batch_size: int, label: str):
        from ftx.backends.local.lengths import model_context

        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.batch_size, self.label = max(1, batch_size), label
        self.context = model_context(model.config)
        self.has_adapters = hasattr(model, "peft_config")
        self.batches = 0  # batches generated and requests answered, for benchmarks and tests
        self.answered = 0
        self._pending: deque[_Request] = deque()
        self._wake = threading.Condition()
        self._closed = False
        model.eval()
        self._thread = threading.Thread(target=self._work, name=f"ftx-{label}", daemon=True)
        self._thread.start()

    def submit(self, request: _Request) -> Future[Completion]:
        with self._wake:
            if self._closed:
                raise FtxError(f"the model {self.label} was closed.")
            self._pending.append(request)
            self._wake.notify()
        return request.future

    def close(self) -> None:
        with self._wake:
            self._closed = True
            for request in self._pending:
                request.future.cancel()
            self._pending.clear()
            self._wake.notify()
        self._thread.join(timeout=30)
        self.model = None

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                key = self._pending[0].key
                batch = [r for r in self._pending if r.key == key][: self.batch_size]
                for request in batch:
                    self._pending.remove(request)
            batch = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                results = self._generate(batch)
            except Exception as exc:  # the whole batch failed (out of memory, say): each says so
                results = [(r, exc) for r in batch]
            for request, result in results:
                if isinstance(result, BaseException):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)

    def _generate(self, batch: list[_Request]) -> list[tuple[_Request, Completion | Exception]]:
        """One batch through the local backend's generation: ``generate_batch`` (with a
        streamer added) and ``completion`` for each row, as ``generate`` does for a run."""
        import torch

        from ftx.backends.local.generate import (
            completion,
            generate_batch,
            room_for_answer,
            stop_token_ids,
        )
        from ftx.backends.local.tokenize import encode_prompt

        template, params, tokenizer = batch[0].template, batch[0].params, self.tokenizer
        results: list[tuple[_Request, Completion | Exception]] = []
        rows: list[tuple[_Request, list[int]]] = []
        for request in batch:  # encoded here: a fast tokenizer is not for several threads
            ids = encode_prompt(request.messages, template, tokenizer)
            if self.context is not None and len(ids) >= self.context:
                results.append((request, _too_long(len(ids), self.context)))
            else:
                rows.append((request, ids))
        if not rows:
            return results
        eos, stops = stop_token_ids(tokenizer, template), template.stop_strings(tokenizer)
        longest = max(len(ids) for _, ids in rows)
        room = room_for_answer(longest, params.max_new_tokens, self.context)
        streamer = _Streamer(tokenizer, [r.on_text for r, _ in rows], set(eos), stops)
        if params.temperature > 0:
            torch.manual_seed(params.seed)
        with self._adapter(batch[0].adapter):
            output = generate_batch(
                _WithStreamer(self.model, streamer),
                tokenizer,
                [ids for _, ids in rows],
                params,
                eos,
                room,
                self.device,
            )
        for row, (request, ids) in enumerate(rows):
            answer = completion(
                tokenizer, output[row, longest:].tolist(), len(ids), eos, stops, room
            )
            streamer.finish(row, answer.text)
            results.append((request, answer))
        self.batches += 1
        self.answered += len(rows)
        return results

    @contextlib.contextmanager
    def _adapter(self, adapter: str | None) -> Iterator[None]:
        if adapter is not None:
            self.model.set_adapter(adapter)
            yield
        elif self.has_adapters:
            with self.model.disable_adapter():
                yield
        else:
            yield


def _too_long(tokens: int, context: int) -> RequestError:
    return RequestError(
        f"the conversation is {tokens} tokens, which leaves no room for an answer in the "
        f"model's context of {context} tokens.",
        hint="Shorten it, or start a new conversation (/reset in ftx chat).",
    )


class _WithStreamer:
    """The model, whose ``generate`` also hands each new token to ``streamer``: the sampling
    settings stay in ``generate_batch``, and this adds the streamer to them."""

    def __init__(self, model: Any, streamer: _Streamer):
        self._model, self._streamer = model, streamer

    def generate(self, **kwargs: Any) -> Any:
        return self._model.generate(streamer=self._streamer, **kwargs)


class _Streamer:
    """What transformers' ``generate`` streams (the prompts first, then a token per row each
    step) as new text for each row's ``on_text``. Text that may be the start of a stop string,
    half a character, or trailing space is held back until the next token says what it is, so
    that the pieces add up to the answer ``completion`` makes of the row."""

    def __init__(self, tokenizer: Any, sinks: list[OnText | None], eos: set[int], stops: list[str]):
        self.tokenizer, self.sinks, self.eos, self.stops = tokenizer, sinks, eos, stops
        self.tokens: list[list[int]] = [[] for _ in sinks]
        self.sent = ["" for _ in sinks]
        self.ended = [sink is None for sink in sinks]
        self.started = False

    def put(self, value: Any) -> None:
        if not self.started:  # the prompts
            self.started = True
            return
        for row, ids in enumerate(value.reshape(len(self.sinks), -1).tolist()):
            if self.ended[row]:
                continue
            for token in ids:
                if token in self.eos:
                    self.ended[row] = True
                    break
                self.tokens[row].append(token)
            self._flush(row)

    def end(self) -> None:
        pass

    def finish(self, row: int, text: str) -> None:
        """The row's whole answer: whatever of it was held back goes now."""
        if self.sinks[row] is not None:
            self._send(row, text)

    def _flush(self, row: int) -> None:
        text = self.tokenizer.decode(self.tokens[row], skip_special_tokens=True).lstrip()
        cut = min((i for i in (text.find(s) for s in self.stops) if i != -1), default=-1)
        if cut != -1:
            text, self.ended[row] = text[:cut], True
        else:
            held = max(
                (k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])),
                default=0,
            )
            text = text[: len(text) - held].rstrip("\ufffd")
        self._send(row, text.rstrip())

    def _send(self, row: int, text: str) -> None:
        sent = self.sent[row]
        if len(text) <= len(sent) or not text.startswith(sent):
            return
        self.sent[row] = text
        try:
            self.sinks[row](text[len(sent) :])  # type: ignore[misc]
        except Exception:  # a reader that went away (a closed pipe): the others go on
            self.ended[row] = True
            self.sinks[row] = None


# --- loading a run's models -----------------------------------------------------------------


class RunModels:
    """The loaded models of one run, by name, and the generation settings the run used."""

    def __init__(self, run: Run, answerers: dict[str, Answerer], skipped: dict[str, str]):
        from ftx.runner import config_of

        self.run, self.answerers, self.skipped = run, answerers, skipped
        self.settings = config_of(run).run

    @property
    def names(self) -> list[str]:
        return list(self.answerers)

    def __getitem__(self, name: str) -> Answerer:
        return self.answerers[name]

    def __contains__(self, name: object) -> bool:
        return name in self.answerers

    def params(
        self,
        max_new_tokens: int,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> GenerationParams:
        """Sampling settings: the run's own (``run.temperature``, ...) unless given."""
        import random

        s = self.settings
        return GenerationParams(
            max_new_tokens=max_new_tokens,
            temperature=s.temperature if temperature is None else temperature,
            top_p=s.top_p if top_p is None else top_p,
            top_k=s.top_k,
            repetition_penalty=s.repetition_penalty,
            seed=random.randrange(2**31) if seed is None else seed,
        )

    def engines(self) -> list[Engine]:
        found = {
            id(a.engine): a.engine for a in self.answerers.values() if isinstance(a, LocalAnswerer)
        }
        return list(found.values())

    def close(self) -> None:
        for engine in self.engines():
            engine.close()
        for answerer in self.answerers.values():
            if not isinstance(answerer, LocalAnswerer):
                answerer.close()


def open_models(
    run: Run,
    names: list[str] | None = None,
    *,
    batch_size: int | None = None,
    warn: Callable[[str], None] = lambda line: None,
) -> RunModels:
    """Load the models of ``run`` named in ``names`` (default: every one that finished
    training). A named model that cannot be loaded is an error; without names it is left out,
    with a ``warn`` line that says why."""
    from ftx.runner import plan_of

    plan = plan_of(run)
    chosen = [(b, o) for b, o in plan.backends if names is None or b.name in names]
    unknown = [n for n in names or [] if n not in {b.name for b, _ in plan.backends}]
    if unknown:
        raise FtxError(
            f"run {run.id} has no model '{unknown[0]}'.",
            hint=f"Its models: {', '.join(b.name for b, _ in plan.backends)}.",
        )
    skipped: dict[str, str] = {}

    def skip(name: str, reason: str) -> None:
        if names is not None:
            raise FtxError(f"cannot load model '{name}' of run {run.id}: {reason}")
        skipped[name] = reason
        warn(f"{name}: left out, {reason}")

    ready = []
    for backend, options in chosen:
        record = run.meta["backends"].get(backend.name, {})
        if not record.get("trained"):
            skip(backend.name, f"it has not finished training (status {record.get('status')}).")
        else:
            ready.append((backend, options, record))
    answerers: dict[str, Answerer] = {}
    local, other = _local_groups(run, ready)
    for group in local:
        try:
            answerers.update(_load_group(run, group, batch_size))
        except Exception as exc:
            for backend, _, _ in group:
                skip(backend.name, _reason(exc))
    for backend, options, record in other:
        try:
            model = backend.attach(
                copy.deepcopy(record.get("state", {})), options, _context(run, backend)
            )
        except Exception as exc:
            skip(backend.name, _reason(exc))
            continue
        answerers[backend.name] = AttachedAnswerer(
            backend.name, model, HOSTED_CONCURRENCY if backend.remote else 1, backend.remote
        )
    answerers = {b.name: answerers[b.name] for b, _ in chosen if b.name in answerers}
    if not answerers:
        raise FtxError(
            f"run {run.id} has no model that can answer"
            + (f": {'; '.join(f'{k} {v}' for k, v in skipped.items())}" if skipped else "."),
            hint="Models exist once a backend has finished training ('ftx show' says which).",
        )
    return RunModels(run, answerers, skipped)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FtxError):
        return redact(str(exc))
    return f"{type(exc).__name__}: {redact(str(exc))}"


Member = tuple[Backend, Any, dict[str, Any]]


def _local_groups(run: Run, ready: list[Member]) -> tuple[list[list[Member]], list[Member]]:
    """The local models by the model in memory they answer with: one group per base model
    (loaded the same way) for the adapters and the untuned base, one per fully tuned model;
    every other model answers through its backend's ``attach``."""
    from ftx.backends.local import ADAPTER_DIR, MODEL_DIR, LocalBackend
    from ftx.backends.local import model as models

    groups: dict[Any, list[Member]] = {}
    other: list[Member] = []
    for backend, options, record in ready:
        artifact = record.get("state", {}).get("artifact")
        if not isinstance(backend, LocalBackend) or artifact not in (None, ADAPTER_DIR, MODEL_DIR):
            other.append((backend, options, record))
            continue
        if artifact is None and not backend.is_baseline:
            other.append((backend, options, record))
            continue
        if artifact == MODEL_DIR:
            key: Any = ("full", backend.name)
        else:
            try:
                base = str(models.resolve(options.model).path)
            except FtxError:
                base = str(options.model)
            key = (
                base,
                options.model,
                backend.four_bit,
                options.device,
                options.dtype,
                options.trust_remote_code,
            )
        groups.setdefault(key, []).append((backend, options, record))
    return list(groups.values()), other


def _load_group(run: Run, group: list[Member], batch_size: int | None) -> dict[str, Answerer]:
    """One model in memory for the group: its base (or fully tuned) model with every adapter
    of the group loaded into it under a name of its own."""
    from ftx.backends.local import ADAPTER_DIR, MODEL_DIR
    from ftx.backends.local import model as models

    first, options, record = next(
        (m for m in group if m[2].get("state", {}).get("artifact") == ADAPTER_DIR), group[0]
    )
    full = record.get("state", {}).get("artifact") == MODEL_DIR
    with contextlib.nullcontext() if first.four_bit else models.without_bitsandbytes():
        if full:
            folder = run.path / first.name / MODEL_DIR
            if not (folder / "config.json").exists():
                raise FtxError(f"the trained model in {folder} is missing.")
            model, tokenizer, device, _ = first.load(options, folder)
        else:
            model, tokenizer, device, _ = first.load(options)
        adapters: dict[str, str] = {}
        for backend, _, member in group:
            if member.get("state", {}).get("artifact") != ADAPTER_DIR:
                continue
            folder = run.path / backend.name / ADAPTER_DIR
            if not (folder / "adapter_config.json").exists():
                raise FtxError(f"the adapter in {folder} is missing.")
            # peft names adapters as modules: a variant's name ("lr-1e-3.r8") may not be one
            adapters[backend.name] = name = f"adapter{len(adapters)}"
            if len(adapters) == 1:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, folder, adapter_name=name)
            else:
                model.load_adapter(folder, adapter_name=name)
    engine = Engine(
        model,
        tokenizer,
        device,
        batch_size or max(o.eval_batch_size for _, o, _ in group),
        f"{run.id}/{first.name}",
    )
    return {
        backend.name: LocalAnswerer(
            backend.name, engine, adapters.get(backend.name), backend.template(options)
        )
        for backend, options, _ in group
    }


def _context(run: Run, backend: Backend) -> BackendContext:
    """A context for re-attaching a model outside a run: its folder and state, no progress on
    screen, nothing written (costs of answering are not added to the run)."""
    from ftx.progress import silent_progress

    return BackendContext(
        run.id,
        run.path / backend.name,
        copy.deepcopy(run.meta["backends"][backend.name].get("state", {})),
        lambda: None,
        lambda line: None,
        lambda kind, data: None,
        silent_progress(),
        seed=run.meta.get("seed", 42),
    )
