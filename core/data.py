"""Reading, validating and splitting datasets.

Every problem is reported with its place (``file:line`` and field) and all problems are
collected before anything fails, so a user fixes a file in one pass.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from ftx.errors import DataError
from ftx.formatters import Formatter
from ftx.types import Example, Problem, Splits

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv", ".parquet": "parquet"}
BUNDLED = "pride_and_prejudice.jsonl"


@dataclass
class RawRecord:
    where: str  # "file:line" or "file:row N"
    data: dict[str, Any] | None
    problem: Problem | None = None
    key: str = ""  # default example id when the record has none; unique within the file


@dataclass
class Dataset:
    path: str
    schema: str
    examples: list[Example]
    problems: list[Problem] = field(default_factory=list)
    records: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_for_errors(self) -> None:
        errors = self.errors
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
            raise DataError(f"{first}{more}.", errors, hint="Run 'ftx data validate' to list every problem.")


def bundled_path() -> Path:
    """The Pride and Prejudice Q&A shipped with ftx (the default dataset)."""
    return Path(str(resources.files("ftx") / "bundled" / BUNDLED))


# --- Reading ------------------------------------------------------------------------------


def read_records(path: Path) -> Iterator[RawRecord]:
    """Raw records with their place in the file; unreadable ones carry a problem instead."""
    name = path.name
    if not path.exists():
        raise DataError(f"{path}: no such file or directory.", hint="Check the path.")
    if path.is_dir():
        yield from _read_saved_dataset(path)
        return
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file: {exc.strerror or exc}.", hint="Check the path and its permissions.") from None
    if not raw.strip():
        raise DataError(f"{path}: the file is empty.", hint="It needs at least one example, one JSON object per line.")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind == "parquet":
        yield from _read_parquet(path)
        return
    if _is_utf16(raw[:8192]):
        raise DataError(f"{path}: the file is UTF-16 encoded; ftx reads UTF-8.",
                        hint="Save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 in.jsonl > out.jsonl).")
    if b"\x00" in raw[:8192]:
        raise DataError(
            f"{path}: this looks like a binary file, not text data.",
            hint="Give a .jsonl, .json, .csv or .parquet file.",
        )
    if kind is None:
        first = raw.lstrip()[:1]
        kind = "json" if first == b"[" else "jsonl" if first == b"{" else None
        if kind is None:
            raise DataError(
                f"{path}: cannot tell the format of this file.",
                hint="Use the suffix .jsonl, .json, .csv, .tsv or .parquet.",
            )
    if kind == "jsonl":
        yield from _read_jsonl(raw, name)
    elif kind == "json":
        yield from _read_json(raw, name)
    else:
        yield from _read_csv(raw, name, "\t" if kind == "tsv" else ",")


def _decode(raw: bytes, where: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, Problem(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
            where,
            hint="save the file as UTF-8",
        )


def _is_utf16(head: bytes) -> bool:
    """A byte-order mark, or ASCII text with a zero byte beside every character."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    halves = (head[0::2], head[1::2])
    return len(head) >= 8 and any(h.count(0) > 0.9 * len(h) for h in halves)


# ~1M tokens: more than any model's context. A longer line is almost always records run together
# (a lost newline), and tokenizing it would take minutes before the length check could say so.
MAX_LINE_BYTES = 4 * 2**20


def _read_jsonl(raw: bytes, name: str) -> Iterator[RawRecord]:
    for number, line in enumerate(raw.split(b"\n"), start=1):
        where = f"{name}:{number}"
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            yield RawRecord(where, None, Problem(
                f"the line is {len(line) / 2**20:.1f} MiB, over the {MAX_LINE_BYTES // 2**20} MiB limit for one example", where,
                hint="a line holds one example; check for a missing newline, or split the text"))
            continue
        text, problem = _decode(line.rstrip(b"\r"), where)
        if problem:
            yield RawRecord(where, None, problem)
            continue
        if number == 1:
            text = text.lstrip("\ufeff")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RawRecord(where, None, Problem(f"invalid JSON: {exc.msg} at column {exc.colno}", where, hint="each line must be one JSON object"))
            continue
        yield _as_record(value, where)


def _as_record(value: Any, where: str) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(where, None, Problem(f"expected a JSON object, got {type(value).__name__}", where, hint='write one {"field": ...} object per example'))
    return RawRecord(where, value)


def _read_json(raw: bytes, name: str) -> Iterator[RawRecord]:
    text, problem = _decode(raw, name)
    if problem:
        raise DataError(f"{name}: the file is {problem.message}.", hint="Save it as UTF-8.")
    text = text.lstrip("\ufeff")
    decoder = json.JSONDecoder()

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1

    try:
        whole = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}:{exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}.", hint="Fix the syntax there.") from None
    if isinstance(whole, dict):
        lists = [k for k, v in whole.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{name}: expected a JSON array of examples (or an object holding one array).", hint="Write [{...}, {...}].")
        whole = whole[lists[0]]
        start = text.index("[", text.index(json.dumps(lists[0])))
    elif isinstance(whole, list):
        start = text.index("[")
    else:
        raise DataError(f"{name}: expected a JSON array of examples, got {type(whole).__name__}.", hint="Write [{...}, {...}].")
    # Walk the array again with raw_decode to learn each element's line number.
    pos = start + 1
    for index, value in enumerate(whole, start=1):
        while text[pos] in " \t\r\n,":
            pos += 1
        _, end = decoder.raw_decode(text, pos)
        record = _as_record(value, f"{name}:{line_of(pos)}")
        record.key = f"{name}:{index}"  # several records can share a line
        yield record
        pos = end


def _read_csv(raw: bytes, name: str, delimiter: str) -> Iterator[RawRecord]:
    text, problem = _decode(raw, name)
    if problem:
        raise DataError(f"{name}: the file is {problem.message}.", hint="Save it as UTF-8.")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(f"{name}: the CSV file has no header row.", hint="The first row must name the columns, e.g. question,answer.")
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield RawRecord(f"{name}:{start}", None, Problem(f"bad CSV: {exc}", f"{name}:{start}"))
            break
        where = f"{name}:{start}"
        if None in row:
            yield RawRecord(where, None, Problem("the row has more cells than the header", where))
            continue
        record: dict[str, Any] = {}
        for key, value in row.items():
            if value is None:
                continue
            # Columns that hold JSON lists (messages, conversations) are decoded.
            if key in ("messages", "conversations") and value.lstrip().startswith("["):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    yield RawRecord(where, None, Problem(f"invalid JSON in column '{key}': {exc.msg}", where, key))
                    break
            record[key] = value
        else:
            yield RawRecord(where, record)


def _read_parquet(path: Path) -> Iterator[RawRecord]:
    from ftx.errors import require

    pq = require("pyarrow.parquet", package="pyarrow", extra="data", purpose="Reading Parquet files")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise DataError(f"{path.name}: cannot read the Parquet file: {exc}.", hint="Check that it is a valid Parquet file.") from None
    for i, row in enumerate(table.to_pylist(), start=1):
        yield RawRecord(f"{path.name}:row {i}", row)


def _read_saved_dataset(path: Path) -> Iterator[RawRecord]:
    if not (path / "dataset_info.json").exists() and not (path / "dataset_dict.json").exists():
        raise DataError(
            f"{path}: is a directory but not a saved 'datasets' dataset.",
            hint="Give a file, or a directory written by Dataset.save_to_disk().",
        )
    from ftx.errors import require

    datasets = require("datasets", extra="data", purpose="Reading a saved 'datasets' directory")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise DataError(f"{path}: the DatasetDict has no 'train' split (it has {', '.join(loaded)}).")
        loaded = loaded["train"]
    for i, row in enumerate(loaded, start=1):
        yield RawRecord(f"{path.name}:row {i}", dict(row))


# --- Parsing and validation ---------------------------------------------------------------


def detect_formatter(records: list[RawRecord], formatters: dict[str, type[Formatter]]) -> Formatter | None:
    """The formatter that recognises the most records (ties: registration order)."""
    instances = [cls() for cls in formatters.values()]
    counts = {f.name: 0 for f in instances}
    for record in records[:200]:
        if record.data is None:
            continue
        for f in instances:
            if f.detect(record.data):
                counts[f.name] += 1
                break
    best = max(instances, key=lambda f: counts[f.name], default=None)
    return best if best is not None and counts[best.name] else None


def load(
    path: str | Path,
    *,
    formatters: dict[str, type[Formatter]],
    format: str = "auto",
    count_tokens: Callable[[str], int] | None = None,
    max_tokens: int | None = None,
    render: Callable[[Example], str] | None = None,
) -> Dataset:
    """Read and validate a dataset, collecting every problem (never raising for bad records).

    ``count_tokens`` with ``max_tokens`` flags examples that are too long; ``render`` turns an
    example into the text that is counted (prompt and answer joined by default).
    """
    path = Path(path)
    records = list(read_records(path))
    problems: list[Problem] = [r.problem for r in records if r.problem]
    if format == "auto":
        formatter = detect_formatter(records, formatters)
        if formatter is None:
            seen = sorted({k for r in records[:50] if r.data for k in r.data})
            expected = "; ".join(", ".join(cls.keys) for cls in formatters.values() if cls.keys)
            if not any(r.data for r in records):
                raise DataError(f"{problems[0]}." if problems else f"{path.name}: no records found.", problems)
            raise DataError(
                f"{records[0].where if records else path.name}: unknown schema: the records have fields {', '.join(seen) or '(none)'}.",
                problems,
                hint=f"Use one of these field sets: {expected}; or choose a formatter with --format.",
            )
    else:
        if format not in formatters:
            from ftx.errors import ConfigError
            from ftx.plugins import suggest

            raise ConfigError(f"unknown format '{format}'.", hint=suggest(format, sorted(formatters)))
        formatter = formatters[format]()

    examples: list[Example] = []
    seen_ids: dict[str, str] = {}
    seen_content: dict[tuple, str] = {}
    for record in records:
        if record.data is None:
            continue
        where = record.where
        record_problems: list[Problem] = []

        def report(field: str, message: str, hint: str = "", _where: str = where, _sink: list = record_problems) -> None:
            _sink.append(Problem(message, _where, field, hint))

        if not formatter.detect(record.data) and format == "auto":
            missing = [k for k in formatter.keys if k not in record.data]
            report(missing[0] if missing else "", f"is missing (the file's schema is '{formatter.name}')", f"add {', '.join(repr(m) for m in missing)} to this record")
            problems.extend(record_problems)
            continue
        messages = formatter.parse(record.data, report)
        problems.extend(record_problems)
        if messages is None:
            if not record_problems:
                problems.append(Problem(f"the '{formatter.name}' formatter could not parse this record", where))
            continue
        example_id = _example_id(record.data, record.key or where, problems)
        if example_id is None:
            continue
        if example_id in seen_ids:
            problems.append(Problem(f"duplicate id '{example_id}' (first used at {seen_ids[example_id]})", where, "id", "ids must be unique"))
            continue
        seen_ids[example_id] = where
        example = Example(example_id, tuple(messages), where)
        key = tuple((m.role, m.content.strip()) for m in messages)
        if key in seen_content:
            problems.append(Problem(f"duplicate of the example at {seen_content[key]}", where, hint="remove one copy", severity="warning"))
        else:
            seen_content[key] = where
        if count_tokens is not None and max_tokens is not None:
            text = render(example) if render else "\n".join(m.content for m in messages)
            n = count_tokens(text)
            if n > max_tokens:
                problems.append(Problem(f"is {n} tokens long, over the maximum of {max_tokens}", where, hint="shorten it, or raise max_seq_length"))
        examples.append(example)

    if not examples and not problems:
        problems.append(Problem("no examples found", path.name))
    return Dataset(str(path), formatter.name, examples, problems, len(records))


def _example_id(data: dict[str, Any], default: str, problems: list[Problem]) -> str | None:
    where = default
    if "id" not in data or data["id"] is None:
        return default.replace(":row ", ":")
    value = data["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(Problem(f"must be a string or integer, not {type(value).__name__}", where, "id"))
        return None
    if isinstance(value, str) and not value.strip():
        problems.append(Problem("is empty", where, "id", "give the example a unique id or remove the field"))
        return None
    return str(value)


# --- Splitting ----------------------------------------------------------------------------


T = TypeVar("T")


def holdout(items: list[T], count: int, seed: int) -> tuple[list[T], list[T]]:
    """A seeded random ``count`` of ``items`` held out: (the rest, the held-out), each in the
    original order. One shuffle for every split ftx makes (eval, validation)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    held = set(order[:count])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def holdout_share(items: list[T], share: float, seed: int) -> tuple[list[T], list[T]]:
    """``holdout`` by a share (0 holds out nothing; anything above holds out at least one)."""
    if share <= 0:
        return list(items), []
    return holdout(items, max(1, round(len(items) * share)), seed)


def split(
    examples: list[Example],
    *,
    eval_size: float = 0.15,
    seed: int = 42,
    eval_examples: list[Example] | None = None,
) -> Splits:
    """Seeded, reproducible train/eval split; an explicit eval set wins over ``eval_size``.

    ``eval_size`` below 1 is a fraction, from 1 up a count. Eval examples whose prompt also
    appears in train are listed in ``Splits.leaked``.
    """
    if eval_examples is not None:
        train, held_out = list(examples), list(eval_examples)
    else:
        n = len(examples)
        count = round(n * eval_size) if eval_size < 1 else int(eval_size)
        count = max(1, count)
        if n < 2 or count >= n:
            raise DataError(
                f"cannot hold out {count} of {n} examples for evaluation and still train.",
                hint="Add examples, lower --eval-size, or give --eval FILE.",
            )
        train, held_out = holdout(examples, count, seed)
    train_prompts = {_prompt_key(e) for e in train}
    leaked = [e.id for e in held_out if _prompt_key(e) in train_prompts]
    return Splits(train, held_out, leaked)


def _prompt_key(example: Example) -> tuple:
    return tuple((m.role, re.sub(r"\s+", " ", m.content.strip().lower())) for m in example.prompt)


# --- Statistics ---------------------------------------------------------------------------


def percentiles(values: list[int], points: tuple[int, ...] = (50, 90, 99)) -> dict[str, int]:
    if not values:
        return {f"p{p}": 0 for p in points} | {"max": 0}
    ordered = sorted(values)
    out = {f"p{p}": ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] for p in points}
    out["max"] = ordered[-1]
    return out


def stats(dataset: Dataset, count_tokens: Callable[[str], int]) -> dict[str, Any]:
    """Counts, token length percentiles, duplicates and the detected schema."""
    prompt_tokens = [count_tokens("\n".join(m.content for m in e.prompt)) for e in dataset.examples]
    answer_tokens = [count_tokens(e.reference) for e in dataset.examples]
    turns = [sum(1 for m in e.messages if m.role == "user") for e in dataset.examples]
    return {
        "file": dataset.path,
        "schema": dataset.schema,
        "records": dataset.records,
        "examples": len(dataset.examples),
        "errors": len(dataset.errors),
        "duplicates": sum(1 for p in dataset.warnings if p.message.startswith("duplicate of")),
        "with_system_prompt": sum(1 for e in dataset.examples if e.messages[0].role == "system"),
        "multi_turn": sum(1 for t in turns if t > 1),
        "prompt_tokens": percentiles(prompt_tokens),
        "answer_tokens": percentiles(answer_tokens),
        "total_tokens": sum(prompt_tokens) + sum(answer_tokens),
    }


def write_jsonl(path: Path, examples: list[Example]) -> None:
    from ftx.store import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples))


def read_jsonl_examples(path: Path) -> list[Example]:
    """Examples ftx wrote itself (run directories), in canonical form."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            out.append(Example.from_dict(json.loads(line), f"{path.name}:{number}"))
    return out

