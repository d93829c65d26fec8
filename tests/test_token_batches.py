"""Steps sized in tokens (``batch_tokens``): how examples are grouped, that an accumulated step's
loss and gradients are those of one big batch, and that a training resumed mid-epoch ends with
the same weights as one that never stopped."""

import json
import random

import pytest

from ftx.backends.local.batches import GROUP, Ungrouping, resolve_batch_tokens, token_batches
from ftx.backends.local.options import TrainOptions
from tests.helpers import backend_context


def lengths(n=200, seed=0):
    rng = random.Random(seed)
    return [rng.randint(5, 300) for _ in range(n)]


@pytest.mark.parametrize("packed", [True, False])
def test_every_example_is_in_one_micro_step_within_the_budget(packed):
    sizes = lengths() + [900]  # one example longer than the budget
    groups = token_batches(sizes, 512, packed=packed, seed=3)
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
    for group in groups:
        cost = sum(sizes[i] for i in group) if packed else len(group) * max(sizes[i] for i in group)
        assert cost <= 512 or group == [len(sizes) - 1]  # the long one alone
    # Full micro-steps: next fit wastes at most the room the next example did not fit in.
    if packed:
        assert sum(sizes) / (512 * len(groups)) > 0.8
    # The same seed, the same groups (every process of a launcher and a resume rely on it).
    assert token_batches(sizes, 512, packed=packed, seed=3) == groups
    assert token_batches(sizes, 512, packed=packed, seed=4) != groups


def test_padded_micro_steps_hold_similar_lengths():
    sizes = lengths()
    padded = sum(
        len(g) * max(sizes[i] for i in g) for g in token_batches(sizes, 1024, packed=False, seed=0)
    )
    assert padded / sum(sizes) < 1.1  # under 10% padding


def test_auto_sizes_steps_in_tokens_on_cuda_only():
    assert resolve_batch_tokens("auto", device="cpu", batch_size=8, longest=300) == 0
    assert resolve_batch_tokens("auto", device="cuda", batch_size=8, longest=300) == 4096
    # At least the longest example, rounded up to the packed row's multiple.
    assert (
        resolve_batch_tokens("auto", device="cuda", batch_size=2, longest=1500, multiple=256)
        == 1536
    )
    assert resolve_batch_tokens(1000, device="cpu", batch_size=8, longest=9, multiple=256) == 1024
    assert resolve_batch_tokens(0, device="cuda", batch_size=8, longest=9) == 0


def test_auto_keeps_small_data_at_fifty_optimizer_steps_an_epoch():
    def auto(lengths, accumulation=1):
        return resolve_batch_tokens(
            "auto",
            device="cuda",
            batch_size=8,
            longest=max(lengths),
            lengths=lengths,
            accumulation=accumulation,
        )

    big = [216] * 2000  # 432,000 tokens: 50 steps of 4,096 fit many times over
    assert auto(big) == 4096
    mid = [216] * 500  # 108,000 tokens: 50 steps of 2,160
    assert auto(mid) == 2160
    assert auto(mid, accumulation=2) == 1728  # 8 examples' worth at least: 100 steps cannot be
    small = [37] * 257  # the bundled demo's size: steps of 8 examples' worth, as on the CPU
    assert auto(small) == 296
    assert len(token_batches(small, auto(small), packed=True, seed=0)) >= 32
    assert auto([30] * 10 + [3000]) >= 3000  # the longest example still fits


def test_options_refuse_a_negative_budget():
    assert any("batch_tokens" in p for p in TrainOptions(batch_tokens=-1).validate())
    assert not TrainOptions(batch_tokens=2048).validate()


def test_validation_items_pass_through_the_ungrouping_collator():
    seen = []
    collate = Ungrouping(lambda rows: seen.append(rows) or {})
    collate([{GROUP: [{"input_ids": [1]}, {"input_ids": [2]}]}])
    collate([{"input_ids": [3]}, {"input_ids": [4]}])
    assert seen == [
        [{"input_ids": [1]}, {"input_ids": [2]}],
        [{"input_ids": [3]}, {"input_ids": [4]}],
    ]


# --- real training on a tiny model -------------------------------------------------------------


def encoded_examples(n=24, seed=1, vocab=200):
    from ftx.backends.local.tokenize import IGNORE, Encoded

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(8, 40)
        prompt = rng.randint(2, length - 3)
        ids = [rng.randrange(5, vocab) for _ in range(length)]
        out.append(Encoded(ids, [IGNORE] * prompt + ids[prompt:]))
    return out


def load(tiny_model):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model, dtype="float32")


def train(model, examples, folder, ctx=None, log=None, device="cpu", **options):
    """The local backends' ``train()`` with ``options``, float32 on the CPU, bfloat16 on CUDA."""
    import torch
    from transformers import AutoTokenizer

    from ftx.backends.local import train as trainmod

    opts = TrainOptions(**{"save_checkpoints": False, "warmup_ratio": 0.0, **options})
    return trainmod.train(
        model,
        AutoTokenizer.from_pretrained(model.name_or_path),
        examples,
        opts,
        ctx or backend_context(folder, log=log),
        device=device,
        dtype=torch.float32 if device == "cpu" else torch.bfloat16,
        seed=7,
        label="test",
    )


@pytest.mark.slow
@pytest.mark.parametrize("packing", [True, False])
def test_an_accumulated_step_has_the_loss_and_gradients_of_one_big_batch(
    tmp_path, tiny_model, monkeypatch, packing
):
    import torch
    from transformers import TrainerCallback

    from ftx.backends.local import train as trainmod
    from ftx.backends.local.loss import completion_loss
    from ftx.backends.local.tokenize import PackingCollator

    examples = encoded_examples()
    sizes = [len(e.input_ids) for e in examples]
    budget = 120
    groups = token_batches(sizes, budget, packed=packing, seed=7)
    assert len(groups) > 3 and len({len(g) for g in groups}) > 1  # uneven micro-steps

    # One optimizer step over every micro-step; the gradients just before it.
    seen = {}

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            seen["grads"] = {n: p.grad.detach().clone() for n, p in model.named_parameters()}

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                seen["loss"] = logs["loss"]

    build = trainmod.build_trainer

    def with_grab(*args, **kwargs):
        trainer = build(*args, **kwargs)
        trainer.add_callback(Grab())
        return trainer

    monkeypatch.setattr(trainmod, "build_trainer", with_grab)
    stats = train(
        load(tiny_model),
        examples,
        tmp_path,
        batch_tokens=budget,
        gradient_accumulation=len(groups),
        max_steps=1,
        max_grad_norm=0.0,
        packing=packing,
    )
    assert stats.steps == 1
    assert stats.train_tokens == sum(sizes)

    # The same examples in one packed row: the mean over every target token of the step.
    model = load(tiny_model)
    batch = PackingCollator(0)([{"input_ids": e.input_ids, "labels": e.labels} for e in examples])
    loss = completion_loss(model, dict(batch))
    loss.backward()
    assert seen["loss"] == pytest.approx(loss.item(), rel=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(seen["grads"][name], param.grad, rtol=1e-4, atol=1e-6)

    # What the bug transformers fixed (a mean per micro-step, then a mean of those) differs.
    model.zero_grad()
    for group in groups:
        rows = [{"input_ids": examples[i].input_ids, "labels": examples[i].labels} for i in group]
        (completion_loss(model, dict(PackingCollator(0)(rows))) / len(groups)).backward()
    name, param = next((n, p) for n, p in model.named_parameters() if "q_proj" in n)
    assert not torch.allclose(seen["grads"][name], param.grad, rtol=1e-3, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "budget, resumed_budget, older_checkpoint",
    [
        (100, 100, False),
        # batch_tokens=auto resolving otherwise at the resume (on another device): the
        # checkpoint's steps win, or Trainer would skip the wrong examples and end elsewhere
        (100, 0, False),
        # a checkpoint of an ftx whose steps were always batch_size examples, resumed by one
        # whose auto sizes them in tokens
        (0, 100, True),
    ],
)
def test_a_training_resumed_mid_epoch_ends_with_the_same_weights(
    tmp_path, tiny_model, budget, resumed_budget, older_checkpoint
):
    import torch

    from ftx.backend import Cancelled
    from ftx.backends.local.checkpoints import STEPS

    examples = encoded_examples(n=30)
    options = dict(batch_size=4, epochs=2, learning_rate=1e-3, save_checkpoints=True)
    sizes = [len(e.input_ids) for e in examples]
    per_epoch = len(token_batches(sizes, budget, packed=True, seed=7)) if budget else 30 // 4 + 1
    stop_at = per_epoch + 2  # in the middle of the second epoch
    assert per_epoch > 4

    straight = load(tiny_model)
    stats = train(straight, examples, tmp_path / "straight", batch_tokens=budget, **options)
    assert stats.steps == 2 * per_epoch

    # Stopped (as Ctrl-C stops it) at a step in the middle of an epoch, then resumed.
    folder = tmp_path / "resumed"
    ctx = backend_context(folder)

    def stop(kind, data):
        if kind == "train_log" and data.get("step") == stop_at:
            ctx.cancelled.set()

    ctx.emit = stop
    with pytest.raises(Cancelled):
        train(load(tiny_model), examples, folder, ctx, batch_tokens=budget, **options)
    checkpoint = folder / "checkpoints" / f"checkpoint-{stop_at}"
    assert checkpoint.is_dir()
    assert json.loads((checkpoint / STEPS).read_text()) == {"tokens": budget}
    if older_checkpoint:
        (checkpoint / STEPS).unlink()
    resumed, lines = load(tiny_model), []
    stats = train(
        resumed, examples, folder, log=lines.append, batch_tokens=resumed_budget, **options
    )
    assert stats.steps == 2 * per_epoch
    # It went on from the checkpoint: each step trained (and logged) once.
    assert stats.train_tokens < 2 * sum(sizes) - sum(sizes) // 2
    log = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log if "loss" in e] == list(range(1, 2 * per_epoch + 1))
    assert any("resumed with the checkpoint's steps" in line for line in lines) == (
        budget != resumed_budget
    )

    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_out_of_memory_advice_halves_the_step_in_the_unit_it_is_sized_in():
    from ftx.backends.local import LocalLoRA
    from ftx.backends.local.options import LoraOptions

    backend = LocalLoRA()
    assert "local-lora.batch_tokens=2048 with gradient_accumulation=2" in backend.memory_advice(
        LoraOptions(), "cuda"
    )
    assert "local-lora.batch_size=4 with" in backend.memory_advice(LoraOptions(), "cpu")
    assert "batch_tokens=1000 with" in backend.memory_advice(LoraOptions(batch_tokens=2000), "cpu")
