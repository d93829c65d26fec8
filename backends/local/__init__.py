"""The local backends: full fine-tuning, LoRA and QLoRA on torch + transformers + peft +
bitsandbytes, and the untuned model as the baseline.

    ftx run --backend local-base --backend local-lora --backend local-qlora --model ./my-model

The backends share one implementation and differ only in how the model is loaded and prepared
before training: ``local-base`` does not train, ``local-full`` trains every weight,
``local-lora`` adds peft LoRA adapters to a frozen model, ``local-qlora`` does the same on a
4-bit (NF4) quantized model. ``local-dpo`` and ``local-qlora-dpo`` (``dpo.py``) train such
adapters on preference pairs. Heavy libraries are imported only when a backend actually runs.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from ftx import distributed
from ftx.backend import Backend, BackendContext, TrainedModel
from ftx.distributed import is_main
from ftx.errors import ConfigError, FtxError, install_command
from ftx.hookspecs import hookimpl
from ftx.templates import NoChatTemplate
from ftx.types import (
    Completion,
    Example,
    GenerationParams,
    Message,
    PairLogprobs,
    Problem,
    Splits,
    TrainStats,
)

from . import lengths
from . import model as models
from .options import LocalOptions, LoraOptions, QLoraOptions, TrainOptions

ADAPTER_DIR = "adapter"
MODEL_DIR = "model"


def use_liger_kernels(model: Any, log: Any) -> bool:
    """Swap in Liger's fused Triton kernels for this model's RMSNorm and SwiGLU, if installed.

    Only patches that replace this model's own modules are used. Liger's RoPE patch replaces a
    function in transformers' module for every model in the process (a CPU model loaded later
    then crashes in a GPU kernel), and its fused linear cross-entropy is not needed: ftx already
    computes logits only for completion tokens (see train.completion_loss).
    """
    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
    except ImportError:
        return False
    import sys

    # Liger also replaces classes in transformers' modeling module (LlamaRMSNorm, LlamaMLP), which
    # would give every model built later in this process, CPU ones too, Triton kernels. Patch
    # this instance only: put the module's names and the class's forward back afterwards.
    module = sys.modules[type(model).__module__]
    saved_names, saved_forward = dict(vars(module)), type(model).__dict__.get("forward")
    try:
        _apply_liger_kernel_to_instance(
            model=model,
            rope=False,
            swiglu=True,
            rms_norm=True,
            cross_entropy=False,
            fused_linear_cross_entropy=False,
        )
    except Exception as exc:  # an architecture Liger does not know: train without it
        log(f"Liger kernels not applied: {type(exc).__name__}: {exc}")
        return False
    finally:
        for name, value in saved_names.items():
            if vars(module).get(name) is not value:
                setattr(module, name, value)
        if saved_forward is not None and type(model).__dict__.get("forward") is not saved_forward:
            type(model).forward = saved_forward
    log("Liger kernels applied (RMSNorm, SwiGLU)")
    return True


Method = TypeVar("Method", bound=Callable[..., Any])


def libraries(method: Method) -> Method:
    """A backend method that imports the heavy libraries: bitsandbytes stays out of it unless
    the backend quantizes (see ``model.without_bitsandbytes``)."""

    @functools.wraps(method)
    def wrapper(self: LocalBackend, *args: Any, **kwargs: Any) -> Any:
        with contextlib.nullcontext() if self.four_bit else models.without_bitsandbytes():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def out_of_memory_advice(backend: str, advice: str) -> Iterator[None]:
    """Turn an out-of-memory error into one sentence that says which options to lower."""
    import torch

    try:
        yield
    except torch.OutOfMemoryError:
        raise FtxError(f"{backend} ran out of memory.", hint=f"Try {advice}.") from None


class LocalModel(TrainedModel):
    """A model in memory (base or fine-tuned) with what it needs to answer prompts.
    ``untuned``: it is the base model itself (``local-base``), its own reference for rewards."""

    can_score_references = True  # perplexity: reference_logprobs below
    can_score_pairs = True  # reward: pair_logprobs below

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        template: Any,
        opts: LocalOptions,
        device: str,
        progress: Any,
        label: str,
        stats: TrainStats,
        untuned: bool = False,
    ):
        self.model, self.tokenizer, self.template = model, tokenizer, template
        self.opts, self.device, self.progress, self.label = opts, device, progress, label
        self.stats, self.untuned = stats, untuned

    def generate(
        self,
        prompts: list[list[Message]],
        params: GenerationParams,
        on_answer: Callable[[int, Completion], None] | None = None,
    ) -> list[Completion]:
        from .generate import generate

        with out_of_memory_advice(
            self.label,
            f"--set {self.label}.eval_batch_size={max(1, self.opts.eval_batch_size // 2)} "
            "or a lower run.max_new_tokens",
        ):
            return generate(
                self.model,
                self.tokenizer,
                self.template,
                prompts,
                params,
                batch_size=self.opts.eval_batch_size,
                device=self.device,
                progress=self.progress,
                label=f"{self.label}: answering",
                on_answer=on_answer,
            )

    def reference_logprobs(self, examples: list[Example]) -> list[tuple[float, int]]:
        """For the perplexity evaluator: log-probability and token count of each reference."""
        from .generate import reference_logprobs

        with out_of_memory_advice(
            self.label,
            f"--set {self.label}.eval_batch_size={max(1, self.opts.eval_batch_size // 2)}",
        ):
            return reference_logprobs(
                self.model,
                self.tokenizer,
                self.template,
                examples,
                batch_size=self.opts.eval_batch_size,
                device=self.device,
            )

    def pair_logprobs(self, examples: list[Example]) -> list[PairLogprobs]:
        """For the reward evaluator: both answers of each pair under this model and its base."""
        from .dpo import pair_logprobs

        with out_of_memory_advice(
            self.label,
            f"--set {self.label}.eval_batch_size={max(1, self.opts.eval_batch_size // 2)}",
        ):
            return pair_logprobs(self, examples)

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
    #: the model is quantized to 4 bits: only then is bitsandbytes imported
    four_bit: ClassVar[bool] = False

    # --- preflight -------------------------------------------------------------------------

    @libraries
    def check(
        self, splits: Splits, opts: LocalOptions, generation: GenerationParams | None = None
    ) -> list[Problem]:
        """Only what this backend uses: the eval prompts against the model's context (with room
        for ``generation.max_new_tokens`` when the runner says it), and for trainers the
        training examples against ``max_seq_length``."""
        problems: list[Problem] = []
        for module, package in (
            ("torch", "torch"),
            ("transformers", "transformers"),
            *self.requires(),
        ):
            try:
                models.import_bitsandbytes() if module == "bitsandbytes" else __import__(module)
            except ImportError:
                problems.append(
                    Problem(
                        f"needs the '{package}' package", self.name, hint=install_command("local")
                    )
                )
        if problems:
            return problems
        try:
            directory = models.materialize(models.resolve(opts.model))
            template = self.template(opts)
            tokenizer = models.load_tokenizer(directory, opts.trust_remote_code)
            context = lengths.load_context(directory, opts.trust_remote_code)
            return self.check_lengths(splits, opts, template, tokenizer, context, generation)
        except NoChatTemplate:
            return [Problem(str(NoChatTemplate(self.name)), self.name)]
        except FtxError as exc:
            return [Problem(str(exc), self.name)]

    def check_lengths(
        self,
        splits: Splits,
        opts: LocalOptions,
        template: Any,
        tokenizer: Any,
        context: int | None,
        generation: GenerationParams | None,
    ) -> list[Problem]:
        from .tokenize import encode_prompt

        prompts = [
            (len(encode_prompt(e.prompt, template, tokenizer)), e.source or e.id)
            for e in splits.eval
        ]
        return lengths.eval_prompt_problems(
            prompts, context, generation.max_new_tokens if generation else None
        )

    @libraries
    def token_counter(self, opts: LocalOptions) -> Callable[[str], int]:
        """Counts tokens with this backend's tokenizer (the runner sizes ``max_new_tokens=auto``
        with it)."""
        tokenizer = models.load_tokenizer(
            models.materialize(models.resolve(opts.model)), opts.trust_remote_code
        )
        return lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)

    def requires(self) -> list[tuple[str, str]]:
        """Extra (module, package) pairs this backend needs beyond torch and transformers."""
        return []

    # --- shared steps ----------------------------------------------------------------------

    def template(self, opts: LocalOptions) -> Any:
        from ftx.plugins import get_registry

        return get_registry().get("template", opts.template)()

    def load(self, opts: LocalOptions, directory: Any = None) -> tuple[Any, Any, str, Any]:
        directory = directory or models.materialize(models.resolve(opts.model))
        device = models.pick_device(opts.device)
        dtype = models.pick_dtype(opts.dtype, device)
        tokenizer = models.load_tokenizer(directory, opts.trust_remote_code)
        model = models.load_model(
            directory,
            device=device,
            dtype=dtype,
            trust_remote_code=opts.trust_remote_code,
            **self.load_kwargs(opts, device),
        )
        return model, tokenizer, device, dtype

    def load_kwargs(self, opts: LocalOptions, device: str) -> dict[str, Any]:
        """Extra ``from_pretrained`` arguments (QLoRA's quantization config)."""
        return {}

    def wrap(
        self,
        model: Any,
        tokenizer: Any,
        opts: LocalOptions,
        device: str,
        ctx: BackendContext,
        stats: TrainStats,
    ) -> LocalModel:
        # What bitsandbytes said while loading belongs in the log, not the terminal.
        if self.four_bit:
            for note in models.bitsandbytes_notes():
                ctx.log(note)
        return LocalModel(
            model,
            tokenizer,
            self.template(opts),
            opts,
            device,
            ctx.progress,
            self.name,
            stats,
            untuned=self.is_baseline,
        )


class LocalBase(LocalBackend):
    name = "local-base"
    description = "the untuned local model, as the baseline to beat"
    is_baseline = True

    @libraries
    def train(self, splits: Splits, opts: LocalOptions, ctx: BackendContext) -> TrainedModel:
        model, tokenizer, device, _ = self.load(opts)
        return self.wrap(model, tokenizer, opts, device, ctx, TrainStats())

    def attach(
        self, state: dict[str, Any], opts: LocalOptions, ctx: BackendContext
    ) -> TrainedModel:
        return self.train(Splits([], []), opts, ctx)


class LocalTrainer(LocalBackend):
    """A local backend that trains: subclasses say how the model is prepared."""

    Options: ClassVar[type] = TrainOptions
    distributed = True  # under torchrun / accelerate launch every process trains (DDP)

    artifact: ClassVar[str] = MODEL_DIR

    def check_lengths(
        self,
        splits: Splits,
        opts: TrainOptions,
        template: Any,
        tokenizer: Any,
        context: int | None,
        generation: GenerationParams | None,
    ) -> list[Problem]:
        problems = super().check_lengths(splits, opts, template, tokenizer, context, generation)
        if opts.max_seq_length != "auto" and context is not None and opts.max_seq_length > context:
            problems.append(
                Problem(
                    f"max_seq_length {opts.max_seq_length} is over the model's context of "
                    f"{context} tokens",
                    hint=f"--set {self.name}.max_seq_length={context}, or auto",
                )
            )
            return problems
        problems += self.fit(
            self.encode_training(splits.train, template, tokenizer), opts, context, splits.train
        ).problems
        return problems

    def check(
        self, splits: Splits, opts: TrainOptions, generation: GenerationParams | None = None
    ) -> list[Problem]:
        problems = super().check(splits, opts, generation)
        if problem := distributed.fsdp_problem(self.four_bit):
            problems.append(Problem(problem, self.name))
        return problems

    def fit(
        self, encoded: list[Any], opts: TrainOptions, context: int | None, examples: list[Example]
    ) -> lengths.Fitted:
        """The training examples within max_seq_length, by the ``long_examples`` policy; the
        one counted message about the others is in ``problems``."""
        limit = lengths.resolve_max_seq_length(
            opts.max_seq_length, [len(e) for e in encoded], context
        )
        fitted = lengths.fit(encoded, limit, opts.long_examples)
        if fitted.over:
            longest = max(range(len(encoded)), key=lambda i: len(encoded[i]))
            message, hint = lengths.over_length_message(
                fitted,
                self.name,
                opts.long_examples,
                context,
                examples[longest].source or examples[longest].id,
            )
            fitted.problems.append(
                Problem(
                    message,
                    hint=hint,
                    severity="error" if opts.long_examples == "error" else "warning",
                )
            )
        if encoded and not fitted.examples:
            fitted.problems.append(
                Problem(
                    f"no training example is left within max_seq_length {limit}",
                    hint=f"raise {self.name}.max_seq_length, or shorten the prompts",
                )
            )
        return fitted

    def encode_training(self, examples: list[Example], template: Any, tokenizer: Any) -> list[Any]:
        """The training examples as token ids with their labels (``tokenize.Encoded``), which
        ``fit`` fits to ``max_seq_length`` and the recipe trains on."""
        from .tokenize import encode

        return [encode(e, template, tokenizer) for e in examples]

    def recipe(self) -> Callable[..., TrainStats]:
        """The training loop: ``train.train`` (completion-only loss), or a subclass's own with
        its signature (``dpo.train_pairs``)."""
        from .train import train

        return train

    def prepare(self, model: Any, opts: TrainOptions) -> Any:
        """Turn the loaded model into the one that trains (adapters, quantization, ...)."""
        return model

    def optimizer(self, device: str) -> str | None:
        """The optimizer name for TrainingArguments (None: transformers' default AdamW)."""
        return None

    def save(self, model: Any, tokenizer: Any, ctx: BackendContext) -> None:
        """Write what ``attach`` and ``ftx export`` need into ``ctx.dir / self.artifact``."""
        raise NotImplementedError

    # --- the recipe: build the model, build the data, train, save ----------------------------

    @libraries
    def train(self, splits: Splits, opts: TrainOptions, ctx: BackendContext) -> TrainedModel:
        from transformers import set_seed

        train = self.recipe()

        # --- model: seeded first, as adapter initialisation draws random numbers too ---
        seed = opts.seed if opts.seed is not None else ctx.seed
        set_seed(seed)
        model, tokenizer, device, dtype = self.build_model(opts, ctx)

        # --- data ---
        examples, validation = self.build_data(splits, opts, ctx, model, tokenizer, seed)

        # --- train ---
        with out_of_memory_advice(self.name, self.memory_advice(opts, device)):
            stats = train(
                model,
                tokenizer,
                examples,
                opts,
                ctx,
                device=device,
                dtype=dtype,
                seed=seed,
                label=f"{self.name}: training",
                validation=validation,
                optim=self.optimizer(device),
            )

        # --- FSDP left each process a shard of every weight: the main one gets them whole ---
        if distributed.fsdp():
            model = self.gathered(model, opts, ctx)

        # --- save: under a launcher, one process writes the weights all of them trained ---
        if is_main():
            self.save(model, tokenizer, ctx)
        ctx.state["artifact"] = self.artifact
        ctx.save_state()
        return self.wrap(model, tokenizer, opts, device, ctx, stats)

    def gathered(self, model: Any, opts: TrainOptions, ctx: BackendContext) -> Any:
        """After an FSDP training every process takes part in gathering the full weights; the
        main process loads them into a plain copy of the model (the sharded one cannot answer
        alone: each forward would wait for the others), which it saves and answers with."""
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        full = get_model_state_dict(
            model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
        )
        if not is_main():
            return model
        plain, _, _, _ = self.build_model(opts, ctx)
        missing, unexpected = plain.load_state_dict(full, strict=False)
        trained = {name for name, p in plain.named_parameters() if p.requires_grad}
        if unexpected or trained & set(missing):
            raise FtxError(
                f"{self.name}: the weights gathered after FSDP do not fit the model "
                f"({len(unexpected)} unexpected, {len(trained & set(missing))} trained ones "
                "missing)."
            )
        ctx.log(f"gathered {len(full)} tensors from the FSDP shards")
        return plain

    def build_model(self, opts: TrainOptions, ctx: BackendContext) -> tuple[Any, Any, str, Any]:
        """The model that trains, its tokenizer, device and dtype: loaded, with Liger's kernels
        on CUDA, then prepared (adapters, quantization) by the subclass."""
        model, tokenizer, device, dtype = self.load(opts)
        if device == "cuda" and opts.liger_kernels:
            use_liger_kernels(model, ctx.log)
        return self.prepare(model, opts), tokenizer, device, dtype

    def build_data(
        self,
        splits: Splits,
        opts: TrainOptions,
        ctx: BackendContext,
        model: Any,
        tokenizer: Any,
        seed: int,
    ) -> tuple[list[Any], list[Any]]:
        """The training examples encoded and fitted to ``max_seq_length``, and the validation
        examples held out of them. What was cut or dropped goes to the log and the state."""
        from ftx.data import holdout_share

        fitted = self.fit(
            self.encode_training(splits.train, self.template(opts), tokenizer),
            opts,
            lengths.model_context(model.config),
            splits.train,
        )
        # Preflight refused such data already; a resumed run with other options may not have.
        errors = [p for p in fitted.problems if p.severity == "error"]
        if errors:
            raise ConfigError(f"{errors[0].message}.", hint=errors[0].hint)
        for problem in fitted.problems:
            ctx.log(f"warning: {problem.message} ({problem.hint})")
        ctx.state["max_seq_length"] = fitted.limit
        if fitted.over:
            ctx.state["long_examples"] = {
                "over": fitted.over,
                "longest": fitted.longest,
                "policy": opts.long_examples,
                "dropped": fitted.dropped,
            }
        # Validation comes out of the training split: the eval split must stay unseen, or
        # choosing the best checkpoint on it would flatter the final comparison.
        return holdout_share(fitted.examples, opts.validation_size, seed)

    def memory_advice(self, opts: TrainOptions, device: str = "cuda") -> str:
        """What to lower when training runs out of memory, as ``--set`` options: the step's
        size (in tokens where it is sized in tokens; ``auto`` is, on CUDA) with twice the
        accumulation, so that an optimizer step holds as much data as before."""
        smaller = (
            f"batch_size={max(1, opts.batch_size // 2)}"
            if opts.batch_tokens == 0 or (opts.batch_tokens == "auto" and device != "cuda")
            else f"batch_tokens={max(256, opts.batch_size * 256)}"
            if opts.batch_tokens == "auto"
            else f"batch_tokens={max(16, opts.batch_tokens // 2)}"
        )
        return (
            f"--set {self.name}.{smaller} with "
            f"gradient_accumulation={opts.gradient_accumulation * 2}, "
            "a lower max_seq_length, gradient_checkpointing=true"
            + (", or local-qlora" if self.name != "local-qlora" else "")
        )


def _fresh_dir(out: Any) -> None:
    if out.exists() and any(out.iterdir()):
        raise ConfigError(
            f"{out} exists and is not empty.", hint="Choose a new folder for the export."
        )
    out.mkdir(parents=True, exist_ok=True)


class LocalFull(LocalTrainer):
    name = "local-full"
    description = "full fine-tuning: every weight of a local model trains"

    def save(self, model: Any, tokenizer: Any, ctx: BackendContext) -> None:
        model.save_pretrained(ctx.dir / MODEL_DIR)  # safetensors
        tokenizer.save_pretrained(ctx.dir / MODEL_DIR)

    @libraries
    def attach(
        self, state: dict[str, Any], opts: TrainOptions, ctx: BackendContext
    ) -> TrainedModel:
        folder = ctx.dir / MODEL_DIR
        if not (folder / "config.json").exists():
            raise FtxError(
                f"the trained model in {folder} is missing.",
                hint="Start a new run; this one cannot be resumed.",
            )
        model, tokenizer, device, _ = self.load(opts, folder)
        return self.wrap(model, tokenizer, opts, device, ctx, TrainStats())

    @libraries
    def export(self, folder: Any, opts: TrainOptions, out: Any, *, merge: bool) -> None:
        import shutil

        source = folder / MODEL_DIR
        if not (source / "config.json").exists():
            raise FtxError(f"the trained model in {source} is missing.")
        _fresh_dir(out)
        shutil.copytree(source, out, dirs_exist_ok=True)


class LocalLoRA(LocalTrainer):
    name = "local-lora"
    description = "LoRA adapters (peft) on a local model; the base weights stay frozen"
    Options = LoraOptions
    artifact = ADAPTER_DIR

    def requires(self) -> list[tuple[str, str]]:
        return [("peft", "peft")]

    def prepare(self, model: Any, opts: LoraOptions) -> Any:
        return self.adapter(model, opts)

    def adapter(self, model: Any, opts: LoraOptions) -> Any:
        """``model`` with a new LoRA adapter (``local-dpo`` may load one trained before)."""
        from peft import LoraConfig, get_peft_model

        targets: Any = (
            "all-linear" if opts.target_modules == ["all-linear"] else opts.target_modules
        )
        config = LoraConfig(
            r=opts.lora_r,
            lora_alpha=opts.lora_alpha,
            lora_dropout=opts.lora_dropout,
            target_modules=targets,
            task_type="CAUSAL_LM",
        )
        try:
            return get_peft_model(model, config)
        except ValueError as exc:
            raise ConfigError(
                f"cannot add LoRA adapters: {exc}",
                hint="Check target_modules against the model's module names.",
            ) from None

    def save(self, model: Any, tokenizer: Any, ctx: BackendContext) -> None:
        model.save_pretrained(ctx.dir / ADAPTER_DIR)  # safetensors: the adapter weights only

    @libraries
    def attach(self, state: dict[str, Any], opts: LoraOptions, ctx: BackendContext) -> TrainedModel:
        from peft import PeftModel

        adapter = ctx.dir / ADAPTER_DIR
        if not (adapter / "adapter_config.json").exists():
            raise FtxError(
                f"the adapter in {adapter} is missing.",
                hint="Start a new run; this one cannot be resumed.",
            )
        model, tokenizer, device, _ = self.load(opts)
        model = PeftModel.from_pretrained(model, adapter)
        return self.wrap(model, tokenizer, opts, device, ctx, TrainStats())

    @libraries
    def export(self, folder: Any, opts: LoraOptions, out: Any, *, merge: bool) -> None:
        """The adapter as it is, or (``merge``) the base model with the adapter folded into its
        weights: a plain model directory that needs neither peft nor ftx."""
        import shutil

        adapter = folder / ADAPTER_DIR
        if not (adapter / "adapter_config.json").exists():
            raise FtxError(f"the adapter in {adapter} is missing.")
        _fresh_dir(out)
        if not merge:
            shutil.copytree(adapter, out, dirs_exist_ok=True)
            return
        from peft import PeftModel

        # Always merge into full-precision base weights (for QLoRA too): merging into 4-bit
        # weights would round the adapter away.
        directory = models.materialize(models.resolve(opts.model))
        tokenizer = models.load_tokenizer(directory, opts.trust_remote_code)
        base = models.load_model(
            directory,
            device="cpu",
            dtype=models.pick_dtype("float32", "cpu"),
            trust_remote_code=opts.trust_remote_code,
        )
        merged = PeftModel.from_pretrained(base, adapter).merge_and_unload()
        merged.save_pretrained(out)
        tokenizer.save_pretrained(out)


class LocalQLoRA(LocalLoRA):
    name = "local-qlora"
    description = "LoRA adapters on a 4-bit (NF4) quantized model (bitsandbytes): the least memory"
    Options = QLoraOptions
    four_bit = True

    def requires(self) -> list[tuple[str, str]]:
        return [("peft", "peft"), ("bitsandbytes", "bitsandbytes")]

    def check(
        self, splits: Splits, opts: QLoraOptions, generation: GenerationParams | None = None
    ) -> list[Problem]:
        problems = super().check(splits, opts, generation)
        if not problems:
            try:
                models.import_bitsandbytes()
                from transformers.utils import is_bitsandbytes_available

                if not is_bitsandbytes_available():
                    raise ImportError("bitsandbytes has no usable backend here")
            except Exception as exc:
                problems.append(
                    Problem(
                        f"QLoRA needs a usable bitsandbytes: {exc}",
                        self.name,
                        hint="pip install -U bitsandbytes, or use local-lora",
                    )
                )
        return problems

    def load_kwargs(self, opts: QLoraOptions, device: str) -> dict[str, Any]:
        from transformers import BitsAndBytesConfig

        models.import_bitsandbytes()  # before transformers does, so that it is quiet

        compute = models.pick_dtype(opts.compute_dtype, device)
        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=opts.quant_type,
            bnb_4bit_use_double_quant=opts.double_quant,
            bnb_4bit_compute_dtype=compute,
        )
        # An index, not "cuda": under a launcher each process has its own GPU (distributed.init
        # made it the current device), and accelerate's device maps read "cuda" as GPU 0.
        import torch

        placement: Any = torch.cuda.current_device() if device == "cuda" else device
        return {"quantization_config": config, "device_map": {"": placement}}

    def prepare(self, model: Any, opts: QLoraOptions) -> Any:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=opts.gradient_checkpointing
        )
        return super().prepare(model, opts)

    def optimizer(self, device: str) -> str | None:
        # Paged AdamW moves optimizer state to CPU memory under pressure instead of failing.
        return "paged_adamw_32bit" if device == "cuda" else None


@hookimpl
def ftx_register_backends(register):
    from .dpo import LocalDPO, LocalQLoRADPO

    register(LocalBase)
    register(LocalFull)
    register(LocalLoRA)
    register(LocalQLoRA)
    register(LocalDPO)
    register(LocalQLoRADPO)
