"""A test plugin that kills its own process (SIGKILL, as the OOM killer or a power cut would) at
a chosen run event, and records every event so tests can count the work each process did.

    FTX_KILL_AT=train_log:local-lora:step=3   die once local-lora logs training step 3
    FTX_KILL_AT=answer:openai:done=2          die once openai's second answer is kept
    FTX_EVENTS_LOG=events.jsonl               append each event (with this process's pid)
"""

import json
import os
import signal

from ftx import hookimpl


@hookimpl
def ftx_run_event(event):
    log = os.environ.get("FTX_EVENTS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"pid": os.getpid(), "kind": event.kind, "backend": event.backend, "data": event.data},
                               default=str) + "\n")
    target = os.environ.get("FTX_KILL_AT")
    if target:
        kind, backend, condition = target.split(":")
        key, value = condition.split("=")
        if event.kind == kind and event.backend == backend and str(event.data.get(key)) == value:
            os.kill(os.getpid(), signal.SIGKILL)
