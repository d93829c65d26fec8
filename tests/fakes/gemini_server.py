"""A fake Google Cloud on 127.0.0.1 that speaks the HTTP the real libraries use: the OAuth token
endpoint a service-account key points at, Cloud Storage uploads (``STORAGE_EMULATOR_HOST``), and
Vertex AI's tuning jobs and generateContent (google-genai with ``HttpOptions(base_url=...)``),
plus the Developer API's generateContent for API keys.

Tuned models "learn": an endpoint answers with the answer of the most similar question in its
training file, so the tuned model beats the base. Failures are injected per test: credentials
refused (401) or not allowed (403), 429 with Retry-After, 500, a tuning job that fails on bad
data, a job that stays pending for many polls. Counters tell tests what was done.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from .server import FakeServer

TOKEN = "ya29.fake-access-token"
API_KEY = "AIza-fake-developer-key-0123"
PROJECT, LOCATION = "ftx-test", "us-central1"


@dataclass
class Behaviour:
    polls_per_state: int = 1  # polls a job spends PENDING, then RUNNING
    auth: int = 200  # 401: every token is refused; 403: the account lacks permission
    generate_429: int = 0  # the next N generateContent requests get 429 with Retry-After
    generate_500: int = 0
    cut_at_max_tokens: bool = (
        False  # answers longer than maxOutputTokens words stop there: finishReason MAX_TOKENS
    )
    retry_after: str = "0"


@dataclass
class State:
    objects: dict[str, bytes] = field(default_factory=dict)  # "gs://bucket/name" -> content
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "tokens": 0,
            "uploads": 0,
            "jobs": 0,
            "generate": 0,
            "errors": 0,
            "cancels": 0,
            "model_checks": 0,
        }
    )
    lock: threading.Lock = field(default_factory=threading.Lock)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class FakeGoogle(FakeServer):
    def __init__(self):
        super().__init__()
        self.state = State()
        self.behaviour = Behaviour()

    def service_account_file(self, folder: Path) -> Path:
        """A real service-account key file (fresh RSA key) whose token URI is this server."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT,
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": f"ftx-test@{PROJECT}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )
        return path

    # --- HTTP --------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        parsed = urllib.parse.urlsplit(req.path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        if path == "/token":
            with self.state.lock:
                self.state.counts["tokens"] += 1
            return self._send(
                req, 200, {"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer"}
            )
        if path.startswith(("/upload/storage/", "/storage/")):
            return self._storage(req, method, path, query, body)
        if path.startswith(("/v1beta/models/", "/v1/models/")):  # the Developer API, with a key
            if (
                req.headers.get("x-goog-api-key") != API_KEY
                and query.get("key", [""])[0] != API_KEY
            ):
                return self._error(
                    req, 400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT"
                )
            model = path.split("/models/", 1)[1].split(":")[0]
            if method == "GET":
                return self._model(req, {}, model)
            return self._generate(req, json.loads(body or b"{}"), model, None)
        if self.behaviour.auth == 401 or req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._error(
                req, 401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"
            )
        if self.behaviour.auth == 403:
            return self._error(
                req,
                403,
                "Permission 'aiplatform.tuningJobs.create' denied on resource.",
                "PERMISSION_DENIED",
            )
        base = rf"/v1beta1/projects/{PROJECT}/locations/{LOCATION}"
        routes = [
            ("POST", base + r"/tuningJobs", self._create_job),
            ("GET", base + r"/tuningJobs/(\w+)", self._get_job),
            ("POST", base + r"/tuningJobs/(\w+):cancel", self._cancel),
            ("GET", r"/v1beta1/publishers/google/models/([\w.\-]+)", self._model),
            (
                "POST",
                base + r"/publishers/google/models/([\w.\-]+):generateContent",
                self._generate_base,
            ),
            ("POST", base + r"/endpoints/(\w+):generateContent", self._generate_tuned),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return handler(req, json.loads(body or b"{}"), *match.groups())
        self._error(req, 404, f"no route {method} {path}", "NOT_FOUND")

    def _error(
        self, req, status: int, message: str, reason: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(
            req, status, {"error": {"code": status, "message": message, "status": reason}}, headers
        )

    # --- Cloud Storage (what google-cloud-storage calls for a small upload) ----------------------

    def _storage(
        self, req, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> None:
        match = re.fullmatch(r"/upload/storage/v1/b/([\w.\-]+)/o", path)
        if method == "POST" and match and query.get("uploadType") == ["multipart"]:
            if match.group(1) == "no-such-bucket":
                return self._error(req, 404, "The specified bucket does not exist.", "NOT_FOUND")
            boundary = req.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
            parts = [p for p in body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
            metadata = json.loads(parts[0].partition(b"\r\n\r\n")[2])
            content = parts[1].partition(b"\r\n\r\n")[2].removesuffix(b"\r\n")
            name = metadata.get("name") or query["name"][0]
            with self.state.lock:
                self.state.objects[f"gs://{match.group(1)}/{name}"] = content
                self.state.counts["uploads"] += 1
            return self._send(
                req,
                200,
                {
                    "kind": "storage#object",
                    "bucket": match.group(1),
                    "name": name,
                    "size": str(len(content)),
                },
            )
        self._error(req, 404, f"no storage route {method} {path}", "NOT_FOUND")

    # --- Vertex AI tuning jobs -------------------------------------------------------------------

    def _create_job(self, req, body: dict[str, Any]) -> None:
        specs = [k for k in SPECS if k in body]
        if len(specs) > 1:
            return self._error(
                req, 400, f"Only one tuning spec allowed: {specs}", "INVALID_ARGUMENT"
            )
        kind = specs[0] if specs else "supervisedTuningSpec"
        spec = body.get(kind, {})
        uri = spec.get("trainingDatasetUri", "")
        if uri not in self.state.objects:
            return self._error(
                req, 400, f"Training dataset {uri} does not exist.", "INVALID_ARGUMENT"
            )
        if kind == "preferenceOptimizationSpec":  # Vertex validates a preference dataset first
            for key in ("trainingDatasetUri", "validationDatasetUri"):
                for line in self.state.objects.get(spec.get(key, ""), b"").decode().splitlines():
                    if not _is_preference(json.loads(line)):
                        return self._error(
                            req,
                            400,
                            "Invalid preference tuning dataset: each line needs 'contents' "
                            "ending with a 'user' turn and two scored 'completions'.",
                            "INVALID_ARGUMENT",
                        )
        if body.get("baseModel") not in (
            "gemini-2.5-flash",
            "gemini-2.5-flash-lite",
            "gemini-2.5-pro",
        ):
            return self._error(
                req,
                400,
                f"Base model {body.get('baseModel')} is not supported for tuning.",
                "INVALID_ARGUMENT",
            )
        with self.state.lock:
            self.state.counts["jobs"] += 1
            number = str(1000 + self.state.counts["jobs"])
            name = f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/{number}"
            job = {
                "name": name,
                "state": "JOB_STATE_PENDING",
                "baseModel": body["baseModel"],
                kind: spec,
                "tunedModelDisplayName": body.get("tunedModelDisplayName"),
                "createTime": _now(),
            }
            self.state.jobs[number] = job
            self.state.polls[number] = 0
        return self._send(req, 200, job)

    def _get_job(self, req, body: dict[str, Any], number: str) -> None:
        with self.state.lock:
            job = self.state.jobs.get(number)
            if job is None:
                return self._error(req, 404, "Tuning job not found.", "NOT_FOUND")
            self.state.polls[number] += 1
            polls, per = self.state.polls[number], self.behaviour.polls_per_state
            if job["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
                if polls > 2 * per:
                    self._finish(number, job)
                elif polls > per:
                    job["state"] = "JOB_STATE_RUNNING"
            return self._send(req, 200, job)

    def _finish(self, number: str, job: dict[str, Any]) -> None:
        data = self.state.objects[_spec(job)["trainingDatasetUri"]].decode()
        preference = "preferenceOptimizationSpec" in job
        try:
            rows = [json.loads(line) for line in data.splitlines()]
            assert preference or all(r["contents"][-1]["role"] == "model" for r in rows)
        except (ValueError, KeyError, AssertionError):  # bad data fails the job, as Vertex does
            job.update(
                state="JOB_STATE_FAILED",
                endTime=_now(),
                error={
                    "code": 3,
                    "message": "Invalid training data: each line needs 'contents' ending with a "
                    "'model' turn.",
                },
            )
            return
        tokens = sum(
            len(part["text"].split()) for r in rows for c in r["contents"] for part in c["parts"]
        )
        job.update(
            state="JOB_STATE_SUCCEEDED",
            endTime=_now(),
            tunedModel={
                "model": f"projects/{PROJECT}/locations/{LOCATION}/models/{number}@1",
                "endpoint": f"projects/{PROJECT}/locations/{LOCATION}/endpoints/{number}",
            },
            tuningDataStats={
                (
                    "preferenceOptimizationDataStats" if preference else "supervisedTuningDataStats"
                ): {
                    "tuningDatasetExampleCount": str(len(rows)),
                    "totalBillableTokenCount": str(tokens * 3),
                }
            },
        )

    def _cancel(self, req, body: dict[str, Any], number: str) -> None:
        with self.state.lock:
            job = self.state.jobs[number]
            self.state.counts["cancels"] += 1
            if job["state"] in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING"):
                job.update(state="JOB_STATE_CANCELLED", endTime=_now())
        return self._send(req, 200, {})

    def _model(self, req, body: dict[str, Any], model: str) -> None:
        with self.state.lock:
            self.state.counts["model_checks"] += 1
        if not model.startswith("gemini-"):
            return self._error(req, 404, f"Publisher Model `{model}` was not found.", "NOT_FOUND")
        return self._send(
            req, 200, {"name": f"publishers/google/models/{model}", "versionId": "001"}
        )

    # --- generateContent -------------------------------------------------------------------------

    def _generate_base(self, req, body: dict[str, Any], model: str) -> None:
        return self._generate(req, body, model, None)

    def _generate_tuned(self, req, body: dict[str, Any], number: str) -> None:
        job = self.state.jobs.get(number)
        if job is None or job["state"] != "JOB_STATE_SUCCEEDED":
            return self._error(req, 404, f"Endpoint {number} not found.", "NOT_FOUND")
        return self._generate(req, body, job["baseModel"], job)

    def _generate(self, req, body: dict[str, Any], model: str, job: dict[str, Any] | None) -> None:
        with self.state.lock:
            self.state.counts["generate"] += 1
            if self.behaviour.generate_429 > 0:
                self.behaviour.generate_429 -= 1
                self.state.counts["errors"] += 1
                return self._error(
                    req,
                    429,
                    "Resource exhausted. Please try again later.",
                    "RESOURCE_EXHAUSTED",
                    {"Retry-After": self.behaviour.retry_after},
                )
            if self.behaviour.generate_500 > 0:
                self.behaviour.generate_500 -= 1
                self.state.counts["errors"] += 1
                return self._error(req, 500, "Internal error encountered.", "INTERNAL")
        question = body["contents"][-1]["parts"][0]["text"]
        answer = (
            self._answer(question, job)
            if job
            else "I believe that is a question about a classic novel."
        )
        finish = "STOP"
        limit = body.get("generationConfig", {}).get("maxOutputTokens")
        if self.behaviour.cut_at_max_tokens and limit and len(answer.split()) > limit:
            answer, finish = " ".join(answer.split()[:limit]), "MAX_TOKENS"
        usage = {
            "promptTokenCount": len(question.split()),
            "candidatesTokenCount": len(answer.split()),
            "totalTokenCount": len(question.split()) + len(answer.split()),
        }
        return self._send(
            req,
            200,
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": answer}]},
                        "finishReason": finish,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": model,
            },
        )

    def _answer(self, question: str, job: dict[str, Any]) -> str:
        best, best_score = "I do not know.", 0.0
        for line in self.state.objects[_spec(job)["trainingDatasetUri"]].decode().splitlines():
            row = json.loads(line)  # a preference row answers with its preferred completion
            preferred = [c["completion"] for c in row.get("completions", []) if c["score"] == 1]
            turns = row["contents"] + preferred
            asked = _words(turns[-2]["parts"][0]["text"])
            score = len(asked & _words(question)) / max(len(asked | _words(question)), 1)
            if score > best_score:
                best, best_score = turns[-1]["parts"][0]["text"], score
        return best


SPECS = ("supervisedTuningSpec", "preferenceOptimizationSpec")


def _spec(job: dict[str, Any]) -> dict[str, Any]:
    return next(job[k] for k in SPECS if k in job)


def _is_preference(row: dict[str, Any]) -> bool:
    """A line of Vertex's preference format: contents ending with a user turn, and two
    completions, one scored 1 and one 0."""
    contents, completions = row.get("contents") or [], row.get("completions") or []
    return (
        bool(contents)
        and contents[-1].get("role") == "user"
        and sorted(c.get("score") for c in completions) == [0, 1]
    )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
