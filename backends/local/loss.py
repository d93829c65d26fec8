"""What a local training minimises, and the tokens it counts: cross-entropy on completion tokens.

Kept apart from ``trainer.py`` (which imports transformers) so that the loss can be imported,
tested and benchmarked on its own.
"""

from __future__ import annotations

from typing import Any

from .tokenize import IGNORE

REAL_TOKENS = "ftx_real_tokens"  # a batch's key: its tokens that are not padding


def completion_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> Any:
    """Cross-entropy on completion tokens, computing logits only where a target exists.

    The output layer is the widest matrix of a small model (49k x 576 for SmolLM2-135M), and
    most tokens are prompt; asking the model for just the positions whose next token carries
    loss (``logits_to_keep``) skips that work. The sum is divided by ``num_items_in_batch``,
    the number of target tokens in the whole accumulated batch (of every process, under a
    launcher: see ``CompletionTrainer.compute_loss``), as transformers' own loss does; without
    it, by this batch's own count.
    """
    import torch
    import torch.nn.functional as F

    labels = inputs.pop("labels")
    targets = labels[:, 1:]  # position p predicts token p + 1
    keep = (targets != IGNORE).any(dim=0).nonzero().squeeze(-1)
    outputs = model(**inputs, use_cache=False, logits_to_keep=keep)
    logits = outputs.logits
    loss = F.cross_entropy(
        logits.float().flatten(0, 1),
        targets[:, keep].flatten(),
        ignore_index=IGNORE,
        reduction="sum",
    )
    count = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE).sum()
    return loss / torch.clamp(torch.as_tensor(count, device=loss.device), min=1)


class Counting:
    """``collator``, with each batch's real tokens under ``REAL_TOKENS``, for the trainer to count
    when it trains on the batch: the data loader collates a batch ahead (one that a training
    stopped by max_steps never trains on), and validation batches go through the collator too.
    ``real_tokens`` is still the collator's running count (the benchmarks read it)."""

    def __init__(self, collator: Any):
        self.collator = collator

    @property
    def real_tokens(self) -> int:
        return self.collator.real_tokens

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        start = self.collator.real_tokens
        out = self.collator(batch)
        out[REAL_TOKENS] = self.collator.real_tokens - start
        return out
