"""Reading, validating and splitting datasets.

Every problem is reported with its place (``file:line`` and field) and all problems are
collected before anything fails, so a user fixes a file in one pass.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import random
import re
import stat
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ftx.errors import DataError
from ftx.formatters import Formatter, not_sft
from ftx.preference import Pair, rejected_example
from ftx.types import Example, Message, Problem, Splits

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
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
        errors = grouped(self.errors)  # one mistake repeated in many records is one line
        if errors:
            first = errors[0]
            more = (
                f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
                if len(errors) > 1
                else ""
            )
            skip = " or pass --skip-invalid to use only the valid records" if self.examples else ""
            raise DataError(
                f"{first}{more}.",
                errors,
                hint=f"Run 'ftx data validate' to list every problem,{skip}."
                if skip
                else "Run 'ftx data validate' to list every problem.",
            )

    def skip_invalid(self) -> str:
        """Drop the errors, keeping the valid examples; what was skipped, in words ("" if
        nothing)."""
        errors = self.errors
        if not errors:
            return ""
        self.problems = self.warnings
        records = len({p.where for p in errors})
        return (
            f"{records} invalid record{'s' if records > 1 else ''} of {Path(self.path).name} "
            f"(first: {errors[0]}); 'ftx data validate' lists them all"
        )


def bundled_path() -> Path:
    """The Pride and Prejudice Q&A shipped with ftx (the default dataset)."""
    return Path(str(resources.files("ftx") / "bundled" / BUNDLED))


# --- Reading ------------------------------------------------------------------------------


def read_records(
    path: Path, is_record: Callable[[dict[str, Any]], bool] | None = None
) -> Iterator[RawRecord]:
    """Raw records with their place in the file; unreadable ones carry a problem instead.

    The format is told by content, not by the suffix, as ``datasets`` and pandas do: JSON Lines
    saved as ``.json`` (what ``Dataset.to_json`` writes), a JSON array saved as ``.jsonl``, one
    record as a single object, and gzip, bzip2 or xz compression all read as they are.
    ``is_record`` tells a single record from an object that wraps the records' array.
    """
    if not path.exists():
        raise DataError(f"{path}: no such file or directory.", hint="Check the path.")
    if path.is_dir():
        yield from _read_saved_dataset(path)
        return
    # A pipe's name (63 in /dev/fd/63) says nothing: places and ids carry the whole path.
    name = str(path) if stat.S_ISFIFO(path.stat().st_mode) else path.name
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    raw = _decompress(_read_bytes(path), path)
    if not raw.strip():
        hint = "It needs at least one example, one JSON object per line."
        raise DataError(f"{path}: the file is empty.", hint=hint)
    if suffix == ".parquet" or raw[:4] == b"PAR1":
        yield from _read_parquet(path, raw)
        return
    if _is_utf16(raw[:8192]):
        raise DataError(
            f"{path}: the file is UTF-16 encoded; ftx reads UTF-8.",
            hint="Save it as UTF-8 (e.g. iconv -f UTF-16 -t UTF-8 in.jsonl > out.jsonl).",
        )
    if b"\x00" in raw[:8192]:
        raise DataError(
            f"{path}: this looks like a binary file, not text data.",
            hint="Give a .jsonl, .json, .csv or .parquet file (gzip, bzip2 or xz compressed, or "
            "not).",
        )
    if suffix in (".csv", ".tsv"):
        yield from _read_csv(raw, name, "\t" if suffix == ".tsv" else ",")
        return
    first = raw.lstrip(b" \t\r\n").removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n")[:1]
    if first == b"{" and _looks_like_lines(raw):
        yield from _read_jsonl(raw, name)
    elif first in (b"{", b"["):
        yield from _read_json(raw, name, is_record or (lambda record: False))
    elif suffix in SUFFIXES:
        raise DataError(
            f"{path}: this is not JSON: it starts with {raw.lstrip()[:20]!r}, not with {{ or [.",
            hint="Give JSON Lines (one object per line), a JSON array, CSV with the suffix .csv, "
            "or Parquet.",
        )
    else:
        raise DataError(
            f"{path}: cannot tell the format of this file.",
            hint="Use JSON Lines, a JSON array, or the suffix .csv, .tsv or .parquet.",
        )


# Pipes (``<(zcat qa.jsonl.gz)``) have no size to check first; a data set larger than this in a
# pipe is almost surely a device or a runaway command. Decompressed files share the cap.
MAX_STREAM_BYTES = 8 * 2**30
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
PIPE_WAIT = 10.0  # seconds a named pipe may wait for its writer


def _read_bytes(path: Path) -> bytes:
    """The file's bytes. Regular files and pipes only: a device such as /dev/zero never ends and a
    socket is not data."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISREG(mode):
            return path.read_bytes()
        if not stat.S_ISFIFO(mode):
            kind = (
                "a character device"
                if stat.S_ISCHR(mode)
                else "a block device"
                if stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise DataError(
                f"{path}: is {kind}, not a data file.",
                hint="Give a .jsonl, .json, .csv or .parquet file.",
            )
        # A named pipe with nobody writing would block open() forever: open without waiting, give
        # a writer PIPE_WAIT seconds to come (`mkfifo p; ftx data validate p & cat x > p`), then
        # read to the end.
        import select

        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as pipe:
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLHUP)
            if not poller.poll(PIPE_WAIT * 1000):
                raise DataError(
                    f"{path}: nothing wrote to this pipe in {PIPE_WAIT:g} s.",
                    hint="Start the command that writes to it, or give a file.",
                )
            os.set_blocking(fd, True)
            raw = pipe.read(MAX_STREAM_BYTES + 1)
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the file: {exc.strerror or exc}.",
            hint="Check the path and its permissions.",
        ) from None
    if len(raw) > MAX_STREAM_BYTES:
        raise DataError(
            f"{path}: the pipe gave more than {MAX_STREAM_BYTES // 2**30} GiB.",
            hint="Write the data to a file first.",
        )
    return raw


def _decompress(raw: bytes, path: Path) -> bytes:
    """gzip, bzip2 and xz, told by their magic bytes; anything else as it is."""
    import bz2
    import gzip
    import lzma

    for magic, module, name in (
        (b"\x1f\x8b", gzip, "gzip"),
        (b"BZh", bz2, "bzip2"),
        (b"\xfd7zXZ\x00", lzma, "xz"),
    ):
        if raw.startswith(magic):
            try:
                with module.open(io.BytesIO(raw)) as stream:
                    out = stream.read(MAX_STREAM_BYTES + 1)
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise DataError(
                    f"{path}: the {name} file is damaged: {exc}.",
                    hint="Check the download, or decompress it yourself.",
                ) from None
            if len(out) > MAX_STREAM_BYTES:
                raise DataError(
                    f"{path}: decompresses to more than {MAX_STREAM_BYTES // 2**30} GiB.",
                    hint="Split the data into several files.",
                )
            return out
    if raw.startswith(b"\x28\xb5\x2f\xfd"):
        raise DataError(
            f"{path}: is zstd-compressed, which ftx does not read.",
            hint="Decompress it first: zstd -d FILE.",
        )
    return raw


def _looks_like_lines(raw: bytes) -> bool:
    """JSON Lines, rather than one object spread over lines: the first line is a whole object and
    more lines follow (one line alone is read as a JSON document, which may wrap an array). When
    the first line is broken (cut short, a trailing comma), JSON Lines all the same if a later
    line is a whole object starting in the first column: pretty-printed JSON indents its inner
    objects, and starts with a line that opens one and closes nothing."""
    lines = [line.rstrip(b"\r") for line in raw[: 1 << 20].split(b"\n", 64)[:64] if line.strip()]
    if len(lines) < 2:
        return False
    first = lines[0].strip().removeprefix(codecs.BOM_UTF8)

    def whole_object(line: bytes) -> bool:
        try:
            return isinstance(json.loads(line.rstrip().removesuffix(b",")), dict)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return False

    if whole_object(first):
        return True
    if (
        not first.startswith(b"{")
        or first.rstrip(b" [{") == b""
        or first.endswith((b"[", b"{", b":"))
    ):
        return False
    return any(line.startswith(b"{") and whole_object(line) for line in lines[1:8])


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
            yield RawRecord(
                where,
                None,
                Problem(
                    f"the line is {len(line) / 2**20:.1f} MiB, over the {MAX_LINE_BYTES // 2**20} "
                    f"MiB limit for one example",
                    where,
                    hint="a line holds one example; check for a missing newline, or split the text",
                ),
            )
            continue
        text, problem = _decode(line.rstrip(b"\r"), where)
        if problem:
            yield RawRecord(where, None, problem)
            continue
        text = text.lstrip(
            "\ufeff"
        )  # a BOM at the start of the file, or of a file appended with cat
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield RawRecord(
                where,
                None,
                Problem(
                    f"invalid JSON: {exc.msg} at column {exc.colno}",
                    where,
                    hint=_json_hint(exc) or "each line must be one JSON object",
                ),
            )
            continue
        except (ValueError, RecursionError) as exc:
            yield RawRecord(
                where,
                None,
                Problem(
                    f"invalid JSON: {_beyond_limits(exc)}",
                    where,
                    hint="each line must be one JSON object",
                ),
            )
            continue
        yield _as_record(value, where)


def _json_hint(exc: json.JSONDecodeError) -> str | None:
    """What a JSON error most likely means, for the mistakes people make most (None: no guess).
    ``exc.doc`` is the text that was parsed: one line of JSON Lines, or a whole document."""
    doc, pos = exc.doc, exc.pos
    line = doc[doc.rfind("\n", 0, pos) + 1 :].split("\n", 1)[0]
    if exc.msg.startswith("Extra data") and line.rstrip().endswith(","):
        return (
            "remove the comma at the end of the line: "
            "each line is one JSON object, not an element of an array"
        )
    if exc.msg.startswith("Expecting property name enclosed in double quotes") and doc.startswith(
        "'", pos
    ):
        return "JSON needs double quotes; this looks like a Python dict (write it with json.dumps)"
    return None


def _beyond_limits(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply (thousands of brackets inside each other)"
    return f"{str(exc).split(';')[0].rstrip('.')}"


def _as_record(value: Any, where: str) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(
            where,
            None,
            Problem(
                f"expected a JSON object, got {type(value).__name__}",
                where,
                hint='write one {"field": ...} object per example',
            ),
        )
    return RawRecord(where, value)


_SPACE = re.compile(r"[ \t\n\r]*")


class _Places:
    """Line numbers of positions in a text, counted as a reader moves forward: linear in the
    text's length however many records there are (counting from the start each time was
    quadratic: 13 minutes for the 52k records of Stanford Alpaca)."""

    def __init__(self, text: str, name: str):
        self.text, self.name = text, name
        self.pos, self.line, self.line_start = 0, 1, 0
        self.last_line = 0

    def line_of(self, pos: int) -> int:
        newlines = self.text.count("\n", self.pos, pos)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rindex("\n", self.pos, pos) + 1
        self.pos = pos
        return self.line

    def where(self, pos: int) -> str:
        """``file:line`` of a record starting at ``pos``; ``file:line:column`` for the second and
        later records on one line, so that every record's place is unique."""
        line = self.line_of(pos)
        shared, self.last_line = line == self.last_line, line
        return (
            f"{self.name}:{line}:{pos - self.line_start + 1}" if shared else f"{self.name}:{line}"
        )

    def error(self, exc: ValueError | RecursionError) -> DataError:
        if not isinstance(exc, json.JSONDecodeError):
            return DataError(
                f"{self.name}:{self.line}: invalid JSON near this line: {_beyond_limits(exc)}.",
                hint="Fix or remove that value.",
            )
        hint = _json_hint(exc)
        hint = hint[0].upper() + hint[1:] + "." if hint else "Fix the syntax there."
        return DataError(
            f"{self.name}:{exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}.", hint=hint
        )


def _read_json(
    raw: bytes, name: str, is_record: Callable[[dict[str, Any]], bool]
) -> Iterator[RawRecord]:
    """A JSON document: an array of records, one record, an object that holds the records' array
    (``{"data": [...]}``), or objects written one after another."""
    text, problem = _decode(raw, name)
    if problem:
        raise DataError(f"{name}: the file is {problem.message}.", hint="Save it as UTF-8.")
    text = text.removeprefix("\ufeff")
    places = _Places(text, name)
    decode = json.JSONDecoder().raw_decode
    pos = _SPACE.match(text).end()
    if text[pos] == "[":
        end = yield from _walk_array(text, pos, places)
        _nothing_after(text, end, places)
        return
    values: list[tuple[int, Any]] = []
    while pos < len(text):
        try:
            value, end = decode(text, pos)
        except (ValueError, RecursionError) as exc:
            raise places.error(exc) from None
        values.append((pos, value))
        pos = _SPACE.match(text, end).end()
    if len(values) == 1 and isinstance(values[0][1], dict) and not is_record(values[0][1]):
        whole = values[0][1]
        arrays = [
            k
            for k, v in whole.items()
            if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
        ]
        if len(arrays) > 1:
            raise DataError(
                f"{name}: the object holds several arrays ({', '.join(arrays)}); ftx cannot tell "
                f"which one holds the examples.",
                hint="Keep one array, or write the examples as a JSON array or as JSON Lines.",
            )
        if arrays:
            yield from _walk_array(text, _member_start(text, values[0][0], arrays[0]), places)
            return
    for start, value in values:
        yield _as_record(value, places.where(start))


def _member_start(text: str, pos: int, key: str) -> int:
    """Where the value of ``key`` starts in the JSON object at ``pos`` (one pass over its
    members)."""
    decode = json.JSONDecoder().raw_decode
    pos = _SPACE.match(text, pos + 1).end()
    while True:
        member, pos = decode(text, pos)
        pos = _SPACE.match(text, pos).end() + 1  # the colon
        pos = _SPACE.match(text, pos).end()
        if member == key:
            return pos
        _, pos = decode(text, pos)
        pos = _SPACE.match(text, _SPACE.match(text, pos).end() + 1).end()  # past the comma


def _nothing_after(text: str, pos: int, places: _Places) -> None:
    """The document ends here: more text means records were lost to a missing '[' or ','."""
    pos = _SPACE.match(text, pos).end()
    if pos < len(text):
        raise places.error(json.JSONDecodeError("Extra data after the array", text, pos))


def _walk_array(text: str, pos: int, places: _Places) -> Generator[RawRecord, None, int]:
    """The elements of the JSON array at ``pos``, each with the line it starts on; returns
    where the array ends."""
    decode = json.JSONDecoder().raw_decode
    pos = _SPACE.match(text, pos + 1).end()
    if text.startswith("]", pos):
        return pos + 1
    while True:
        try:
            value, end = decode(text, pos)
        except (ValueError, RecursionError) as exc:
            raise places.error(exc) from None
        yield _as_record(value, places.where(pos))
        pos = _SPACE.match(text, end).end()
        if text.startswith(",", pos):
            pos = _SPACE.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            return pos + 1
        else:
            exc = json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            raise places.error(exc)


def _read_csv(raw: bytes, name: str, delimiter: str) -> Iterator[RawRecord]:
    text, problem = _decode(raw, name)
    if problem:
        raise DataError(f"{name}: the file is {problem.message}.", hint="Save it as UTF-8.")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    if not reader.fieldnames:
        raise DataError(
            f"{name}: the CSV file has no header row.",
            hint="The first row must name the columns, e.g. question,answer.",
        )
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
                    yield RawRecord(
                        where,
                        None,
                        Problem(f"invalid JSON in column '{key}': {exc.msg}", where, key),
                    )
                    break
            record[key] = value
        else:
            yield RawRecord(where, record)


def _read_parquet(path: Path, raw: bytes) -> Iterator[RawRecord]:
    from ftx.errors import require

    pq = require(
        "pyarrow.parquet", package="pyarrow", extra="data", purpose="Reading Parquet files"
    )
    try:
        table = pq.read_table(io.BytesIO(raw))
    except Exception as exc:
        raise DataError(
            f"{path.name}: cannot read the Parquet file: {exc}.",
            hint="Check that it is a valid Parquet file.",
        ) from None
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
            raise DataError(
                f"{path}: the DatasetDict has no 'train' split (it has {', '.join(loaded)})."
            )
        loaded = loaded["train"]
    for i, row in enumerate(loaded, start=1):
        yield RawRecord(f"{path.name}:row {i}", dict(row))


# --- Parsing and validation ---------------------------------------------------------------


def detect_formatter(
    records: list[RawRecord], formatters: dict[str, type[Formatter]]
) -> Formatter | None:
    """The formatter that recognises the most records (ties: registration order). A record
    recognised by several counts for the most specific, the one with the most ``keys``:
    ``conversations`` with ``chosen`` and ``rejected`` is a ShareGPT preference pair, not
    ShareGPT."""
    instances = [cls() for cls in formatters.values()]
    by_keys = sorted(instances, key=lambda f: -len(f.keys))  # stable: ties keep their order
    counts = {f.name: 0 for f in instances}
    for record in records[:200]:
        if record.data is None:
            continue
        for f in by_keys:
            if f.detect(record.data):
                counts[f.name] += 1
                break
    best = max(instances, key=lambda f: counts[f.name], default=None)
    return best if best is not None and counts[best.name] else None


MEDIA_FIELDS = ("images", "image", "audios", "audio", "videos", "video")
LABEL_FIELDS = ("label", "kto_tag")  # TRL's unpaired preference label; LLaMA-Factory's KTO tag
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def desirable(value: Any) -> bool | None:
    """A KTO-style label as a bool: JSON's true/false, and the strings and 0/1 that CSV exports
    and pandas write; None when the value is no such label."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    return None


IGNORED_BECAUSE = {
    "tools": "tool definitions are not shown to the model: ftx trains and compares text answers",
    "functions": "function definitions are not shown to the model: ftx trains and compares text "
    "answers",
}


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
    instances = [cls() for cls in formatters.values()]
    records = list(
        read_records(
            path, lambda data: any(f.detect(data) for f in instances) or bool(not_sft(set(data)))
        )
    )
    problems: list[Problem] = [r.problem for r in records if r.problem]
    _refuse_other_kinds(records, path)
    if format == "auto":
        formatter = detect_formatter(records, formatters)
        if formatter is None:
            seen = sorted({k for r in records[:50] if r.data for k in r.data})
            expected = "; ".join(", ".join(cls.keys) for cls in formatters.values() if cls.keys)
            if not any(r.data for r in records):
                problems = grouped(problems)
                raise DataError(
                    f"{problems[0]}." if problems else f"{path.name}: no records found.", problems
                )
            raise DataError(
                f"{records[0].where if records else path.name}: unknown schema: the records have "
                f"fields {', '.join(seen) or '(none)'}.",
                problems,
                hint=_schema_hint(seen, formatters)
                or f"Use one of these field sets: {expected}; or choose a formatter with --format.",
            )
    else:
        if format not in formatters:
            from ftx.errors import ConfigError
            from ftx.plugins import suggest

            raise ConfigError(
                f"unknown format '{format}'.", hint=suggest(format, sorted(formatters))
            )
        formatter = formatters[format]()

    examples: list[Example] = []
    seen_ids: dict[str, str] = {}
    seen_content: dict[tuple, str] = {}
    used = formatter.used_fields() | {"id"}
    unused: dict[str, list[str]] = {}  # field -> places of the records that have it
    undesirable: list[str] = []  # KTO-style records labelled false
    for record in records:
        if record.data is None:
            continue
        where = record.where
        record_problems: list[Problem] = []

        def report(
            field: str,
            message: str,
            hint: str = "",
            _where: str = where,
            _sink: list = record_problems,
        ) -> None:
            _sink.append(Problem(message, _where, field, hint))

        if not formatter.detect(record.data) and format == "auto":
            kind = not_sft(set(record.data))
            if kind:
                report("", f"this record {kind}")
            else:
                missing = [k for k in formatter.keys if k not in record.data]
                report(
                    missing[0] if missing else "",
                    f"is missing (the file's schema is '{formatter.name}')",
                    f"add {', '.join(repr(m) for m in missing)} to this record",
                )
            problems.extend(record_problems)
            continue
        extra = [k for k in record.data.keys() - used if record.data[k] not in (None, "", [], {})]
        for key in extra:
            if key in MEDIA_FIELDS:
                report(
                    key,
                    f"holds {key}; ftx fine-tunes and compares text-only models, so this record "
                    f"cannot be used",
                    "remove the record, or the field if the text does not depend on it",
                )
        rejected: str | None = None  # preference data: the rejected answer
        try:
            messages = formatter.parse(record.data, report)
            if isinstance(messages, Pair):
                messages, rejected = list(messages.messages), messages.rejected
        except (
            Exception
        ) as exc:  # a formatter plugin's bug: name it, and go on with the other records
            report(
                "",
                f"the '{formatter.name}' formatter failed on this record: {type(exc).__name__}: "
                f"{exc}",
                "a bug in that formatter; --format NAME chooses another",
            )
            messages = None
        problems.extend(record_problems)
        if messages is None or record_problems:
            if not record_problems:
                problems.append(
                    Problem(f"the '{formatter.name}' formatter could not parse this record", where)
                )
            continue
        for key in extra:
            if not (key in LABEL_FIELDS and desirable(record.data[key]) is not None):
                unused.setdefault(key, []).append(where)
        if any(k in record.data and desirable(record.data[k]) is False for k in LABEL_FIELDS):
            undesirable.append(where)
            continue
        example_id = _example_id(record.data, record.key or where, problems)
        if example_id is None:
            continue
        if example_id in seen_ids:
            problems.append(
                Problem(
                    f"duplicate id '{example_id}' (first used at {seen_ids[example_id]})",
                    where,
                    "id",
                    "ids must be unique",
                )
            )
            continue
        seen_ids[example_id] = where
        example = Example(example_id, tuple(messages), where, rejected)
        # Pairs that share a prompt and chosen answer but reject different ones are not copies.
        key = (*((m.role, m.content.strip()) for m in messages), (rejected or "").strip())
        if key in seen_content:
            problems.append(
                Problem(
                    f"duplicate of the example at {seen_content[key]}",
                    where,
                    hint="remove one copy",
                    severity="warning",
                )
            )
        else:
            seen_content[key] = where
        if not example.trained_turns():
            problems.append(
                Problem(
                    "has no assistant turn with weight 1, so it teaches nothing in training (it "
                    "can still be a "
                    "held-out example)",
                    where,
                    "messages",
                    severity="warning",
                )
            )
        if count_tokens is not None and max_tokens is not None:
            variants = [example, *([rejected_example(example)] if rejected is not None else [])]
            n = max(
                count_tokens(render(e) if render else "\n".join(m.content for m in e.messages))
                for e in variants
            )
            if n > max_tokens:
                problems.append(
                    Problem(
                        f"is {n} tokens long, over the maximum of {max_tokens}",
                        where,
                        hint="shorten it, or raise --max-tokens",
                    )
                )
                continue
        unencodable = next(
            (
                m
                for m in [*messages, *([Message("rejected", rejected)] if rejected else [])]
                if not _encodable(m.content)
            ),
            None,
        )
        if unencodable is not None:  # json.loads lets "\ud800" through; no file can hold it
            problems.append(
                Problem(
                    f"the {unencodable.role} message holds a lone surrogate (\\ud800-\\udfff "
                    f"escape), which is not text",
                    where,
                    "messages" if formatter.name in ("messages",) else "",
                    hint="fix the escape or remove the record",
                )
            )
            continue
        examples.append(example)

    with_data = sum(1 for r in records if r.data is not None)
    for key, places in sorted(unused.items()):
        reason = IGNORED_BECAUSE.get(key, f"the '{formatter.name}' schema does not use it")
        problems.append(
            Problem(
                f"is ignored in {_count(places, with_data)}: {reason}",
                places[0],
                key,
                hint=f"the schema reads {', '.join(sorted(used - {'id'}))}; remove the field to "
                f"silence this",
                severity="warning",
            )
        )
    if undesirable:
        field = next(k for k in LABEL_FIELDS if any(r.data and k in r.data for r in records))
        problems.append(
            Problem(
                f"is false in {_count(undesirable, with_data)}: those answers are marked "
                f"undesirable (KTO-style "
                "unpaired preference data), so they are neither trained on nor used as references",
                undesirable[0],
                field,
                hint="only the records labelled true are used",
                severity="warning",
            )
        )
    if not examples and not problems:
        problems.append(Problem("no examples found", path.name))
    return Dataset(str(path), formatter.name, examples, problems, len(records))


def _schema_hint(seen: list[str], formatters: dict[str, type[Formatter]]) -> str:
    """A likely fix for records no formatter recognises: a misspelt field ("anwser"), or a
    CSV file split on another delimiter (one field named "question;answer")."""
    import difflib

    if len(seen) == 1 and any(d in seen[0] for d in ";\t|"):
        delimiter = next(d for d in ";\t|" if d in seen[0])
        return (
            f"The header is one field holding {delimiter!r}: the file seems to be separated by "
            f"{delimiter!r}, not commas. "
            "Save it with commas, or as .tsv if it uses tabs."
        )
    for cls in formatters.values():
        renames = []
        for key in cls.keys:
            if key in seen:
                continue
            close = difflib.get_close_matches(key, seen, n=1, cutoff=0.75)
            if not close:
                break
            renames.append(f"'{close[0]}' to '{key}'")
        else:
            if renames:
                return f"Did you mean the '{cls.name}' schema? Rename {' and '.join(renames)}."
    return ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(places: list[str], total: int) -> str:
    return (
        f"all {total} records"
        if len(places) == total and total > 1
        else f"{len(places)} of {total} records"
        if total > 1
        else "the record"
    )


def _refuse_other_kinds(records: list[RawRecord], path: Path) -> None:
    """Plain text throughout: one sentence that says what the file is, rather than a "field is
    missing" for every record."""
    sample = [r.data for r in records[:200] if r.data is not None]
    kinds = [not_sft(set(data)) for data in sample]
    if sample and all(kinds) and len(set(kinds)) == 1:
        hint = "Give prompt and answer pairs, or conversations that end with the answer"
        raise DataError(f"{path.name}: this file {kinds[0]}.", hint=hint + ".")


def grouped(problems: list[Problem], shown: int = 3) -> list[Problem]:
    """Identical problems of several records as one, placed at the first few of them
    ("qa.jsonl:3, 7, 9 and 117 more"), so that one mistake repeated is one line."""
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    for p in problems:
        groups.setdefault((p.severity, p.message, p.field, p.hint), []).append(p.where)
    out = []
    for (severity, message, name, hint), places in groups.items():
        where = places[0]
        if len(places) > 1:
            prefix = os.path.commonprefix(places)
            prefix = prefix[: prefix.rfind(":") + 1]
            where = places[0] + "".join(f", {p[len(prefix) :]}" for p in places[1:shown])
            if len(places) > shown:
                where += f" and {len(places) - shown} more"
        out.append(Problem(message, where, name, hint, severity))
    return out


def _example_id(data: dict[str, Any], default: str, problems: list[Problem]) -> str | None:
    where = default
    if "id" not in data or data["id"] is None:
        return default.replace(":row ", ":")
    value = data["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        problems.append(
            Problem(f"must be a string or integer, not {type(value).__name__}", where, "id")
        )
        return None
    if isinstance(value, str) and not value.strip():
        problems.append(
            Problem("is empty", where, "id", "give the example a unique id or remove the field")
        )
        return None
    if isinstance(value, str) and not _encodable(value):
        problems.append(
            Problem(
                "holds a lone surrogate (\\ud800-\\udfff escape), which is not text", where, "id"
            )
        )
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
    return [x for i, x in enumerate(items) if i not in held], [
        x for i, x in enumerate(items) if i in held
    ]


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
    out = {
        f"p{p}": ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]
        for p in points
    }
    out["max"] = ordered[-1]
    return out


def stats(dataset: Dataset, count_tokens: Callable[[str], int]) -> dict[str, Any]:
    """Counts, token length percentiles, duplicates and the detected schema; for preference
    data also the pairs and their rejected answers' lengths (the answers are the chosen ones)."""
    prompt_tokens = [count_tokens("\n".join(m.content for m in e.prompt)) for e in dataset.examples]
    answer_tokens = [count_tokens(e.reference) for e in dataset.examples]
    rejected_tokens = [count_tokens(e.rejected) for e in dataset.examples if e.rejected is not None]
    turns = [sum(1 for m in e.messages if m.role == "user") for e in dataset.examples]
    pairs = (
        {"pairs": len(rejected_tokens), "rejected_tokens": percentiles(rejected_tokens)}
        if rejected_tokens
        else {}
    )
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
        **pairs,
        "total_tokens": sum(prompt_tokens) + sum(answer_tokens) + sum(rejected_tokens),
    }


def write_jsonl(path: Path, examples: list[Example]) -> None:
    from ftx.store import atomic_write_text

    atomic_write_text(
        path, "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples)
    )


def read_jsonl_examples(path: Path) -> list[Example]:
    """Examples ftx wrote itself (run directories), in canonical form."""
    from ftx.errors import StoreError

    hint = "Restore it from a backup, or start a new run; the run's other files are untouched."
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path} is missing.", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} cannot be read: {exc}.", hint=hint) from None
    out = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                out.append(Example.from_dict(json.loads(line), f"{path.name}:{number}"))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise StoreError(
                    f"{path}:{number} is damaged (cut short, or not an example ftx wrote).",
                    hint=hint,
                ) from None
    return out
