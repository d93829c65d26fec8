"""Log ftx runs to MLflow through the ftx_run_event hook."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

from ftx import hookimpl

_runs: dict[str, str] = {}  # ftx run id -> MLflow run id
_broken: set[str] = set()  # ftx runs whose tracking failed once: not retried for every event
_lock = threading.Lock()  # hosted backends report from their own threads


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI (a tracking server, for real use), else ./mlruns.

    A local store needs no server and works with mlflow-skinny, which has no database drivers;
    MLflow keeps its file store in maintenance mode behind MLFLOW_ALLOW_FILE_STORE, which is
    set here for that local default and for file: URIs the user chose.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or Path("mlruns").resolve().as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def _client() -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri())


def _experiment(client: Any) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME", "ftx")
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


@hookimpl
def ftx_run_event(event):
    if event.run_id in _broken:
        return
    try:
        with _lock:
            _log(event)
    except Exception as exc:  # a tracking server's trouble must not flood or break a training run
        _broken.add(event.run_id)
        print(
            f"warning: ftx-mlflow stopped logging run {event.run_id}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}",
            file=sys.stderr,
        )


def _log(event: Any) -> None:
    client = _client()
    if event.kind == "run_started" or event.run_id not in _runs:
        if event.run_id not in _runs:
            run = client.create_run(
                _experiment(client), run_name=event.run_id, tags={"ftx.run_id": event.run_id}
            )
            _runs[event.run_id] = run.info.run_id
            client.log_param(run.info.run_id, "backends", ",".join(event.data.get("backends", [])))
    mlflow_run = _runs[event.run_id]
    if event.kind == "train_log" and event.data.get("loss") is not None:
        client.log_metric(
            mlflow_run,
            f"{event.backend}/loss",
            float(event.data["loss"]),
            step=int(event.data.get("step", 0)),
        )
    elif event.kind == "train_log" and event.data.get("eval_loss") is not None:
        client.log_metric(
            mlflow_run,
            f"{event.backend}/eval_loss",
            float(event.data["eval_loss"]),
            step=int(event.data.get("step", 0)),
        )
    elif event.kind == "backend_state":
        client.set_tag(mlflow_run, f"{event.backend}.status", event.data["status"])
    elif event.kind == "eval_done":
        for metric, value in {
            **event.data.get("mean", {}),
            **event.data.get("corpus", {}),
        }.items():
            client.log_metric(mlflow_run, f"{event.backend}/{metric}", float(value))
    elif event.kind == "run_finished":
        client.set_tag(mlflow_run, "ftx.status", event.data.get("status", ""))
        run_dir = event.data.get("run_dir")
        for name in ("report.json", "report.md"):
            if run_dir and (Path(run_dir) / name).exists():
                client.log_artifact(mlflow_run, str(Path(run_dir) / name))
        client.set_terminated(
            mlflow_run, "FINISHED" if event.data.get("status") == "done" else "FAILED"
        )
        _runs.pop(event.run_id, None)
