"""Reading a dataset: a JSON array against the same records as JSON Lines, measured in one run.

    python benchmarks/read_data.py [--records 52000] [--runs 3]

The records are shaped and sized like Stanford Alpaca's 52k (instruction, input, output; the
array indented by 4 as alpaca_data.json is). Each file goes through ``ftx.data.load``, which
reads, detects the schema, parses and validates every record, as ``ftx data validate`` does.
The ratio (array / lines) should stay near 1: reading an array was quadratic before (773 s
for 52k records, against 1.3 s as JSON Lines). Peak memory is the traced Python allocation
of one load, against the file's size.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from ftx import data as datamod
from ftx.formatters import BUILTIN_FORMATTERS

WORDS = (
    "the model data answer question train token layer value time people system water number world "
    "example write give list three name describe explain how what why which small large"
).split()


def make_records(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Alpaca-sized records: 60% without input, as in the original; answers of 1-60 words."""
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."

    return [
        {
            "instruction": text(4, 20),
            "input": text(3, 30) if rng.random() < 0.4 else "",
            "output": text(1, 60) + f" ({i})",
        }
        for i in range(n)
    ]


def time_load(path: Path, runs: int) -> tuple[float, int, int]:
    """Median seconds of a load, the examples read, and the peak traced bytes of one load."""
    formatters = {f.name: f for f in BUILTIN_FORMATTERS}
    times, examples = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        examples = len(datamod.load(path, formatters=formatters).examples)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    datamod.load(path, formatters=formatters)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), examples, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=52_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "read_data.json"))
    args = parser.parse_args()
    records = make_records(args.records)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "JSON Lines (baseline)": Path(tmp, "alpaca.jsonl"),
            "JSON array": Path(tmp, "alpaca.json"),
        }
        files["JSON Lines (baseline)"].write_text("".join(json.dumps(r) + "\n" for r in records))
        files["JSON array"].write_text(json.dumps(records, indent=4))
        for name, path in files.items():
            seconds, examples, peak = time_load(path, args.runs)
            assert examples == args.records, (name, examples)
            results[name] = {
                "seconds": seconds,
                "file_mb": path.stat().st_size / 2**20,
                "peak_mb": peak / 2**20,
            }
    base = results["JSON Lines (baseline)"]["seconds"]
    print(f"{args.records:,} Alpaca-shaped records, ftx.data.load, median of {args.runs}")
    for name, r in results.items():
        print(
            f"  {name:24s} {r['seconds']:7.2f} s  x{r['seconds'] / base:.2f}   file "
            f"{r['file_mb']:5.1f} MB, "
            f"peak {r['peak_mb']:6.1f} MB (x{r['peak_mb'] / r['file_mb']:.1f} the file)"
        )
    ratio = results["JSON array"]["seconds"] / base
    Path(args.out).write_text(
        json.dumps(
            {
                "records": args.records,
                "runs": args.runs,
                "results": results,
                "array_over_lines": ratio,
                "python": sys.version.split()[0],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
