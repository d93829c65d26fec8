"""Where does a packed training step spend its time? Times forward+backward of a LoRA model
for padded and packed batches, with fixed and with varying lengths, with transformers' masked
attention and with ftx's per-example attention (diagnostic, GPU; ``--small`` for a quick CPU
check)."""

import random
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

shape = (
    dict(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        vocab_size=128256,
        tie_word_embeddings=True,
    )
    if "--small" not in sys.argv
    else dict(
        hidden_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=512,
        vocab_size=4096,
    )
)
device = "cuda" if torch.cuda.is_available() else "cpu"
with torch.device(device):
    model = LlamaForCausalLM(
        LlamaConfig(
            **shape,
            attn_implementation=sys.argv[1]
            if len(sys.argv) > 1 and not sys.argv[1].startswith("--")
            else "sdpa",
        )
    ).to(torch.bfloat16 if device == "cuda" else torch.float32)
model = get_peft_model(
    model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
)
rng = random.Random(0)


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def step(ids, **kw):
    out = model(input_ids=ids, use_cache=False, **kw)
    out.logits.float().mean().backward()


def timeit(name, make, n=10 if device == "cuda" else 2):
    step(**make())
    sync()
    t = time.perf_counter()
    for _ in range(n):
        step(**make())
    sync()
    print(f"{name:40s} {(time.perf_counter() - t) / n * 1000:8.1f} ms/step", flush=True)


V = shape["vocab_size"]


def packed(L, k=8, boundaries=False):
    lengths = [L // k] * k
    pos = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0).to(device)
    ids = torch.randint(0, V, (1, sum(lengths)), device=device)
    keep = torch.arange(0, sum(lengths), 4, device=device)
    batch = {"ids": ids, "position_ids": pos, "logits_to_keep": keep}
    if boundaries:  # what ftx's PackingCollator adds for per-example attention
        cu = torch.tensor([0, *lengths], device=device).cumsum(0).to(torch.int32)
        batch.update(
            cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max(lengths), max_length_k=max(lengths)
        )
    return batch


def per_example(make):
    """The same batch through ftx's packed attention (varlen flash attention on CUDA)."""
    from ftx.backends.local.attention import NAME, register

    def run():
        register()
        model.set_attn_implementation(NAME)
        return make()

    return run


timeit("padded 8x512", lambda: {"ids": torch.randint(0, V, (8, 512), device=device)})
timeit("padded 8x216", lambda: {"ids": torch.randint(0, V, (8, 216), device=device)})
timeit(
    "one row 1728, no position_ids", lambda: {"ids": torch.randint(0, V, (1, 1728), device=device)}
)
timeit("packed 1728 fixed", lambda: packed(1728))
timeit("packed varying length", lambda: packed(rng.randrange(1400, 2000) // 8 * 8))
timeit(
    "packed 1728 fixed, full logits",
    lambda: {k: v for k, v in packed(1728).items() if k != "logits_to_keep"},
)
timeit(
    "packed 1728 fixed, per-example attention", per_example(lambda: packed(1728, boundaries=True))
)
timeit(
    "packed 6912 (32 examples), per-example",
    per_example(lambda: packed(6912, k=32, boundaries=True)),
)
model.set_attn_implementation("sdpa")
timeit("packed 6912 (32 examples), masked", lambda: packed(6912, k=32))
