"""A fake Fireworks AI API on 127.0.0.1 that speaks the HTTP the `fireworks-ai` SDK uses (with
``base_url`` set, the control plane and chat completions share one host): accounts, models,
datasets (create, the one-request multipart upload, readiness), supervised fine-tuning jobs (with
cancel), deployments (create, poll, delete), LoRA loading, and chat completions.

The tuned model "learns": it answers a question with the answer of the most similar question in
its training dataset, and only from a deployment that is ready (or a serverless load), as
Fireworks serves LoRAs. Failures are injected per test: 401 for a wrong key, 429 with
Retry-After, 500, a job that fails, a slow job, a slow or failing deployment. Counters tell tests
what was uploaded, created, deleted and asked.
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
from urllib.parse import parse_qs, unquote, urlparse

from .server import FakeServer

KEY = "fw-test-fake-key-0123456789"
ACCOUNT = "ftx-test"
BASE = "llama-v3p1-8b-instruct"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _error(message: str, code: str = "INVALID_ARGUMENT") -> dict[str, Any]:
    return {
        "error": {
            "object": "error",
            "type": "invalid_request_error",
            "code": code,
            "message": message,
        }
    }


@dataclass
class Behaviour:
    job_polls: int = 1  # polls a job spends in each of VALIDATING, PENDING, RUNNING
    fail_job: str | None = None  # the job ends JOB_STATE_FAILED with this message
    refuse_jobs: str | None = None  # creating a job is refused (400) with this message
    dataset_polls: int = 1  # reads of a dataset, after its upload, before it is READY
    deployment_polls: int = 1  # reads of a deployment in CREATING before it is READY
    fail_deployment: str | None = None  # the deployment ends FAILED with this message
    delete_500: int = 0  # the next N requests to delete a deployment get 500
    serverless_lora: bool = False  # lora.load(serverless=True) is accepted
    chat_429: int = 0  # the next N chat requests get 429 with Retry-After
    chat_500: int = 0  # the next N chat requests get 500
    chat_500_after: int = -1  # after N more answered chat requests, every one gets 500
    job_429: int = 0  # the next N reads of a job get 429 with Retry-After
    retry_after: str = "0"
    latency: float = 0.0  # seconds each chat completion takes, like a model answering
    models: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {
            BASE: {
                "tunable": True,
                "supportsLora": True,
                "supportsServerless": True,
                "parameterCount": "8030000000",
            },
            "qwen3-235b-a22b": {
                "tunable": True,
                "supportsLora": True,
                "supportsServerless": False,
                "parameterCount": "235000000000",
            },
            "llama-guard-3-8b": {
                "tunable": False,
                "supportsLora": False,
                "supportsServerless": True,
                "parameterCount": "8000000000",
            },
        }
    )


@dataclass
class State:
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # dataset id -> uploaded JSONL
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    loras: dict[str, dict[str, Any]] = field(default_factory=dict)  # serverless loads
    polls: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "datasets",
                "uploads",
                "jobs",
                "cancels",
                "chat",
                "chat_errors",
                "deployments_created",
                "deployments_deleted",
                "loras_loaded",
                "loras_unloaded",
            ),
            0,
        )
    )
    requests: list[str] = field(default_factory=list)  # "METHOD /path" of each request
    lock: threading.RLock = field(default_factory=threading.RLock)


class FakeFireworks(FakeServer):
    def __init__(self):
        super().__init__()
        self.state = State()
        self.behaviour = Behaviour()
        handler = self.httpd.RequestHandlerClass
        handler.do_DELETE = lambda req: self._handle(req, "DELETE")  # the base serves GET/POST

    @property
    def base_url(self) -> str:
        return self.url

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(req.path)
        path, query = unquote(url.path), {k: v[0] for k, v in parse_qs(url.query).items()}
        self.state.requests.append(f"{method} {path}")
        if req.headers.get("Authorization") != f"Bearer {KEY}":
            return self._send(
                req, 401, _error("The API key you provided is invalid.", "UNAUTHENTICATED")
            )
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        account = rf"/v1/accounts/{ACCOUNT}"
        name = r"([a-z0-9][a-z0-9.-]*)"
        routes = [
            ("GET", r"/v1/accounts", self._accounts),
            ("GET", rf"/v1/accounts/([\w-]+)/models/{name}", self._model),
            ("POST", rf"{account}/datasets", self._create_dataset),
            ("GET", rf"{account}/datasets/{name}", self._get_dataset),
            ("POST", rf"{account}/datasets/{name}:upload", self._upload),
            ("POST", rf"{account}/supervisedFineTuningJobs", self._create_job),
            ("GET", rf"{account}/supervisedFineTuningJobs/{name}", self._get_job),
            ("POST", rf"{account}/supervisedFineTuningJobs/{name}:cancel", self._cancel),
            ("POST", rf"{account}/deployments", self._create_deployment),
            ("GET", rf"{account}/deployments/{name}", self._get_deployment),
            ("DELETE", rf"{account}/deployments/{name}", self._delete_deployment),
            ("POST", rf"{account}/deployedModels", self._load_lora),
            ("GET", rf"{account}/deployedModels/{name}", self._get_lora),
            ("DELETE", rf"{account}/deployedModels/{name}", self._unload_lora),
            ("POST", r"/v1/chat/completions", self._chat),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.state.lock:
                    status, payload, headers = handler(req, body, query, *match.groups())
                return self._send(req, status, payload, headers)
        self._send(req, 404, _error(f"no route {method} {path}", "NOT_FOUND"))

    @staticmethod
    def _not_found(what: str):
        return 404, _error(f"{what} not found", "NOT_FOUND"), None

    # --- accounts and models ---------------------------------------------------------------------

    def _accounts(self, req, body, query):
        return 200, {"accounts": [{"name": f"accounts/{ACCOUNT}", "state": "READY"}]}, None

    def _model(self, req, body, query, owner, model_id):
        if owner == ACCOUNT and any(
            j["outputModel"].endswith(f"/{model_id}") for j in self.state.jobs.values()
        ):
            return (
                200,
                {
                    "name": f"accounts/{owner}/models/{model_id}",
                    "kind": "HF_PEFT_ADDON",
                    "state": "READY",
                },
                None,
            )
        known = self.behaviour.models.get(model_id) if owner == "fireworks" else None
        if known is None:
            return self._not_found(f"Model accounts/{owner}/models/{model_id}")
        record = {k: v for k, v in known.items() if k != "parameterCount"}
        record.update(
            name=f"accounts/{owner}/models/{model_id}",
            kind="HF_BASE_MODEL",
            state="READY",
            baseModelDetails={"parameterCount": known.get("parameterCount")},
        )
        return 200, record, None

    # --- datasets --------------------------------------------------------------------------------

    def _create_dataset(self, req, body, query):
        params = json.loads(body)
        dataset_id = params["datasetId"]
        if dataset_id in self.state.datasets:
            return 409, _error(f"dataset {dataset_id} already exists", "ALREADY_EXISTS"), None
        self.state.counts["datasets"] += 1
        dataset = {
            **params["dataset"],
            "name": f"accounts/{ACCOUNT}/datasets/{dataset_id}",
            "state": "UPLOADING",
            "createTime": _now(),
            "status": {"code": "OK"},
        }
        self.state.datasets[dataset_id] = dataset
        return 200, dataset, None

    def _get_dataset(self, req, body, query, dataset_id):
        dataset = self.state.datasets.get(dataset_id)
        if dataset is None:
            return self._not_found(f"dataset {dataset_id}")
        if dataset_id in self.state.files and dataset["state"] != "READY":
            key = f"dataset:{dataset_id}"
            self.state.polls[key] = self.state.polls.get(key, 0) + 1
            if self.state.polls[key] >= self.behaviour.dataset_polls:
                dataset["state"] = "READY"
        return 200, dataset, None

    def _upload(self, req, body, query, dataset_id):
        if dataset_id not in self.state.datasets:
            return self._not_found(f"dataset {dataset_id}")
        if dataset_id in self.state.files:
            return (
                400,
                _error(f"dataset {dataset_id} is already uploaded", "FAILED_PRECONDITION"),
                None,
            )
        boundary = req.headers["Content-Type"].split("boundary=")[1].encode()
        content, filename = b"", "upload.jsonl"
        for part in body.split(b"--" + boundary):
            if b'name="file"' in part:
                head, _, rest = part.partition(b"\r\n\r\n")
                content = rest.rsplit(b"\r\n", 1)[0]
                found = re.search(rb'filename="([^"]+)"', head)
                filename = found.group(1).decode() if found else filename
        self.state.counts["uploads"] += 1
        self.state.files[dataset_id] = content
        self.state.datasets[dataset_id]["estimatedTokenCount"] = str(len(content) // 4)
        return (
            200,
            {
                "id": dataset_id,
                "object": "file",
                "bytes": len(content),
                "created_at": int(time.time()),
                "filename": filename,
            },
            None,
        )

    # --- jobs ------------------------------------------------------------------------------------

    def _create_job(self, req, body, query):
        params = json.loads(body)
        job_id = query.get("supervisedFineTuningJobId") or f"job-{len(self.state.jobs) + 1}"
        if self.behaviour.refuse_jobs:
            return 400, _error(self.behaviour.refuse_jobs, "FAILED_PRECONDITION"), None
        if job_id in self.state.jobs:
            return 409, _error(f"job {job_id} already exists", "ALREADY_EXISTS"), None
        for key in ("dataset", "evaluationDataset"):
            if key in params:
                found = self.state.datasets.get(params[key].rsplit("/", 1)[-1])
                if found is None or found["state"] != "READY":
                    return (
                        400,
                        _error(f"{key} {params[key]} is not ready", "FAILED_PRECONDITION"),
                        None,
                    )
        self.state.counts["jobs"] += 1
        job = {
            **params,
            "name": f"accounts/{ACCOUNT}/supervisedFineTuningJobs/{job_id}",
            "state": "JOB_STATE_CREATING",
            "createTime": _now(),
            "outputModel": params.get("outputModel") or f"accounts/{ACCOUNT}/models/{job_id}",
            "epochs": params.get("epochs") or 1,  # Fireworks' choice when none is given
            "status": {"code": "OK"},
        }
        self.state.jobs[job_id] = job
        self.state.polls[job_id] = 0
        return 200, job, None

    def _advance(self, job_id: str, job: dict[str, Any]) -> None:
        if job["state"] in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
            return
        order = ["JOB_STATE_VALIDATING", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"]
        polls = self.state.polls[job_id] = self.state.polls[job_id] + 1
        stage = polls // self.behaviour.job_polls
        if stage < len(order):
            job["state"] = order[stage]
            if job["state"] == "JOB_STATE_RUNNING":
                job["jobProgress"] = {"epoch": 0, "percent": 50}
            return
        if self.behaviour.fail_job:
            job.update(
                state="JOB_STATE_FAILED",
                completedTime=_now(),
                status={"code": "INVALID_ARGUMENT", "message": self.behaviour.fail_job},
            )
            return
        job.update(
            state="JOB_STATE_COMPLETED",
            completedTime=_now(),
            jobProgress={"epoch": job["epochs"] - 1, "percent": 100},
            estimatedCost={"currencyCode": "USD", "units": "0", "nanos": 42_000_000},
        )

    def _get_job(self, req, body, query, job_id):
        job = self.state.jobs.get(job_id)
        if job is None:
            return self._not_found(f"job {job_id}")
        if self.behaviour.job_429 > 0:
            self.behaviour.job_429 -= 1
            return (
                429,
                _error("Too many requests", "RESOURCE_EXHAUSTED"),
                {"Retry-After": self.behaviour.retry_after},
            )
        self._advance(job_id, job)
        return 200, job, None

    def _cancel(self, req, body, query, job_id):
        job = self.state.jobs.get(job_id)
        if job is None:
            return self._not_found(f"job {job_id}")
        self.state.counts["cancels"] += 1
        if job["state"] not in ("JOB_STATE_COMPLETED", "JOB_STATE_FAILED"):
            job["state"] = "JOB_STATE_CANCELLED"
        return 200, {}, None

    # --- deployments and LoRA loading ------------------------------------------------------------

    def _create_deployment(self, req, body, query):
        params = json.loads(body)
        deployment_id = query["deploymentId"]
        if deployment_id in self.state.deployments:
            return 409, _error(f"deployment {deployment_id} already exists", "ALREADY_EXISTS"), None
        if not any(j["outputModel"] == params["baseModel"] for j in self.state.jobs.values()):
            return 400, _error(f"model {params['baseModel']} not found"), None
        self.state.counts["deployments_created"] += 1
        deployment = {
            **params,
            "name": f"accounts/{ACCOUNT}/deployments/{deployment_id}",
            "state": "CREATING",
            "createTime": _now(),
        }
        self.state.deployments[deployment_id] = deployment
        self.state.polls[f"deployment:{deployment_id}"] = 0
        return 200, deployment, None

    def _get_deployment(self, req, body, query, deployment_id):
        deployment = self.state.deployments.get(deployment_id)
        if deployment is None:
            return self._not_found(f"deployment {deployment_id}")
        if deployment["state"] == "CREATING":
            key = f"deployment:{deployment_id}"
            self.state.polls[key] += 1
            if self.state.polls[key] >= self.behaviour.deployment_polls:
                if self.behaviour.fail_deployment:
                    deployment.update(
                        state="FAILED",
                        status={"code": "INTERNAL", "message": self.behaviour.fail_deployment},
                    )
                else:
                    deployment["state"] = "READY"
        return 200, deployment, None

    def _delete_deployment(self, req, body, query, deployment_id):
        if self.behaviour.delete_500 > 0:
            self.behaviour.delete_500 -= 1
            return 500, _error("Internal server error", "INTERNAL"), None
        if self.state.deployments.pop(deployment_id, None) is None:
            return self._not_found(f"deployment {deployment_id}")
        self.state.counts["deployments_deleted"] += 1
        return 200, {}, None

    def _load_lora(self, req, body, query):
        params = json.loads(body)
        if not params.get("serverless") or not self.behaviour.serverless_lora:
            return (
                400,
                _error("LoRA models require a dedicated deployment", "FAILED_PRECONDITION"),
                None,
            )
        self.state.counts["loras_loaded"] += 1
        lora_id = f"lora-{self.state.counts['loras_loaded']}"
        loaded = {
            **params,
            "name": f"accounts/{ACCOUNT}/deployedModels/{lora_id}",
            "state": "DEPLOYED",
        }
        self.state.loras[lora_id] = loaded
        return 200, loaded, None

    def _get_lora(self, req, body, query, lora_id):
        loaded = self.state.loras.get(lora_id)
        return (200, loaded, None) if loaded else self._not_found(f"deployed model {lora_id}")

    def _unload_lora(self, req, body, query, lora_id):
        if self.state.loras.pop(lora_id, None) is None:
            return self._not_found(f"deployed model {lora_id}")
        self.state.counts["loras_unloaded"] += 1
        return 200, {}, None

    # --- chat ------------------------------------------------------------------------------------

    def _chat(self, req, body, query):
        params = json.loads(body)
        self.state.counts["chat"] += 1
        if self.behaviour.chat_429 > 0:
            self.behaviour.chat_429 -= 1
            self.state.counts["chat_errors"] += 1
            return (
                429,
                _error("Rate limit exceeded", "RESOURCE_EXHAUSTED"),
                {"Retry-After": self.behaviour.retry_after},
            )
        if self.behaviour.chat_500 > 0 or self.behaviour.chat_500_after == 0:
            self.behaviour.chat_500 = max(0, self.behaviour.chat_500 - 1)
            self.state.counts["chat_errors"] += 1
            return 500, _error("Internal server error", "INTERNAL"), None
        if self.behaviour.chat_500_after > 0:
            self.behaviour.chat_500_after -= 1
        if self.behaviour.latency:
            time.sleep(self.behaviour.latency)
        training = self._served(params["model"])
        if training is None:
            return (
                404,
                _error(
                    f"Model not found, inaccessible, and/or not deployed: {params['model']}",
                    "NOT_FOUND",
                ),
                None,
            )
        question = params["messages"][-1]["content"]
        answer = (
            self._answer(training, question)
            if training
            else "I believe that is a question about a classic novel."
        )
        usage = {"prompt_tokens": len(question.split()), "completion_tokens": len(answer.split())}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return (
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": params["model"],
                "usage": usage,
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": answer},
                    }
                ],
            },
            None,
        )

    def _served(self, model: str) -> bytes | None:
        """The training data behind ``model`` (b"" for a serverless base), or None when nothing
        serves it: a LoRA answers only from a ready deployment of it or a serverless load."""
        lora, _, deployment = model.partition("#")
        owner, model_id = lora.split("/")[1], lora.rsplit("/", 1)[-1]
        if owner == "fireworks" and not deployment:
            known = self.behaviour.models.get(model_id)
            return b"" if known and known["supportsServerless"] else None
        job = next((j for j in self.state.jobs.values() if j["outputModel"] == lora), None)
        if job is None or job["state"] != "JOB_STATE_COMPLETED":
            return None
        if deployment:
            found = self.state.deployments.get(deployment.rsplit("/", 1)[-1])
            if found is None or found["state"] != "READY" or found["baseModel"] != lora:
                return None
        elif not any(m["model"] == lora for m in self.state.loras.values()):
            return None
        return self.state.files[job["dataset"].rsplit("/", 1)[-1]]

    @staticmethod
    def _answer(training: bytes, question: str) -> str:
        best, best_score = "I do not know.", 0.0
        for line in training.decode().splitlines():
            messages = json.loads(line)["messages"]
            asked = _words(messages[-2]["content"])
            score = len(asked & _words(question)) / max(len(asked | _words(question)), 1)
            if score > best_score:
                best, best_score = messages[-1]["content"], score
        return best
