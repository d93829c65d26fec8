"""Reading, schema detection, validation (every problem, with file:line and field), splitting."""

import json
import os

import pytest

from ftx import data as datamod
from ftx.errors import DataError
from ftx.formatters import BUILTIN_FORMATTERS
from ftx.types import Message

FORMATTERS = {cls.name: cls for cls in BUILTIN_FORMATTERS}


def load(path, **kw):
    return datamod.load(path, formatters=FORMATTERS, **kw)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "record, schema, messages",
    [
        (
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Q"},
                    {"role": "assistant", "content": "A"},
                ]
            },
            "messages",
            [("system", "Be brief."), ("user", "Q"), ("assistant", "A")],
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Q"}]},
                    {"role": "assistant", "content": "A"},
                ]
            },
            "messages",
            [("user", "Q"), ("assistant", "A")],
        ),
        (
            {"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
            "sharegpt",
            [("user", "Q"), ("assistant", "A")],
        ),
        (
            {"instruction": "Do", "input": "this", "output": "A"},
            "alpaca",
            [("user", "Do\n\nthis"), ("assistant", "A")],
        ),
        (
            {"instruction": "Do", "input": "", "output": "A"},
            "alpaca",
            [("user", "Do"), ("assistant", "A")],
        ),
        (
            {"prompt": "Q", "completion": "A"},
            "prompt_completion",
            [("user", "Q"), ("assistant", "A")],
        ),
        ({"prompt": "Q", "response": "A"}, "prompt_response", [("user", "Q"), ("assistant", "A")]),
        ({"question": "Q", "answer": "A"}, "question_answer", [("user", "Q"), ("assistant", "A")]),
    ],
)
def test_schemas_are_detected_and_parsed(tmp_path, record, schema, messages):
    path = write(tmp_path, "d.jsonl", json.dumps(record) + "\n")
    dataset = load(path)
    assert dataset.schema == schema
    assert dataset.problems == []
    assert [(m.role, m.content) for m in dataset.examples[0].messages] == messages
    assert dataset.examples[0].id == "d.jsonl:1"


def test_json_csv_tsv_and_parquet(tmp_path):
    rows = [{"question": f"Q{i}", "answer": f"A{i}"} for i in range(3)]
    for path in (
        write(tmp_path, "a.json", json.dumps(rows, indent=2)),
        write(tmp_path, "b.json", json.dumps({"data": rows})),
        write(
            tmp_path,
            "c.csv",
            "question,answer\n" + "".join(f'"{r["question"]}",{r["answer"]}\n' for r in rows),
        ),
        write(
            tmp_path,
            "d.tsv",
            "question\tanswer\n" + "".join(f"{r['question']}\t{r['answer']}\n" for r in rows),
        ),
    ):
        dataset = load(path)
        assert [e.reference for e in dataset.examples] == ["A0", "A1", "A2"], path
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "e.parquet")
    assert [e.reference for e in load(tmp_path / "e.parquet").examples] == ["A0", "A1", "A2"]


def test_json_array_reports_line_numbers(tmp_path):
    path = write(
        tmp_path,
        "a.json",
        '[\n  {"question": "Q", "answer": "A"},\n  {"question": "Q2", "answer": ""}\n]',
    )
    dataset = load(path)
    assert [str(p) for p in dataset.errors] == [
        "a.json:3: field 'answer': is empty (write the answer text or remove the record)"
    ]


def test_saved_datasets_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(
        [{"prompt": "Q", "completion": "A"}, {"prompt": "Q2", "completion": "B"}]
    ).save_to_disk(tmp_path / "ds")
    dataset = load(tmp_path / "ds")
    assert dataset.schema == "prompt_completion"
    assert [e.id for e in dataset.examples] == ["ds:1", "ds:2"]


def test_every_problem_is_reported_at_once(tmp_path):
    lines = [
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], '
        '"id": "x"}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": ""}]}',
        '{"messages": [{"role": "assistant", "content": "A"}, {"role": "user", "content": "Q"}]}',
        '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "A"}]}',
        '{"messages": [{"role": "robot", "content": "Q"}]}',
        '{"messages": []}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}, '
        '"oops"',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], '
        '"id": "x"}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}',
        '{"messages": [{"role": "user", "content": "Q"}]}',
        '["not", "an", "object"]',
    ]
    path = write(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    dataset = load(path)
    found = [str(p) for p in dataset.problems]
    assert found == [
        "bad.jsonl:7: invalid JSON: Expecting ',' delimiter at column 94 (each line must be one "
        "JSON object)",
        'bad.jsonl:11: expected a JSON object, got list (write one {"field": ...} object per '
        "example)",
        "bad.jsonl:2: field 'messages[1].content': is empty (write the message text or remove the "
        "message)",
        "bad.jsonl:3: field 'messages[0].role': expected 'user' here, got 'assistant' (turns must "
        "alternate user, assistant, user, ...)",
        "bad.jsonl:4: field 'messages[0].content': must be a string, not int",
        "bad.jsonl:5: field 'messages[0].role': unknown role 'robot' (use one of: assistant, "
        "developer, model, system, user)",
        "bad.jsonl:6: field 'messages': is empty (add a user message and the assistant's answer)",
        "bad.jsonl:8: field 'id': duplicate id 'x' (first used at bad.jsonl:1) (ids must be "
        "unique)",
        "bad.jsonl:9: duplicate of the example at bad.jsonl:1 (remove one copy)",
        "bad.jsonl:10: field 'messages': must end with an assistant message (the reference "
        "answer) (add the expected answer as the last message)",
    ]
    assert [p.severity for p in dataset.problems].count("warning") == 1
    assert len(dataset.examples) == 2


def test_non_utf8_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "Q", "answer": "A"}\n{"question": "caf\xe9", "answer": "A"}\n')
    dataset = load(path)
    assert [str(p) for p in dataset.errors] == [
        "latin1.jsonl:2: not valid UTF-8 (byte 0xe9 at column 18) (save the file as UTF-8)"
    ]


def test_missing_field_in_detected_schema(tmp_path):
    path = write(
        tmp_path,
        "qa.jsonl",
        '{"question": "Q", "answer": "A"}\n{"question": "Q2"}\n{"question": "Q3", "answer": 5}\n',
    )
    assert [str(p) for p in load(path).errors] == [
        "qa.jsonl:2: field 'answer': is missing (the file's schema is 'question_answer') (add "
        "'answer' to this record)",
        "qa.jsonl:3: field 'answer': must be a string, not int",
    ]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.jsonl", b"", "empty.jsonl: the file is empty."),
        ("blank.jsonl", b"\n\n  \n", "blank.jsonl: the file is empty."),
        (
            "model.bin",
            b"\x00\x01\x02\x03" * 100,
            "model.bin: this looks like a binary file, not text data.",
        ),
        (
            "data.jsonl",
            b'{"title": "hello"}\n{"title": "bye"}\n',
            "data.jsonl:1: unknown schema: the records have fields title.",
        ),
        (
            "lm.jsonl",
            b'{"text": "hello"}\n{"text": "bye"}\n',
            "lm.jsonl: this file is plain text (language-modelling data, as TRL's "
            "'text' field), with no prompt and answer for ftx to train on and compare.",
        ),
        ("notes.txt", b"just some notes\n", "notes.txt: cannot tell the format of this file."),
    ],
)
def test_unusable_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load(path)
    assert str(info.value.message).endswith(message)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load(tmp_path / "nope.jsonl")


def test_forced_format_and_unknown_format(tmp_path):
    path = write(
        tmp_path, "d.jsonl", '{"question": "Q", "answer": "A", "prompt": "P", "completion": "C"}\n'
    )
    assert load(path).examples[0].reference == "C"  # prompt_completion is registered first
    assert load(path, format="question_answer").examples[0].reference == "A"
    from ftx.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'question_answer'"):
        load(path, format="question_answers")


def test_too_long_examples(tmp_path):
    path = write(
        tmp_path,
        "d.jsonl",
        '{"question": "short", "answer": "yes"}\n{"question": "'
        + "word " * 50
        + '", "answer": "no"}\n',
    )
    dataset = load(path, count_tokens=lambda t: len(t.split()), max_tokens=10)
    assert [str(p) for p in dataset.errors] == [
        "d.jsonl:2: is 51 tokens long, over the maximum of 10 (shorten it, or raise --max-tokens)"
    ]
    assert len(dataset.examples) == 1  # an example with an error is not also counted valid


def test_split_is_seeded_and_reports_leakage(tmp_path):
    rows = [{"question": f"Q{i}", "answer": f"A{i}"} for i in range(20)] + [
        {"question": "Q3", "answer": "other"}
    ]
    path = write(tmp_path, "d.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    examples = load(path).examples
    a = datamod.split(examples, eval_size=0.25, seed=1)
    b = datamod.split(examples, eval_size=0.25, seed=1)
    c = datamod.split(examples, eval_size=0.25, seed=2)
    assert [e.id for e in a.eval] == [e.id for e in b.eval] != [e.id for e in c.eval]
    assert len(a.eval) == 5 and len(a.train) == 16
    assert not {e.id for e in a.eval} & {e.id for e in a.train}
    assert len(datamod.split(examples, eval_size=3, seed=1).eval) == 3
    explicit = datamod.split(examples[:10], eval_examples=examples[3:4])
    assert explicit.leaked == [examples[3].id]
    with pytest.raises(DataError, match="cannot hold out"):
        datamod.split(examples[:1], eval_size=0.5)


def test_stats(tmp_path):
    path = write(
        tmp_path,
        "d.jsonl",
        '{"question": "a b c", "answer": "d"}\n{"question": "a b c", "answer": "d"}\n',
    )
    result = datamod.stats(load(path), lambda t: len(t.split()))
    assert (
        result["examples"] == 2
        and result["duplicates"] == 1
        and result["schema"] == "question_answer"
    )
    assert (
        result["prompt_tokens"]["p50"] == 3
        and result["answer_tokens"]["max"] == 1
        and result["total_tokens"] == 8
    )


def test_bundled_dataset_is_valid_and_asks_each_fact_three_ways():
    """The demo's claim: every fact is asked three ways, one answer each, and the default split
    (15%, seed 42) holds out only questions whose fact was trained in other words."""
    dataset = load(datamod.bundled_path())
    assert dataset.problems == []
    facts: dict[str, list] = {}
    for e in dataset.examples:
        facts.setdefault(e.id[:-1], []).append(e)
    assert (len(dataset.examples), len(facts)) == (300, 100)
    assert all(len(asked) == 3 for asked in facts.values())
    assert all(len({e.reference for e in asked}) == 1 for asked in facts.values())
    splits = datamod.split(dataset.examples)
    trained = {e.id[:-1] for e in splits.train}
    assert len(splits.eval) == 45 and not splits.leaked
    assert all(e.id[:-1] in trained for e in splits.eval)


def test_example_roundtrip():
    from ftx.types import Example

    e = Example("1", (Message("user", "Q"), Message("assistant", "A")))
    assert Example.from_dict(e.to_dict()) == e
    assert e.prompt == [Message("user", "Q")] and e.reference == "A"


# --- Format by content, compression, special files --------------------------------------


ROWS = [{"question": f"Q{i}", "answer": f"A{i}"} for i in range(3)]


@pytest.mark.parametrize("compress", ["gzip", "bz2", "lzma"])
def test_compressed_files_are_read_transparently(tmp_path, compress):
    import importlib

    module = importlib.import_module(compress)
    path = tmp_path / "qa.jsonl.x"
    path.write_bytes(module.compress("".join(json.dumps(r) + "\n" for r in ROWS).encode()))
    dataset = load(path)
    assert [e.reference for e in dataset.examples] == ["A0", "A1", "A2"]
    assert [e.id for e in dataset.examples] == ["qa.jsonl.x:1", "qa.jsonl.x:2", "qa.jsonl.x:3"]


def test_a_damaged_gzip_file_is_one_sentence(tmp_path):
    import gzip

    path = tmp_path / "qa.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"question": "Q", "answer": "A"}\n' * 50)[:40])
    with pytest.raises(DataError, match=r"qa.jsonl.gz: the gzip file is damaged"):
        load(path)


def test_records_on_one_line_get_unique_places(tmp_path):
    path = write(tmp_path, "a.json", json.dumps(ROWS))  # what json.dump writes: one line
    dataset = load(path)
    assert [e.id for e in dataset.examples] == ["a.json:1", "a.json:1:38", "a.json:1:74"]


def test_a_syntax_error_in_pretty_printed_json_is_one_problem(tmp_path):
    text = json.dumps(ROWS, indent=2).replace('"A1"', '"A1",,')
    path = write(tmp_path, "a.jsonl", text)  # an array, whatever the suffix says
    with pytest.raises(DataError) as info:
        load(path)
    assert info.value.message.startswith(
        "a.jsonl:8: invalid JSON: Expecting property name enclosed in double quotes"
    )


def test_json_lines_with_a_broken_first_line_still_reports_every_line(tmp_path):
    path = write(
        tmp_path,
        "a.json",
        '{"question": "Q", "answer": }\n' + "".join(json.dumps(r) + "\n" for r in ROWS),
    )
    dataset = load(path)
    assert len(dataset.examples) == 3
    assert [str(p) for p in dataset.errors] == [
        "a.json:1: invalid JSON: Expecting value at column 29 (each line must be one JSON object)"
    ]


def test_devices_are_refused_and_pipes_are_read(tmp_path, monkeypatch):
    import subprocess
    import sys

    with pytest.raises(DataError, match=r"/dev/zero: is a character device, not a data file"):
        load("/dev/zero")
    # A named pipe nobody writes to: one sentence after a short wait (it used to wait forever)...
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setattr(datamod, "PIPE_WAIT", 0.2)
    with pytest.raises(DataError, match=r"fifo: nothing wrote to this pipe in 0.2 s"):
        load(fifo)
    # ...and one whose writer comes a moment later is read whole.
    import threading

    monkeypatch.setattr(datamod, "PIPE_WAIT", 10)
    rows = "".join(json.dumps(r) + "\n" for r in ROWS)
    writer = threading.Timer(0.5, lambda: fifo.write_text(rows))
    writer.start()
    dataset = load(fifo)
    writer.join()
    assert len(dataset.examples) == 3 and dataset.examples[0].id == f"{fifo}:1"
    # Process substitution, <(cat qa.jsonl), is a pipe with a writer: read to its end.
    qa = write(tmp_path, "qa.jsonl", "".join(json.dumps(r) + "\n" for r in ROWS))
    script = (
        "import sys; from ftx import data; from ftx.formatters import BUILTIN_FORMATTERS as F; "
        "print(len(data.load(sys.argv[1], formatters={f.name: f for f in F}).examples))"
    )
    out = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -c "{script}" <(cat {qa})'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "3", out.stderr


def test_grouped_problems_name_the_first_places_and_count_the_rest(tmp_path):
    lines = [
        json.dumps({"question": f"Q{i}", "answer": "" if i % 2 else f"A{i}"}) for i in range(12)
    ]
    path = write(tmp_path, "qa.jsonl", "\n".join(lines) + "\n")
    grouped = [str(p) for p in datamod.grouped(load(path).problems)]
    assert grouped == [
        "qa.jsonl:2, 4, 6 and 3 more: field 'answer': is empty (write the answer text or remove "
        "the record)"
    ]


# --- What the records hold ------------------------------------------------------------------


def test_alpaca_system_and_history_become_messages(tmp_path):
    record = {
        "instruction": "And in French?",
        "input": "",
        "output": "Bonjour",
        "system": "You translate.",
        "history": [["Hello in German?", "Hallo"]],
    }
    dataset = load(write(tmp_path, "a.jsonl", json.dumps(record) + "\n"))
    assert [(m.role, m.content) for m in dataset.examples[0].messages] == [
        ("system", "You translate."),
        ("user", "Hello in German?"),
        ("assistant", "Hallo"),
        ("user", "And in French?"),
        ("assistant", "Bonjour"),
    ]


@pytest.mark.parametrize(
    "history, message",
    [
        ("Hallo", "field 'history': must be a list of [instruction, response] pairs, not str"),
        (
            [["only one"]],
            "field 'history[0]': must be a pair of non-empty strings [instruction, response]",
        ),
    ],
)
def test_bad_alpaca_history(tmp_path, history, message):
    record = {"instruction": "Q", "output": "A", "history": history}
    dataset = load(write(tmp_path, "a.jsonl", json.dumps(record) + "\n"))
    assert [str(p) for p in dataset.errors] == [f"a.jsonl:1: {message}"]


@pytest.mark.parametrize(
    "weight, message",
    [
        (
            2,
            "field 'messages[1].weight': must be 0 or 1, got 2 (0 leaves the turn out of "
            "training, 1 trains it)",
        ),
        (
            True,
            "field 'messages[1].weight': must be 0 or 1, got True (0 leaves the turn out of "
            "training, 1 trains it)",
        ),
    ],
)
def test_bad_weights(tmp_path, weight, message):
    record = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A", "weight": weight},
        ]
    }
    dataset = load(write(tmp_path, "a.jsonl", json.dumps(record) + "\n"))
    assert [str(p) for p in dataset.errors] == [f"a.jsonl:1: {message}"]


def test_a_weight_on_a_user_turn_is_refused_and_no_trained_turn_is_warned(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Q", "weight": 1},
                {"role": "assistant", "content": "A"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Q2"},
                {"role": "assistant", "content": "A2", "weight": 0},
            ]
        },
    ]
    dataset = load(write(tmp_path, "a.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    assert [str(p) for p in dataset.errors] == [
        "a.jsonl:1: field 'messages[0].weight': is only for assistant messages (remove it from "
        "this message)"
    ]
    assert [p.message for p in dataset.warnings] == [
        "has no assistant turn with weight 1, so it teaches nothing in training (it can still be "
        "a held-out example)"
    ]


def test_openai_uploads_carry_ftx_s_trained_turns():
    from ftx.backends.openai import wire
    from ftx.types import Example

    single = Example("1", (Message("user", "Q"), Message("assistant", "A")))
    assert wire.messages(single) == [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A"},
    ]
    # OpenAI would train the earlier answer too; ftx trains the final one unless told otherwise.
    multi = Example(
        "2",
        (
            Message("user", "Q"),
            Message("assistant", "A"),
            Message("user", "Q2"),
            Message("assistant", "B"),
        ),
    )
    assert [m.get("weight") for m in wire.messages(multi)] == [None, 0, None, 1]
    weighted = Example(
        "3",
        (
            Message("user", "Q"),
            Message("assistant", "A", 1),
            Message("user", "Q2"),
            Message("assistant", "B", 0),
        ),
    )
    assert [m.get("weight") for m in wire.messages(weighted)] == [None, 1, None, 0]


def test_weights_survive_the_run_directory(tmp_path):
    from ftx.types import Example

    example = Example(
        "1",
        (
            Message("user", "Q"),
            Message("assistant", "A", 1),
            Message("user", "Q2"),
            Message("assistant", "B", 0),
        ),
    )
    datamod.write_jsonl(tmp_path / "train.jsonl", [example])
    assert datamod.read_jsonl_examples(tmp_path / "train.jsonl")[0].messages == example.messages


def test_skip_invalid_uses_the_valid_records_and_counts_the_others(tmp_path):
    from rich.console import Console

    from ftx.config import RunConfig
    from ftx.plugins import get_registry
    from ftx.runner import load_data

    lines = [json.dumps({"question": f"Q{i}", "answer": f"A{i}"}) for i in range(10)]
    lines[3] = '{"question": "Q3", "answer": }'
    lines[6] = json.dumps({"question": "Q6", "answer": ""})
    path = write(tmp_path, "qa.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_data(RunConfig(data=str(path), eval_size=2), get_registry())
    assert "or pass --skip-invalid to use only the valid records" in str(info.value)

    console = Console(record=True, width=400)
    splits = load_data(
        RunConfig(data=str(path), eval_size=2, skip_invalid=True), get_registry(), console
    )
    assert len(splits.train) + len(splits.eval) == 8
    assert console.export_text().splitlines()[0] == (
        "warning: skipped 2 invalid records of qa.jsonl (first: qa.jsonl:4: invalid JSON: "
        "Expecting value at column 30 "
        "(each line must be one JSON object)); 'ftx data validate' lists them all"
    )


def test_text_after_the_array_is_an_error(tmp_path):
    path = write(
        tmp_path, "a.json", json.dumps(ROWS, indent=1) + '\n{"question": "lost", "answer": "x"}\n'
    )
    with pytest.raises(
        DataError, match=r"a.json:15: invalid JSON: Extra data after the array at column 1"
    ):
        load(path)


def test_line_separators_inside_text_survive_the_run_directory(tmp_path):
    from ftx.store import RunStore
    from ftx.types import Example

    text = "one\u2028two\u2029three\x85four"
    example = Example("1", (Message("user", text), Message("assistant", text)))
    datamod.write_jsonl(tmp_path / "eval.jsonl", [example])
    assert datamod.read_jsonl_examples(tmp_path / "eval.jsonl")[0].messages == example.messages
    run = RunStore(tmp_path / "runs").create({}, "r")
    run.write_predictions("b", [{"id": "1", "prediction": text}, {"id": "2", "prediction": "x"}])
    run.append_prediction("c", {"id": "1", "prediction": text})
    assert [r["prediction"] for r in run.read_predictions("b")] == [text, "x"]
    assert [r["prediction"] for r in run.read_predictions("c")] == [text]


@pytest.mark.parametrize(
    "text, hint",
    [
        (
            '{"question": "Q1", "answer": "A1"},\n{"question": "Q2", "answer": "A2"},\n',
            "remove the comma at the end of the line",
        ),
        (
            "{'question': 'Q1', 'answer': 'A1'}\n{'question': 'Q2', 'answer': 'A2'}\n",
            "this looks like a Python dict",
        ),
    ],
)
def test_json_mistakes_people_make_get_a_hint(tmp_path, text, hint):
    with pytest.raises(DataError) as info:
        load(write(tmp_path, "d.jsonl", text))
    assert hint in str(info.value)


def test_json_beyond_the_parser_s_limits_is_a_problem_of_that_line(tmp_path):
    lines = [
        '{"question": "Q", "answer": "A", "m": ' + "[" * 3000 + "]" * 3000 + "}",
        '{"question": "Q", "answer": "A", "id": ' + "9" * 5000 + "}",
        '{"question": "Q2", "answer": "A2"}',
    ]
    dataset = load(write(tmp_path, "d.jsonl", "\n".join(lines) + "\n"))
    assert len(dataset.examples) == 1
    assert [p.where for p in dataset.errors] == ["d.jsonl:1", "d.jsonl:2"]
    assert (
        "nested too deeply" in dataset.errors[0].message
        and "4300 digits" in dataset.errors[1].message
    )


def test_lone_surrogates_are_refused_before_a_run_writes_them(tmp_path):
    rows = [
        '{"messages": [{"role": "user", "content": "Bad \\ud800"}, {"role": "assistant", '
        '"content": "ok"}]}',
        '{"id": "\\udfff", "question": "Q", "answer": "A"}',
    ]
    dataset = load(write(tmp_path, "d.jsonl", rows[0] + "\n"))
    assert "lone surrogate" in dataset.errors[0].message and not dataset.examples
    dataset = load(write(tmp_path, "e.jsonl", rows[1] + "\n"))
    assert dataset.errors[0].field == "id" and not dataset.examples


def test_kto_labels_as_csv_and_pandas_write_them(tmp_path):
    path = write(
        tmp_path,
        "kto.csv",
        "prompt,completion,label\nQ1,good,True\nQ2,terrible,False\nQ3,fine,1\nQ4,bad,0\n",
    )
    dataset = load(path)
    assert [e.reference for e in dataset.examples] == ["good", "fine"]
    assert "is false in 2 of 4 records" in dataset.warnings[0].message


@pytest.mark.parametrize(
    "record, field",
    [
        (
            {
                "system": "TOP",
                "conversations": [
                    {"from": "system", "value": "INLINE"},
                    {"from": "human", "value": "Q"},
                    {"from": "gpt", "value": "A"},
                ],
            },
            "system",
        ),
        (
            {
                "systemInstruction": {"parts": [{"text": "TOP"}]},
                "contents": [
                    {"role": "system", "parts": [{"text": "INLINE"}]},
                    {"role": "user", "parts": [{"text": "Q"}]},
                    {"role": "model", "parts": [{"text": "A"}]},
                ],
            },
            "systemInstruction",
        ),
        (
            {
                "system": "TOP",
                "prompt": [
                    {"role": "system", "content": "INLINE"},
                    {"role": "user", "content": "Q"},
                ],
                "completion": [{"role": "assistant", "content": "A"}],
            },
            "system",
        ),
    ],
)
def test_two_different_system_prompts_are_not_silently_one(tmp_path, record, field):
    dataset = load(write(tmp_path, "d.jsonl", json.dumps(record) + "\n"))
    assert [(p.field, p.message) for p in dataset.errors] == [
        (field, "gives a system prompt, and the conversation starts with another one")
    ]


def test_role_errors_name_the_field_as_the_file_spells_it(tmp_path):
    record = {
        "conversations": [
            {"from": "gpt", "value": "Welcome"},
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "A"},
        ]
    }
    dataset = load(write(tmp_path, "d.jsonl", json.dumps(record) + "\n"))
    assert [p.field for p in dataset.errors] == ["conversations[0].from"]
    record = {
        "messages": [
            {"role": "developer", "content": "D"},
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
        ]
    }
    dataset = load(write(tmp_path, "e.jsonl", json.dumps(record) + "\n"))
    assert [(p.field, p.message) for p in dataset.errors] == [
        ("messages[1].role", "a system message may only come first")
    ]


def test_dolly_and_input_output(tmp_path):
    rows = [
        {
            "instruction": "Summarize.",
            "context": "A long text.",
            "response": "Short.",
            "category": "summarization",
        },
        {
            "instruction": "Name a color.",
            "context": "",
            "response": "Blue.",
            "category": "brainstorming",
        },
    ]
    dataset = load(write(tmp_path, "dolly.jsonl", "".join(json.dumps(r) + "\n" for r in rows)))
    assert dataset.schema == "dolly"
    assert [m.content for m in dataset.examples[0].messages] == [
        "Summarize.\n\nA long text.",
        "Short.",
    ]
    assert [p.field for p in dataset.warnings] == ["category"]
    dataset = load(write(tmp_path, "io.jsonl", '{"input": "Q", "output": "A"}\n'))
    assert dataset.schema == "input_output"


@pytest.mark.parametrize(
    "name, text, hint",
    [
        (
            "a.jsonl",
            '{"question": "Q", "anwser": "A"}\n',
            "Did you mean the 'question_answer' schema? Rename 'anwser' to 'answer'.",
        ),
        ("b.csv", "question;answer\nQ;A\n", "the file seems to be separated by ';', not commas"),
    ],
)
def test_unknown_schemas_suggest_the_likely_fix(tmp_path, name, text, hint):
    with pytest.raises(DataError) as info:
        load(write(tmp_path, name, text))
    assert hint in str(info.value)


def test_a_formatter_plugin_that_raises_is_named_not_reported_as_ftx_s_bug(tmp_path):
    from ftx.formatters import Formatter

    class Broken(Formatter):
        name = "broken"
        keys = ("q",)

        def parse(self, record, report):
            return record["missing"]

    dataset = datamod.load(
        write(tmp_path, "d.jsonl", '{"q": "x"}\n'), formatters={"broken": Broken}
    )
    assert [str(p) for p in dataset.errors] == [
        "d.jsonl:1: the 'broken' formatter failed on this record: KeyError: 'missing' (a bug in "
        "that formatter; --format NAME chooses another)"
    ]
