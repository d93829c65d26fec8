"""``ftx serve``: a real server process on a run of the tiny model, asked through the real
``openai`` SDK: the models, answers and streamed answers of two adapters (each the answer its
own backend gives), a hosted model through the fake OpenAI API, errors as OpenAI gives them,
the key, the limits, many requests at once; and the vLLM command line.

The run (``tuned_run``) is trained once for this module and the chat and models tests: the
untuned base, two LoRA adapters (``local-lora`` and the variant ``b``) and an OpenAI fine-tune
on the fake API."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftx.testing import sample_rows, write_jsonl

from .fakes.openai_server import KEY as OPENAI_KEY
from .fakes.openai_server import FakeOpenAI

SERVE_KEY = "serve-test-key-5f3a9c"
MODELS = ["local-base", "local-lora", "b", "openai"]
QUESTIONS = [row["question"] for row in sample_rows(30)[24:30]]


# --- the run these tests share ------------------------------------------------------------


@dataclass
class TunedRun:
    root: Path  # the folder the run was made in
    runs: Path  # its runs folder
    fake: FakeOpenAI  # the OpenAI API its 'openai' model lives on
    env: dict[str, str]  # what a process needs to reach the models

    @property
    def path(self) -> Path:
        return self.runs / "r"


_SHARED: dict[str, TunedRun] = {}


def make_tuned_run(tmp_path_factory) -> TunedRun:
    """The run, trained the first time a test module asks for it in this session (a few steps
    each), with its fake OpenAI API kept up for the session."""
    if "run" in _SHARED:
        return _SHARED["run"]
    pytest.importorskip("torch")
    pytest.importorskip("openai")
    from ftx import plugins
    from ftx.cli import cli
    from ftx.testing import make_tiny_model

    root = tmp_path_factory.mktemp("tuned")
    model = make_tiny_model(root / "model")
    data = write_jsonl(root / "qa.jsonl", sample_rows(24))
    fake = FakeOpenAI().__enter__()  # stops with the session (a daemon thread)
    env = {
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": fake.base_url,
        "FTX_CACHE_DIR": str(root / "cache"),
        "FTX_LOAD_PLUGINS": "",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        plugins.reset()
        result = CliRunner().invoke(
            cli,
            [
                "run",
                "--data",
                str(data),
                "--model",
                str(model),
                "--eval-size",
                "4",
                "--name",
                "r",
                "--runs-dir",
                str(root / "runs"),
                "--backend",
                "local-base",
                "--backend",
                "local-lora",
                "--backend",
                "b=local-lora",
                "--backend",
                "openai",
                *("--set", "local-lora.max_steps=4", "--set", "local-lora.learning_rate=0.02"),
                *("--set", "b.max_steps=4", "--set", "b.learning_rate=0.05", "--set", "b.lora_r=4"),
                *("--set", "openai.poll_interval=0.01", "--set", "run.max_new_tokens=8"),
            ],
        )
        plugins.reset()
    assert result.exit_code == 0, result.output
    _SHARED["run"] = TunedRun(root, root / "runs", fake, env)
    return _SHARED["run"]


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    return make_tuned_run(tmp_path_factory)


def reference_answers(run: TunedRun, names: list[str], messages_list, max_new_tokens: int):
    """Each local model's greedy answers as its own backend gives them (``attach``, one model
    in memory per backend, as ``ftx resume`` loads it): what the server must answer too."""
    from ftx.runner import plan_of
    from ftx.store import RunStore
    from ftx.types import GenerationParams, Message

    from .helpers import backend_context

    stored = RunStore(run.runs).open("r")
    answers = {}
    for backend, options in plan_of(stored).backends:
        if backend.name not in names:
            continue
        state = stored.meta["backends"][backend.name].get("state", {})
        model = backend.attach(state, options, backend_context(stored.path / backend.name))
        prompts = [[Message(m["role"], m["content"]) for m in ms] for ms in messages_list]
        answers[backend.name] = [
            c.text for c in model.generate(prompts, GenerationParams(max_new_tokens=max_new_tokens))
        ]
        model.close()
    return answers


def hosted_answer(run: TunedRun, question: str) -> str:
    """What the fake API's fine-tuned model answers to ``question``."""
    from ftx.store import RunStore

    state = RunStore(run.runs).open("r").meta["backends"]["openai"]["state"]
    return run.fake._answer(state["fine_tuned_model"], question)


# --- the server ---------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    output: list[str]


def start_server(run: TunedRun, *args: str, key: str | None = SERVE_KEY) -> Server:
    env = {**os.environ, **run.env, "FTX_SERVE_API_KEY": key or ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", "serve", "r", "--runs-dir", str(run.runs), "--port", "0"]
        + list(args),
        cwd=run.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline, lines = time.time() + 180, []
    while time.time() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1)
        if ready:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("ftx serve: "):
                url = next(w for w in line.split() if w.startswith("http://"))
                reader = threading.Thread(
                    target=lambda: lines.extend(process.stdout), daemon=True
                )  # keep the pipe drained
                reader.start()
                return Server(url, process, lines)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError("ftx serve did not start:\n" + "".join(lines))


def stop_server(server: Server) -> str:
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        raise
    time.sleep(0.2)
    return "".join(server.output)


@pytest.fixture(scope="module")
def server(tuned_run):
    started = start_server(tuned_run, "--max-request-bytes", "4096", "--max-tokens", "16")
    yield started
    output = stop_server(started)
    assert SERVE_KEY not in output and OPENAI_KEY not in output  # never in its output
    assert "Traceback" not in output, output


@pytest.fixture
def client(server):
    import openai

    return openai.OpenAI(base_url=server.url, api_key=SERVE_KEY, max_retries=0, timeout=120)


def post(server: Server, body: bytes, key: str | None = SERVE_KEY, path="/chat/completions"):
    """A raw request: (status, JSON body)."""
    request = urllib.request.Request(server.url + path, data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def ask(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}]


# --- through the openai SDK ---------------------------------------------------------------


@pytest.mark.slow
def test_the_sdk_lists_the_runs_models(client):
    assert [m.id for m in client.models.list()] == MODELS
    assert client.models.retrieve("b").owned_by == "ftx"


@pytest.mark.slow
def test_two_adapters_answer_as_their_own_backends_do(tuned_run, client):
    question = QUESTIONS[0]
    expected = reference_answers(tuned_run, ["local-base", "local-lora", "b"], [ask(question)], 8)
    answers = {}
    for name in ("local-base", "local-lora", "b"):
        reply = client.chat.completions.create(
            model=name, messages=ask(question), max_tokens=8, temperature=0
        )
        answers[name] = reply.choices[0].message.content
        assert answers[name] == expected[name][0], name
        assert reply.model == name and reply.usage.completion_tokens > 0
        assert reply.choices[0].finish_reason in ("stop", "length")
    assert len(set(answers.values())) > 1, answers  # the adapters were switched, not shared


@pytest.mark.slow
def test_streamed_answers_add_up_to_the_answer(tuned_run, client):
    question = QUESTIONS[1]
    expected = reference_answers(tuned_run, ["local-lora", "b"], [ask(question)], 8)
    for name in ("local-lora", "b"):
        stream = client.chat.completions.create(
            model=name,
            messages=ask(question),
            max_tokens=8,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == expected[name][0], name
        assert chunks[0].choices[0].delta.role == "assistant"
        assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
        assert chunks[-1].usage.completion_tokens > 0 and not chunks[-1].choices


@pytest.mark.slow
def test_a_hosted_model_is_asked_through_its_provider(tuned_run, client):
    question = QUESTIONS[2]
    expected = hosted_answer(tuned_run, question)
    reply = client.chat.completions.create(model="openai", messages=ask(question))
    assert reply.choices[0].message.content == expected
    stream = client.chat.completions.create(model="openai", messages=ask(question), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == expected


@pytest.mark.slow
def test_an_unknown_model_is_a_404_the_sdk_understands(client):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=ask("hi"))
    assert caught.value.status_code == 404 and caught.value.code == "model_not_found"
    assert "local-lora" in caught.value.message  # what it does serve
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-nope")


@pytest.mark.slow
def test_the_key_is_required(server):
    import openai

    wrong = openai.OpenAI(base_url=server.url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="b", messages=ask("hi"))
    status, body = post(server, b'{"model": "b", "messages": []}', key=None)
    assert status == 401 and body["error"]["message"].startswith("Missing API key")


@pytest.mark.slow
def test_concurrent_requests_all_succeed_each_with_its_models_answer(tuned_run, client):
    local = ["local-base", "local-lora", "b"]
    expected = reference_answers(tuned_run, local, [ask(q) for q in QUESTIONS], 8)
    jobs = [(name, i) for i in range(len(QUESTIONS)) for name in [*local, "openai"]]

    def one(job):
        name, i = job
        reply = client.chat.completions.create(
            model=name, messages=ask(QUESTIONS[i]), max_tokens=8, temperature=0
        )
        return reply.choices[0].message.content

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        answers = list(pool.map(one, jobs))
    for (name, i), answer in zip(jobs, answers):
        want = expected[name][i] if name in expected else hosted_answer(tuned_run, QUESTIONS[i])
        assert answer == want, (name, i)


@pytest.mark.slow
@pytest.mark.parametrize(
    "body, status, param, words",
    [
        (b"{not json", 400, None, "not JSON"),
        (b"[1, 2]", 400, None, "JSON object"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "model", "'model' is required"),
        (b'{"model": "b", "messages": []}', 400, "messages", "non-empty list"),
        (b'{"model": "b", "messages": [{"role": "robot", "content": "hi"}]}', 400, None, "role"),
        (
            b'{"model": "b", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
            400,
            "messages[0].content",
            "text only",
        ),
        (b'{"model": "b", "messages": [{"role": "user", "content": "hi"}], "n": 2}', 400, "n", "1"),
        (
            b'{"model": "b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 17}',
            400,
            "max_tokens",
            "from 1 to 16",
        ),
        (
            b'{"model": "b", "messages": [{"role": "user", "content": "hi"}], "temperature": 3}',
            400,
            "temperature",
            "from 0 to 2",
        ),
        (
            b'{"model": "b", "messages": [{"role": "user", "content": "hi"}], "stop": ["."]}',
            400,
            "stop",
            "does not support stop sequences",
        ),
        (b'{"model": "b", "messages": "' + b"x" * 5000 + b'"}', 413, None, "4,096 bytes"),
    ],
)
def test_bad_requests_get_openai_errors(server, body, status, param, words):
    got, reply = post(server, body)
    assert got == status, reply
    error = reply["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and words in error["message"]
    if param:
        assert error["param"] == param


@pytest.mark.slow
def test_a_conversation_longer_than_the_context_is_a_400(server):
    long = "x " * 1500  # 3,000 tokens; the tiny model's context is 512
    body = json.dumps({"model": "local-lora", "messages": ask(long)}).encode()
    got, reply = post(server, body)
    assert got == 400 and reply["error"]["code"] == "context_length_exceeded"
    assert "leaves no room for an answer in the model's context of 512 tokens" in str(reply)


@pytest.mark.slow
def test_too_many_requests_at_once_get_429(tuned_run):
    import openai

    server = start_server(tuned_run, "--max-concurrency", "1", "--model", "openai")
    try:
        tuned_run.fake.behaviour.latency = 1.0  # the first request is still being answered
        client = openai.OpenAI(base_url=server.url, api_key=SERVE_KEY, max_retries=0)
        with ThreadPoolExecutor(max_workers=2) as pool:
            first = pool.submit(client.chat.completions.create, model="openai", messages=ask("a"))
            time.sleep(0.4)
            with pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(model="openai", messages=ask("b"))
            assert caught.value.response.headers["retry-after"] == "1"
            assert first.result().choices[0].message.content
    finally:
        tuned_run.fake.behaviour.latency = 0.0
        stop_server(server)


@pytest.mark.slow
def test_a_providers_refusal_is_a_502_that_quotes_no_key(tuned_run):
    wrong = "sk-wrong-key-for-the-provider-123456"
    run = TunedRun(tuned_run.root, tuned_run.runs, tuned_run.fake, {**tuned_run.env})
    run.env["OPENAI_API_KEY"] = wrong
    server = start_server(run, "--model", "openai")
    try:
        got, reply = post(server, json.dumps({"model": "openai", "messages": ask("hi")}).encode())
    finally:
        output = stop_server(server)
    assert got == 502 and reply["error"]["type"] == "server_error"
    assert "model 'openai' failed: OpenAI rejected the API key" in reply["error"]["message"]
    assert wrong not in json.dumps(reply) and wrong not in output


@pytest.mark.slow
def test_without_a_key_anyone_on_this_machine_may_ask(tuned_run):
    import openai

    server = start_server(tuned_run, "--model", "b", key=None)
    try:
        assert "no API key: this machine only" in server.output[-1]
        assert server.url.startswith("http://127.0.0.1:")
        client = openai.OpenAI(base_url=server.url, api_key="anything", max_retries=0)
        assert [m.id for m in client.models.list()] == ["b"]
    finally:
        stop_server(server)


# --- refusals before anything loads --------------------------------------------------------


@pytest.fixture
def empty_run(tmp_path):
    from ftx.store import RunStore

    RunStore(tmp_path / "runs").create({"config": {"run": {}}}, "r")
    return tmp_path / "runs"


def test_an_open_host_without_a_key_is_refused(empty_run, monkeypatch, capsys):
    from .helpers import ftx_main

    monkeypatch.delenv("FTX_SERVE_API_KEY", raising=False)
    code, out, err = ftx_main(
        capsys, "serve", "r", "--runs-dir", str(empty_run), "--host", "0.0.0.0"
    )
    assert code == 2 and out == ""
    assert err.startswith("error: --host 0.0.0.0 lets other machines reach the server, so it needs")
    assert "FTX_SERVE_API_KEY" in err and len(err.strip().splitlines()) == 1


def test_a_short_key_is_refused(empty_run, capsys):
    from .helpers import ftx_main

    code, _, err = ftx_main(capsys, "serve", "r", "--runs-dir", str(empty_run), "--api-key", "abc")
    assert code == 2 and "shorter than 8 characters" in err and "abc" not in err


def test_a_port_in_use_is_one_sentence():
    import socket

    from ftx.errors import ConfigError
    from ftx.serve import listen

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(ConfigError, match="cannot listen on 127.0.0.1:.*another --port"):
            listen("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_loopback_hosts_need_no_key():
    from ftx.serve import check_exposure, is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.org"))
    check_exposure("127.0.0.1", None)  # no error
    check_exposure("0.0.0.0", "a-long-enough-key")


# --- vLLM ----------------------------------------------------------------------------------


def test_the_vllm_command_line():
    from ftx.serve import VllmPlan, vllm_command

    plan = VllmPlan(
        base="/m/SmolLM2",
        base_name="local-base",
        adapters={"local-lora": "/runs/r/local-lora/adapter", "b": "/runs/r/b/adapter"},
        max_rank=16,
        left_out={},
    )
    assert vllm_command(plan, host="127.0.0.1", port=8000) == [
        "vllm",
        "serve",
        "/m/SmolLM2",
        "--served-model-name",
        "local-base",
        "--host",
        "127.0.0.1",
        "--port",
        "8000",
        "--enable-lora",
        "--max-loras",
        "2",
        "--max-lora-rank",
        "16",
        "--lora-modules",
        "local-lora=/runs/r/local-lora/adapter",
        "b=/runs/r/b/adapter",
    ]
    plain = VllmPlan("/m/x", "x", {}, 8, {})
    assert vllm_command(plain, host="::1", port=1) == [
        *("vllm", "serve", "/m/x", "--served-model-name", "x", "--host", "::1", "--port", "1")
    ]


@pytest.mark.slow
def test_the_vllm_plan_of_a_run(tuned_run):
    from ftx.serve import vllm_plan
    from ftx.store import RunStore

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tuned_run.root)
        plan = vllm_plan(RunStore(tuned_run.runs).open("r"))
    assert plan.base == str(tuned_run.root / "model") and plan.base_name == "local-base"
    assert plan.adapters == {
        "local-lora": str(tuned_run.path / "local-lora" / "adapter"),
        "b": str(tuned_run.path / "b" / "adapter"),
    }
    assert plan.max_rank == 16  # ranks 16 (the default) and 4: the smallest choice holding both
    assert set(plan.left_out) == {"openai"}


def test_vllm_missing_is_one_sentence(empty_run, capsys, monkeypatch):
    import shutil

    from .helpers import ftx_main

    if shutil.which("vllm"):
        pytest.skip("vLLM is installed here")
    code, _, err = ftx_main(capsys, "serve", "r", "--runs-dir", str(empty_run), "--engine", "vllm")
    assert code == 2
    assert err.startswith("error: --engine vllm needs vLLM, which is not installed here.")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_throughput_benchmark_runs(tmp_path):
    """At its smallest: it trains its run, serves it, prints its figures and writes its JSON."""
    out = tmp_path / "serve.json"
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "serve_throughput.py"
    result = subprocess.run(
        [sys.executable, str(script), "--requests", "4", "--concurrency", "2"]
        + ["--new-tokens", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "FTX_LOAD_PLUGINS": ""},
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "one request at a time" in result.stdout and f"wrote {out}" in result.stdout
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"one_at_a_time", "concurrent", "concurrent_two_models"}
    assert all(row["tokens"] > 0 for row in report["results"].values()) and report["speedup"] > 0
