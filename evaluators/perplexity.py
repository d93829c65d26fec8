"""perplexity: how surprised each model is by the reference answers (lower is better).

Unlike the other metrics it does not look at what the model generated: it asks the model for
the probability of the *reference* answer after the prompt, token by token, with the same
template it was trained with. It moves smoothly even when answers are not yet right, which
makes it a good early signal. Only backends that expose token probabilities give it (the local
ones); hosted backends show "–". Per example it is exp(mean negative log-likelihood of the
answer's tokens); the corpus value pools all tokens: exp(total NLL / total tokens).
"""

from __future__ import annotations

import math
from typing import Any

from ftx.evaluator import Evaluator
from ftx.hookspecs import hookimpl
from ftx.types import Scores


class Perplexity(Evaluator):
    name = "perplexity"
    description = (
        "perplexity of the reference answers under each model (local backends), lower is better"
    )
    metrics = ("perplexity",)
    lower_is_better = ("perplexity",)
    needs = ("reference_logprob",)

    def score(
        self,
        predictions: list[str],
        references: list[str],
        prompts: list[str],
        rows: list[dict[str, Any]] | None = None,
    ) -> Scores:
        pairs = [(r.get("reference_logprob"), r.get("reference_tokens")) for r in rows or []]
        if not pairs or any(lp is None or not n for lp, n in pairs):
            return Scores({})  # this backend cannot say: the metric stays empty for it
        per_example = [math.exp(-lp / n) for lp, n in pairs]
        stats = [[-lp, n] for lp, n in pairs]  # negative log-likelihood, tokens
        corpus = self.corpus_value("perplexity", [sum(column) for column in zip(*stats)])
        return Scores(
            {"perplexity": per_example}, {"perplexity": corpus}, corpus_stats={"perplexity": stats}
        )

    def corpus_value(self, metric: str, totals: list[float]) -> float:
        """Pooled over all tokens: exp(total NLL / total tokens)."""
        return math.exp(totals[0] / totals[1])


@hookimpl
def ftx_register_evaluators(register):
    register(Perplexity)
