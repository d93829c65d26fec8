"""Start-up time: `ftx --help` and `ftx plugins` against importing ftx's three core
dependencies alone (the floor any click + rich + pluggy tool pays), measured in one run.

    python benchmarks/startup.py [--runs 10]

Commands run with Python's bytecode cache allowed (``PYTHONDONTWRITEBYTECODE`` removed), as an
installed package runs: pip writes .pyc files at install, and without them every start compiles
ftx's modules from source again (about 120 ms here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "baseline: import click, rich, pluggy": [sys.executable, "-c", "import click, rich, pluggy"],
    "ftx --help": [sys.executable, "-m", "ftx.cli", "--help"],
    "ftx plugins": [sys.executable, "-m", "ftx.cli", "plugins"],
}


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(command: list[str], runs: int) -> float:
    subprocess.run(
        command, capture_output=True, check=True, env=ENV
    )  # warm the file and bytecode caches
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True, env=ENV)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "startup.json"))
    args = parser.parse_args()
    results = {name: median_seconds(cmd, args.runs) for name, cmd in COMMANDS.items()}
    base = results["baseline: import click, rich, pluggy"]
    for name, seconds in results.items():
        print(f"{name:40s} {seconds * 1000:7.0f} ms   x{seconds / base:.2f}")
    Path(args.out).write_text(
        json.dumps(
            {"median_seconds": results, "runs": args.runs, "python": sys.version.split()[0]},
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
