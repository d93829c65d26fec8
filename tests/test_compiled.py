"""``compile``: decoder layers compiled for training train to the same loss as eager ones, and
run eagerly again afterwards (generation would only recompile)."""

import pytest

from ftx.backends.local.compiled import compiled_layers, repeated_layers
from tests.test_token_batches import encoded_examples, load, train

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")


def test_the_repeated_layers_are_the_decoder_layers(tiny_model):
    layers = repeated_layers(load(tiny_model))
    assert [type(layer).__name__ for layer in layers] == ["LlamaDecoderLayer"] * 2


def test_compiled_layers_train_to_the_same_loss_and_are_eager_afterwards(tmp_path, tiny_model):
    examples = encoded_examples()
    eager = train(load(tiny_model), examples, tmp_path / "eager", max_steps=3, batch_tokens=120)
    model = load(tiny_model)
    lines = []
    compiled = train(
        model,
        examples,
        tmp_path / "compiled",
        max_steps=3,
        batch_tokens=120,
        compile="default",
        log=lines.append,
    )
    assert compiled.final_loss == pytest.approx(eager.final_loss, rel=1e-4)
    assert any("compile=default: 2 LlamaDecoderLayer layers compiled" in line for line in lines)
    assert all(layer._compiled_call_impl is None for layer in repeated_layers(model))


def test_off_compiles_nothing(tiny_model):
    model = load(tiny_model)
    with compiled_layers(model, "off", print) as n:
        assert n == 0
        assert all(layer._compiled_call_impl is None for layer in repeated_layers(model))
