"""A test plugin that kills its own process (SIGKILL, as the OOM killer or a power cut would) at
a chosen run event, and records every event so tests can count the work each process did.

    FTX_KILL_AT=train_log:local-lora:step=3   die once local-lora logs training step 3
    FTX_KILL_AT=answer:openai:done=2          die once openai's second answer is kept
    FTX_KILL_SIGNAL=TERM                      send this signal instead (a scheduler's SIGTERM)
    FTX_KILL_AT_WRITE=.partial/checkpoint-4   die while writing a file whose path has this in it
                                              (when the file is flushed: written, not yet renamed)
    FTX_FULL_DISK=train.jsonl                 flushing such a file fails as on a full disk (ENOSPC)
    FTX_EVENTS_LOG=events.jsonl               append each event (with this process's pid)

Writes are caught at ``os.fsync``, which ftx calls before it renames a finished file or
checkpoint into place; the plugin is loaded before the run writes anything.
"""

import errno
import json
import os
import signal

from ftx import hookimpl


def _watch_writes():
    kill_at, full_disk = os.environ.get("FTX_KILL_AT_WRITE"), os.environ.get("FTX_FULL_DISK")
    if not (kill_at or full_disk):
        return
    real_fsync = os.fsync

    def fsync(fd):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if kill_at and kill_at in path:
            os.kill(os.getpid(), signal.SIGKILL)
        if full_disk and full_disk in path:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    os.fsync = fsync


_watch_writes()


@hookimpl
def ftx_run_event(event):
    log = os.environ.get("FTX_EVENTS_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "kind": event.kind,
                        "backend": event.backend,
                        "data": event.data,
                    },
                    default=str,
                )
                + "\n"
            )
    target = os.environ.get("FTX_KILL_AT")
    if target:
        kind, backend, condition = target.split(":")
        key, value = condition.split("=")
        if event.kind == kind and event.backend == backend and str(event.data.get(key)) == value:
            os.kill(os.getpid(), getattr(signal, f"SIG{os.environ.get('FTX_KILL_SIGNAL', 'KILL')}"))
