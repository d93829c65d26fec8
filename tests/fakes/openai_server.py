"""A fake OpenAI API on 127.0.0.1 that speaks the real HTTP protocol the `openai` SDK uses:
files, fine-tuning jobs (with events and cancel) and chat completions.

Its fine-tuned models "learn": they answer a question with the answer of the most similar
question in the uploaded training file, so a fine-tuned model beats the base one. Failures are
injected per test: 401 for a wrong key, 429 with Retry-After, 500, a job that fails, a job that
stays queued for many polls. Counters tell tests what was uploaded, created and asked.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from .server import FakeServer

KEY = "sk-test-fake-key-0123456789"


@dataclass
class Behaviour:
    polls_per_state: int = 1  # polls a job spends in each of validating_files, queued, running
    fail_job: str | None = None  # error message: the job ends 'failed'
    chat_429: int = 0  # the next N chat requests get 429 with Retry-After
    chat_500: int = 0  # the next N chat requests get 500
    chat_500_after: int = -1  # after N more answered chat requests, every one gets 500 (-1: never)
    retry_after: str = "0"
    shutdown_dates: dict[str, int] = field(default_factory=dict)  # model -> Unix seconds
    latency: float = 0.0  # seconds each chat completion takes, like a real model answering
    cut_at_max_tokens: bool = (
        False  # answers longer than max_completion_tokens words stop there: finish_reason "length"
    )
    echo_authorization: bool = (
        False  # every answer quotes the Authorization header it came with (a leaky proxy)
    )
    judge_favours_first: bool = False  # the pairwise judge names answer A, whatever it says


@dataclass
class State:
    files: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {"uploads": 0, "jobs": 0, "chat": 0, "chat_errors": 0, "cancels": 0}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class FakeOpenAI(FakeServer):
    def __init__(self):
        super().__init__()
        self.state = State()
        self.behaviour = Behaviour()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        if req.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(
                req,
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        path = req.path.split("?")[0]
        routes = [
            ("POST", r"/v1/files", self._upload),
            ("POST", r"/v1/fine_tuning/jobs", self._create_job),
            ("GET", r"/v1/fine_tuning/jobs/([\w-]+)", self._get_job),
            ("GET", r"/v1/fine_tuning/jobs/([\w-]+)/events", self._events),
            ("POST", r"/v1/fine_tuning/jobs/([\w-]+)/cancel", self._cancel),
            ("POST", r"/v1/chat/completions", self._chat),
            ("GET", r"/v1/models/([\w:.\-]+)", self._model),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                status, payload, headers = handler(req, body, *match.groups())
                return self._send(req, status, payload, headers)
        self._send(req, 404, {"error": {"message": f"no route {method} {path}"}})

    # --- files and jobs --------------------------------------------------------------------------

    def _upload(self, req, body: bytes):
        boundary = req.headers["Content-Type"].split("boundary=")[1].encode()
        content = b""
        filename = "upload.jsonl"
        for part in body.split(b"--" + boundary):
            if b'name="file"' in part:
                head, _, rest = part.partition(b"\r\n\r\n")
                content = rest.rsplit(b"\r\n", 1)[0]
                found = re.search(rb'filename="([^"]+)"', head)
                filename = found.group(1).decode() if found else filename
        with self.state.lock:
            self.state.counts["uploads"] += 1
            file_id = f"file-{self.state.counts['uploads']}"
            self.state.files[file_id] = content
        return (
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": "fine-tune",
                "status": "processed",
            },
            None,
        )

    def _create_job(self, req, body: bytes):
        params = json.loads(body)
        for key in ("training_file", "validation_file"):
            if params.get(key) is not None and params[key] not in self.state.files:
                return 400, {"error": {"message": f"invalid {key}: {params[key]}"}}, None
        method = params.get("method") or {"type": "supervised"}
        kind = method.get("type")
        if kind not in ("supervised", "dpo") or set(method) - {"type", kind}:
            return 400, {"error": {"message": f"invalid method: {method}"}}, None
        # as OpenAI validates files: a DPO job's lines are preference pairs, an SFT job's chats
        wanted = {"input", "preferred_output", "non_preferred_output"} if kind == "dpo" else None
        for key in ("training_file", "validation_file"):
            for line in self.state.files.get(params.get(key), b"").splitlines():
                record = json.loads(line)
                if (wanted is not None and not wanted <= set(record)) or (
                    wanted is None and "messages" not in record
                ):
                    message = f"{key} is not in the {kind} format: {sorted(record)}"
                    return 400, {"error": {"message": message}}, None
        with self.state.lock:
            self.state.counts["jobs"] += 1
            job_id = f"ftjob-{self.state.counts['jobs']}"
            job = {
                "id": job_id,
                "object": "fine_tuning.job",
                "model": params["model"],
                "created_at": int(time.time()),
                "status": "validating_files",
                "training_file": params["training_file"],
                "validation_file": params.get("validation_file"),
                "fine_tuned_model": None,
                "finished_at": None,
                "error": None,
                "hyperparameters": (method.get(kind) or {}).get("hyperparameters", {}),
                "method": params.get("method"),
                "organization_id": "org-fake",
                "result_files": [],
                "seed": params.get("seed") or 0,
                "trained_tokens": None,
                "suffix": params.get("suffix"),
            }
            self.state.jobs[job_id] = job
            self.state.polls[job_id] = 0
        return 200, job, None

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        order = ["validating_files", "queued", "running"]
        polls = self.state.polls[job["id"]] = self.state.polls[job["id"]] + 1
        stage = polls // self.behaviour.polls_per_state
        if stage < len(order):
            job["status"] = order[stage]
            return
        if self.behaviour.fail_job:
            job.update(
                status="failed",
                finished_at=int(time.time()),
                error={
                    "code": "invalid_training_file",
                    "message": self.behaviour.fail_job,
                    "param": "training_file",
                },
            )
            return
        training = self.state.files[job["training_file"]]
        job.update(
            status="succeeded",
            finished_at=int(time.time()),
            trained_tokens=len(training) // 4 * 3,
            fine_tuned_model=f"ft:{job['model']}:ftx:{job['suffix'] or 'run'}:{job['id'][-4:]}",
        )

    def _get_job(self, req, body, job_id):
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                return 404, {"error": {"message": f"No fine-tuning job {job_id}"}}, None
            self._advance(job)
            return 200, job, None

    def _events(self, req, body, job_id):
        job = self.state.jobs[job_id]
        events = [
            {
                "id": f"ev-{job_id}-1",
                "object": "fine_tuning.job.event",
                "created_at": job["created_at"],
                "level": "info",
                "message": "Validating training file",
                "type": "message",
                "data": {},
            }
        ]
        if job["status"] in ("running", "succeeded"):
            for step in (1, 2, 3):
                events.append(
                    {
                        "id": f"ev-{job_id}-s{step}",
                        "object": "fine_tuning.job.event",
                        "created_at": job["created_at"] + step,
                        "level": "info",
                        "message": f"Step {step}/3: training loss={2.0 / step:.2f}",
                        "type": "metrics",
                        "data": {
                            "step": step,
                            "train_loss": 2.0 / step,
                            "total_steps": 3,
                            **({"valid_loss": 2.5 / step} if job["validation_file"] else {}),
                        },
                    }
                )
        if job["status"] == "failed":
            events.append(
                {
                    "id": f"ev-{job_id}-f",
                    "object": "fine_tuning.job.event",
                    "created_at": job["created_at"] + 9,
                    "level": "error",
                    "message": job["error"]["message"],
                    "type": "message",
                    "data": {},
                }
            )
        events.reverse()  # newest first, as the API lists them
        return 200, {"object": "list", "data": events, "has_more": False}, None

    def _model(self, req, body, model):
        if not model.startswith(("gpt-", "ft:")):
            return (
                404,
                {
                    "error": {
                        "message": f"The model '{model}' does not exist",
                        "code": "model_not_found",
                    }
                },
                None,
            )
        found = {"id": model, "object": "model", "created": 0, "owned_by": "openai"}
        if model in self.behaviour.shutdown_dates:  # GET /v1/models says when a model retires
            found["shutdown_date"] = self.behaviour.shutdown_dates[model]
        return 200, found, None

    def _cancel(self, req, body, job_id):
        with self.state.lock:
            job = self.state.jobs[job_id]
            self.state.counts["cancels"] += 1
            if job["status"] not in ("succeeded", "failed"):
                job.update(status="cancelled", finished_at=int(time.time()))
            return 200, job, None

    # --- chat ------------------------------------------------------------------------------------

    def _chat(self, req, body: bytes):
        params = json.loads(body)
        with self.state.lock:
            self.state.counts["chat"] += 1
            if self.behaviour.chat_429 > 0:
                self.behaviour.chat_429 -= 1
                self.state.counts["chat_errors"] += 1
                return (
                    429,
                    {
                        "error": {
                            "message": "Rate limit reached",
                            "type": "requests",
                            "code": "rate_limit_exceeded",
                        }
                    },
                    {"Retry-After": self.behaviour.retry_after},
                )
            if self.behaviour.chat_500 > 0 or self.behaviour.chat_500_after == 0:
                self.behaviour.chat_500 = max(0, self.behaviour.chat_500 - 1)
                self.state.counts["chat_errors"] += 1
                return (
                    500,
                    {"error": {"message": "The server had an error", "type": "server_error"}},
                    None,
                )
            if self.behaviour.chat_500_after > 0:
                self.behaviour.chat_500_after -= 1
        if self.behaviour.latency:
            time.sleep(self.behaviour.latency)
        question = params["messages"][-1]["content"]
        if params["messages"][0]["content"].startswith("You grade answers"):
            answer = self._grade(question)
        elif params["messages"][0]["content"].startswith("You compare two answers"):
            answer = self._compare(question)
        else:
            answer = self._answer(params["model"], question)
        if self.behaviour.echo_authorization:
            answer = f"You sent me {req.headers.get('Authorization')}; {answer}"
        finish = "stop"
        limit = params.get("max_completion_tokens")
        if self.behaviour.cut_at_max_tokens and limit and len(answer.split()) > limit:
            answer, finish = " ".join(answer.split()[:limit]), "length"
        usage = {
            "prompt_tokens": len(question.split()),
            "completion_tokens": len(answer.split()),
            "total_tokens": len(question.split()) + len(answer.split()),
        }
        for kind in (
            "prompt_tokens",
            "completion_tokens",
        ):  # what the tests can check costs against
            self.state.counts[f"chat_{kind}"] = (
                self.state.counts.get(f"chat_{kind}", 0) + usage[kind]
            )
        return (
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": params["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish,
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
                "usage": usage,
            },
            None,
        )

    def _grade(self, text: str) -> str:
        """A judge: the grade follows word overlap between the answer and the reference."""
        fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        reference, answer = (
            _words(fields.get("Reference answer", "")),
            _words(fields.get("Answer to grade", "")),
        )
        overlap = len(reference & answer) / max(len(reference | answer), 1)
        return json.dumps(
            {"grade": 1 + round(4 * overlap), "reason": f"{overlap:.0%} of the words agree"}
        )

    def _compare(self, text: str) -> str:
        """A pairwise judge: the answer with more words is better, the same number is a tie;
        with ``judge_favours_first``, answer A always wins (a judge biased by position)."""
        fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
        first, second = (len(fields.get(f"Answer {x}", "").split()) for x in "AB")
        if self.behaviour.judge_favours_first:
            winner = "A"
        else:
            winner = "A" if first > second else "B" if second > first else "tie"
        return json.dumps({"winner": winner, "reason": f"{first} words against {second}"})

    def _answer(self, model: str, question: str) -> str:
        job = next((j for j in self.state.jobs.values() if j["fine_tuned_model"] == model), None)
        if job is None:
            return "I believe that is a question about a classic novel."
        best, best_score = "I do not know.", 0.0
        for line in self.state.files[job["training_file"]].decode().splitlines():
            record = json.loads(line)  # a chat, or a DPO pair: its prompt then the preferred answer
            messages = record.get("messages") or [
                *record["input"]["messages"],
                *record["preferred_output"],
            ]
            asked = _words(messages[-2]["content"])
            score = len(asked & _words(question)) / max(len(asked | _words(question)), 1)
            if score > best_score:
                best, best_score = messages[-1]["content"], score
        return best
