"""Options of the local backends (``--set local-lora.epochs=2``).

One dataclass per layer: what every local model needs, what training adds, what LoRA adds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ftx.options import option, seed_problems


@dataclass
class LocalOptions:
    model: str | None = option(
        None, "model directory or .gguf file (default: bundled SmolLM2-135M-Instruct)"
    )
    template: str = option("chat", "prompt template: chat (the model's own), chatml, alpaca, plain")
    device: Literal["auto", "cpu", "cuda", "mps"] = option(
        "auto", "where to run: auto picks CUDA when present"
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = option(
        "auto", "weights dtype: auto is bfloat16 on capable GPUs, else float32"
    )
    eval_batch_size: int = option(16, "prompts per generation batch")
    trust_remote_code: bool = option(
        False, "allow model code from the model directory (off: safer)"
    )

    def validate(self) -> list[str]:
        problems = []
        if self.eval_batch_size < 1:
            problems.append("eval_batch_size must be at least 1")
        return problems


@dataclass
class TrainOptions(LocalOptions):
    max_seq_length: int | Literal["auto"] = option(
        "auto",
        "longest training example in tokens (prompt + answer); auto: the longest in the data, "
        "at most the model's context and 4096",
    )
    long_examples: Literal["truncate", "drop", "error"] = option(
        "truncate",
        "training examples over max_seq_length: truncate (keep the prompt and the answer's "
        "start), drop, or error (refuse in preflight)",
    )
    epochs: float = option(3.0, "passes over the training data")
    max_steps: int = option(0, "stop after this many optimizer steps (0: use epochs)")
    learning_rate: float = option(5e-5, "peak learning rate")
    batch_size: int = option(
        8,
        "examples per device per step, where steps are not sized in tokens (batch_tokens); "
        "also the size of validation batches",
    )
    batch_tokens: int | Literal["auto"] = option(
        "auto",
        "size each step in tokens instead: whole examples up to this many tokens a step "
        "(0: off, batch_size examples); auto: on CUDA batch_size x 512, less to keep 50 "
        "optimizer steps an epoch; elsewhere off",
    )
    gradient_accumulation: int = option(1, "steps whose gradients are summed before an update")
    warmup_ratio: float = option(0.05, "share of steps for linear warm-up")
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = option(
        "cosine", "learning-rate schedule"
    )
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_grad_norm: float = option(1.0, "gradient clipping")
    save_checkpoints: bool = option(
        True, "checkpoint every epoch, so 'ftx resume' continues an interrupted training"
    )
    save_steps: int = option(
        0, "checkpoint every N optimizer steps instead of every epoch (0: every epoch)"
    )
    save_total_limit: int = option(2, "checkpoints kept on disk (the best one is always kept)")
    validation_size: float = option(
        0.0, "share of the training split held out for validation loss (not the eval split)"
    )
    early_stopping_patience: int = option(
        0, "stop after this many epochs without a better validation loss (0: off)"
    )
    packing: bool = option(
        True, "pack each batch into one padding-free row (off: pad length-grouped batches)"
    )
    liger_kernels: bool = option(
        True,
        "on CUDA, use Liger's fused Triton kernels (RMSNorm, SwiGLU) "
        "when liger-kernel is installed",
    )
    gradient_checkpointing: bool = option(False, "recompute activations to save memory (slower)")
    compile: Literal["off", "default", "reduce-overhead", "max-autotune"] = option(
        "off",
        "torch.compile each decoder layer for training: fewer kernel launches after a "
        "compile of about a minute; reduce-overhead adds CUDA graphs (docs/performance.md)",
    )
    seed: int | None = option(None, "training seed (default: the run's seed)")

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.max_seq_length != "auto" and self.max_seq_length < 8:
            problems.append("max_seq_length must be at least 8, or auto")
        if self.epochs < 0 or self.max_steps < 0:
            problems.append("epochs and max_steps must be 0 or more")
        elif self.epochs == 0 and self.max_steps == 0:
            problems.append("set epochs > 0 or max_steps > 0")
        if self.learning_rate <= 0:
            problems.append("learning_rate must be positive")
        if self.batch_size < 1 or self.gradient_accumulation < 1:
            problems.append("batch_size and gradient_accumulation must be at least 1")
        if self.batch_tokens != "auto" and self.batch_tokens < 0:
            problems.append(
                "batch_tokens must be 0 (off), a number of tokens, or auto, "
                f"got {self.batch_tokens}"
            )
        if not 0 <= self.warmup_ratio < 1:
            problems.append("warmup_ratio must be in [0, 1)")
        if not 0 <= self.validation_size < 1:
            problems.append("validation_size must be a fraction in [0, 1)")
        if self.early_stopping_patience < 0:
            problems.append("early_stopping_patience must be 0 (off) or more")
        elif self.early_stopping_patience and not self.validation_size:
            problems.append(
                "early_stopping_patience needs a validation_size above 0 "
                "(a validation loss to watch)"
            )
        if self.weight_decay < 0:
            problems.append("weight_decay must be 0 or more")
        if self.max_grad_norm < 0:
            problems.append("max_grad_norm must be 0 (no clipping) or more")
        if self.save_steps < 0:
            problems.append("save_steps must be 0 (every epoch) or more")
        if self.save_total_limit < 1:
            problems.append("save_total_limit must be at least 1")
        problems += seed_problems("seed", self.seed)
        return problems


@dataclass
class LoraOptions(TrainOptions):
    # 4, not full fine-tuning's 3: on the bundled demo the fourth pass lifts held-out exact match
    # from 22% to 40% for 33% more training; a learning rate of 2e-3 scored higher still there but
    # is half the rate that diverged on that model (the sweep: docs/quickstart.md).
    epochs: float = option(4.0, "passes over the training data")
    learning_rate: float = option(
        1e-3, "peak learning rate (LoRA tolerates higher rates than full fine-tuning)"
    )
    lora_r: int = option(16, "LoRA rank")
    lora_alpha: int = option(32, "LoRA scaling numerator (scale = alpha / r)")
    # 0, as peft's own default: the same held-out scores on the bundled demo as 0.05, and five
    # fewer kernels per adapted layer and step (docs/performance.md).
    lora_dropout: float = option(0.0, "dropout on the LoRA input")
    target_modules: list[str] = option(
        ["all-linear"], "modules that get adapters: all-linear, or names like q_proj,v_proj"
    )

    def validate(self) -> list[str]:
        problems = super().validate()
        if self.lora_r < 1:
            problems.append("lora_r must be at least 1")
        if self.lora_alpha < 1:
            problems.append("lora_alpha must be at least 1")
        if not 0 <= self.lora_dropout < 1:
            problems.append("lora_dropout must be in [0, 1)")
        return problems


@dataclass
class QLoraOptions(LoraOptions):
    quant_type: Literal["nf4", "fp4"] = option("nf4", "4-bit data type of the frozen base weights")
    double_quant: bool = option(
        True, "also quantize the quantization constants (saves ~0.4 bit per weight)"
    )
    compute_dtype: Literal["auto", "float32", "bfloat16", "float16"] = option(
        "auto", "dtype of the matmuls: auto is bfloat16 on capable GPUs, else float32"
    )
