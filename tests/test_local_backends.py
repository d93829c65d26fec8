"""The local family on a tiny model: full, LoRA and real 4-bit QLoRA training, checkpoints and
resume, validation loss and early stopping, export of a merged model."""

import json

import pytest
from click.testing import CliRunner

from ftx import hookimpl
from ftx.cli import cli
from ftx.testing import registered, sample_rows, write_jsonl

pytestmark = pytest.mark.slow
torch = pytest.importorskip("torch")


def run(*args):
    return CliRunner().invoke(cli, ["run", *args], catch_exceptions=False)


def sets(*items):
    return [x for item in items for x in ("--set", item)]


def losses(path):
    return [e["loss"] for e in map(json.loads, path.read_text().splitlines()) if "loss" in e]


@pytest.mark.parametrize("backend", ["local-full", "local-lora", "local-qlora"])
def test_each_method_learns(tmp_path, tiny_model, backend):
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(8))
    result = run(
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        backend,
        "--eval-size",
        "2",
        "--name",
        "r",
        *sets(
            f"{backend}.max_steps=30",
            f"{backend}.learning_rate=0.01",
            f"{backend}.lr_scheduler=constant",
            "run.max_new_tokens=4",
        ),
    )
    assert result.exit_code == 0, result.output
    log = losses(tmp_path / "runs" / "r" / backend / "train_log.jsonl")
    assert log[0] > 5 and max(log[-5:]) < 0.5, log  # six examples memorised
    artifact = {
        "local-full": "model/model.safetensors",
        "local-lora": "adapter/adapter_model.safetensors",
        "local-qlora": "adapter/adapter_model.safetensors",
    }[backend]
    assert (tmp_path / "runs" / "r" / backend / artifact).exists()


def test_qlora_really_quantizes_to_4_bit(tiny_model):
    import bitsandbytes as bnb

    from ftx.backends.local import LocalQLoRA
    from ftx.backends.local.options import QLoraOptions

    backend = LocalQLoRA()
    opts = QLoraOptions(model=str(tiny_model), device="cpu")
    model, _, _, _ = backend.load(opts)
    layer = model.model.layers[0].self_attn.q_proj
    assert isinstance(layer, bnb.nn.Linear4bit)
    assert layer.weight.quant_state.quant_type == "nf4"
    prepared = backend.prepare(model, opts)
    trainable = [n for n, p in prepared.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


class Interrupt:
    """Presses Ctrl-C (a KeyboardInterrupt) when training logs step 3."""

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == "train_log" and event.data.get("step") == 3:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_from_its_checkpoint(tmp_path, tiny_model, qa_file):
    args = [
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-lora",
        "--eval-size",
        "4",
        "--name",
        "r",
        *sets(
            "local-lora.max_steps=6",
            "local-lora.save_steps=2",
            "local-lora.batch_size=2",
            "run.max_new_tokens=4",
        ),
    ]
    with registered(Interrupt()):
        result = CliRunner().invoke(cli, ["run", *args])
    assert result.exit_code != 0  # click reports Ctrl-C as "Aborted!"
    folder = tmp_path / "runs" / "r" / "local-lora"
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["backends"]["local-lora"]["status"] == "interrupted"
    assert (folder / "checkpoints" / "checkpoint-2").is_dir()
    assert not (folder / "adapter").exists()

    resumed = CliRunner().invoke(cli, ["resume", "r"])
    assert resumed.exit_code == 0, resumed.output
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["backends"]["local-lora"]["status"] == "done"
    assert meta["backends"]["local-lora"]["train"]["steps"] == 6  # the same final step count
    steps = [
        e["step"] for e in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())
    ]
    assert steps == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]  # resumed from checkpoint-2: step 3 is logged once, steps 1-2 not trained again
    assert "resuming training from" in (folder / "log.txt").read_text()


class PressCtrlC:
    """Presses Ctrl-C (a real SIGINT) ``times`` times when training logs step 3."""

    def __init__(self, times):
        self.times = times

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == "train_log" and event.data.get("step") == 3:
            import os
            import signal

            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_once_checkpoints_the_step_twice_stops_at_once(
    tmp_path, tiny_model, qa_file, presses
):
    args = [
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-lora",
        "--eval-size",
        "4",
        "--name",
        "r",
        *sets(
            "local-lora.max_steps=6",
            "local-lora.save_steps=100",
            "local-lora.batch_size=2",
            "run.max_new_tokens=4",
        ),
    ]
    with registered(PressCtrlC(presses)):
        result = CliRunner().invoke(cli, ["run", *args])
    assert result.exit_code != 0
    folder = tmp_path / "runs" / "r" / "local-lora"
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["backends"]["local-lora"]["status"] == "interrupted"
    steps = [
        e["step"] for e in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())
    ]
    if presses == 1:  # the step in progress ends, is checkpointed, and training stops there
        assert steps == [1, 2, 3]
        assert [c.name for c in (folder / "checkpoints").iterdir()] == ["checkpoint-3"]
        resumed = CliRunner().invoke(cli, ["resume", "r"])
        assert resumed.exit_code == 0, resumed.output
        steps = [
            e["step"]
            for e in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())
        ]
        assert steps == [1, 2, 3, 4, 5, 6]  # nothing trained twice
    else:  # the second press stops at once: no checkpoint is written
        assert not (folder / "checkpoints").exists() or not any((folder / "checkpoints").iterdir())


def test_validation_loss_and_early_stopping(tmp_path, tiny_model):
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(24))
    result = run(
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        "local-full",
        "--eval-size",
        "4",
        "--name",
        "r",
        *sets(
            "local-full.epochs=30",
            "local-full.learning_rate=0.05",
            "local-full.lr_scheduler=constant",
            "local-full.validation_size=0.25",
            "local-full.early_stopping_patience=1",
            "run.max_new_tokens=4",
        ),
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path / "runs" / "r" / "local-full"
    entries = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    evals = [e for e in entries if "eval_loss" in e]
    assert len(evals) >= 2
    assert (
        entries[-1]["epoch"] < 30
    )  # memorising 15 examples makes validation loss rise: stopped early
    assert "best checkpoint" in (folder / "log.txt").read_text()


def test_validation_needs_data_outside_the_eval_split():
    from ftx.backends.local.options import TrainOptions
    from ftx.errors import ConfigError
    from ftx.options import build

    with pytest.raises(ConfigError, match="early_stopping_patience needs a validation_size"):
        build(TrainOptions, {"early_stopping_patience": 2}, "local-full")


def test_merged_export_matches_the_adapter(tmp_path, tiny_model, qa_file):
    result = run(
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-lora",
        "--eval-size",
        "4",
        "--name",
        "r",
        *sets("local-lora.max_steps=20", "local-lora.learning_rate=0.01", "run.max_new_tokens=4"),
    )
    assert result.exit_code == 0, result.output
    exported = CliRunner().invoke(
        cli, ["export", "r", "--backend", "local-lora", "--merge", str(tmp_path / "merged")]
    )
    assert exported.exit_code == 0, exported.output
    again = CliRunner().invoke(
        cli, ["export", "r", "--backend", "local-lora", "--merge", str(tmp_path / "merged")]
    )
    assert again.exit_code != 0  # never overwrites

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(
        tmp_path / "merged"
    )  # plain transformers, no peft
    adapted = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_model),
        tmp_path / "runs" / "r" / "local-lora" / "adapter",
    )
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Who wrote Pride and Prejudice?"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )
    ids = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
    a = merged.generate(ids, max_new_tokens=12, do_sample=False)
    b = adapted.generate(ids, max_new_tokens=12, do_sample=False)
    assert a.tolist() == b.tolist()
    assert torch.allclose(merged(ids).logits, adapted(ids).logits, atol=1e-4)


def test_liger_patches_only_the_model_it_is_given(tiny_model):
    pytest.importorskip(
        "liger_kernel.transformers", exc_type=ImportError
    )  # needs Triton: GPU machines
    from transformers import AutoModelForCausalLM
    from transformers.models.llama import modeling_llama

    from ftx.backends.local import use_liger_kernels

    before = (
        modeling_llama.LlamaRMSNorm,
        modeling_llama.LlamaMLP,
        modeling_llama.apply_rotary_pos_emb,
        modeling_llama.LlamaForCausalLM.forward,
    )
    patched = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert use_liger_kernels(patched, lambda line: None)
    assert "Liger" in type(patched.model.norm).__name__ or hasattr(patched.model.norm, "offset")
    after = (
        modeling_llama.LlamaRMSNorm,
        modeling_llama.LlamaMLP,
        modeling_llama.apply_rotary_pos_emb,
        modeling_llama.LlamaForCausalLM.forward,
    )
    assert after == before
    fresh = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert type(fresh.model.norm) is modeling_llama.LlamaRMSNorm


def test_out_of_memory_becomes_one_sentence_with_advice():
    from ftx.backends.local import out_of_memory_advice
    from ftx.errors import FtxError

    with pytest.raises(FtxError) as info:
        with out_of_memory_advice("local-lora", "--set local-lora.batch_size=4"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert str(info.value) == "local-lora ran out of memory. Try --set local-lora.batch_size=4."


def test_two_processes_train_one_run_with_ddp(tmp_path, tiny_model, qa_file):
    """torchrun starts two CPU processes (gloo): they train together, one of them writes."""
    import os
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "ftx.cli",
        "run",
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--backend",
        "local-lora",
        "--eval-size",
        "6",
        "--name",
        "ddp",
        *sets("local-lora.epochs=2", "local-lora.batch_size=3", "run.max_new_tokens=4"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()] == [
        "ddp"
    ]  # one run, not one per process
    meta = json.loads((tmp_path / "runs" / "ddp" / "run.json").read_text())
    assert meta["world_size"] == 2 and meta["status"] == "done"
    train = meta["backends"]["local-lora"]["train"]
    # 18 examples, 3 per process per step, 2 processes: 3 steps an epoch (one process needs 6)
    assert train["steps"] == 6
    folder = tmp_path / "runs" / "ddp" / "local-lora"
    steps = [
        e["step"] for e in map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())
    ]
    assert steps == [1, 2, 3, 4, 5, 6]  # one log, written by the main process only
    assert (folder / "adapter" / "adapter_model.safetensors").exists()
    assert len((folder / "predictions.jsonl").read_text().splitlines()) == 6
    assert done.stdout.count("ftx run ddp") == 1  # one table, printed once
    assert "Traceback" not in done.stderr


def test_perplexity_of_references_batched_equals_one_at_a_time(tmp_path, tiny_model, qa_file):
    """reference_logprobs pads batches; the log-probabilities must be those of each example
    alone."""
    from ftx.backends.local import models
    from ftx.backends.local.generate import reference_logprobs
    from ftx.backends.local.tokenize import IGNORE, encode
    from ftx.plugins import get_registry
    from ftx.types import Example, Message

    tokenizer = models.load_tokenizer(tiny_model)
    model = models.load_model(tiny_model, device="cpu", dtype=torch.float32)
    template = get_registry().get("template", "chat")()
    examples = [
        Example(f"e{i}", [Message("user", r["question"]), Message("assistant", r["answer"])])
        for i, r in enumerate(sample_rows(7))
    ]
    batched = reference_logprobs(model, tokenizer, template, examples, batch_size=3, device="cpu")
    for example, (logprob, count) in zip(examples, batched):
        encoded = encode(example, template, tokenizer)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([encoded.input_ids])).logits[0, :-1]
        targets = torch.tensor(encoded.labels[1:])
        keep = targets != IGNORE
        alone = torch.log_softmax(logits.float(), -1)[keep, targets[keep]].sum()
        assert count == int(keep.sum()) and logprob == pytest.approx(float(alone), abs=1e-3)

    result = run(
        "--data",
        str(qa_file),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--eval-size",
        "4",
        "--name",
        "p",
        "--evaluator",
        "perplexity",
        *sets("run.max_new_tokens=2"),
    )
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "runs" / "p" / "scores.json").read_text())["backends"][
        "local-base"
    ]
    assert len(scores["per_example"]["perplexity"]) == 4 and scores["corpus"]["perplexity"] > 1


def test_several_visible_gpus_without_a_launcher_train_on_one(monkeypatch):
    """Trainer would wrap the model in nn.DataParallel, splitting the one packed row (and its
    boundaries) across GPUs; ftx keeps one GPU a process and says how to use them all."""
    from ftx.backends.local.train import one_gpu_per_process

    class Args:  # TrainingArguments' n_gpu reads _n_gpu, which its device setup fills in
        _n_gpu = 4

        @property
        def n_gpu(self):
            return self._n_gpu

    said = []
    args = Args()
    one_gpu_per_process(args, said.append)
    assert args.n_gpu == 1
    assert said == [
        "4 GPUs visible: training on one. To train on all of them, launch with "
        "torchrun --nproc_per_node 4 -m ftx.cli run ..."
    ]
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun each process already has one GPU
    args, said = Args(), []
    one_gpu_per_process(args, said.append)
    assert args.n_gpu == 4 and not said


def _lora_in_bf16(tiny_model, dropout=0.0):
    import transformers
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16)
    return get_peft_model(
        model,
        LoraConfig(r=4, lora_dropout=dropout, target_modules="all-linear", task_type="CAUSAL_LM"),
    )


def _casting(model):
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {m.cast_input_dtype_enabled for m in model.modules() if isinstance(m, BaseTunerLayer)}


def test_lora_inputs_stay_uncast_under_autocast_with_the_same_result(tiny_model):
    """peft casts each LoRA layer's input to the adapter's float32 and autocast casts it back:
    skipping both gives bitwise the same loss and gradients with fewer kernels, and only
    while the block runs (generation without autocast needs the cast)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from ftx.backends.local.train import adapter_inputs_uncast

    class CountCasts(TorchDispatchMode):
        casts = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.casts += func.overloadpacket.__name__ == "_to_copy"
            return func(*args, **(kwargs or {}))

    model = _lora_in_bf16(tiny_model)
    ids = torch.randint(
        5, model.config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0)
    )

    def step():
        model.zero_grad()
        with CountCasts() as counter, torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        with counter:
            loss.backward()
        return (
            loss.detach(),
            [p.grad.clone() for p in model.parameters() if p.grad is not None],
            counter.casts,
        )

    cast_loss, cast_grads, with_casts = step()
    with adapter_inputs_uncast(model, mixed_precision=True):
        assert _casting(model) == {False}
        loss, grads, without = step()
    assert _casting(model) == {True}
    assert torch.equal(loss, cast_loss) and all(
        torch.equal(a, b) for a, b in zip(grads, cast_grads)
    )
    layers = sum(1 for name, _ in model.named_modules() if name.endswith("lora_A"))
    assert with_casts - without >= 2 * layers, (with_casts, without, layers)
    model(input_ids=ids)  # no autocast: the restored cast keeps the float32 adapters usable
    with adapter_inputs_uncast(model, mixed_precision=False):
        assert _casting(model) == {True}


@pytest.mark.parametrize("checkpointing", [False, True], ids=["plain", "gradient-checkpointing"])
def test_bfloat16_training_on_cpu_runs_under_autocast_without_input_casts(
    tiny_model, tmp_path, checkpointing
):
    """The backend's own train() in bfloat16: Trainer's mixed precision wraps each forward in
    autocast (as on CUDA), LoRA inputs go uncast throughout (recomputed forwards too), and the
    cast is back afterwards."""
    from ftx.backends.local.options import LoraOptions
    from tests.helpers import train_briefly

    model = _lora_in_bf16(tiny_model, dropout=0.05)
    seen = []
    adapter = next(m for name, m in model.named_modules() if name.endswith("lora_A.default"))
    adapter.register_forward_pre_hook(
        lambda module, args: seen.append((_casting(model), torch.is_autocast_enabled("cpu")))
    )
    opts = LoraOptions(
        max_steps=2,
        batch_size=2,
        save_checkpoints=False,
        device="cpu",
        dtype="bfloat16",
        gradient_checkpointing=checkpointing,
    )
    stats = train_briefly(model, tiny_model, tmp_path, opts, torch.bfloat16)
    assert stats.steps == 2 and stats.final_loss == stats.final_loss  # a number, not NaN
    assert seen and all(casting == {False} and autocast for casting, autocast in seen), seen
    assert _casting(model) == {True}


# --- long examples and answer lengths ----------------------------------------------------------


def long_rows(n=16, every=4, repeat=40, skip=0):
    """Alpaca records from the bundled Q&A; every ``every``-th answer repeated ``repeat`` times."""
    rows = []
    for i, r in enumerate(sample_rows(skip + n)[skip:]):
        answer = " ".join([r["answer"]] * (repeat if i % every == 0 else 1))
        rows.append({"instruction": r["question"], "input": "", "output": answer})
    return rows


def encoded_lengths(tiny_model, rows):
    import transformers

    from ftx.backends.local.tokenize import encode
    from ftx.plugins import get_registry
    from ftx.types import Example, Message

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    template = get_registry().get("template", "chat")()
    examples = [
        Example(str(i), (Message("user", r["instruction"]), Message("assistant", r["output"])))
        for i, r in enumerate(rows)
    ]
    return [len(encode(e, template, tokenizer)) for e in examples]


def test_fit_cuts_ids_and_labels_together_and_leaves_out_what_has_no_answer():
    from ftx.backends.local.lengths import fit
    from ftx.backends.local.tokenize import IGNORE, Encoded

    short = Encoded([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4])
    long = Encoded(list(range(10)), [IGNORE] * 4 + list(range(4, 10)))
    prompt_fills = Encoded(list(range(10)), [IGNORE] * 8 + [8, 9])
    fitted = fit([short, long, prompt_fills], 6, "truncate")
    assert fitted.examples == [short, Encoded(list(range(6)), [IGNORE] * 4 + [4, 5])]
    assert (fitted.over, fitted.longest, fitted.dropped, fitted.no_answer) == (2, 10, 1, 1)
    dropped = fit([short, long, prompt_fills], 6, "drop")
    assert dropped.examples == [short] and dropped.dropped == 2
    refused = fit([short, long], 6, "error")
    assert (
        refused.examples == [short, long] and refused.over == 1
    )  # preflight refuses; nothing is changed


def test_auto_lengths_fit_the_data_within_the_model():
    from ftx.backends.local.lengths import AUTO_CAP, resolve_max_seq_length
    from ftx.config import auto_max_new_tokens

    assert (
        resolve_max_seq_length("auto", [40, 751, 300], context=2048) == 751
    )  # the longest example
    assert (
        resolve_max_seq_length("auto", [40, 751], context=512) == 512
    )  # no more than the model takes
    assert resolve_max_seq_length("auto", [40, 90_000], context=131_072) == AUTO_CAP
    assert resolve_max_seq_length("auto", [40, 751], context=None) == 751
    assert resolve_max_seq_length(300, [40, 751], context=2048) == 300  # a number is kept as given
    assert auto_max_new_tokens([4, 25, 12]) == 64  # the bundled demo's references: as before
    assert auto_max_new_tokens([118, 414]) == 544  # a quarter above the longest, rounded up to 32
    assert auto_max_new_tokens([5000]) == 1024
    assert auto_max_new_tokens([]) == 64


def test_untuned_baseline_checks_only_its_eval_prompts(tiny_model):
    from ftx.backends.local import LocalBase, LocalLoRA
    from ftx.types import Example, GenerationParams, Message, Splits

    def example(i, prompt_words, answer_words):
        return Example(
            f"e{i}",
            (Message("user", "word " * prompt_words), Message("assistant", "word " * answer_words)),
            source=f"d.jsonl:{i}",
        )

    # "word " is 3 tokens of the tiny tokenizer; its model's context is 512 tokens.
    splits = Splits(
        [example(1, 10, 900), example(2, 10, 10)],
        [example(3, 10, 10), example(4, 150, 10), example(5, 300, 10)],
    )
    base = LocalBase.Options(model=str(tiny_model))
    problems = LocalBase().check(splits, base, generation=GenerationParams(max_new_tokens=64))
    # The 900-word training example does not matter to a backend that does not train.
    assert [(p.severity, str(p).split(" (")[0]) for p in problems] == [
        (
            "error",
            "1 of 3 eval prompts do not fit the model's context of 512 tokens with room for an "
            "answer",
        ),
        (
            "warning",
            "1 of 3 eval prompts leave less than max_new_tokens 64 for the answer in the model's "
            "context of 512 tokens",
        ),
    ]
    assert "d.jsonl:5" in problems[0].message and "d.jsonl:4" in problems[1].message
    lora = LocalLoRA.Options(model=str(tiny_model), max_seq_length=600)
    problems = LocalLoRA().check(Splits(splits.train, splits.eval[:1]), lora)
    assert [str(p) for p in problems] == [
        "max_seq_length 600 is over the model's context of 512 tokens "
        "(--set local-lora.max_seq_length=512, or auto)"
    ]
    problems = LocalLoRA().check(
        Splits(splits.train, splits.eval[:1]), LocalLoRA.Options(model=str(tiny_model))
    )
    assert len(problems) == 1 and problems[0].severity == "warning"
    assert problems[0].message.startswith(
        "1 of 2 training examples are over max_seq_length 512 (longest 27"
    )
    assert "the model's context is 512 tokens, so they cannot be kept whole" in problems[0].hint


@pytest.mark.parametrize("policy", ["truncate", "drop", "error"])
def test_long_training_examples_follow_the_policy_with_one_counted_warning(
    tmp_path, tiny_model, policy
):
    rows = long_rows()
    data = write_jsonl(tmp_path / "alpaca.jsonl", rows)
    evalset = write_jsonl(tmp_path / "eval.jsonl", long_rows(2, repeat=1, skip=16))
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--data",
            str(data),
            "--eval",
            str(evalset),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--name",
            "r",
            *sets(
                "local-lora.max_seq_length=100",
                f"local-lora.long_examples={policy}",
                "local-lora.max_steps=1",
                "local-lora.batch_size=16",
                "local-lora.packing=false",
                "run.max_new_tokens=4",
            ),
        ],
    )
    lengths = encoded_lengths(tiny_model, rows)
    over = [n for n in lengths if n > 100]
    assert len(over) == 4
    longest_at = lengths.index(max(lengths)) + 1
    said = (
        "4 of 16 training examples are over max_seq_length 100 "
        f"(longest {max(lengths)}, at alpaca.jsonl:{longest_at})"
    )
    text = " ".join((result.output + str(result.exception or "")).split())  # rich wraps lines
    assert text.count("training examples are over max_seq_length") == 1, text
    assert said in text, text
    if policy == "error":
        assert (
            result.exit_code != 0
            and "Nothing was trained" in text
            and "long_examples=truncate trains on their first 100 tokens" in text
        )
        return
    assert result.exit_code == 0, text
    state = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())["backends"]["local-lora"]
    assert state["state"]["max_seq_length"] == 100
    assert state["state"]["long_examples"] == {
        "over": 4,
        "longest": max(lengths),
        "policy": policy,
        "dropped": 4 if policy == "drop" else 0,
    }
    # One step over the whole training split: the tokens it saw are the examples as cut (or left
    # out).
    kept = (
        [min(n, 100) for n in lengths] if policy == "truncate" else [n for n in lengths if n <= 100]
    )
    assert state["train"]["train_tokens"] == sum(kept)
    assert (f"{said}; truncated to fit" if policy == "truncate" else f"{said}; left out") in text


def test_answers_say_whether_they_stopped_at_the_limit(tiny_model, monkeypatch):
    import transformers

    from ftx.backends.local import generate as gen
    from ftx.plugins import get_registry
    from ftx.types import GenerationParams, Message

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model)
    template = get_registry().get("template", "chat")()
    prompts = [[Message("user", "Who is Mr Darcy?")], [Message("user", "Where is Pemberley?")]]
    cut = gen.generate(
        model,
        tokenizer,
        template,
        prompts,
        GenerationParams(max_new_tokens=3),
        batch_size=2,
        device="cpu",
    )
    assert [(c.completion_tokens, c.truncated) for c in cut] == [
        (3, True),
        (3, True),
    ]  # an untuned model never stops
    # Make the token each answer begins with a stop token: both end there, on their own.
    first = set()
    for prompt in prompts:
        ids = torch.tensor([gen.encode_prompt(prompt, template, tokenizer)])
        first.add(
            int(
                model.generate(
                    ids, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )[0, -1]
            )
        )
    monkeypatch.setattr(gen, "stop_token_ids", lambda tokenizer, template: sorted(first))
    ended = gen.generate(
        model,
        tokenizer,
        template,
        prompts,
        GenerationParams(max_new_tokens=3),
        batch_size=1,
        device="cpu",
    )
    assert [(c.completion_tokens, c.truncated) for c in ended] == [(1, False), (1, False)]


def test_a_model_without_a_chat_template_gets_each_backends_own_fix(tmp_path, tiny_model):
    """Every local backend's preflight names its own --set; following them all clears preflight."""
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "no-template")
    (model / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(8))
    args = [
        "--data",
        str(data),
        "--model",
        str(model),
        "--eval-size",
        "2",
        *sets("local-lora.max_steps=1", "run.max_new_tokens=4"),
    ]
    refused = CliRunner().invoke(cli, ["run", *args])
    assert [str(p) for p in refused.exception.problems] == [
        f"{name}: this model's tokenizer has no chat template. Choose another template: --set "
        f"{name}.template=chatml (or alpaca, plain)."
        for name in ("local-base", "local-lora")
    ]
    result = run(*args, *sets("local-base.template=chatml", "local-lora.template=chatml"))
    assert result.exit_code == 0, result.output
