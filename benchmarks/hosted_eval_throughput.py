"""Hosted evaluation throughput: ftx's concurrent requests against asking one prompt at a time,
through the real `openai` SDK to the fake OpenAI server (tests/fakes) answering with a fixed
latency, in one process. What it measures is ftx's request pipeline (threads, SDK, retries),
not a model: a real endpoint's latency and rate limits set the real figures.

    python benchmarks/hosted_eval_throughput.py --latency 0.2 --prompts 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--latency", type=float, default=0.2, help="seconds the fake takes per answer"
    )
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "hosted_eval_throughput.json")
    )
    args = parser.parse_args()

    from rich.progress import Progress

    from ftx.backend import BackendContext
    from ftx.backends.openai import ChatOptions, OpenAIBase
    from ftx.types import GenerationParams, Message
    from tests.fakes.openai_server import KEY, FakeOpenAI

    prompts = [
        [Message("user", f"Question number {i}: who wrote Pride and Prejudice?")]
        for i in range(args.prompts)
    ]
    results = []
    with FakeOpenAI() as server, Progress(disable=True) as progress:
        server.behaviour.latency = args.latency
        os.environ["OPENAI_API_KEY"] = KEY
        for concurrency in args.concurrency:
            opts = ChatOptions(
                model="gpt-4.1-mini", base_url=server.base_url, concurrency=concurrency
            )
            ctx = BackendContext(
                "bench",
                ROOT,
                {},
                lambda: None,
                lambda line: None,
                lambda k, d: None,
                progress,
                cancelled=threading.Event(),
            )
            model = OpenAIBase().train(None, opts, ctx)  # the lifecycle's HostedModel
            started = time.perf_counter()
            answers = model.generate(prompts, GenerationParams(max_new_tokens=16))
            seconds = time.perf_counter() - started
            assert len(answers) == len(prompts)
            results.append(
                {
                    "concurrency": concurrency,
                    "seconds": round(seconds, 3),
                    "answers_per_s": round(len(prompts) / seconds, 2),
                }
            )
    base = results[0]["answers_per_s"]
    print(
        f"{args.prompts} prompts, {args.latency:.2f} s per answer (fake OpenAI on 127.0.0.1, real "
        f"openai SDK)"
    )
    print(f"{'concurrency':>12} {'seconds':>9} {'answers/s':>10} {'vs one at a time':>17}")
    for r in results:
        r["speedup"] = round(r["answers_per_s"] / base, 2)
        print(
            f"{r['concurrency']:>12} {r['seconds']:>9.2f} {r['answers_per_s']:>10.1f} "
            f"{'x' + format(r['speedup'], '.2f'):>17}"
        )
    Path(args.out).write_text(
        json.dumps(
            {"latency_s": args.latency, "prompts": args.prompts, "results": results}, indent=2
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
