"""Serving throughput: ``ftx serve`` on a run of the tiny model, asked one request at a time
against many requests at once (which its worker answers in batches), through real HTTP.

    python benchmarks/serve_throughput.py                      # 64 requests, 16 at a time
    python benchmarks/serve_throughput.py --concurrency 32 --requests 128

A tiny run of two LoRA adapters is trained first (2 steps each). Each request asks for
``--new-tokens`` greedy tokens; the tiny model's random weights rarely end an answer early, so
every answer is about that long. Three figures, each the best of ``--repeat`` timings (other
work on the machine only slows one down): one request at a time; ``--concurrency`` at once for
one adapter; and as many at once spread over both adapters (``local-lora`` and its variant
``other``), which share the base weights in memory but are answered in separate batches.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16, help="the server's --batch-size")
    parser.add_argument(
        "--repeat", type=int, default=3, help="time each figure this often and keep the best"
    )
    parser.add_argument(
        "--out", help="JSON file (default: benchmarks/results/serve_throughput.json)"
    )
    args = parser.parse_args()
    if min(args.requests, args.concurrency, args.new_tokens, args.repeat) < 1:
        parser.error("--requests, --concurrency, --new-tokens and --repeat must be at least 1")

    from ftx.testing import make_tiny_model, sample_rows, write_jsonl

    folder = Path(tempfile.mkdtemp(prefix="ftx-serve-bench-"))
    env = {**os.environ, "FTX_LOAD_PLUGINS": "", "FTX_CACHE_DIR": str(folder / "cache")}
    model = make_tiny_model(folder / "model")
    data = write_jsonl(folder / "qa.jsonl", sample_rows(24))
    ftx = [sys.executable, "-m", "ftx.cli"]
    trained = subprocess.run(
        [
            *ftx,
            "run",
            *("--data", str(data), "--model", str(model), "--name", "r", "--eval-size", "4"),
            *("--backend", "local-lora", "--backend", "other=local-lora"),
            *("--set", "local-lora.max_steps=2", "--set", "run.max_new_tokens=4"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )
    if trained.returncode != 0:
        sys.exit(f"the run failed:\n{trained.stderr[-3000:]}")

    server = subprocess.Popen(
        [*ftx, "serve", "r", "--port", "0", "--batch-size", str(args.batch_size)]
        + [
            "--max-concurrency",
            str(max(32, args.concurrency)),
            "--max-tokens",
            str(args.new_tokens),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = _wait_for(server)
        questions = [row["question"] for row in sample_rows(args.requests)]
        questions = (questions * (args.requests // len(questions) + 1))[: args.requests]

        def ask(job: tuple[str, str]) -> int:
            name, question = job
            body = {
                "model": name,
                "messages": [{"role": "user", "content": question}],
                "max_tokens": args.new_tokens,
                "temperature": 0,
            }
            request = urllib.request.Request(
                f"{url}/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())["usage"]["completion_tokens"]

        def timed(jobs: list[tuple[str, str]], at_once: int) -> dict[str, float]:
            """The best of ``--repeat`` timings: other work on the machine only slows one."""
            best = None
            with ThreadPoolExecutor(max_workers=at_once) as pool:
                list(pool.map(ask, jobs[: max(2, at_once)]))  # warm-up
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    tokens = sum(pool.map(ask, jobs))
                    seconds = time.perf_counter() - start
                    if best is None or tokens / seconds > best["tokens_per_s"]:
                        best = {
                            "seconds": seconds,
                            "tokens": tokens,
                            "tokens_per_s": tokens / seconds,
                            "requests_per_s": len(jobs) / seconds,
                        }
            return best

        one_model = [("local-lora", q) for q in questions]
        two_models = [(("local-lora", "other")[i % 2], q) for i, q in enumerate(questions)]
        rows = {
            "one_at_a_time": timed(one_model, 1),
            "concurrent": timed(one_model, args.concurrency),
            "concurrent_two_models": timed(two_models, args.concurrency),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)

    base = rows["one_at_a_time"]["tokens_per_s"]
    labels = {
        "one_at_a_time": "one request at a time",
        "concurrent": f"{args.concurrency} at once, one adapter",
        "concurrent_two_models": f"{args.concurrency} at once, two adapters",
    }
    for key, label in labels.items():
        row = rows[key]
        print(
            f"{label:28s} {row['tokens_per_s']:8.0f} generated tok/s "
            f"{row['requests_per_s']:6.2f} requests/s   x{row['tokens_per_s'] / base:.2f}"
        )
    out = Path(args.out or Path(__file__).parent / "results" / "serve_throughput.json")
    out.write_text(
        json.dumps(
            {
                "model": "tiny Llama (2 layers, hidden 64), LoRA adapters of rank 16",
                "device": _device(),
                "requests": args.requests,
                "concurrency": args.concurrency,
                "batch_size": args.batch_size,
                "new_tokens": args.new_tokens,
                "repeat": args.repeat,
                "load_average": os.getloadavg()[0],
                "results": rows,
                "speedup": rows["concurrent"]["tokens_per_s"] / base,
                "speedup_two_models": rows["concurrent_two_models"]["tokens_per_s"] / base,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


def _wait_for(server: subprocess.Popen) -> str:
    """The server's URL, from the line it prints once its models are loaded."""
    deadline, seen = time.time() + 300, []
    while time.time() < deadline and server.poll() is None:
        if select.select([server.stdout], [], [], 1)[0]:
            line = server.stdout.readline()
            seen.append(line)
            if line.startswith("ftx serve: "):
                return next(w for w in line.split() if w.startswith("http://"))
    server.kill()
    sys.exit("ftx serve did not start:\n" + "".join(seen))


def _device() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    return f"cpu ({os.cpu_count()} cores)"


if __name__ == "__main__":
    main()
