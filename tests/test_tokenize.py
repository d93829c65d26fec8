"""Which tokens carry loss, for every template and formatter; packed loss equals padded loss."""

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ftx.backends.local.tokenize import IGNORE, PackingCollator, PaddingCollator, encode  # noqa: E402
from ftx.backends.local.train import completion_loss  # noqa: E402
from ftx.data import load  # noqa: E402
from ftx.formatters import BUILTIN_FORMATTERS  # noqa: E402
from ftx.templates import AlpacaTemplate, ChatMLTemplate, ChatTemplate, PlainTemplate  # noqa: E402
from ftx.testing import tiny_tokenizer_dir  # noqa: E402
from ftx.types import Example, Message  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    tok = transformers.AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    return tok


EXAMPLE = Example(
    "1",
    (
        Message("system", "Be brief."),
        Message("user", "Who wrote it?"),
        Message("assistant", "Jane Austen"),
    ),
)


@pytest.mark.parametrize(
    "template, loss_text",
    [
        (ChatTemplate(), "Jane Austen<|im_end|>\n"),
        (ChatMLTemplate(), "Jane Austen<|im_end|>"),
        (
            AlpacaTemplate(),
            "Jane Austen<|im_end|>",
        ),  # answer + EOS (the tiny tokenizer's EOS is <|im_end|>)
        (PlainTemplate(), "Jane Austen<|im_end|>"),
    ],
)
def test_only_the_answer_and_its_end_marker_carry_loss(tokenizer, template, loss_text):
    encoded = encode(EXAMPLE, template, tokenizer)
    assert len(encoded.input_ids) == len(encoded.labels)
    trained = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    assert tokenizer.decode(trained) == loss_text
    first = encoded.labels.index(next(label for label in encoded.labels if label != IGNORE))
    assert all(label == IGNORE for label in encoded.labels[:first])
    assert encoded.labels[first:] == encoded.input_ids[first:]
    prompt = tokenizer.decode(encoded.input_ids[:first])
    assert prompt == template.prompt(EXAMPLE.prompt, tokenizer)


RECORDS = {
    "messages": {
        "messages": [
            {"role": "user", "content": "Q?"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "And?"},
            {"role": "assistant", "content": "Final answer"},
        ]
    },
    "sharegpt": {
        "conversations": [
            {"from": "human", "value": "Q?"},
            {"from": "gpt", "value": "Final answer"},
        ]
    },
    "alpaca": {"instruction": "Say it", "input": "x", "output": "Final answer"},
    "prompt_completion": {"prompt": "Q?", "completion": "Final answer"},
    "prompt_response": {"prompt": "Q?", "response": "Final answer"},
    "question_answer": {"question": "Q?", "answer": "Final answer"},
}


@pytest.mark.parametrize("schema", sorted(RECORDS))
def test_every_formatter_trains_only_the_final_answer(tmp_path, tokenizer, schema):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(RECORDS[schema]) + "\n")
    dataset = load(path, formatters={c.name: c for c in BUILTIN_FORMATTERS})
    assert dataset.schema == schema
    encoded = encode(dataset.examples[0], ChatTemplate(), tokenizer)
    trained = [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    assert tokenizer.decode(trained) == "Final answer<|im_end|>\n"
    if schema == "messages":  # the earlier assistant turn is prompt, not trained
        assert "A1" in tokenizer.decode(
            [t for t, label in zip(encoded.input_ids, encoded.labels) if label == IGNORE]
        )


def test_packed_loss_equals_padded_loss_and_transformers_loss(tiny_model):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    rows = [
        {"input_ids": [5, 6, 7, 8, 9, 10], "labels": [IGNORE, IGNORE, IGNORE, 8, 9, 10]},
        {"input_ids": [11, 12, 13], "labels": [IGNORE, 12, 13]},
        {"input_ids": [20, 21, 22, 23], "labels": [IGNORE, IGNORE, 22, 23]},
    ]
    packed = completion_loss(model, PackingCollator()(rows))
    padded_inputs = PaddingCollator(pad_id=0)(rows)
    padded = completion_loss(model, dict(padded_inputs))
    reference = model(
        **padded_inputs, use_cache=False
    ).loss  # transformers' own masked causal-LM loss
    assert packed.item() == pytest.approx(reference.item(), rel=1e-5)
    assert padded.item() == pytest.approx(reference.item(), rel=1e-5)
    # Gradients agree too: the pruned logits change no learning signal.
    model.zero_grad()
    completion_loss(model, PackingCollator()(rows)).backward()
    packed_grad = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    model.zero_grad()
    model(**PaddingCollator(pad_id=0)(rows), use_cache=False).loss.backward()
    assert torch.allclose(
        packed_grad, model.model.layers[0].self_attn.q_proj.weight.grad, atol=1e-6
    )


def test_packing_counts_real_tokens_only():
    collator = PackingCollator()
    batch = collator(
        [
            {"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]},
            {"input_ids": [4, 5], "labels": [4, 5]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["labels"].tolist() == [
        [IGNORE, 2, 3, IGNORE, 5]
    ]  # never learn across the boundary
    assert collator.real_tokens == 5


def test_packed_rows_round_up_to_a_multiple_with_a_lossless_filler():
    batch = PackingCollator(pad_id=0, multiple=4)(
        [
            {"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]},
            {"input_ids": [4, 5], "labels": [4, 5]},
        ]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [
        [0, 1, 2, 0, 1, 0, 1, 2]
    ]  # the filler is a segment of its own
    assert batch["labels"].tolist() == [[IGNORE, 2, 3, IGNORE, 5, IGNORE, IGNORE, IGNORE]]


CONVERSATION = (
    Message("user", "Who wrote it?"),
    Message("assistant", "Jane Austen", 1),
    Message("user", "When?"),
    Message("assistant", "In 1813"),
)


@pytest.mark.parametrize(
    "weights, trained",
    [
        ((None, None), ["In 1813<|im_end|>\n"]),  # ftx's default: the final answer only
        ((1, None), ["Jane Austen<|im_end|>\n", "In 1813<|im_end|>\n"]),
        ((1, 0), ["Jane Austen<|im_end|>\n"]),
        ((0, 0), []),
    ],
)
def test_per_turn_weights_choose_the_turns_that_carry_loss(tokenizer, weights, trained):
    messages = list(CONVERSATION)
    messages[1] = Message("assistant", "Jane Austen", weights[0])
    messages[3] = Message("assistant", "In 1813", weights[1])
    encoded = encode(Example("1", tuple(messages)), ChatTemplate(), tokenizer)
    # The whole conversation is there, as the chat template renders it...
    full = tokenizer.apply_chat_template(
        [{"role": m.role, "content": m.content} for m in messages], tokenize=False
    )
    assert tokenizer.decode(encoded.input_ids) == full
    # ...and the labelled spans are exactly the chosen answers with their end markers.
    spans, current = [], []
    for token, label in zip(encoded.input_ids, encoded.labels):
        if label != IGNORE:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    if current:
        spans.append(tokenizer.decode(current))
    assert spans == trained


def test_a_template_that_rewrites_history_trains_the_final_answer_only(tokenizer):
    # Alpaca renders earlier answers differently from how it ends one, so the turns cannot be
    # walked.
    encoded = encode(Example("1", CONVERSATION), AlpacaTemplate(), tokenizer)
    trained = tokenizer.decode(
        [t for t, label in zip(encoded.input_ids, encoded.labels) if label != IGNORE]
    )
    assert trained == "In 1813<|im_end|>"


def test_examples_without_a_trained_turn_are_left_out_of_training(tokenizer):
    from ftx.backends.local.lengths import fit

    silent = (Message("user", "Q"), Message("assistant", "A", 0))
    encoded = [
        encode(Example("1", silent), ChatTemplate(), tokenizer),
        encode(EXAMPLE, ChatTemplate(), tokenizer),
    ]
    assert len(fit(encoded, 512, "truncate").examples) == 1
