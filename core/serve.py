"""``ftx serve``: a run's models behind an OpenAI-compatible HTTP API.

    ftx serve latest                       # http://127.0.0.1:8000/v1, no key needed on this machine
    FTX_SERVE_API_KEY=... ftx serve latest --host 0.0.0.0

``GET /v1/models``, ``GET /v1/models/{id}`` and ``POST /v1/chat/completions`` (with ``stream``:
server-sent events), as the ``openai`` SDK expects; errors are OpenAI's JSON
(``{"error": {"message", "type", "param", "code"}}``). The models answer through
``ftx.answering``: local adapters on one shared base, batched; hosted models through their
backends, with the user's own credentials.

Safe by default: the server listens on 127.0.0.1; any other ``--host`` needs an API key
(``--api-key`` or ``FTX_SERVE_API_KEY``), which every request must then send as ``Authorization:
Bearer KEY``. Request bodies, answer lengths and requests in flight are limited (``Limits``).
FastAPI and uvicorn are the ``serve`` extra, imported only here.

``--engine vllm`` hands a run's LoRA adapters to vLLM's own OpenAI server instead
(``vllm_command``), on a machine with vLLM and a CUDA GPU.
"""

import asyncio
import hmac
import ipaddress
import json
import secrets as tokens
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx.answering import Answerer, RequestError, RunModels
from ftx.errors import ConfigError, FtxError
from ftx.secrets import redact
from ftx.types import Completion, Message

API_KEY_ENV = "FTX_SERVE_API_KEY"
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class Limits:
    """What one client may ask of the server."""

    max_request_bytes: int = 1_000_000  # a request body larger than this: 413
    max_tokens: int = 512  # an answer's tokens: the default and the most a request may ask
    max_concurrency: int = 32  # requests being answered at once; more: 429 with Retry-After
    max_messages: int = 256  # messages in one conversation


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """A server other machines can reach must ask for a key: refuse to start without one."""
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"--host {host} lets other machines reach the server, so it needs an API key.",
            hint=f"Set {API_KEY_ENV} (or pass --api-key KEY); clients then send "
            "'Authorization: Bearer KEY'.",
        )
    if api_key is not None and len(api_key) < 8:
        raise ConfigError(
            "the API key is shorter than 8 characters.",
            hint=f"Use a long random one: {API_KEY_ENV}=$(python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))').",
        )


# --- errors, as OpenAI's API gives them ---------------------------------------------------


class ApiError(Exception):
    """A request the server refuses, as OpenAI's JSON error with its HTTP status."""

    TYPES = {401: "invalid_request_error", 404: "invalid_request_error", 429: "rate_limit_error"}

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}

    @property
    def type(self) -> str:
        if self.status >= 500:
            return "server_error"
        return self.TYPES.get(self.status, "invalid_request_error")

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> Any:
        from fastapi.responses import JSONResponse

        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def _answer_error(exc: BaseException, model: str, remote: bool) -> ApiError:
    """A model's failure: the request's fault (400), its provider's (502), or ours (500)."""
    if isinstance(exc, RequestError):
        return ApiError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, FtxError):
        return ApiError(502 if remote else 500, f"model '{model}' failed: {redact(str(exc))}")
    return ApiError(
        500, f"model '{model}' failed: {type(exc).__name__}: {redact(str(exc))}", code="internal"
    )


# --- the request --------------------------------------------------------------------------


@dataclass
class ChatRequest:
    model: str
    messages: list[Message]
    max_tokens: int
    temperature: float | None
    top_p: float | None
    seed: int | None
    stream: bool
    include_usage: bool


def parse_chat(body: bytes, models: RunModels, limits: Limits) -> ChatRequest:
    """The chat completion request in ``body``, or the ``ApiError`` that says what is wrong
    with it (the first thing, with its ``param``)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object.")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is required: one of GET /v1/models.", param="model")
    if model not in models:
        raise ApiError(
            404,
            f"The model '{model[:100]}' does not exist on this server; it serves "
            f"{', '.join(models.names)} (GET /v1/models lists them).",
            code="model_not_found",
            param="model",
        )
    messages = _messages(data.get("messages"), limits)
    for key, what in (("tools", "tools"), ("functions", "functions"), ("stop", "stop sequences")):
        if data.get(key):  # a client that relies on them must not get answers that ignore them
            raise ApiError(400, f"'{key}': this server does not support {what}.", param=key)
    n = data.get("n", 1)
    if n not in (1, None):
        raise ApiError(400, "'n' must be 1: this server gives one answer a request.", param="n")
    max_tokens = data.get("max_completion_tokens", data.get("max_tokens"))
    if max_tokens is None:
        max_tokens = limits.max_tokens
    if not _integer(max_tokens) or not 1 <= max_tokens <= limits.max_tokens:
        raise ApiError(
            400,
            f"'max_tokens' must be a whole number from 1 to {limits.max_tokens}, this server's "
            f"limit (ftx serve --max-tokens); got {str(max_tokens)[:40]}.",
            param="max_tokens",
        )
    temperature = _number(data, "temperature", 0, 2)
    top_p = _number(data, "top_p", 0, 1)
    seed = data.get("seed")
    if seed is not None and not _integer(seed):
        raise ApiError(400, "'seed' must be a whole number.", param="seed")
    stream = data.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise ApiError(400, "'stream' must be true or false.", param="stream")
    options = data.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ApiError(400, "'stream_options' must be an object.", param="stream_options")
    return ChatRequest(
        model,
        messages,
        max_tokens,
        temperature,
        top_p,
        seed % 2**31 if seed is not None else None,
        bool(stream),
        bool(options.get("include_usage")),
    )


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ApiError(400, f"'{key}' must be a number from {low} to {high}.", param=key)
    return float(value)


def _messages(raw: Any, limits: Limits) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list.", param="messages")
    if len(raw) > limits.max_messages:
        raise ApiError(
            400,
            f"'messages' has {len(raw)} messages; this server takes at most {limits.max_messages}.",
            param="messages",
        )
    messages = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise ApiError(400, f"{where} must be an object.", param=where)
        role = ROLES.get(message.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise ApiError(
                400,
                f"{where}.role must be one of {', '.join(ROLES)}; got "
                f"{str(message.get('role'))[:40]!r}.",
                param=f"{where}.role",
            )
        messages.append(Message(role, _content(message.get("content"), where)))
    return messages


def _content(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text only
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                raise ApiError(
                    400,
                    f"{where}.content has a part that is not text; this server takes text only.",
                    param=f"{where}.content",
                )
            if not isinstance(part.get("text"), str):
                raise ApiError(400, f"{where}.content has a text part without text.")
            texts.append(part["text"])
        return "\n".join(texts)
    raise ApiError(400, f"{where}.content must be text (a string).", param=f"{where}.content")


# --- the app ------------------------------------------------------------------------------


def make_app(models: RunModels, *, api_key: str | None, limits: Limits) -> Any:
    """The FastAPI app that serves ``models``; every request sends ``api_key`` when one is set."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.background import BackgroundTask
    from starlette.exceptions import HTTPException

    app = FastAPI(title="ftx serve", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_Guard, api_key=api_key)
    created = int(models.run.meta.get("created") or time.time())
    busy = {"requests": 0}

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> Any:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Any:
        message = (
            f"no route {request.method} {request.url.path}; this server has GET /v1/models and "
            "POST /v1/chat/completions."
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        code = "not_found" if exc.status_code == 404 else None
        return ApiError(exc.status_code, message, code=code).response()

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Any:  # a bug: still OpenAI's JSON
        return ApiError(
            500, f"the server failed: {type(exc).__name__}: {redact(str(exc))}"
        ).response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Any:
        return ApiError(400, f"invalid request: {exc.errors()[:1]}").response()

    def card(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": created, "owned_by": "ftx"}

    @app.get("/v1/models")
    async def list_models() -> Any:
        return {"object": "list", "data": [card(name) for name in models.names]}

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str) -> Any:
        if model_id not in models:
            raise ApiError(
                404,
                f"The model '{model_id[:100]}' does not exist on this server.",
                code="model_not_found",
                param="model",
            )
        return card(model_id)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        body = await _read_body(request, limits.max_request_bytes)
        asked = parse_chat(body, models, limits)
        if busy["requests"] >= limits.max_concurrency:
            raise ApiError(
                429,
                f"the server is answering {limits.max_concurrency} requests already "
                "(ftx serve --max-concurrency); try again in a moment.",
                code="rate_limit_exceeded",
                headers={"Retry-After": "1"},
            )
        busy["requests"] += 1
        released = streaming = False

        def release() -> None:
            nonlocal released
            if not released:
                released, busy["requests"] = True, busy["requests"] - 1

        try:
            answerer = models[asked.model]
            params = models.params(asked.max_tokens, asked.temperature, asked.top_p, asked.seed)
            reply_id, now = f"chatcmpl-{tokens.token_hex(12)}", int(time.time())
            if not asked.stream:
                try:
                    completion = await asyncio.wrap_future(answerer.submit(asked.messages, params))
                except Exception as exc:
                    raise _answer_error(exc, asked.model, answerer.remote) from None
                return JSONResponse(_reply(reply_id, now, asked.model, completion))
            pieces, end = _pieces(answerer, asked, params)
            first = await pieces.get()
            if first is end and end.exception() is not None:  # failed before a word: a status
                raise _answer_error(end.exception(), asked.model, answerer.remote)
            streaming = True  # the stream releases its place when it ends
            return StreamingResponse(
                _events(reply_id, now, asked, answerer, first, pieces, end, release),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                background=BackgroundTask(release),  # also when the client left early
            )
        finally:
            if not streaming:
                release()

    return app


class _Guard:
    """Every request must carry the key, when the server has one (ASGI middleware: it answers
    401 before anything else runs)."""

    def __init__(self, app: Any, api_key: str | None):
        self.app, self.api_key = app, api_key

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.api_key is not None:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, key = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                key.strip(), self.api_key.encode()
            ):
                message = (
                    "Missing API key: send it as 'Authorization: Bearer KEY'."
                    if not given
                    else "Incorrect API key provided."
                )
                response = ApiError(
                    401,
                    message + " It is the key ftx serve was started with.",
                    code="invalid_api_key",
                ).response()
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _read_body(request: Any, limit: int) -> bytes:
    too_large = ApiError(
        413,
        f"the request body is over this server's limit of {limit:,} bytes "
        "(ftx serve --max-request-bytes).",
        code="request_too_large",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _pieces(answerer: Answerer, asked: ChatRequest, params: Any) -> tuple[asyncio.Queue, Any]:
    """The answer's pieces as they come, in a queue that ends with the answer's future."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def on_text(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, text)

    end = asyncio.wrap_future(answerer.submit(asked.messages, params, on_text))
    end.add_done_callback(queue.put_nowait)  # after every piece: both come through the loop
    return queue, end


async def _events(
    reply_id: str,
    now: int,
    asked: ChatRequest,
    answerer: Answerer,
    first: Any,
    pieces: asyncio.Queue,
    end: Any,
    release: Callable[[], None],
) -> AsyncIterator[str]:
    """Server-sent events as OpenAI streams them: the role, the text in pieces, the finish
    reason, the usage when asked, then ``[DONE]``."""

    def event(data: dict[str, Any]) -> str:
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": now,
            "model": asked.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    try:
        yield event(chunk({"role": "assistant", "content": ""}))
        item = first
        while item is not end:
            yield event(chunk({"content": item}))
            item = await pieces.get()
        if end.exception() is not None:  # the stream has begun: the error is its last event
            yield event(_answer_error(end.exception(), asked.model, answerer.remote).body())
            return
        completion: Completion = end.result()
        yield event(chunk({}, "length" if completion.truncated else "stop"))
        if asked.include_usage:
            yield event({**chunk({}), "choices": [], "usage": _usage(completion)})
        yield "data: [DONE]\n\n"
    finally:
        release()


def _usage(completion: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.prompt_tokens + completion.completion_tokens,
    }


def _reply(reply_id: str, now: int, model: str, completion: Completion) -> dict[str, Any]:
    return {
        "id": reply_id,
        "object": "chat.completion",
        "created": now,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.text, "refusal": None},
                "logprobs": None,
                "finish_reason": "length" if completion.truncated else "stop",
            }
        ],
        "usage": _usage(completion),
    }


# --- running it ---------------------------------------------------------------------------


def listen(host: str, port: int) -> Any:
    """A listening socket on ``host:port`` (port 0: a free one), or one sentence why not."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(512)  # connections wait from now on, before the server loop starts
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}.",
            hint="Choose another --port (or --host).",
        ) from None
    return sock


def run_server(app: Any, sock: Any) -> None:
    """Serve ``app`` on ``sock`` until Ctrl-C or SIGTERM."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=5, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])


# --- vLLM ---------------------------------------------------------------------------------

# The LoRA ranks vLLM's --max-lora-rank takes.
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


@dataclass
class VllmPlan:
    base: str  # the base model's folder
    base_name: str  # the name the base model is served under
    adapters: dict[str, str]  # served name -> adapter folder
    max_rank: int
    left_out: dict[str, str]  # model -> why vLLM does not serve it


def vllm_plan(run: Any, names: list[str] | None = None) -> VllmPlan:
    """What vLLM can serve of ``run``: one base model and the LoRA adapters trained on it."""
    from ftx.backends.local import model as local_models
    from ftx.models import models_of
    from ftx.runner import plan_of

    options = {b.name: o for b, o in plan_of(run).backends}
    chosen = [m for m in models_of(run) if names is None or m.name in names]
    missing = [n for n in names or [] if n not in {m.name for m in chosen}]
    if missing:
        raise ConfigError(
            f"run {run.id} has no trained model '{missing[0]}'.",
            hint=f"Its models: {', '.join(m.name for m in models_of(run))}.",
        )
    adapters, bases, left_out, ranks = {}, {}, {}, [8]
    base_name = None
    for model in chosen:
        opts = options.get(model.name)
        if model.method in ("lora", "qlora") and opts is not None:
            adapters[model.name] = model.location
            bases[model.name] = local_models.materialize(local_models.resolve(opts.model))
            config = json.loads((Path(model.location) / "adapter_config.json").read_text())
            ranks.append(int(config.get("r", 8)))
        elif model.method == "base" and model.backend.startswith("local") and opts is not None:
            bases[model.name] = local_models.materialize(local_models.resolve(opts.model))
            base_name = model.name
        else:
            left_out[model.name] = f"{model.method} models are served with --engine ftx"
    if not bases:
        raise ConfigError(
            f"run {run.id} has no local base model or LoRA adapter for vLLM to serve.",
            hint="Serve it with the default engine: ftx serve RUN.",
        )
    if len({str(b) for b in bases.values()}) > 1:
        raise ConfigError(
            f"the models of run {run.id} were trained on different base models, and vLLM serves "
            "one base model with its adapters.",
            hint="Name the models of one base with --model, or use the default engine.",
        )
    base = str(next(iter(bases.values())))
    rank = next((r for r in VLLM_LORA_RANKS if r >= max(ranks)), max(ranks))
    return VllmPlan(base, base_name or Path(base).name, adapters, rank, left_out)


def vllm_command(plan: VllmPlan, *, host: str, port: int, executable: str = "vllm") -> list[str]:
    """The ``vllm serve`` command line for ``plan`` (the API key goes in ``VLLM_API_KEY``, never
    on the command line, where other users of the machine could read it)."""
    command = [executable, "serve", plan.base, "--served-model-name", plan.base_name]
    command += ["--host", host, "--port", str(port)]
    if plan.adapters:
        command += ["--enable-lora", "--max-loras", str(len(plan.adapters))]
        command += ["--max-lora-rank", str(plan.max_rank), "--lora-modules"]
        command += [f"{name}={path}" for name, path in plan.adapters.items()]
    return command


def vllm_ready() -> str:
    """The ``vllm`` executable, or a ConfigError saying what this machine lacks."""
    import importlib.util
    import shutil

    executable = shutil.which("vllm")
    if executable is None or importlib.util.find_spec("vllm") is None:
        raise ConfigError(
            "--engine vllm needs vLLM, which is not installed here.",
            hint="Install it on a machine with a CUDA GPU (pip install vllm), or serve with the "
            "default engine (--engine ftx).",
        )
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    if not gpu:
        raise ConfigError(
            "--engine vllm needs a CUDA GPU, and this machine has none.",
            hint="Serve with the default engine (--engine ftx).",
        )
    return executable
