"""Packed-row attention: example by example it must give what transformers' masked SDPA gives."""

import random

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from ftx.backends.local.attention import NAME, packed_rows, register  # noqa: E402
from ftx.backends.local.tokenize import IGNORE, PackingCollator  # noqa: E402
from ftx.backends.local.train import completion_loss  # noqa: E402


def packed_batch(vocab: int, lengths: list[int], multiple: int = 1, seed: int = 0) -> dict:
    rng = random.Random(seed)
    rows = []
    for n in lengths:
        ids = [rng.randrange(5, vocab) for _ in range(n)]
        rows.append({"input_ids": ids, "labels": [IGNORE] * (n // 2) + ids[n // 2 :]})
    return PackingCollator(pad_id=0, multiple=multiple)(rows)


def loss_and_grads(
    model, batch: dict, implementation: str
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    register()
    model.set_attn_implementation(implementation)
    model.zero_grad()
    inputs = dict(batch)
    if (
        implementation == "sdpa"
    ):  # transformers' own path: the block-diagonal mask from position_ids
        inputs = {k: v for k, v in inputs.items() if not k.startswith(("cu_seq", "max_length"))}
    loss = completion_loss(model, inputs)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_per_example_attention_equals_the_masked_row(tiny_model):
    """Grouped-query heads (4 query, 2 key/value), five examples and a filler segment: the loss
    and every gradient match transformers' SDPA over the whole row with its mask."""
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    batch = packed_batch(model.config.vocab_size, [9, 30, 4, 17, 22], multiple=16)
    assert batch["cu_seq_lens_q"].tolist() == [0, 9, 39, 43, 60, 82, 96]
    assert batch["max_length_q"] == 30
    masked_loss, masked_grads = loss_and_grads(model, batch, "sdpa")
    packed_loss, packed_grads = loss_and_grads(model, batch, NAME)
    assert packed_loss.item() == pytest.approx(masked_loss.item(), rel=1e-6)
    assert len(packed_grads) == len(masked_grads)
    for ours, theirs in zip(packed_grads, masked_grads):
        assert torch.allclose(ours, theirs, atol=1e-6, rtol=1e-4)


def test_a_sliding_window_is_left_to_the_mask():
    """Mistral-style models attend within a window; example by example would ignore it."""
    config = transformers.MistralConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=4,
    )
    torch.manual_seed(0)
    model = transformers.MistralForCausalLM(config)
    batch = packed_batch(64, [12, 9])
    masked_loss, _ = loss_and_grads(model, batch, "sdpa")
    packed_loss, _ = loss_and_grads(model, batch, NAME)
    assert packed_loss.item() == pytest.approx(masked_loss.item(), rel=1e-6)


def test_without_boundaries_it_is_plain_sdpa(tiny_model):
    """Generation and padded batches carry no boundaries: the padding mask must still apply."""
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    reference = model(input_ids=ids, attention_mask=mask).logits
    register()
    model.set_attn_implementation(NAME)
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, reference)


def test_packed_rows_switches_sdpa_models_only_and_restores(tiny_model):
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    assert model.config._attn_implementation == "sdpa"
    with packed_rows(model) as switched:
        assert switched and model.config._attn_implementation == NAME
    assert model.config._attn_implementation == "sdpa"
    eager = transformers.AutoModelForCausalLM.from_pretrained(
        tiny_model, attn_implementation="eager"
    )
    with packed_rows(eager) as switched:  # a model that needs eager attention keeps it
        assert not switched and eager.config._attn_implementation == "eager"


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_training_uses_per_example_attention_and_saves_plain_sdpa(
    tiny_model, tmp_path, monkeypatch, checkpointing
):
    """Through the backend's own train(), recomputing activations or not: the boundaries reach
    the attention, and the model that comes out (and the config it saves) is back on SDPA."""
    from ftx.backends.local import attention
    from ftx.backends.local.options import TrainOptions
    from tests.helpers import train_briefly

    seen = []
    original = attention.packed_attention

    def spy(module, query, key, value, attention_mask, **kwargs):
        seen.append(kwargs.get("cu_seq_lens_q") is not None)
        return original(module, query, key, value, attention_mask, **kwargs)

    monkeypatch.setattr(attention, "packed_attention", spy)
    monkeypatch.setattr(attention, "_registered", False)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    opts = TrainOptions(
        max_steps=2,
        batch_size=2,
        save_checkpoints=False,
        device="cpu",
        gradient_checkpointing=checkpointing,
    )
    stats = train_briefly(model, tiny_model, tmp_path, opts, torch.float32)
    assert stats.steps == 2
    assert seen and all(seen)  # every training forward attended example by example
    assert model.config._attn_implementation == "sdpa"
    model.save_pretrained(tmp_path / "saved")
    assert NAME not in (tmp_path / "saved" / "config.json").read_text()
    monkeypatch.undo()
    attention._registered = False
    register()  # put the real function back for later tests


def test_a_varlen_kernel_that_cannot_run_falls_back_and_says_why(monkeypatch):
    """Where PyTorch's varlen flash kernel refuses (here: a CPU tensor; on a GPU: an older
    card or head size), the row is attended with the mask instead, and the reason is kept for
    the training log."""
    from ftx.backends.local import attention

    monkeypatch.setattr(attention, "_varlen_failed", [])
    q = torch.randn(1, 4, 10, 16, dtype=torch.bfloat16)
    assert attention._varlen(q, q, q, torch.tensor([0, 4, 10]), 6, None, gqa=False) is None
    assert "flash" in attention.varlen_problem().lower()


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="variable-length flash attention needs a CUDA GPU"
)
def test_cuda_varlen_attention_equals_the_masked_row(tiny_model):
    from ftx.backends.local.attention import varlen_problem

    model = transformers.AutoModelForCausalLM.from_pretrained(
        tiny_model, dtype=torch.bfloat16
    ).cuda()
    batch = packed_batch(model.config.vocab_size, [90, 300, 40, 170, 220], multiple=256)
    batch = {k: v.cuda() if hasattr(v, "cuda") else v for k, v in batch.items()}
    masked_loss, masked_grads = loss_and_grads(model, batch, "sdpa")
    packed_loss, packed_grads = loss_and_grads(model, batch, NAME)
    assert varlen_problem() is None
    assert packed_loss.item() == pytest.approx(masked_loss.item(), rel=2e-2)
    for ours, theirs in zip(packed_grads, masked_grads):
        assert torch.allclose(ours.float(), theirs.float(), atol=2e-2, rtol=5e-2)
