"""Preference data: every form people have read into the one canonical pair (a prompt, a chosen
and a rejected answer), written back in the forms hosted services take, kept whole in a run's
folder; and bad pairs refused with one sentence that says where and what to do."""

import json
from pathlib import Path

import pytest

from ftx import data as datamod
from ftx import preference
from ftx.formatters import BUILTIN_FORMATTERS
from ftx.types import Example, Message

from .helpers import ftx_main

SAMPLE = Path(__file__).parent / "preference" / "pride_and_prejudice_pairs.jsonl"
FORMATTERS = {f.name: f for f in BUILTIN_FORMATTERS}

SKY = [("user", "What color is the sky?")]
SYSTEM_SKY = [("system", "Be brief."), *SKY]

# record -> (schema, prompt as (role, content), chosen, rejected)
FORMS = {
    "trl standard, explicit prompt": (
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
        ("trl_preference", [("user", "The sky is")], " blue.", " green."),
    ),
    "trl conversational, explicit prompt": (
        {
            "prompt": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What color is the sky?"},
            ],
            "chosen": [{"role": "assistant", "content": "Blue."}],
            "rejected": [{"role": "assistant", "content": "Green."}],
        },
        ("trl_preference", SYSTEM_SKY, "Blue.", "Green."),
    ),
    "trl standard, implicit prompt": (
        {"chosen": "The sky is blue.", "rejected": "The sky is green."},
        ("trl_implicit_preference", [("user", "The sky is")], " blue.", " green."),
    ),
    "trl conversational, implicit prompt": (
        {
            "chosen": [
                {"role": "user", "content": "What color is the sky?"},
                {"role": "assistant", "content": "Blue."},
            ],
            "rejected": [
                {"role": "user", "content": "What color is the sky?"},
                {"role": "assistant", "content": "Green."},
            ],
        },
        ("trl_implicit_preference", SKY, "Blue.", "Green."),
    ),
    "openai dpo": (
        {
            "input": {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "What color is the sky?"},
                ],
                "tools": [],
                "parallel_tool_calls": True,
            },
            "preferred_output": [{"role": "assistant", "content": "Blue."}],
            "non_preferred_output": [{"role": "assistant", "content": "Green."}],
        },
        ("openai_preference", SYSTEM_SKY, "Blue.", "Green."),
    ),
    "llama-factory sharegpt": (
        {
            "conversations": [{"from": "human", "value": "What color is the sky?"}],
            "chosen": {"from": "gpt", "value": "Blue."},
            "rejected": {"from": "gpt", "value": "Green."},
            "system": "Be brief.",
        },
        ("sharegpt_preference", SYSTEM_SKY, "Blue.", "Green."),
    ),
    "llama-factory alpaca": (
        {
            "instruction": "Name the sky's color.",
            "input": "At noon.",
            "chosen": "Blue.",
            "rejected": "Green.",
            "history": [["Hi", "Hello."]],
        },
        (
            "alpaca_preference",
            [
                ("user", "Hi"),
                ("assistant", "Hello."),
                ("user", "Name the sky's color.\n\nAt noon."),
            ],
            "Blue.",
            "Green.",
        ),
    ),
    "vertex ai preference tuning": (
        {
            "system_instruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "What color is the sky?"}]}],
            "completions": [  # the dispreferred one first: the scores say which is which
                {"score": 0, "completion": {"role": "model", "parts": [{"text": "Green."}]}},
                {"score": 1, "completion": {"role": "model", "parts": [{"text": "Blue."}]}},
            ],
        },
        ("gemini_preference", SYSTEM_SKY, "Blue.", "Green."),
    ),
}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def load(path: Path, **kwargs) -> datamod.Dataset:
    return datamod.load(path, formatters=FORMATTERS, **kwargs)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_reads_as_the_canonical_pair(form, tmp_path):
    record, (schema, prompt, chosen, rejected) = FORMS[form]
    dataset = load(write(tmp_path / "pairs.jsonl", [record, record | {"id": "second"}]))
    assert dataset.schema == schema and not dataset.errors, dataset.problems
    pair = dataset.examples[0]
    assert [(m.role, m.content) for m in pair.prompt] == prompt
    assert (pair.reference, pair.rejected) == (chosen, rejected)
    assert pair.messages[-1] == Message("assistant", chosen)  # the chosen answer is the reference
    assert pair.source == "pairs.jsonl:1"


def test_the_sample_is_a_preference_set(tmp_path):
    dataset = load(SAMPLE)
    assert dataset.schema == "trl_preference" and dataset.problems == []
    assert len(dataset.examples) == 48 and all(preference.is_pair(e) for e in dataset.examples)


@pytest.mark.parametrize("form", sorted(preference.FORMS))
def test_what_ftx_writes_for_a_service_reads_back_as_the_same_pairs(form, tmp_path):
    examples = load(SAMPLE).examples[:5]
    path = tmp_path / f"{form}.jsonl"
    path.write_text(preference.to_jsonl(examples, form))
    again = load(path).examples
    assert [(e.prompt, e.reference, e.rejected) for e in again] == [
        (e.prompt, e.reference, e.rejected) for e in examples
    ]


def test_the_forms_hosted_services_take():
    pair = Example(
        "1",
        (Message("system", "Be brief."), Message("user", "Sky?"), Message("assistant", "Blue.")),
        rejected="Green.",
    )
    assert preference.to_openai(pair) == {
        "input": {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Sky?"},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": "Blue."}],
        "non_preferred_output": [{"role": "assistant", "content": "Green."}],
    }
    assert preference.to_gemini(pair) == {
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "Sky?"}]}],
        "completions": [
            {"score": 1, "completion": {"role": "model", "parts": [{"text": "Blue."}]}},
            {"score": 0, "completion": {"role": "model", "parts": [{"text": "Green."}]}},
        ],
    }
    with pytest.raises(ValueError, match="not a preference pair"):
        preference.to_openai(Example("2", pair.messages))


def test_a_run_folder_keeps_each_pair_whole(tmp_path):
    examples = load(SAMPLE).examples
    datamod.write_jsonl(tmp_path / "train.jsonl", examples)
    again = datamod.read_jsonl_examples(tmp_path / "train.jsonl")
    assert [(e.id, e.messages, e.rejected) for e in again] == [
        (e.id, e.messages, e.rejected) for e in examples
    ]
    plain = Example("q", (Message("user", "Q"), Message("assistant", "A")))
    assert "rejected" not in plain.to_dict()  # supervised data is written as it always was


def test_a_rejected_answer_is_scored_as_the_reference_of_its_own_example():
    pair = load(SAMPLE).examples[0]
    other = preference.rejected_example(pair)
    assert other.prompt == pair.prompt and other.reference == pair.rejected
    assert other.rejected is None


def test_the_most_specific_schema_wins(tmp_path):
    """ShareGPT's conversations with chosen and rejected are LLaMA-Factory pairs, not ShareGPT;
    Gemini's contents with completions are Vertex pairs; plain ShareGPT is still ShareGPT."""
    write(tmp_path / "a.jsonl", [FORMS["llama-factory sharegpt"][0]])
    assert load(tmp_path / "a.jsonl").schema == "sharegpt_preference"
    write(tmp_path / "b.jsonl", [FORMS["vertex ai preference tuning"][0]])
    assert load(tmp_path / "b.jsonl").schema == "gemini_preference"
    write(
        tmp_path / "c.jsonl",
        [{"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}],
    )
    assert load(tmp_path / "c.jsonl").schema == "sharegpt"


def test_pairs_that_reject_different_answers_are_not_copies(tmp_path):
    base = {"prompt": "The sky is", "chosen": " blue."}
    dataset = load(
        write(
            tmp_path / "pairs.jsonl",
            [
                base | {"rejected": " green."},
                base | {"rejected": " red."},
                base | {"rejected": " red."},
            ],
        )
    )
    assert [str(p) for p in dataset.warnings] == [
        "pairs.jsonl:3: duplicate of the example at pairs.jsonl:2 (remove one copy)"
    ]


def test_backends_that_train_on_pairs_say_what_is_missing():
    plain = Example("q", (Message("user", "Q"), Message("assistant", "A")))
    pair = Example("p", plain.messages, rejected="B")
    none = preference.pairs_problem([plain], "local-dpo")
    assert none.severity == "error" and str(none).startswith(
        "local-dpo: trains on preference pairs (a chosen and a rejected answer to each prompt), "
        "and the training data has none"
    )
    some = preference.pairs_problem([plain, pair], "local-dpo")
    assert some.severity == "warning"
    assert str(some).startswith(
        "local-dpo: 1 of 2 training examples have no rejected answer and are left out"
    )
    assert preference.pairs_problem([pair], "local-dpo") is None


def test_stats_count_the_pairs(tmp_path, capsys):
    code, out, _ = ftx_main(capsys, "data", "stats", "--json", str(SAMPLE))
    stats = json.loads(out)
    assert code == 0 and stats["pairs"] == 48 and stats["rejected_tokens"]["max"] > 0


# --- bad pairs: one sentence each, with file:line and what to do ---------------------------------

BAD = [
    (
        {"prompt": "The sky is", "chosen": " blue.", "rejected": " blue. "},
        "pairs.jsonl:2: field 'rejected': is the same answer as the chosen one: the pair prefers "
        "nothing (give two different answers, or remove the record)",
    ),
    (
        {"prompt": "The sky is", "chosen": " blue."},
        "pairs.jsonl:2: field 'rejected': is missing (the file's schema is 'trl_preference') "
        "(add 'rejected' to this record)",
    ),
    (
        {"prompt": "The sky is", "chosen": [{"role": "user", "content": "x"}], "rejected": "y"},
        "pairs.jsonl:2: field 'chosen': must be one assistant message (the answer), got 1 "
        "message(s): user",
    ),
    (
        {
            "prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
            "chosen": "a",
            "rejected": "b",
        },
        "pairs.jsonl:2: field 'prompt': must end with a user message: the question both answers "
        "reply to",
    ),
    (
        {"prompt": "The sky is", "chosen": {"role": "assistant", "content": 3}, "rejected": "b"},
        "pairs.jsonl:2: field 'chosen.content': must be a string, not int",
    ),
]


@pytest.mark.parametrize("record, expected", BAD, ids=[e.split(": ", 2)[1] for _, e in BAD])
def test_a_bad_pair_is_one_clear_error(record, expected, tmp_path, capsys):
    path = write(tmp_path / "pairs.jsonl", [FORMS["trl standard, explicit prompt"][0], record])
    code, out, err = ftx_main(capsys, "data", "validate", str(path))
    assert code == 1 and "Traceback" not in err
    errors = [line for line in (out + err).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], errors


BAD_FORMS = [
    (
        "openai_preference",
        {
            "input": {"messages": [{"role": "user", "content": "Hi"}], "tools": [{"x": 1}]},
            "preferred_output": [{"role": "assistant", "content": "a"}],
            "non_preferred_output": [{"role": "assistant", "content": "b"}],
        },
        "field 'input.tools': offers the model tools: this is tool-calling data",
    ),
    (
        "gemini_preference",
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "completions": [
                {"score": 1, "completion": {"role": "model", "parts": [{"text": "a"}]}},
                {"score": 1, "completion": {"role": "model", "parts": [{"text": "b"}]}},
            ],
        },
        "field 'completions': must hold one preferred (score 1) and one dispreferred (score 0) "
        "completion",
    ),
    (
        "trl_implicit_preference",
        {"chosen": "The sky is blue.", "rejected": "Grass is green."},
        "field 'chosen': and 'rejected' share no beginning, so there is no prompt (give the "
        "prompt in a 'prompt' field)",
    ),
]


@pytest.mark.parametrize("schema, record, expected", BAD_FORMS, ids=[s for s, _, _ in BAD_FORMS])
def test_bad_records_of_each_form(schema, record, expected, tmp_path):
    dataset = load(write(tmp_path / "pairs.jsonl", [record]), format=schema)
    assert len(dataset.errors) == 1, dataset.errors
    assert str(dataset.errors[0]).startswith(f"pairs.jsonl:1: {expected}")


def test_a_run_on_bad_pairs_starts_nothing(tmp_path, capsys):
    path = write(
        tmp_path / "pairs.jsonl",
        [
            FORMS["trl standard, explicit prompt"][0],
            {"prompt": "x", "chosen": "a", "rejected": "a"},
        ],
    )
    code, _, err = ftx_main(capsys, "run", "--data", str(path), "--backend", "local-base")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and "Traceback" not in err and len(errors) == 1
    assert errors[0].startswith("error: pairs.jsonl:2: field 'rejected': is the same answer")
    assert not (tmp_path / "runs").exists()
