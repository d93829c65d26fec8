"""Reading, schema detection, validation (every problem, with file:line and field), splitting."""

import json

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
        ({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},
         "messages", [("system", "Be brief."), ("user", "Q"), ("assistant", "A")]),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "Q"}]}, {"role": "assistant", "content": "A"}]},
         "messages", [("user", "Q"), ("assistant", "A")]),
        ({"conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]}, "sharegpt", [("user", "Q"), ("assistant", "A")]),
        ({"instruction": "Do", "input": "this", "output": "A"}, "alpaca", [("user", "Do\n\nthis"), ("assistant", "A")]),
        ({"instruction": "Do", "input": "", "output": "A"}, "alpaca", [("user", "Do"), ("assistant", "A")]),
        ({"prompt": "Q", "completion": "A"}, "prompt_completion", [("user", "Q"), ("assistant", "A")]),
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
        write(tmp_path, "c.csv", "question,answer\n" + "".join(f'"{r["question"]}",{r["answer"]}\n' for r in rows)),
        write(tmp_path, "d.tsv", "question\tanswer\n" + "".join(f'{r["question"]}\t{r["answer"]}\n' for r in rows)),
    ):
        dataset = load(path)
        assert [e.reference for e in dataset.examples] == ["A0", "A1", "A2"], path
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "e.parquet")
    assert [e.reference for e in load(tmp_path / "e.parquet").examples] == ["A0", "A1", "A2"]


def test_json_array_reports_line_numbers(tmp_path):
    path = write(tmp_path, "a.json", '[\n  {"question": "Q", "answer": "A"},\n  {"question": "Q2", "answer": ""}\n]')
    dataset = load(path)
    assert [str(p) for p in dataset.errors] == ["a.json:3: field 'answer': is empty (write the answer text or remove the record)"]


def test_saved_datasets_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list([{"prompt": "Q", "completion": "A"}, {"prompt": "Q2", "completion": "B"}]).save_to_disk(tmp_path / "ds")
    dataset = load(tmp_path / "ds")
    assert dataset.schema == "prompt_completion"
    assert [e.id for e in dataset.examples] == ["ds:1", "ds:2"]


def test_every_problem_is_reported_at_once(tmp_path):
    lines = [
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "id": "x"}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": ""}]}',
        '{"messages": [{"role": "assistant", "content": "A"}, {"role": "user", "content": "Q"}]}',
        '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "A"}]}',
        '{"messages": [{"role": "robot", "content": "Q"}]}',
        '{"messages": []}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}, "oops"',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], "id": "x"}',
        '{"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}',
        '{"messages": [{"role": "user", "content": "Q"}]}',
        '["not", "an", "object"]',
    ]
    path = write(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    dataset = load(path)
    found = [str(p) for p in dataset.problems]
    assert found == [
        "bad.jsonl:7: invalid JSON: Expecting ',' delimiter at column 94 (each line must be one JSON object)",
        "bad.jsonl:11: expected a JSON object, got list (write one {\"field\": ...} object per example)",
        "bad.jsonl:2: field 'messages[1].content': is empty (write the message text or remove the message)",
        "bad.jsonl:3: field 'messages[0].role': expected 'user' here, got 'assistant' (turns must alternate user, assistant, user, ...)",
        "bad.jsonl:4: field 'messages[0].content': must be a string, not int",
        "bad.jsonl:5: field 'messages[0].role': unknown role 'robot' (use one of: assistant, developer, model, system, user)",
        "bad.jsonl:6: field 'messages': is empty (add a user message and the assistant's answer)",
        "bad.jsonl:8: field 'id': duplicate id 'x' (first used at bad.jsonl:1) (ids must be unique)",
        "bad.jsonl:9: duplicate of the example at bad.jsonl:1 (remove one copy)",
        "bad.jsonl:10: field 'messages': must end with an assistant message (the reference answer) (add the expected answer as the last message)",
    ]
    assert [p.severity for p in dataset.problems].count("warning") == 1
    assert len(dataset.examples) == 2


def test_non_utf8_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "Q", "answer": "A"}\n{"question": "caf\xe9", "answer": "A"}\n')
    dataset = load(path)
    assert [str(p) for p in dataset.errors] == ["latin1.jsonl:2: not valid UTF-8 (byte 0xe9 at column 18) (save the file as UTF-8)"]


def test_missing_field_in_detected_schema(tmp_path):
    path = write(tmp_path, "qa.jsonl", '{"question": "Q", "answer": "A"}\n{"question": "Q2"}\n{"question": "Q3", "answer": 5}\n')
    assert [str(p) for p in load(path).errors] == [
        "qa.jsonl:2: field 'answer': is missing (the file's schema is 'question_answer') (add 'answer' to this record)",
        "qa.jsonl:3: field 'answer': must be a string, not int",
    ]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.jsonl", b"", "empty.jsonl: the file is empty."),
        ("blank.jsonl", b"\n\n  \n", "blank.jsonl: the file is empty."),
        ("model.bin", b"\x00\x01\x02\x03" * 100, "model.bin: this looks like a binary file, not text data."),
        ("data.jsonl", b'{"title": "hello"}\n{"title": "bye"}\n', "data.jsonl:1: unknown schema: the records have fields title."),
        ("lm.jsonl", b'{"text": "hello"}\n{"text": "bye"}\n', "lm.jsonl: this file is plain text (language-modelling data, as TRL's "
         "'text' field), with no prompt and answer for ftx to train on and compare."),
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
    path = write(tmp_path, "d.jsonl", '{"question": "Q", "answer": "A", "prompt": "P", "completion": "C"}\n')
    assert load(path).examples[0].reference == "C"  # prompt_completion is registered first
    assert load(path, format="question_answer").examples[0].reference == "A"
    from ftx.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'question_answer'"):
        load(path, format="question_answers")


def test_too_long_examples(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"question": "short", "answer": "yes"}\n{"question": "' + "word " * 50 + '", "answer": "no"}\n')
    dataset = load(path, count_tokens=lambda t: len(t.split()), max_tokens=10)
    assert [str(p) for p in dataset.errors] == ["d.jsonl:2: is 51 tokens long, over the maximum of 10 (shorten it, or raise max_seq_length)"]


def test_split_is_seeded_and_reports_leakage(tmp_path):
    rows = [{"question": f"Q{i}", "answer": f"A{i}"} for i in range(20)] + [{"question": "Q3", "answer": "other"}]
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
    path = write(tmp_path, "d.jsonl", '{"question": "a b c", "answer": "d"}\n{"question": "a b c", "answer": "d"}\n')
    result = datamod.stats(load(path), lambda t: len(t.split()))
    assert result["examples"] == 2 and result["duplicates"] == 1 and result["schema"] == "question_answer"
    assert result["prompt_tokens"]["p50"] == 3 and result["answer_tokens"]["max"] == 1 and result["total_tokens"] == 8


def test_bundled_dataset_is_valid_and_asks_each_fact_several_ways():
    dataset = load(datamod.bundled_path())
    assert dataset.problems == []
    assert len(dataset.examples) >= 300
    facts = {e.id[:-1] for e in dataset.examples}
    assert len(dataset.examples) / len(facts) >= 2


def test_example_roundtrip():
    from ftx.types import Example

    e = Example("1", (Message("user", "Q"), Message("assistant", "A")))
    assert Example.from_dict(e.to_dict()) == e
    assert e.prompt == [Message("user", "Q")] and e.reference == "A"
