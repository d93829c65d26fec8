"""The local backends: the untuned model and LoRA fine-tuning on torch + transformers + peft.

    ftx run --backend local-base --backend local-lora --data qa.jsonl --model ./my-model

The backends share one implementation and differ only in how the model is prepared before
training (``prepare``): ``local-base`` does not train, ``local-lora`` wraps the model in peft
LoRA adapters. Heavy libraries are imported only when a backend actually runs.
"""

from __future__ import annotations

import gc
from typing import Any, ClassVar

from ftx.backend import Backend, BackendContext, TrainedModel
from ftx.errors import ConfigError, FtxError
from ftx.hookspecs import hookimpl
from ftx.types import Completion, GenerationParams, Message, Problem, Splits, TrainStats

from . import model as models
from .options import LocalOptions, LoraOptions, TrainOptions

ADAPTER_DIR = "adapter"


class LocalModel(TrainedModel):
    """A model in memory (base or fine-tuned) with what it needs to answer prompts."""

    def __init__(self, model: Any, tokenizer: Any, template: Any, opts: LocalOptions, device: str, progress: Any, label: str, stats: TrainStats):
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.opts, self.device, self.progress, self.label = opts, device, progress, label
        self.stats = stats

    def generate(self, prompts: list[list[Message]], params: GenerationParams) -> list[Completion]:
        from .generate import generate

        return generate(self.model, self.tokenizer, self.template, prompts, params, batch_size=self.opts.eval_batch_size,
                        device=self.device, progress=self.progress, label=f"{self.label}: answering")

    def close(self) -> None:
        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


class LocalBackend(Backend):
    """What every local backend shares: model loading, preflight, encoding, generation."""

    Options: ClassVar[type] = LocalOptions
    model_option = "model"

    # --- preflight -------------------------------------------------------------------------

    def check(self, splits: Splits, opts: LocalOptions) -> list[Problem]:
        problems: list[Problem] = []
        for module, package in (("torch", "torch"), ("transformers", "transformers"), *self.requires()):
            try:
                __import__(module)
            except ImportError:
                problems.append(Problem(f"needs the '{package}' package", self.name, hint="pip install 'ftx[local]'"))
        if problems:
            return problems
        try:
            source = models.resolve(opts.model)
            template = self.template(opts)
            tokenizer = models.load_tokenizer(models.materialize(source), opts.trust_remote_code)
        except FtxError as exc:
            return [Problem(str(exc), self.name)]
        from .tokenize import encode

        for example in [*splits.train, *splits.eval]:
            try:
                length = len(encode(example, template, tokenizer))
            except FtxError as exc:
                return [Problem(str(exc), self.name)]
            if length > opts.max_seq_length:
                problems.append(Problem(
                    f"is {length} tokens with the '{opts.template}' template, over max_seq_length {opts.max_seq_length}",
                    example.source or example.id,
                    hint=f"shorten it, or --set {self.name}.max_seq_length={length}",
                ))
        return problems

    def requires(self) -> list[tuple[str, str]]:
        """Extra (module, package) pairs this backend needs beyond torch and transformers."""
        return []

    # --- shared steps ----------------------------------------------------------------------

    def template(self, opts: LocalOptions) -> Any:
        from ftx.plugins import get_registry

        return get_registry().get("template", opts.template)()

    def load(self, opts: LocalOptions) -> tuple[Any, Any, str, Any]:
        source = models.resolve(opts.model)
        directory = models.materialize(source)
        device = models.pick_device(opts.device)
        dtype = models.pick_dtype(opts.dtype, device)
        tokenizer = models.load_tokenizer(directory, opts.trust_remote_code)
        model = models.load_model(directory, device=device, dtype=dtype, trust_remote_code=opts.trust_remote_code)
        return model, tokenizer, device, dtype

    def wrap(self, model: Any, tokenizer: Any, opts: LocalOptions, device: str, ctx: BackendContext, stats: TrainStats) -> LocalModel:
        return LocalModel(model, tokenizer, self.template(opts), opts, device, ctx.progress, self.name, stats)


class LocalBase(LocalBackend):
    name = "local-base"
    description = "the untuned local model, as the baseline to beat"
    is_baseline = True

    def train(self, splits: Splits, opts: LocalOptions, ctx: BackendContext) -> TrainedModel:
        model, tokenizer, device, _ = self.load(opts)
        return self.wrap(model, tokenizer, opts, device, ctx, TrainStats())

    def attach(self, state: dict[str, Any], opts: LocalOptions, ctx: BackendContext) -> TrainedModel:
        return self.train(Splits([], []), opts, ctx)


class LocalTrainer(LocalBackend):
    """A local backend that trains: subclasses say how the model is prepared."""

    Options: ClassVar[type] = TrainOptions

    def prepare(self, model: Any, opts: TrainOptions) -> Any:
        """Turn the loaded model into the one that trains (adapters, quantization, ...)."""
        return model

    def save(self, model: Any, tokenizer: Any, ctx: BackendContext) -> None:
        raise NotImplementedError

    def train(self, splits: Splits, opts: TrainOptions, ctx: BackendContext) -> TrainedModel:
        from .tokenize import encode
        from .train import train

        from transformers import set_seed

        seed = opts.seed if opts.seed is not None else ctx.seed
        set_seed(seed)  # before prepare(): adapter initialisation draws random numbers too
        model, tokenizer, device, dtype = self.load(opts)
        model = self.prepare(model, opts)
        template = self.template(opts)
        encoded = [encode(e, template, tokenizer) for e in splits.train]
        stats = train(model, tokenizer, encoded, opts, ctx, device=device, dtype=dtype, seed=seed, label=f"{self.name}: training")
        self.save(model, tokenizer, ctx)
        ctx.state["artifact"] = ADAPTER_DIR
        ctx.save_state()
        return self.wrap(model, tokenizer, opts, device, ctx, stats)


class LocalLoRA(LocalTrainer):
    name = "local-lora"
    description = "LoRA adapters (peft) on a local model; the base weights stay frozen"
    Options = LoraOptions

    def requires(self) -> list[tuple[str, str]]:
        return [("peft", "peft")]

    def prepare(self, model: Any, opts: LoraOptions) -> Any:
        from peft import LoraConfig, get_peft_model

        targets: Any = "all-linear" if opts.target_modules == ["all-linear"] else opts.target_modules
        config = LoraConfig(r=opts.lora_r, lora_alpha=opts.lora_alpha, lora_dropout=opts.lora_dropout,
                            target_modules=targets, task_type="CAUSAL_LM")
        try:
            return get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(f"cannot add LoRA adapters: {exc}", hint="Check target_modules against the model's module names.") from None

    def save(self, model: Any, tokenizer: Any, ctx: BackendContext) -> None:
        model.save_pretrained(ctx.dir / ADAPTER_DIR)  # safetensors: the adapter weights only

    def attach(self, state: dict[str, Any], opts: LoraOptions, ctx: BackendContext) -> TrainedModel:
        from peft import PeftModel

        adapter = ctx.dir / ADAPTER_DIR
        if not (adapter / "adapter_config.json").exists():
            raise FtxError(f"the adapter in {adapter} is missing.", hint="Start a new run; this one cannot be resumed.")
        model, tokenizer, device, _ = self.load(opts)
        model = PeftModel.from_pretrained(model, adapter)
        return self.wrap(model, tokenizer, opts, device, ctx, TrainStats())


@hookimpl
def ftx_register_backends(register):
    register(LocalBase)
    register(LocalLoRA)
