"""reward: how each model ranks the two answers of the held-out preference pairs (local models).

DPO trains a model to give the chosen answer more probability than the rejected one, *relative
to where it started*: its implicit reward for an answer is the answer's log-probability under
the model minus its log-probability under the base (DPO's reward without beta). This evaluator
asks every local model for both answers' log-probabilities under itself and its base
(``TrainedModel.pair_logprobs``) and reports, per held-out pair:

- ``reward_accuracy``: 1 when the chosen answer's reward beats the rejected one's, 0 when it
  loses, 0.5 for a tie (within ``TIE`` nats). The base, its own reference, ties everywhere: 0.5.
- ``reward_margin``: the chosen answer's reward minus the rejected one's, in nats (TRL's
  ``rewards/margins`` divided by beta).

Like TRL's ``rewards/accuracies``, but on held-out pairs and against one reference for every
model: the base the local backends share, so SFT and DPO backends are on one scale. Like
perplexity, it does not read the generated answers. Hosted models, and eval examples that are
not pairs, leave the metrics empty ("–").

    ftx run --data pairs.jsonl --backend local-base --backend local-lora --backend local-dpo \\
        --set local-dpo.start_from=local-lora --evaluator rouge --evaluator reward
"""

from __future__ import annotations

from typing import Any

from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.types import Scores

TIE = 1e-4  # nats: rewards this close are a tie (float noise, not a preference)
FIELDS = ("chosen_logprob", "rejected_logprob", "base_chosen_logprob", "base_rejected_logprob")


def margin(row: dict[str, Any]) -> float:
    """The chosen answer's implicit reward minus the rejected one's, in nats."""
    chosen = row["chosen_logprob"] - row["base_chosen_logprob"]
    rejected = row["rejected_logprob"] - row["base_rejected_logprob"]
    return chosen - rejected


def accuracy(value: float) -> float:
    return 0.5 if abs(value) <= TIE else float(value > 0)


class Reward(Evaluator):
    name = "reward"
    description = (
        "reward accuracy and margin on held-out preference pairs: chosen vs rejected answer, "
        "relative to the base (local backends)"
    )
    metrics = ("reward_accuracy", "reward_margin")
    needs = ("pair_logprobs",)

    def score(
        self,
        predictions: list[str],
        references: list[str],
        prompts: list[str],
        rows: list[dict[str, Any]] | None = None,
    ) -> Scores:
        rows = rows or []
        if not rows or any(not isinstance(r.get(f), (int, float)) for r in rows for f in FIELDS):
            return Scores({})  # a hosted model, or held-out examples that are not pairs
        margins = [margin(r) for r in rows]
        return Scores({"reward_accuracy": [accuracy(m) for m in margins], "reward_margin": margins})


@hookimpl
def ftx_register_evaluators(register):
    register(Reward)
