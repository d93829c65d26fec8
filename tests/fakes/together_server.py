"""A fake Together AI API on 127.0.0.1 that speaks the HTTP protocol the `together` SDK (3.x)
uses: the three-step file upload (a multipart request answered 302 with a signed URL, a PUT of
the file there that the object store redirects once, then a preprocess call), fine-tuning jobs
(model limits, price estimate, create, status, events, metrics, cancel), chat completions, and
dedicated endpoints (whoami, model, configs, endpoints and their deployments).

Its fine-tuned models "learn": they answer a question with the answer of the most similar
question in the uploaded training file, so a tuned model beats the base one. A LoRA of a base in
``SERVERLESS`` answers serverless; any other tuned model answers only through an endpoint whose
deployment of it is ready, as on Together. Failures are injected per test: 401 for a wrong key,
429 with Retry-After, 500, a job that fails, a slow job, an estimate that is unavailable or says
the account may not proceed, an endpoint that cannot be deleted. Counters tell tests what was
uploaded, created, asked and deleted.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .server import FakeServer

KEY = "tg-test-fake-key-0123456789abcdef"
PROJECT, SLUG = "proj_fake", "fake-project"
SERVERLESS = ("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",)  # LoRAs of it answer serverless
TUNABLE = {  # model -> supports full training
    "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference": True,
    "Qwen/Qwen3-8B": True,
}
CHAT = ("meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",)  # base models served serverless
RATES = {"Lora": 0.48, "Full": 0.54}  # dollars per 1M tokens the estimate and the bill use


@dataclass
class Behaviour:
    polls_per_state: int = 1  # polls a job spends in each of pending, queued, running
    fail_job: str | None = None  # error message: the job ends in 'error'
    chat_429: int = 0  # the next N chat requests get 429 with Retry-After
    chat_500: int = 0  # the next N chat requests get 500
    chat_500_after: int = -1  # after N more answered chat requests, every one gets 500 (-1: never)
    retry_after: str = "0"
    estimate: bool = True  # False: the estimate is unavailable (file not validated yet)
    allowed_to_proceed: bool = True  # what the estimate says of the account's credit
    deployment_polls: int = 2  # polls a deployment spends provisioning before it is ready
    fail_deployment: bool = False  # the deployment ends FAILED instead of READY
    delete_500: int = 0  # the next N requests to delete an endpoint or deployment get 500
    redirect_upload: bool = True  # the signed URL answers 307 to the object store, once
    latency: float = 0.0  # seconds each chat completion takes


@dataclass
class State:
    files: dict[str, bytes] = field(default_factory=dict)
    uploading: dict[str, dict[str, str]] = field(default_factory=dict)  # file id -> form fields
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> create body
    polls: dict[str, int] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_times: list[tuple[float, int]] = field(default_factory=list)  # (when, status) each
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "upload_urls",
                "puts",
                "uploads",
                "estimates",
                "jobs",
                "cancels",
                "chat",
                "chat_errors",
                "endpoints_created",
                "endpoints_deleted",
                "deployments_created",
                "deployments_deleted",
            ),
            0,
        )
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def live_endpoints(self) -> int:
        return self.counts["endpoints_created"] - self.counts["endpoints_deleted"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _error(status: int, message: str, code: str = "invalid_request_error") -> tuple:
    return status, {"error": {"message": message, "type": code}}, None


class FakeTogether(FakeServer):
    def __init__(self):
        super().__init__()
        self.state = State()
        self.behaviour = Behaviour()
        handler = self.httpd.RequestHandlerClass
        for verb in ("PUT", "PATCH", "DELETE"):  # the base server answers GET and POST
            setattr(handler, f"do_{verb}", lambda req, verb=verb: self._handle(req, verb))

    @property
    def base_url(self) -> str:
        return self.url  # the SDK's paths start with /v1, /v2 or /v3

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        url = urlsplit(req.path)
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        if method == "PUT" and path.startswith(("/signed-upload/", "/object-store/")):
            status, payload, headers = self._put(path, body)  # signed: no API key, as on S3
            return self._send(req, status, payload, headers)
        if req.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(req, *_error(401, "Invalid API key provided.")[:2])
        p = rf"/v2/projects/{PROJECT}"
        routes = [
            ("POST", r"/v1/files", self._upload_url),
            ("POST", r"/v1/files/([\w-]+)/preprocess", self._preprocess),
            ("GET", r"/v1/fine-tunes/models/limits", self._limits),
            ("POST", r"/v1/fine-tunes/estimate-price", self._estimate),
            ("POST", r"/v1/fine-tunes", self._create_job),
            ("GET", r"/v1/fine-tunes/([\w-]+)", self._get_job),
            ("GET", r"/v1/fine-tunes/([\w-]+)/events", self._events),
            ("GET", r"/v1/fine-tunes/([\w-]+)/metrics", self._metrics),
            ("POST", r"/v1/fine-tunes/([\w-]+)/cancel", self._cancel),
            ("POST", r"/v1/chat/completions", self._chat),
            ("GET", r"/v3/whoami", self._whoami),
            ("GET", p + r"/models/([\w-]+)", self._model),
            ("GET", p + r"/configs", self._configs),
            ("POST", p + r"/endpoints", self._create_endpoint),
            ("GET", p + r"/endpoints/([\w-]+)", self._get_endpoint),
            ("PATCH", p + r"/endpoints/([\w-]+)", self._update_endpoint),
            ("DELETE", p + r"/endpoints/([\w-]+)", self._delete_endpoint),
            ("POST", p + r"/endpoints/([\w-]+)/deployments", self._create_deployment),
            ("GET", p + r"/endpoints/([\w-]+)/deployments/([\w-]+)", self._get_deployment),
            ("DELETE", p + r"/endpoints/([\w-]+)/deployments/([\w-]+)", self._delete_deployment),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.state.lock:
                    status, payload, headers = handler(req, body, query, *match.groups())
                return self._send(req, status, payload, headers)
        self._send(req, 404, {"error": {"message": f"no route {method} {path}"}})

    # --- files: a signed URL, a PUT there (redirected once), then preprocess ------------------

    def _upload_url(self, req, body: bytes, query):
        boundary = req.headers["Content-Type"].split("boundary=")[1].encode()
        form = {}
        for part in body.split(b"--" + boundary):
            found = re.search(rb'name="([^"]+)"\r\n\r\n(.*)\r\n$', part, re.S)
            if found:
                form[found.group(1).decode()] = found.group(2).decode()
        if form.get("purpose") != "fine-tune" or not form.get("file_name", "").endswith(".jsonl"):
            return _error(400, f"bad upload request {form}")
        self.state.counts["upload_urls"] += 1
        file_id = f"file-{self.state.counts['upload_urls']}"
        self.state.uploading[file_id] = form
        headers = {
            "Location": f"{self.url}/signed-upload/{file_id}?X-Amz-Signature=fake",
            "X-Together-File-Id": file_id,
        }
        return 302, {}, headers

    def _put(self, path: str, body: bytes):
        with self.state.lock:
            self.state.counts["puts"] += 1
            file_id = path.rsplit("/", 1)[-1]
            if file_id not in self.state.uploading:
                return 403, {"error": {"message": "signature does not match"}}, None
            if path.startswith("/signed-upload/") and self.behaviour.redirect_upload:
                return 307, {}, {"Location": f"/object-store/{file_id}"}
            self.state.files[file_id] = body
            return 200, {}, {"ETag": '"fake"'}

    def _preprocess(self, req, body, query, file_id):
        if file_id not in self.state.files:
            return _error(404, f"file {file_id} was never uploaded")
        content = self.state.files[file_id]
        self.state.counts["uploads"] += 1
        form = self.state.uploading[file_id]
        status = "COMPLETED" if self._valid(content) else "INVALID_FORMAT"
        return (
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": form["file_name"],
                "FileType": "jsonl",
                "purpose": "fine-tune",
                "processing_status": status,
            },
            None,
        )

    @staticmethod
    def _valid(content: bytes) -> bool:
        for line in content.decode().splitlines():
            record = json.loads(line)
            if _is_pair(record):  # the preference format: checked against the job's method
                continue
            roles = [m["role"] for m in record["messages"]]
            roles = roles[1:] if roles[0] == "system" else roles
            if roles != ["user", "assistant"] * (len(roles) // 2) or len(roles) % 2:
                return False
        return True

    # --- fine-tuning --------------------------------------------------------------------------

    def _limits(self, req, body, query):
        model = query.get("model_name", "")
        if model not in TUNABLE:
            return _error(404, f"Model {model} is not available for fine-tuning")
        full = {"max_batch_size": 96, "max_batch_size_dpo": 48, "min_batch_size": 8}
        return (
            200,
            {
                "model_name": model,
                "default_gradient_accumulation_steps": 1,
                "lora_training": {
                    "default_rank": 64,
                    "max_rank": 64,
                    "max_batch_size": 128,
                    "max_batch_size_dpo": 64,
                    "min_batch_size": 8,
                    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
                },
                "full_training": full if TUNABLE[model] else None,
                "supports_full_training": TUNABLE[model],
                "max_learning_rate": 1.0,
                "min_learning_rate": 1e-8,
                "max_num_checkpoints": 10,
                "max_num_epochs": 20,
                "max_num_evals": 100,
                "max_seq_length_sft": 131072,
                "max_seq_length_dpo": 65536,
                "min_max_seq_length": 1024,
                "merge_output_lora": True,
                "supports_reasoning": False,
                "supports_tools": True,
                "supports_vision": False,
            },
            None,
        )

    def _tokens(self, file_id: str | None) -> int:
        return len(self.state.files.get(file_id or "", b"").split()) if file_id else 0

    def _estimate(self, req, body: bytes, query):
        params = json.loads(body)
        self.state.counts["estimates"] += 1
        if params["training_file"] not in self.state.files:
            return _error(400, f"invalid training_file {params['training_file']}")
        if not self.behaviour.estimate:
            return (
                200,
                {"estimation_available": False, "unavailable_reason": "train_file_not_validated"},
                None,
            )
        kind = (params.get("training_type") or {"type": "Lora"})["type"]
        train = self._tokens(params["training_file"]) * params.get("n_epochs", 1)
        evals = self._tokens(params.get("validation_file")) * params.get("n_evals", 0)
        return (
            200,
            {
                "estimation_available": True,
                "estimated_total_price": (train + evals) * RATES[kind] / 1e6,
                "allowed_to_proceed": self.behaviour.allowed_to_proceed,
                "user_limit": 5.0,
                "estimated_train_token_count": train,
                "estimated_eval_token_count": evals,
            },
            None,
        )

    def _create_job(self, req, body: bytes, query):
        params = json.loads(body)
        for key in ("training_file", "validation_file"):
            if params.get(key) and params[key] not in self.state.files:
                return _error(400, f"invalid {key}: {params[key]}")
        if params.get("model") not in TUNABLE:
            return _error(400, f"model {params.get('model')} cannot be fine-tuned")
        method = (params.get("training_method") or {}).get("method")
        if method not in ("sft", "dpo"):
            return _error(400, f"invalid training_method {params.get('training_method')}")
        for key in ("training_file", "validation_file"):  # a DPO job trains on pairs only
            for line in self.state.files.get(params.get(key) or "", b"").splitlines():
                if _is_pair(json.loads(line)) != (method == "dpo"):
                    return _error(400, f"{key} does not match training_method {method}")
        self.state.counts["jobs"] += 1
        number = self.state.counts["jobs"]
        job_id = f"ft-{number:04d}-fake"
        now = _now()
        self.state.requests[job_id] = params
        self.state.jobs[job_id] = {
            "id": job_id,
            "status": "pending",
            "user_id": "user-fake",
            "created_at": now,
            "updated_at": now,
            "model": params["model"],
            "training_file": params["training_file"],
            "validation_file": params.get("validation_file") or None,
            "n_epochs": params["n_epochs"],
            "n_evals": params.get("n_evals", 0),
            "batch_size": params.get("batch_size"),
            "learning_rate": params.get("learning_rate"),
            "suffix": params.get("suffix"),
            "training_type": params.get("training_type") or {"type": "Lora"},
            "training_method": params.get("training_method"),
            "model_output_name": None,
            "token_count": None,
            "total_price": None,
            "events": [],
        }
        self.state.polls[job_id] = 0
        return 200, self.state.jobs[job_id], None

    def _advance(self, job: dict[str, Any]) -> None:
        if job["status"] in ("completed", "error", "cancelled"):
            return
        order = ["pending", "queued", "running"]
        polls = self.state.polls[job["id"]] = self.state.polls[job["id"]] + 1
        stage = polls // self.behaviour.polls_per_state
        job["updated_at"] = _now()
        if stage < len(order):
            job["status"] = order[stage]
            return
        if self.behaviour.fail_job:
            job["status"] = "error"
            return
        number = int(job["id"].split("-")[1])
        kind = job["training_type"]["type"]
        tokens = self._tokens(job["training_file"]) * job["n_epochs"]
        tokens += self._tokens(job["validation_file"]) * job["n_evals"]
        job.update(
            status="completed",
            model_output_name=(
                f"{SLUG}/{job['model'].split('/')[-1]}-{job['suffix'] or 'ft'}-{number:04d}"
            ),
            model_object_id=f"ml_tuned{number}",
            model_object_revision_id=f"rv_tuned{number}",
            adapter_object_id=f"ml_adapter{number}" if kind == "Lora" else None,
            token_count=tokens,
            total_price=round(tokens * RATES[kind] / 1e6 * 1e9),  # nanodollars
        )

    def _get_job(self, req, body, query, job_id):
        job = self.state.jobs.get(job_id)
        if job is None:
            return _error(404, f"fine-tune job {job_id} not found")
        self._advance(job)
        return 200, job, None

    def _events(self, req, body, query, job_id):
        job = self.state.jobs[job_id]
        made = job["created_at"]

        def event(kind: str, message: str, level: str = "info") -> dict[str, Any]:
            return {
                "object": "fine-tune-event",
                "created_at": made,
                "type": kind,
                "level": level,
                "message": message,
            }

        events = [event("job_pending", "Fine-tune job created")]
        if job["status"] in ("running", "completed", "error"):
            events.append(event("training_start", "Training started"))
        if job["status"] == "completed":
            events.append(event("job_complete", "Job finished"))
        if job["status"] == "error":
            events.append(event("job_error", self.behaviour.fail_job or "failed", "error"))
        if job["status"] == "cancelled":
            events.append(event("job_stopped", "Job cancelled by the user"))
        return 200, {"data": events}, None

    def _metrics(self, req, body, query, job_id):
        job = self.state.jobs[job_id]
        if job["status"] not in ("running", "completed"):
            return 200, {"metrics": []}, None
        start = int(query.get("global_step_from", 0))
        rows = [
            {"train/global_step": step, "train/loss": 2.0 / step, "train/epoch": step / 3}
            | ({"eval/loss": 2.5 / step} if job["validation_file"] else {})
            for step in (1, 2, 3)
            if step >= start
        ]
        return 200, {"metrics": rows}, None

    def _cancel(self, req, body, query, job_id):
        job = self.state.jobs[job_id]
        self.state.counts["cancels"] += 1
        if job["status"] not in ("completed", "error"):
            job.update(status="cancelled", updated_at=_now())
        return 200, job, None

    # --- chat ----------------------------------------------------------------------------------

    def _chat(self, req, body: bytes, query):
        params = json.loads(body)
        self.state.counts["chat"] += 1
        self.state.chat_times.append((time.monotonic(), 200))
        if self.behaviour.chat_429 > 0:
            self.state.chat_times[-1] = (time.monotonic(), 429)
            self.behaviour.chat_429 -= 1
            self.state.counts["chat_errors"] += 1
            return (
                429,
                {"error": {"message": "Rate limit exceeded", "type": "rate_limit"}},
                {"Retry-After": self.behaviour.retry_after},
            )
        if self.behaviour.chat_500 > 0 or self.behaviour.chat_500_after == 0:
            self.behaviour.chat_500 = max(0, self.behaviour.chat_500 - 1)
            self.state.counts["chat_errors"] += 1
            return _error(500, "Internal server error", "server_error")
        if self.behaviour.chat_500_after > 0:
            self.behaviour.chat_500_after -= 1
        model, question = params["model"], params["messages"][-1]["content"]
        job = self._serving(model)
        if job is None and model not in CHAT:
            return _error(
                404,
                f"Unable to access non-serverless model {model}. Please visit "
                f"https://api.together.ai/models/{model} to create and start a new dedicated "
                "endpoint for the model.",
            )
        if self.behaviour.latency:
            time.sleep(self.behaviour.latency)
        answer = self._answer(job, question) if job else "I believe it is a classic novel."
        usage = {
            "prompt_tokens": len(question.split()),
            "completion_tokens": len(answer.split()),
            "total_tokens": len(question.split()) + len(answer.split()),
        }
        return (
            200,
            {
                "id": "chat-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
                "usage": usage,
            },
            None,
        )

    def _serving(self, model: str) -> dict[str, Any] | None:
        """The job whose tuned model answers to ``model``: a serverless LoRA by its output
        name, or any tuned model through an endpoint whose deployment of it is ready."""
        for job in self.state.jobs.values():
            if (
                job["model_output_name"] == model
                and job["model"] in SERVERLESS
                and job["training_type"]["type"] == "Lora"
            ):
                return job
        endpoint = next((e for e in self.state.endpoints.values() if e["name"] == model), None)
        for entry in (endpoint or {}).get("trafficSplit", []):
            deployment = self.state.deployments.get(entry["deploymentId"])
            if deployment and deployment["status"]["state"] == "DEPLOYMENT_STATE_READY":
                served = deployment["model"].split("/")[3]
                return next(j for j in self.state.jobs.values() if j["model_object_id"] == served)
        return None

    def _answer(self, job: dict[str, Any], question: str) -> str:
        best, best_score = "I do not know.", 0.0
        for line in self.state.files[job["training_file"]].decode().splitlines():
            record = json.loads(line)  # a chat, or a pair: its prompt then the preferred answer
            messages = record.get("messages") or [
                *record["input"]["messages"],
                *record["preferred_output"],
            ]
            asked = _words(messages[-2]["content"])
            score = len(asked & _words(question)) / max(len(asked | _words(question)), 1)
            if score > best_score:
                best, best_score = messages[-1]["content"], score
        return best

    # --- dedicated endpoints -------------------------------------------------------------------

    def _whoami(self, req, body, query):
        return (
            200,
            {
                "type": "project_api_key",
                "api_key": {"id": "key_fake"},
                "organization": {"id": "org_fake", "name": "Fake org"},
                "project": {"id": PROJECT, "name": "Fake project", "slug": SLUG},
            },
            None,
        )

    def _model(self, req, body, query, model_id):
        if not any(j.get("model_object_id") == model_id for j in self.state.jobs.values()):
            return _error(404, f"model {model_id} not found")
        return (
            200,
            {
                "id": model_id,
                "name": f"{SLUG}/{model_id}",
                "organizationId": "org_fake",
                "projectId": PROJECT,
                "visibility": "VISIBILITY_PRIVATE",
                "weights": {"type": "WEIGHTS_TYPE_FULL"},
                "baseModel": "projects/together/models/ml_base",
            },
            None,
        )

    def _configs(self, req, body, query):
        if query.get("referenceModel") != "projects/together/models/ml_base":
            return 200, {"data": [], "next_cursor": None}, None
        config = {
            "id": "cr_h100",
            "projectId": "together",
            "referenceModel": query["referenceModel"],
            "referenceModelId": "ml_base",
            "certifications": [],
            "selectors": [],
        }
        return 200, {"data": [config], "next_cursor": None}, None

    def _endpoint(self, endpoint: dict[str, Any]) -> dict[str, Any]:
        summaries = [
            {
                "id": d["id"],
                "autoscaling": d["autoscaling"],
                "createdAt": d["createdAt"],
                "estimatedEffectiveTrafficShare": 1.0,
                "model": d["model"],
                "modelId": d["modelId"],
                "name": d["name"],
                "state": d["status"]["state"],
                "trafficMode": "TRAFFIC_MODE_LIVE",
            }
            for d in self.state.deployments.values()
            if d["endpointId"] == endpoint["id"]
        ]
        return {**endpoint, "deployments": summaries}

    def _create_endpoint(self, req, body: bytes, query):
        params = json.loads(body)
        self.state.counts["endpoints_created"] += 1
        endpoint_id = f"ep_{self.state.counts['endpoints_created']}"
        now = _now()
        self.state.endpoints[endpoint_id] = {
            "id": endpoint_id,
            "name": f"{SLUG}/{params['name']}",
            "createdAt": now,
            "updatedAt": now,
            "endpointType": "ENDPOINT_TYPE_DEDICATED",
            "etag": "1",
            "projectId": PROJECT,
            "trafficSplit": [],
            "visibility": params.get("visibility", "VISIBILITY_PRIVATE"),
        }
        return 200, self._endpoint(self.state.endpoints[endpoint_id]), None

    def _get_endpoint(self, req, body, query, endpoint_id):
        if endpoint_id not in self.state.endpoints:
            return _error(404, f"endpoint {endpoint_id} not found")
        return 200, self._endpoint(self.state.endpoints[endpoint_id]), None

    def _update_endpoint(self, req, body: bytes, query, endpoint_id):
        endpoint = self.state.endpoints.get(endpoint_id)
        if endpoint is None:
            return _error(404, f"endpoint {endpoint_id} not found")
        params = json.loads(body)
        if query.get("update_mask") == "trafficSplit" or "trafficSplit" in params:
            endpoint["trafficSplit"] = params["trafficSplit"]
        return 200, self._endpoint(endpoint), None

    def _delete_endpoint(self, req, body, query, endpoint_id):
        if self.behaviour.delete_500 > 0:
            self.behaviour.delete_500 -= 1
            return _error(500, "internal error deleting the endpoint", "server_error")
        if endpoint_id not in self.state.endpoints:
            return _error(404, f"endpoint {endpoint_id} not found")
        if any(d["endpointId"] == endpoint_id for d in self.state.deployments.values()):
            return _error(400, "the endpoint has deployments: delete them first")
        del self.state.endpoints[endpoint_id]
        self.state.counts["endpoints_deleted"] += 1
        return 200, {}, None

    def _create_deployment(self, req, body: bytes, query, endpoint_id):
        if endpoint_id not in self.state.endpoints:
            return _error(404, f"endpoint {endpoint_id} not found")
        params = json.loads(body)
        found = re.fullmatch(
            rf"projects/{PROJECT}/models/(\w+)(?:/revisions/(\w+))?", params["model"]
        )
        if not found or not any(
            j.get("model_object_id") == found.group(1) for j in self.state.jobs.values()
        ):
            return _error(400, f"no model {params['model']} in the project")
        if params.get("config") != "projects/together/configs/cr_h100":
            return _error(400, f"config {params.get('config')} does not fit the model")
        self.state.counts["deployments_created"] += 1
        deployment_id = f"dep_{self.state.counts['deployments_created']}"
        now = _now()
        self.state.deployments[deployment_id] = {
            "id": deployment_id,
            "autoscaling": params["autoscaling"],
            "config": params["config"],
            "configId": "cr_h100",
            "createdAt": now,
            "updatedAt": now,
            "endpointId": endpoint_id,
            "etag": "1",
            "hardware": "1x_nvidia_h100_80gb_sxm",
            "model": params["model"],
            "modelId": found.group(1),
            "modelRevisionId": found.group(2) or "",
            "name": f"{self.state.endpoints[endpoint_id]['name']}/{params['name']}",
            "projectId": PROJECT,
            "inactiveTimeout": params.get("inactiveTimeout"),
            "status": {"state": "DEPLOYMENT_STATE_PROVISIONING", "message": "Provisioning"},
            "trafficMode": "TRAFFIC_MODE_LIVE",
            "polls": 0,
        }
        return 200, self.state.deployments[deployment_id], None

    def _get_deployment(self, req, body, query, endpoint_id, deployment_id):
        deployment = self.state.deployments.get(deployment_id)
        if deployment is None or deployment["endpointId"] != endpoint_id:
            return _error(404, f"deployment {deployment_id} not found")
        deployment["polls"] += 1
        if deployment["polls"] > self.behaviour.deployment_polls:
            state = "FAILED" if self.behaviour.fail_deployment else "READY"
            deployment["status"] = {"state": f"DEPLOYMENT_STATE_{state}", "message": state.lower()}
        return 200, deployment, None

    def _delete_deployment(self, req, body, query, endpoint_id, deployment_id):
        if self.behaviour.delete_500 > 0:
            self.behaviour.delete_500 -= 1
            return _error(500, "internal error deleting the deployment", "server_error")
        deployment = self.state.deployments.get(deployment_id)
        if deployment is None or deployment["endpointId"] != endpoint_id:
            return _error(404, f"deployment {deployment_id} not found")
        del self.state.deployments[deployment_id]
        self.state.counts["deployments_deleted"] += 1
        return 200, {}, None


def _is_pair(record: dict[str, Any]) -> bool:
    """A line of Together's preference format (OpenAI's DPO format)."""
    return {"input", "preferred_output", "non_preferred_output"} <= set(record)
