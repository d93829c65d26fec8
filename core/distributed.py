"""Several processes, one run: ``torchrun`` and ``accelerate launch``.

A launcher starts the same ``ftx run`` in N processes and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). All of them train the local backends
together (transformers' Trainer wraps the model in DistributedDataParallel); only the main
process (rank 0) creates the run directory, talks to hosted APIs, answers the eval prompts and
writes reports. The others follow it: they learn the run id from it and wait for it between
backends. Without a launcher, every function here is a no-op and torch is not imported.
"""

from __future__ import annotations

import os
from typing import Any

# Workers wait at a barrier while the main process answers the eval prompts, which can take
# far longer than torch's default 30-minute collective timeout.
TIMEOUT_HOURS = float(os.environ.get("FTX_DISTRIBUTED_TIMEOUT_HOURS", "24"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def enabled() -> bool:
    """True in a process started by torchrun or accelerate launch with more than one process."""
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


def single_process_problem() -> str | None:
    """Why ``accelerate launch`` started this one process alone, if it was asked for several.

    Its plain launcher starts a single process whatever ``--num_processes`` says, with
    ``MASTER_ADDR`` set but no ``WORLD_SIZE``: several are started by its torchrun path, which
    takes ``--multi_gpu`` (or a multi-GPU ``accelerate config``), on CPU too, where the
    processes talk over gloo.
    """
    if (
        enabled()
        or "ACCELERATE_MIXED_PRECISION" not in os.environ
        or "MASTER_ADDR" not in os.environ
    ):
        return None
    return (
        "accelerate launch started one process, not several: it starts several only with "
        "--multi_gpu "
        "(on CPU too). Use: accelerate launch --multi_gpu --num_processes N -m ftx.cli run ..."
    )


def fsdp() -> bool:
    """True when ``accelerate launch`` runs with an FSDP config (``--use_fsdp``, or
    ``distributed_type: FSDP`` in its config file): Trainer shards every weight over the
    processes, and a backend gathers them once training ends."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def fsdp_problem(four_bit: bool) -> str | None:
    """Why this FSDP setup cannot train, in one sentence, or None."""
    if not fsdp():
        return None
    if os.environ.get("FSDP_VERSION", "1") != "2":
        return (
            "ftx trains with FSDP2 (per-parameter sharding, which LoRA adapters need): set "
            "fsdp_version: 2 in the accelerate config, or pass --fsdp_version 2"
        )
    if four_bit:
        return (
            "4-bit QLoRA does not train under FSDP here; use local-lora with FSDP, or QLoRA on "
            "one GPU"
        )
    return None


def init() -> None:
    """Join the process group once: NCCL when there are GPUs, gloo on CPU."""
    import datetime

    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(
            int(os.environ.get("LOCAL_RANK", "0"))
        )  # "cuda" now means this process's GPU
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=TIMEOUT_HOURS))


def share(value: Any) -> Any:
    """``value`` as the main process has it, in every process (a pickled broadcast)."""
    if not enabled():
        return value
    import torch.distributed as dist

    init()
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every process gets here."""
    if not enabled():
        return
    import torch.distributed as dist

    init()
    dist.barrier()


def total(count: int) -> int:
    """The sum of ``count`` over all processes (tokens trained, for example)."""
    if not enabled():
        return count
    import torch
    import torch.distributed as dist

    init()
    tensor = torch.tensor(
        [count], dtype=torch.long, device="cuda" if dist.get_backend() == "nccl" else "cpu"
    )
    dist.all_reduce(tensor)
    return int(tensor.item())
