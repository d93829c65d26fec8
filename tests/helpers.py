"""Test helpers: installing a plugin through a real entry point, running ftx in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PLUGINS = Path(__file__).parent / "plugins"


def install_entry_point_plugin(
    site: Path, module: str, name: str | None = None, *, source: str | None = None
) -> Path:
    """Put ``module`` and a ``.dist-info`` with an ``ftx`` entry point into ``site``, exactly the
    files pip would install; ``site`` on PYTHONPATH makes it an installed plugin."""
    name = name or module
    site.mkdir(parents=True, exist_ok=True)
    if source is None:
        shutil.copy(PLUGINS / f"{module}.py", site / f"{module}.py")
    else:
        (site / f"{module}.py").write_text(source)
    dist = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir(exist_ok=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[ftx]\n{name} = {module}\n")
    return site


def run_ftx(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ftx.cli", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_and_kill_when(
    args: list[str], cwd: Path, run_json: Path, marker: str, timeout: float = 300
) -> None:
    """Start ``ftx`` in a real process and SIGKILL it the moment ``run_json`` mentions ``marker``
    (a job id saved, say), as a power cut would. Fails with its stderr if it ends before that."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "ftx.cli", *args],
        cwd=cwd,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + timeout  # generous: a loaded CI machine starts Python slowly
    while time.time() < deadline and proc.poll() is None:
        if run_json.exists() and marker in run_json.read_text():
            break
        time.sleep(0.1)
    assert proc.poll() is None, proc.stderr.read().decode()  # still running, with the marker saved
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def backend_context(folder: Path, *, log=None, emit=None):
    """A backend's context for a training outside a run: its folder, silent progress, and the
    log lines and run events to ``log(line)`` and ``emit(kind, data)`` where given."""
    from rich.progress import Progress

    from ftx.backend import BackendContext

    Path(folder).mkdir(parents=True, exist_ok=True)
    return BackendContext(
        "t",
        Path(folder),
        {},
        lambda: None,
        log or (lambda line: None),
        emit or (lambda kind, data: None),
        Progress(disable=True),
    )


def train_briefly(model, model_dir: Path, run_dir: Path, opts, dtype):
    """The local backends' own ``train()`` on four short examples on the CPU (the caller's
    ``opts`` say how many steps and what else), for tests that watch what a training does."""
    import transformers

    from ftx.backends.local.tokenize import IGNORE, Encoded
    from ftx.backends.local.train import train

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    examples = [
        Encoded(list(range(5, 5 + n)), [IGNORE] * (n // 2) + list(range(5 + n // 2, 5 + n)))
        for n in (6, 9, 12, 7)
    ]
    return train(
        model,
        tokenizer,
        examples,
        opts,
        backend_context(run_dir),
        device="cpu",
        dtype=dtype,
        seed=0,
        label="t",
    )


def ftx_main(capsys, *argv: str) -> tuple[int, str, str]:
    """``ftx ARGV`` in this process as the console script runs it: (exit code, stdout, stderr).
    A traceback that escapes main() fails the test."""
    from ftx.cli import main

    try:
        main(list(argv))
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code or 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err
