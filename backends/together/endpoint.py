"""A dedicated endpoint for a tuned model Together does not serve serverless, through the
endpoints API of the SDK (``/v2/projects/{project}/endpoints``).

Together's v2 model: an *endpoint* is a name to ask (``<project_slug>/<endpoint_name>``) that
routes to its *deployments*; a deployment serves one model on the hardware its *config* names,
and bills by the minute while it runs. Creating one for ftx takes four requests: the endpoint,
a deployment of the tuned model, the traffic split that routes the endpoint to it, then polling
until it is ready. Deleting it takes two: the deployments first, then the endpoint.

The endpoint is saved in the run's state as ``projects/{project}/endpoints/{id}`` the moment it
exists, so a killed run's ``ftx resume`` finds and reuses it and ``ftx cancel`` deletes it
without asking which project it is in.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from ftx.backend import BackendContext
from ftx.errors import BackendError, FtxError

PATH = re.compile(r"projects/([^/]+)/endpoints/([^/]+)")
#: keys the state keeps about the endpoint besides ``endpoint`` (its path)
KEPT = ("endpoint_name", "deployment", "endpoint_started")


def split(path: str) -> tuple[str, str]:
    """``(project, endpoint id)`` of a saved endpoint path."""
    found = PATH.fullmatch(path)
    if not found:
        raise FtxError(f"'{path}' is not a Together endpoint path (projects/P/endpoints/E).")
    return found.group(1), found.group(2)


def project_of(client: Any, opts: Any) -> str:
    """The project the endpoint goes in: the option, TOGETHER_PROJECT_ID (the SDK reads it), or
    the project of a project-scoped API key."""
    if opts.project_id or client.project_id:
        return opts.project_id or client.project_id
    project = getattr(client.whoami(), "project", None)
    if project is None:
        raise FtxError(
            "no Together project to create the endpoint in: the API key is not a project key.",
            hint="--set together.project_id=PROJECT_ID, or export TOGETHER_PROJECT_ID",
        )
    return project.id


def deploy(
    call: Callable[[Callable[[], Any], str], Any],
    client: Any,
    model: str,
    opts: Any,
    ctx: BackendContext,
) -> str:
    """Serve the tuned model (its model object ``ml_...[/revisions/rv_...]`` in the project)
    on a dedicated endpoint, reusing the one a stopped run created; the name to ask. ``call``
    makes one request with the lifecycle's retries."""
    import together

    state = ctx.state
    endpoint = None
    if state.get("endpoint"):
        project, endpoint_id = split(state["endpoint"])
        endpoint = call(
            lambda: _unless_gone(
                together, lambda: client.endpoints.retrieve(endpoint_id, project_id=project)
            ),
            f"checking the endpoint {endpoint_id}",
        )
        if endpoint is None:
            ctx.log(f"the endpoint {endpoint_id} ftx created before is gone: creating another")
            for key in ("endpoint", *KEPT):
                state.pop(key, None)
        else:
            ctx.log(f"reusing the endpoint {endpoint.name}")
    if endpoint is None:
        project = call(lambda: project_of(client, opts), "finding the Together project")
        name = (
            re.sub(r"[^a-z0-9-]+", "-", f"ftx-{ctx.run_id}".lower())[:40]
            + "-"
            + uuid.uuid4().hex[:6]
        )
        endpoint = call(
            lambda: client.endpoints.create(
                project_id=project, name=name, visibility="VISIBILITY_PRIVATE"
            ),
            "creating a dedicated endpoint",
        )
        state.update(
            endpoint=f"projects/{project}/endpoints/{endpoint.id}",
            endpoint_name=endpoint.name,
            endpoint_started=time.time(),
        )
        ctx.save_state()  # from now on it bills: every way out deletes it
        ctx.log(f"created the dedicated endpoint {endpoint.name} ({endpoint.id})")

    # --- a deployment of the tuned model, routed to -------------------------------------------
    deployment = state.get("deployment") or next((d.id for d in endpoint.deployments), None)
    if deployment is None:
        target = f"projects/{project}/models/{model}"
        config = call(
            lambda: _config(client, project, target, opts), "choosing a deployment config"
        )
        created = call(
            lambda: client.endpoints.deployments.create(
                endpoint.id,
                project_id=project,
                name="ftx",
                model=target,
                config=config,
                autoscaling={"min_replicas": 1, "max_replicas": 1},
                inactive_timeout=opts.endpoint_inactive_timeout,
            ),
            f"deploying {target} on {endpoint.name}",
        )
        deployment = state["deployment"] = created.id
        ctx.save_state()
        ctx.log(f"deployment {created.id} of {target} on {config}")
    if not any(entry.deployment_id == deployment for entry in endpoint.traffic_split):
        call(
            lambda: client.endpoints.update(
                endpoint.id,
                project_id=project,
                traffic_split=[{"deployment_id": deployment, "weight": 1}],
                update_mask="trafficSplit",
            ),
            f"routing {endpoint.name} to its deployment",
        )

    # --- wait until it answers ---------------------------------------------------------------
    task = ctx.task(f"{ctx.dir.name}: endpoint", info="starting")
    deadline, wait = time.time() + opts.endpoint_wait * 60, min(1.0, opts.poll_interval)
    while True:
        found = call(
            lambda: client.endpoints.deployments.retrieve(
                deployment, endpoint_id=endpoint.id, project_id=project
            ),
            f"checking the deployment {deployment}",
        )
        status = found.status.state.removeprefix("DEPLOYMENT_STATE_").lower()
        task.update(info=status)
        if status == "ready":
            break
        if status in ("failed", "stopped", "stopping"):
            raise BackendError(
                f"Together's deployment {found.name} is {status}: {found.status.message}",
                hint="See the endpoint in Together's dashboard (Models > Endpoints).",
            )
        if time.time() > deadline:
            raise BackendError(
                f"the dedicated endpoint {endpoint.name} was not ready after "
                f"{opts.endpoint_wait:g} minutes (it was {status}); ftx deleted it",
                hint="Raise --set together.endpoint_wait=MINUTES.",
            )
        ctx.sleep(wait)  # stops at once (Cancelled) on Ctrl-C: the endpoint is deleted then
        wait = min(wait * 1.5, opts.poll_interval)
    task.done(info="ready")
    return endpoint.name


def undeploy(client: Any, path: str) -> None:
    """Delete the endpoint at ``path`` and its deployments (deployments first, as Together
    requires); one already gone is not an error, so this can be retried."""
    import together

    project, endpoint_id = split(path)
    endpoint = _unless_gone(
        together, lambda: client.endpoints.retrieve(endpoint_id, project_id=project)
    )
    if endpoint is None:
        return
    for deployment in endpoint.deployments:
        _unless_gone(
            together,
            lambda deployment=deployment: client.endpoints.deployments.delete(
                deployment.id, endpoint_id=endpoint_id, project_id=project
            ),
        )
    _unless_gone(together, lambda: client.endpoints.delete(endpoint_id, project_id=project))


def _config(client: Any, project: str, target: str, opts: Any) -> str:
    """The deployment config (the hardware): the option, else the first Together lists for the
    tuned model's base."""
    if opts.endpoint_config:
        if opts.endpoint_config.startswith("projects/"):
            return opts.endpoint_config
        return f"projects/{project}/configs/{opts.endpoint_config}"
    model_project, model_id = target.split("/")[1], target.split("/")[3]
    model = client.models.retrieve(model_id, project_id=model_project)
    reference = model.base_model or f"projects/{model_project}/models/{model_id}"
    configs = client.models.configs.list(project_id=project, reference_model=reference).data
    if not configs:
        raise FtxError(
            f"Together lists no deployment config for {reference}, so ftx cannot choose the "
            "endpoint's hardware.",
            hint="--set together.endpoint_config=CONFIG_ID (see 'tg endpoints hardware').",
        )
    return f"projects/{configs[0].project_id}/configs/{configs[0].id}"


def _unless_gone(together: Any, request: Callable[[], Any]) -> Any:
    """``request()``, or None where Together says 404 (already deleted)."""
    try:
        return request()
    except together.NotFoundError:
        return None
