"""``compile``: torch.compile for training, one decoder layer at a time.

On a GPU a step of a few thousand tokens is bound by launching kernels (docs/performance.md);
torch.compile fuses the small ones (norms, activations, LoRA's scaling and adds) into fewer,
and ``mode="reduce-overhead"`` replays them as CUDA graphs. Compiling the whole model, as
``TrainingArguments(torch_compile=True)`` does, recompiles until dynamo's cache limit is hit and
falls back to eager (measured: transformers' decorators share one code object across methods),
and takes minutes. The layers of a model run the same code on the same shapes, so compiling
each layer ("regional compilation", PyTorch's recipe for transformers) compiles once and reuses
it for every layer: far shorter compiles, the same fused kernels.

Packed rows change length from step to step; dynamo then recompiles once with dynamic shapes
(``mark_dynamic`` is not needed). On CUDA rows are rounded to multiples of 256 tokens, which
keeps the number of distinct shapes small for ``reduce-overhead``'s graphs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def repeated_layers(model: Any) -> list[Any]:
    """The model's decoder layers: the modules of the classes it names as not to be split
    across devices (``_no_split_modules``, e.g. ``LlamaDecoderLayer``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    return [m for m in base.modules() if type(m).__name__ in names]


@contextlib.contextmanager
def compiled_layers(model: Any, mode: str, log: Any) -> Iterator[int]:
    """Within the block, each decoder layer runs compiled (``mode``: default, reduce-overhead,
    max-autotune); yields how many. Afterwards the layers run eagerly again: generation,
    with its KV cache and one token a step, would only recompile."""
    if mode == "off":
        yield 0
        return
    layers = repeated_layers(model)
    if not layers:
        log(
            f"compile={mode}: the model names no repeated layers to compile; "
            "training runs uncompiled"
        )
        yield 0
        return
    import torch._dynamo

    for layer in layers:
        layer.compile(mode=None if mode == "default" else mode)
    # Frames that dynamo resumes after a graph break inside a layer include transformers'
    # decorators, whose one code object wraps many methods: each counts against dynamo's limit
    # of 8 versions of a frame, and past it the layer would silently run eagerly.
    limit = torch._dynamo.config.cache_size_limit
    torch._dynamo.config.cache_size_limit = max(limit, 64)
    log(
        f"compile={mode}: {len(layers)} {type(layers[0]).__name__} layers compiled as they first "
        "run (the first steps are slower)"
    )
    try:
        yield len(layers)
    finally:
        torch._dynamo.config.cache_size_limit = limit
        for layer in layers:
            layer._compiled_call_impl = None  # nn.Module.compile's own attribute
