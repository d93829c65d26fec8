"""What a run prints where stderr is not a terminal (CI logs, nohup, | tee): whole progress
lines, and no third-party noise (bitsandbytes is imported only for a 4-bit model)."""

import re
import subprocess
import sys
import textwrap

import pytest

from .helpers import run_ftx

pytest.importorskip("peft")

PROGRESS = re.compile(
    r"^(local-base: answering|local-lora: training|local-lora: answering) \d+/\d+( \(\d+%\))? · "
    r"\d+:\d\d:\d\d( · .+)?$"
)


def test_a_run_in_a_log_prints_whole_progress_lines_and_no_library_noise(
    tmp_path, tiny_model, qa_file
):
    result = run_ftx(
        "run",
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--backend",
        "local-lora",
        "--set",
        "local-lora.max_steps=3",
        "--set",
        "run.max_new_tokens=4",
        "--eval-size",
        "4",
        "--name",
        "r",
        "--evaluator",
        "exact_match",
        cwd=tmp_path,
        env={"COLUMNS": "60"},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "run r in runs/r · 20 train / 4 eval examples"
    progress = lines[1:]
    assert all(PROGRESS.match(line) for line in progress), (
        result.stderr
    )  # whole, however narrow the log
    assert progress[0] == "local-base: answering 0/4 · 0:00:00"
    assert [line.split(" · ")[0] for line in progress if "(100%)" in line] == [
        "local-base: answering 4/4 (100%)",
        "local-lora: training 3/3 (100%)",
        "local-lora: answering 4/4 (100%)",
    ]
    assert any(
        re.search(r"training 3/3 \(100%\) · .* · loss \d+\.\d+ · lr .* tok/s$", line)
        for line in progress
    )
    assert (
        "\x1b" not in result.stderr and "…" not in result.stderr
    )  # no bars, no cursor moves, nothing cut


def test_bitsandbytes_is_imported_only_for_a_4_bit_model(tiny_model):
    """peft imports bitsandbytes whenever it can; the local backends that do not quantize keep
    it out, and local-qlora later in the same process still gets real 4-bit LoRA layers."""
    pytest.importorskip("bitsandbytes")
    code = textwrap.dedent(f"""
        import sys
        from ftx.backends.local import LocalLoRA, LocalQLoRA, libraries
        from ftx.backends.local.options import LoraOptions, QLoraOptions

        class Lora(LocalLoRA):
            @libraries
            def load_and_prepare(self, opts):
                # Trainer imports peft, which imports bitsandbytes when it can.
                from transformers import Trainer
                return self.prepare(self.load(opts)[0], opts)

        Lora().load_and_prepare(LoraOptions(model={str(tiny_model)!r}, device="cpu"))
        assert "bitsandbytes" not in sys.modules
        qlora, opts = LocalQLoRA(), QLoraOptions(model={str(tiny_model)!r}, device="cpu")
        model = qlora.prepare(qlora.load(opts)[0], opts)
        import bitsandbytes
        from peft.tuners.lora.bnb import Linear4bit
        layer = model.base_model.model.model.layers[0].self_attn.q_proj
        assert isinstance(layer, Linear4bit), type(layer)
        assert isinstance(layer.base_layer, bitsandbytes.nn.Linear4bit), type(layer)
        print("OK")
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "OK\n"
    assert (
        "kernels-community" not in result.stderr
    )  # what bitsandbytes says on loading goes to the backend's log
