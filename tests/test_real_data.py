"""The datasets people already have (tests/real_data/): files shaped as LLaMA-Factory, TRL,
OpenAI, Google's Gemini tuning, axolotl and Hugging Face ``datasets`` document or write them.

Each is checked three ways, as a user would first try it: ``ftx data validate``, ``ftx data
stats --json`` and an ``ftx run --backend local-base`` on a tiny model. Each either yields the
examples listed here (with the warnings that say what was left out) or one clear message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .helpers import ftx_main

REAL = Path(__file__).parent / "real_data"


@dataclass
class Case:
    schema: str = ""
    examples: int = 0
    first: list[tuple[str, str]] = field(
        default_factory=list
    )  # the first example's (role, content), content shortened
    warnings: list[str] = field(
        default_factory=list
    )  # text each warning must contain, one per warning
    error: str = ""  # the one message, for files ftx refuses


TOOLS = "this is tool-calling data (ftx trains on and compares text answers"
QA = [("user", "Who wrote Emma?"), ("assistant", "Jane Austen.")]

CASES = {
    # LLaMA-Factory's data README and demo files
    "llamafactory_alpaca.json": Case(
        "alpaca",
        4,
        [
            ("system", "You are a helpful assistant."),
            ("user", "Give three tips"),
            ("assistant", "1. Eat a balanced diet."),
        ],
    ),
    "llamafactory_alpaca_zh.json": Case(
        "alpaca", 3, [("user", "保持健康的三个提示。"), ("assistant", "以下是保持健康的三个提示")]
    ),
    "llamafactory_sharegpt.json": Case(
        "sharegpt",
        3,
        [
            ("system", "You are a careful math tutor."),
            ("user", "What is 2 + 2?"),
            ("assistant", "2 + 2 is 4."),
            ("user", "And times 3?"),
            ("assistant", "4 times 3 is 12."),
        ],
    ),
    "llamafactory_toolcall.json": Case(
        error="llamafactory_toolcall.json:2, 23: field 'conversations[1]': is a tool call or tool "
        f"result (role 'function_call'): {TOOLS}"
    ),
    # Preference pairs (docs/preference.md): the prompt and the chosen answer, the rejected kept
    "llamafactory_dpo.json": Case(
        "sharegpt_preference",
        2,
        [("user", "Write a haiku about autumn."), ("assistant", "Red leaves drift and fall")],
    ),
    "llamafactory_alpaca_dpo.json": Case(
        "alpaca_preference", 2, [("user", "Name a fruit."), ("assistant", "An apple.")]
    ),
    "llamafactory_kto.json": Case(
        "messages",
        3,
        [("user", "What is the boiling point"), ("assistant", "100 degrees")],
        [
            "llamafactory_kto.json:15: field 'label': is false in 1 of 4 records: those answers "
            "are marked undesirable"
        ],
    ),
    "llamafactory_mllm.json": Case(
        error="llamafactory_mllm.json:2, 17: field 'images': holds images; ftx fine-tunes and "
        "compares "
        "text-only models, so this record cannot be used"
    ),
    # TRL's dataset formats
    "trl_language_modeling.jsonl": Case(
        error="trl_language_modeling.jsonl: this file is plain text (language-modelling data"
    ),
    "trl_conversational.jsonl": Case(
        "messages", 3, [("user", "What color is the sky?"), ("assistant", "It is blue.")]
    ),
    "trl_prompt_completion.jsonl": Case(
        "prompt_completion", 3, [("user", "The sky is"), ("assistant", " blue.")]
    ),
    "trl_conversational_prompt_completion.jsonl": Case(
        "prompt_completion", 3, [("user", "What color is the sky?"), ("assistant", "It is blue.")]
    ),
    "trl_preference.jsonl": Case(
        "trl_preference", 2, [("user", "The sky is"), ("assistant", " blue.")]
    ),
    "trl_conversational_preference.jsonl": Case(
        "trl_preference", 2, [("user", "What color is the sky?"), ("assistant", "It is blue.")]
    ),
    "trl_unpaired_preference.jsonl": Case(
        "prompt_completion",
        3,
        [("user", "The sky is"), ("assistant", " blue.")],
        ["trl_unpaired_preference.jsonl:2: field 'label': is false in 1 of 4 records"],
    ),
    "trl_tool_calling.jsonl": Case(
        error=f"trl_tool_calling.jsonl:1: field 'messages[1]': calls a tool ('tool_calls'): {TOOLS}"
    ),
    # OpenAI's fine-tuning guide and cookbook
    "openai_chat_weights.jsonl": Case(
        "messages",
        3,
        [
            ("system", "Marv is a factual chatbot"),
            ("user", "What's the capital"),
            ("assistant", "Paris"),
            ("user", "Can you be more sarcastic?"),
            ("assistant", "Paris, as if everyone"),
        ],
    ),
    "openai_developer_role.jsonl": Case(
        "messages",
        3,
        [
            ("system", "You are a concise assistant."),
            ("user", "What is 3 + 5?"),
            ("assistant", "8"),
        ],
    ),
    "openai_function_calling.jsonl": Case(
        error=f"openai_function_calling.jsonl:1: field 'messages[1]': calls a tool "
        f"('tool_calls'): {TOOLS}"
    ),
    "openai_dpo.jsonl": Case(
        "openai_preference",
        1,
        [("user", "Hello, can you tell me how cold"), ("assistant", "Today in San Francisco")],
    ),
    "openai_vision.jsonl": Case(
        error="openai_vision.jsonl:1: field 'messages[2].content[0]': is image_url content; ftx "
        "fine-tunes "
        "and compares text-only models"
    ),
    # Google: Gemini tuning on Vertex AI, and the Gemini API's tuning notebook
    "vertex_gemini_tuning.jsonl": Case(
        "gemini",
        3,
        [
            ("system", "You are a pirate dog"),
            ("user", "Hi"),
            ("assistant", "Argh!"),
            ("user", "What's your name?"),
            ("assistant", "I be Captain Barktholomew"),
        ],
    ),
    "gemini_api_text_input.jsonl": Case(
        "text_input_output", 4, [("user", "1"), ("assistant", "2")]
    ),
    # axolotl's chat_template fixtures: role/content under "conversations"
    "axolotl_chat_template.json": Case(
        "sharegpt",
        3,
        [
            ("system", "You are an AI assistant."),
            ("user", "Hello"),
            ("assistant", "Hello! How can I help?"),
        ],
    ),
    # What Hugging Face datasets writes
    "datasets_to_json.json": Case(
        "question_answer", 3, QA
    ),  # Dataset.to_json: JSON Lines, whatever the suffix
    "datasets_to_json_lines_false.json": Case(
        "question_answer", 3, QA
    ),  # to_json(lines=False): one line, no newline
    "datasets_compressed.jsonl.gz": Case("question_answer", 3, QA),
    "datasets_to_parquet.parquet": Case("alpaca", 3, QA),
    # Shapes people save by hand
    "array_as.jsonl": Case("question_answer", 3, QA),
    "single_record.json": Case("question_answer", 1, QA),
    "wrapper_non_ascii_key.json": Case("question_answer", 3, QA),
    "jq_pretty_printed.jsonl": Case(
        "question_answer", 3, QA
    ),  # `jq . qa.jsonl` output: objects over several lines
    "with_unknown_fields.jsonl": Case(
        "question_answer",
        3,
        QA,
        [
            "with_unknown_fields.jsonl:1: field 'category': is ignored in all 3 records: the "
            "'question_answer' schema does not use it",
            "with_unknown_fields.jsonl:1: field 'source': is ignored in all 3 records",
        ],
    ),
}


def test_every_file_has_a_case():
    assert sorted(p.name for p in REAL.iterdir() if p.name != "README.md") == sorted(CASES)


def ftx(capsys, *argv: str) -> tuple[int, str, str]:
    code, out, err = ftx_main(capsys, *argv)
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("name", sorted(CASES))
def test_validate_and_stats(name, capsys):
    case = CASES[name]
    path = str(REAL / name)
    code, out, err = ftx(capsys, "data", "validate", path)
    lines = (out + err).splitlines()
    if case.error:
        assert code == 1, out + err
        assert any(case.error in line for line in lines if line.startswith("error:")), out + err
    else:
        assert code == 0, out + err
        warnings = [line for line in lines if line.startswith("warning:")]
        assert len(warnings) == len(case.warnings), warnings
        for expected, line in zip(case.warnings, warnings):
            assert expected in line
        assert f"{case.examples} valid examples (schema: {case.schema}), 0 error(s)" in lines[-1]

    code, out, err = ftx(capsys, "data", "stats", "--json", path)
    if case.error:
        assert code != 0 and err.startswith("error:")
        return
    assert code == 0, err
    counts = json.loads(out)
    assert counts["examples"] == case.examples and counts["schema"] == case.schema
    assert counts["answer_tokens"]["max"] > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_example_is_read_as_documented(name):
    from ftx import data as datamod
    from ftx.formatters import BUILTIN_FORMATTERS

    case = CASES[name]
    if case.error:
        pytest.skip("refused: see test_validate_and_stats")
    dataset = datamod.load(REAL / name, formatters={f.name: f for f in BUILTIN_FORMATTERS})
    first = dataset.examples[0]
    assert [m.role for m in first.messages] == [role for role, _ in case.first]
    for message, (_, start) in zip(first.messages, case.first):
        assert message.content.startswith(start)
    # Places point at the file's lines (arrays too), and every id is unique.
    assert all(e.source.startswith(f"{name}:") for e in dataset.examples)
    assert len({e.id for e in dataset.examples}) == len(dataset.examples)


def test_openai_weights_decide_the_trained_turns():
    from ftx import data as datamod
    from ftx.formatters import BUILTIN_FORMATTERS

    dataset = datamod.load(
        REAL / "openai_chat_weights.jsonl", formatters={f.name: f for f in BUILTIN_FORMATTERS}
    )
    assert [e.trained_turns() for e in dataset.examples] == [[4], [4], [4]]
    assert [m.weight for m in dataset.examples[0].messages] == [None, None, 0, None, 1]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_run_the_untuned_baseline(name, tmp_path, tiny_model, capsys):
    """The first thing a user does with their file: it runs, or it says why not and starts
    nothing."""
    case = CASES[name]
    code, out, err = ftx(
        capsys,
        "run",
        "--data",
        str(REAL / name),
        "--backend",
        "local-base",
        "--model",
        str(tiny_model),
        "--eval-size",
        "1",
        "--evaluator",
        "exact_match",
        "--name",
        "r",
        "--set",
        "run.max_new_tokens=2",
    )
    runs = tmp_path / "runs"
    if case.error or case.examples < 2:
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        expected = (
            case.error.split(": ", 1)[1]
            if case.error
            else "cannot hold out 1 of 1 examples for evaluation and still train"
        )
        assert code != 0 and len(errors) == 1 and expected in errors[0], err
        assert not (runs / "r").exists()
        return
    assert code == 0, err
    meta = json.loads((runs / "r" / "run.json").read_text())
    assert (
        meta["status"] == "done"
        and meta["splits"]["train"] + meta["splits"]["eval"] == case.examples
    )
    rows = [
        json.loads(line)
        for line in (runs / "r" / "data" / "eval.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(rows) == 1 and rows[0]["messages"][-1]["role"] == "assistant"
