"""The data that crosses plugin boundaries: plain dataclasses, no framework types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    # Whether an assistant turn is trained on (OpenAI's per-turn ``weight``): 1 trains it, 0 does
    # not; None keeps ftx's default, which trains the final answer and no earlier turn.
    weight: int | None = None


@dataclass(frozen=True)
class Example:
    """The canonical record. The reference answer is the final assistant message;
    the prompt is everything before it.

    A preference example (``ftx.preference`` says what one is) also has ``rejected``: the
    answer not to give to the same prompt. Its final message is then the chosen answer, which
    is the reference, so everything that reads examples reads a pair as its prompt and chosen
    answer."""

    id: str
    messages: tuple[Message, ...]
    source: str = ""  # "file:line", for error messages
    rejected: str | None = None  # preference data: the rejected answer to the same prompt

    @property
    def prompt(self) -> list[Message]:
        return list(self.messages[:-1])

    @property
    def reference(self) -> str:
        return self.messages[-1].content

    def trained_turns(self) -> list[int]:
        """Indexes of the assistant messages that carry loss: the final answer unless its weight
        is 0, and any earlier assistant turn whose weight is 1."""
        last = len(self.messages) - 1
        return [
            i
            for i, m in enumerate(self.messages)
            if m.role == "assistant" and (m.weight == 1 or (i == last and m.weight != 0))
        ]

    def to_dict(self) -> dict[str, Any]:
        messages = [
            {"role": m.role, "content": m.content}
            | ({"weight": m.weight} if m.weight is not None else {})
            for m in self.messages
        ]
        out: dict[str, Any] = {"id": self.id, "messages": messages}
        if self.rejected is not None:
            out["rejected"] = self.rejected
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> Example:
        rejected = data.get("rejected")
        return cls(
            id=str(data["id"]),
            messages=tuple(
                Message(m["role"], m["content"], m.get("weight")) for m in data["messages"]
            ),
            source=source,
            rejected=str(rejected) if rejected is not None else None,
        )


@dataclass
class Splits:
    """Seeded, reproducible train/eval split of one dataset."""

    train: list[Example]
    eval: list[Example]
    leaked: list[str] = field(default_factory=list)  # eval ids whose prompt is also in train


@dataclass(frozen=True)
class Problem:
    """One thing wrong with data, configuration or a backend's preflight.

    ``where`` is "file:line" (or a backend/option name), ``field`` the field inside the
    record, ``hint`` what to do about it.
    """

    message: str
    where: str = ""
    field: str = ""
    hint: str = ""
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        place = self.where
        if self.field:
            place = f"{place}: field '{self.field}'" if place else f"field '{self.field}'"
        text = f"{place}: {self.message}" if place else self.message
        return f"{text} ({self.hint})" if self.hint else text


@dataclass
class GenerationParams:
    """How predictions are sampled. temperature 0 means greedy decoding."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int = 0


@dataclass
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: bool = False  # stopped at max_new_tokens (or the context's end), not by the model


@dataclass
class PairLogprobs:
    """What a local model says about a held-out preference pair (``TrainedModel.pair_logprobs``):
    the summed log-probability of the chosen and of the rejected answer after the prompt, under
    the model and under its **base** (the untuned model it was tuned from: adapters off; the
    base itself gives its own numbers twice), with each answer's token count. The implicit
    reward of an answer is its log-probability minus its base log-probability (DPO's reward
    without beta)."""

    chosen: float
    rejected: float
    base_chosen: float
    base_rejected: float
    chosen_tokens: int
    rejected_tokens: int

    def row(self) -> dict[str, float | int]:
        """The fields a prediction row gets, as evaluators that need ``"pair_logprobs"`` read
        them."""
        return {
            "chosen_logprob": self.chosen,
            "rejected_logprob": self.rejected,
            "base_chosen_logprob": self.base_chosen,
            "base_rejected_logprob": self.base_rejected,
            "chosen_tokens": self.chosen_tokens,
            "rejected_tokens": self.rejected_tokens,
        }


@dataclass
class Scores:
    """What an evaluator returns: per-example values for each metric it defines, plus a
    corpus-level value where the metric has one (BLEU, chrF).

    ``corpus_stats`` holds, per corpus metric, each example's additive sufficient statistics
    (BLEU's n-gram matches and lengths), so that reports can recompute the corpus value on
    bootstrap resamples with ``Evaluator.corpus_value``; a corpus metric without them gets the
    interval of its per-example mean. ``signatures`` says how a value was computed, for reports
    (sacrebleu's signature, which names the tokenizer: ``tok:zh``)."""

    per_example: dict[str, list[float]]
    corpus: dict[str, float] = field(default_factory=dict)
    cost_usd: float | None = (
        None  # what scoring these answers paid (an LLM judge's API calls); None: free or unknown
    )
    corpus_stats: dict[str, list[list[float]]] = field(
        default_factory=dict
    )  # metric -> one vector per example
    signatures: dict[str, str] = field(default_factory=dict)  # metric -> how it was computed


@dataclass
class TrainStats:
    """What a backend reports about its training, for the comparison table."""

    seconds: float = 0.0
    train_tokens: int = 0  # tokens the model was trained on (all epochs), real tokens only
    steps: int = 0
    final_loss: float | None = None
    cost_usd: float | None = None
