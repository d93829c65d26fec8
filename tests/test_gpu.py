"""What only a CUDA GPU can check: steps sized in tokens by default, compiled layers with CUDA
graphs, and real 4-bit QLoRA through the whole run. Skipped without a GPU; run by
``benchmarks/gpu_check.sh`` with the throughput benchmarks."""

import json

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from tests.test_token_batches import encoded_examples, load, train

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def cuda_model(tiny_model):
    return load(tiny_model).to("cuda", torch.bfloat16)


def train_cuda(model, folder, lines, **options):
    return train(model, encoded_examples(n=64), folder, log=lines.append, device="cuda", **options)


def test_steps_are_sized_in_tokens_by_default_on_cuda(tmp_path, tiny_model):
    lines = []
    stats = train_cuda(cuda_model(tiny_model), tmp_path, lines, max_steps=2)
    # 64 short examples: auto keeps 50 steps an epoch at least, in rows of 256 tokens on CUDA
    assert any("micro-steps of up to 256 tokens" in line for line in lines), lines
    assert stats.steps == 2 and stats.final_loss == stats.final_loss  # not NaN


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_layers_train_like_eager_ones_on_cuda(tmp_path, tiny_model, mode):
    eager = train_cuda(
        cuda_model(tiny_model), tmp_path / "eager", [], max_steps=4, batch_tokens=256
    )
    lines = []
    compiled = train_cuda(
        cuda_model(tiny_model),
        tmp_path / mode,
        lines,
        max_steps=4,
        batch_tokens=256,
        compile=mode,
    )
    assert any(f"compile={mode}" in line for line in lines)
    assert compiled.final_loss == pytest.approx(eager.final_loss, rel=3e-2)


def test_qlora_runs_end_to_end_on_cuda(tmp_path, tiny_model, qa_file):
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(qa_file),
            "--model",
            str(tiny_model),
            "--backend",
            "local-qlora",
            "--eval-size",
            "4",
            "--name",
            "g",
            "--set",
            "local-qlora.device=cuda",
            "--set",
            "local-qlora.max_steps=3",
            "--set",
            "run.max_new_tokens=4",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "runs" / "g" / "run.json").read_text())
    assert meta["backends"]["local-qlora"]["status"] == "done"
