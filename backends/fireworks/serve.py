"""Where the tuned LoRA answers from, and making sure what ftx created for it is deleted.

Fireworks' documentation (read 2026-11-30, docs.fireworks.ai/fine-tuning/deploying-loras) says
a fine-tuned LoRA can only be served from an on-demand (dedicated) deployment: "Serverless
deployment is not supported for LoRA models"; the SDK's ``lora.load`` says the same of its
``serverless`` flag. A deployment bills by the GPU-second from the moment it is created, so:

- ftx creates one only when ``dedicated_endpoint`` allows it; preflight refuses otherwise, and
  counts its estimated hours in the cost and ``--max-cost``;
- it names the deployment itself and saves the name before asking for it, so no deployment
  exists that the run directory does not know of, even after a kill mid-request;
- the lifecycle (``ftx.hosted``) deletes it when answering ends, fails or is stopped (Ctrl-C,
  SIGTERM), and ``ftx cancel`` deletes it; after a SIGKILL, ``ftx resume`` finds it by its saved
  name, answers with it, and deletes it then.

``serverless`` asks Fireworks to load the LoRA on the base's serverless deployment instead
(``lora.load(serverless=True)``), for accounts where Fireworks allows that; where it refuses,
a deployment is created if ``dedicated_endpoint`` allows one.
"""

from __future__ import annotations

import time
from typing import Any

from ftx.backend import BackendContext
from ftx.errors import BackendError, FtxError

from . import wire

DEPLOYMENT_GONE = ("DELETING", "DELETED", "FAILED")


def hourly_price(opts: Any) -> float | None:
    """Dollars an hour of the deployment: the option, else ftx's table per GPU."""
    if opts.endpoint_hourly_price is not None:
        return opts.endpoint_hourly_price
    per_gpu = wire.GPU_HOUR.get(opts.accelerator_type)
    return None if per_gpu is None else per_gpu * opts.accelerator_count


def estimate(answers: int, opts: Any) -> float | None:
    """Dollars for a deployment that starts, answers ``answers`` prompts and is deleted."""
    price = hourly_price(opts)
    if price is None:
        return None
    minutes = opts.endpoint_minutes
    if minutes is None:
        minutes = wire.STARTUP_MINUTES + answers * wire.SECONDS_PER_ANSWER / opts.concurrency / 60
    return price * minutes / 60


def record_hours(created: float, opts: Any, ctx: BackendContext) -> None:
    """What the deployment's hours cost, from its creation to its deletion."""
    ctx.state.pop("endpoint_created", None)
    price = hourly_price(opts)
    if price is None:
        ctx.save_state()
    else:
        ctx.add_cost("deployment", (time.time() - created) / 3600 * price)


def deploy(backend: Any, client: Any, model: str, opts: Any, ctx: BackendContext) -> str:
    """The name to ask the tuned ``model`` by, once something serves it."""
    endpoint = ctx.state.get("endpoint")
    if endpoint:  # a stopped run's: answer with it if it is still there
        asked = reuse(backend, client, endpoint, model, opts, ctx)
        if asked:
            return asked
    if opts.serverless:
        asked = load_serverless(backend, client, model, opts, ctx)
        if asked:
            return asked
    return create_deployment(backend, client, model, opts, ctx)


def reuse(
    backend: Any, client: Any, endpoint: str, model: str, opts: Any, ctx: BackendContext
) -> str | None:
    import fireworks

    owner, resource = wire.split_name(endpoint)
    read = client.lora.get if "/deployedModels/" in endpoint else client.deployments.get

    def found() -> Any:
        try:
            return read(resource, account_id=owner)
        except fireworks.NotFoundError:
            return None

    now = backend.call(found, f"checking {endpoint}", opts, ctx.cancelled)
    state = now.state if now is not None else None
    if state == "FAILED":
        backend.release(client, opts, ctx)  # a failed deployment may still bill: delete it
    elif now is not None and state not in ("DELETING", "DELETED", "UNDEPLOYING"):
        ctx.log(f"answering with {endpoint}, created before the run stopped")
        return ready(backend, client, endpoint, model, opts, ctx)
    for key in ("endpoint", "endpoint_created"):
        ctx.state.pop(key, None)
    ctx.save_state()
    return None


def load_serverless(
    backend: Any, client: Any, model: str, opts: Any, ctx: BackendContext
) -> str | None:
    try:
        loaded = backend.call(
            lambda: client.lora.load(model=model, serverless=True, display_name="ftx"),
            f"loading {model} serverless",
            opts,
            ctx.cancelled,
        )
    except FtxError as exc:
        if not opts.dedicated_endpoint:
            raise FtxError(
                f"Fireworks would not load {model} serverless: {exc.message}",
                hint=f"--set {backend.name}.dedicated_endpoint=true lets ftx create a deployment "
                "instead",
            ) from None
        ctx.log(f"Fireworks would not load {model} serverless ({exc.message}); deploying it")
        return None
    ctx.state["endpoint"] = loaded.name
    ctx.save_state()
    ctx.log(f"loaded {model} serverless as {loaded.name}")
    return ready(backend, client, loaded.name, model, opts, ctx)


def create_deployment(backend: Any, client: Any, model: str, opts: Any, ctx: BackendContext) -> str:
    import fireworks

    count = ctx.state.get("deployments", 0) + 1
    deployment_id = f"ftx-{wire.uid(ctx)}-{count}"
    endpoint = f"accounts/{wire.account(opts)}/deployments/{deployment_id}"
    # Saved before it is asked for: a kill mid-request leaves its name known (deleting one that
    # was never made is harmless), never a deployment the run directory does not know of.
    ctx.state.update(endpoint=endpoint, endpoint_created=time.time(), deployments=count)
    ctx.save_state()
    hardware = (
        {"deployment_shape": opts.deployment_shape}
        if opts.deployment_shape
        else {
            "accelerator_type": opts.accelerator_type,
            "accelerator_count": opts.accelerator_count,
        }
    )

    def create() -> None:
        try:
            client.deployments.create(
                deployment_id=deployment_id,
                base_model=model,  # the LoRA itself: Fireworks merges it into its base (live merge)
                display_name=f"ftx {ctx.run_id} {ctx.dir.name}"[:63],
                min_replica_count=1,  # up while ftx answers; deleted right after
                max_replica_count=1,
                **hardware,
            )
        except fireworks.ConflictError:  # an attempt whose answer was lost created it
            pass

    backend.call(create, f"creating a deployment for {model}", opts, ctx.cancelled)
    ctx.log(f"created deployment {endpoint} for {model}; it is deleted when answering ends")
    return ready(backend, client, endpoint, model, opts, ctx)


def ready(
    backend: Any, client: Any, endpoint: str, model: str, opts: Any, ctx: BackendContext
) -> str:
    """Wait until ``endpoint`` serves ``model``; the name to ask it by."""
    owner, resource = wire.split_name(endpoint)
    serverless = "/deployedModels/" in endpoint
    read = client.lora.get if serverless else client.deployments.get
    task = ctx.task(f"{backend.name}: {resource}", info="starting")
    deadline, pause = time.time() + opts.endpoint_wait * 60, min(1.0, opts.poll_interval)
    while True:
        found = backend.call(
            lambda: read(resource, account_id=owner), f"checking {endpoint}", opts, ctx.cancelled
        )
        task.update(info=str(found.state or "").lower())
        if found.state == ("DEPLOYED" if serverless else "READY"):
            task.done(info="ready")
            return model if serverless else f"{model}#{endpoint}"
        if found.state in DEPLOYMENT_GONE or (serverless and found.state == "UNDEPLOYING"):
            why = found.status.message if found.status and found.status.message else found.state
            raise BackendError(f"Fireworks deployment {endpoint} failed: {why}")
        if time.time() > deadline:
            raise BackendError(
                f"{endpoint} was not ready after {opts.endpoint_wait:g} minutes; it is deleted",
                hint=f"Raise --set {backend.name}.endpoint_wait=MINUTES, or try another "
                "accelerator.",
            )
        ctx.sleep(pause)  # stops at once on Ctrl-C; the lifecycle then deletes it
        pause = min(pause * 1.5, opts.poll_interval)


def undeploy(client: Any, endpoint: str) -> None:
    """Delete what ``deploy`` created; one already gone is fine."""
    import fireworks

    owner, resource = wire.split_name(endpoint)
    try:
        if "/deployedModels/" in endpoint:
            client.lora.unload(resource, account_id=owner)
        else:
            client.deployments.delete(resource, account_id=owner)
    except fireworks.NotFoundError:
        pass
