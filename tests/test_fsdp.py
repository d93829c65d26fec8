"""FSDP through accelerate's config: a model sharded over the processes is gathered once training
ends, and the main process saves and answers with a plain copy. transformers' Trainer shards
only on GPUs (on the CPU it refuses FSDP), so the sharded training itself is a GPU test; the
gathering and the preflight are checked here on the CPU."""

import os
import subprocess
import sys

import pytest

from ftx import distributed
from ftx.plugins import get_registry
from ftx.testing import sample_rows, write_jsonl

from .helpers import backend_context

torch = pytest.importorskip("torch")

FSDP2 = {"ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}


def test_fsdp_setups_that_cannot_train_are_one_sentence(monkeypatch):
    assert distributed.fsdp_problem(four_bit=False) is None  # no FSDP: nothing to say
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert "set fsdp_version: 2" in distributed.fsdp_problem(four_bit=False)
    monkeypatch.setenv("FSDP_VERSION", "2")
    assert distributed.fsdp_problem(four_bit=False) is None
    assert "QLoRA does not train under FSDP" in distributed.fsdp_problem(four_bit=True)


def test_a_qlora_run_under_fsdp_is_refused_in_preflight(tmp_path, tiny_model, monkeypatch, capsys):
    from .helpers import ftx_main

    for key, value in FSDP2.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(12))
    code, _, err = ftx_main(
        capsys, "run", "--data", str(data), "--model", str(tiny_model), "--backend", "local-qlora"
    )
    assert code != 0
    assert "QLoRA does not train under FSDP" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.fixture
def one_process_group():
    """A process group of one on the CPU (gloo), as a launcher makes, for the collectives the
    gathering calls."""
    import torch.distributed as dist

    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    yield
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local-lora", "local-full"])
def test_gathered_weights_make_a_plain_model_that_answers_alike(
    tmp_path, tiny_model, one_process_group, backend
):
    from transformers import set_seed

    from ftx.types import GenerationParams, Message

    cls = get_registry().get("backend", backend)
    local = cls()
    opts = cls.Options(model=str(tiny_model))
    ctx = backend_context(tmp_path)
    set_seed(0)
    model, tokenizer, device, dtype = local.build_model(opts, ctx)
    with torch.no_grad():  # as if trained: every trainable weight moved
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    plain = local.gathered(model, opts, ctx)
    assert plain is not model
    for (name, a), (_, b) in zip(model.state_dict().items(), plain.state_dict().items()):
        assert torch.equal(a, b), name
    prompts = [[Message("user", "Who is Mr. Darcy?")]]
    params = GenerationParams(max_new_tokens=6)
    first = local.wrap(model, tokenizer, opts, device, ctx, None).generate(prompts, params)
    second = local.wrap(plain, tokenizer, opts, device, ctx, None).generate(prompts, params)
    assert [c.text for c in first] == [c.text for c in second]


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fsdp2_trains_lora_over_every_gpu_and_answers(tmp_path, tiny_model):
    """As ``accelerate launch --use_fsdp --fsdp_version 2`` runs it: the environment it sets,
    under torchrun with one process per GPU."""
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(24))
    env = {
        **os.environ,
        **FSDP2,
        "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
        "FSDP_TRANSFORMER_CLS_TO_WRAP": "LlamaDecoderLayer",
        "FSDP_STATE_DICT_TYPE": "FULL_STATE_DICT",
    }
    gpus = str(torch.cuda.device_count())
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", gpus]
        + ["-m", "ftx.cli", "run", "--data", str(data), "--model", str(tiny_model)]
        + ["--backend", "local-lora", "--eval-size", "4", "--name", "f"]
        + ["--set", "local-lora.max_steps=4", "--set", "run.max_new_tokens=4"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "f"
    assert "gathered" in (run / "local-lora" / "log.txt").read_text()
    assert (run / "local-lora" / "adapter" / "adapter_model.safetensors").is_file()
    assert len((run / "local-lora" / "predictions.jsonl").read_text().splitlines()) == 4
