"""Helpers for testing ftx and ftx plugins: a tiny model, sample data, plugin registration.

    from ftx.testing import make_tiny_model, registered

    def test_my_backend(tmp_path):
        model_dir = make_tiny_model(tmp_path / "model")   # 2-layer Llama, 64 wide, no download
        with registered(my_plugin_module):
            ...                                          # ftx sees the plugin only in here
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

from ftx import plugins


def tiny_tokenizer_dir() -> Path:
    """A 512-token BPE tokenizer with a ChatML chat template, shipped with ftx."""
    return Path(str(resources.files("ftx") / "assets" / "tiny-tokenizer"))


def make_tiny_model(path: str | Path, *, seed: int = 0, layers: int = 2, hidden: int = 64) -> Path:
    """Save a randomly initialised Llama-shaped model with the tiny tokenizer to ``path``."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    if (path / "config.json").exists():
        return path
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
        # With the usual 0.02, tied-embedding logits of a 64-wide model stay within about +-1.3
        # behind the frozen final norm, and LoRA could not make any prediction confident.
        initializer_range=0.2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def sample_rows(n: int = 24) -> list[dict[str, str]]:
    """``n`` question/answer records from the bundled dataset."""
    from ftx.data import bundled_path

    lines = bundled_path().read_text(encoding="utf-8").splitlines()[:n]
    return [json.loads(line) for line in lines]


def write_jsonl(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    path = Path(path)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@contextlib.contextmanager
def registered(plugin: Any, name: str | None = None) -> Iterator[str]:
    """Register ``plugin`` (a module or object with hookimpls) for the duration of a block."""
    plugin_name = plugins.register_plugin(plugin, name=name)
    try:
        yield plugin_name
    finally:
        plugins.unregister_plugin(plugin_name)
