"""local-dpo: DPO on preference pairs with TRL, from the base or from an SFT adapter of the run.

The tiny model trains on the sample preference set (tests/preference/): 36 pairs to train on, 12
held out, whose chosen answers answer the question and whose rejected ones evade it. Reward
accuracy on the held-out pairs is measured the way the reward evaluator reads it: each model's
log-probabilities of both answers, against the base's.
"""

import json
from pathlib import Path

import pytest

from ftx import data as datamod
from ftx.formatters import BUILTIN_FORMATTERS
from ftx.types import Example, Message, Splits

from .helpers import backend_context, ftx_main

pytest.importorskip("torch")
pytest.importorskip("trl")

SAMPLE = Path(__file__).parent / "preference" / "pride_and_prejudice_pairs.jsonl"
STEPS = 12


def sample_splits() -> Splits:
    dataset = datamod.load(SAMPLE, formatters={f.name: f for f in BUILTIN_FORMATTERS})
    return datamod.split(dataset.examples, eval_size=12, seed=42)


def reward(model, examples):
    """Mean reward accuracy and margin of ``model`` on the pairs, as the reward evaluator
    gives them from the rows a run keeps."""
    from ftx.evaluators.reward import Reward

    rows = [p.row() for p in model.pair_logprobs(examples)]
    scores = Reward().score([""] * len(rows), [""] * len(rows), [""] * len(rows), rows=rows)
    return {m: sum(v) / len(v) for m, v in scores.per_example.items()}


@pytest.fixture(scope="module")
def chain(tiny_model, tmp_path_factory):
    """local-base, local-lora (SFT on the chosen answers), then local-dpo from local-lora's
    adapter and local-dpo from the base, trained in one run folder; their held-out rewards."""
    from ftx.backends.local import LocalBase, LocalLoRA
    from ftx.backends.local.dpo import LocalDPO

    run = tmp_path_factory.mktemp("chain")
    splits = sample_splits()
    common = {"model": str(tiny_model), "device": "cpu", "max_steps": STEPS, "batch_size": 4}
    models, logs = {}, {}

    def train(backend, name, **options):
        logs[name] = []
        ctx = backend_context(run / name, log=logs[name].append)
        opts = backend.Options(**options)
        assert backend.check(splits, opts) == []
        models[name] = backend.train(splits, opts, ctx)
        return ctx

    train(LocalBase(), "local-base", model=str(tiny_model), device="cpu")
    train(LocalLoRA(), "local-lora", **common, save_steps=4)
    dpo = dict(common, save_steps=4, learning_rate=5e-3)
    contexts = {"local-dpo": train(LocalDPO(), "local-dpo", **dpo, start_from="local-lora")}
    train(LocalDPO(), "local-dpo-from-base", **dpo)
    rewards = {name: reward(model, splits.eval) for name, model in models.items()}
    return run, splits, models, rewards, contexts, logs


def test_dpo_raises_reward_accuracy_on_held_out_pairs_above_the_base_and_sft(chain):
    _, _, _, rewards, _, _ = chain
    print({n: {m: round(v, 3) for m, v in r.items()} for n, r in rewards.items()})
    # The base is its own reference: every reward is 0, every pair a tie.
    assert rewards["local-base"] == {"reward_accuracy": 0.5, "reward_margin": 0.0}
    assert rewards["local-dpo"]["reward_accuracy"] > rewards["local-base"]["reward_accuracy"]
    assert rewards["local-dpo"]["reward_accuracy"] > rewards["local-lora"]["reward_accuracy"]
    assert rewards["local-dpo"]["reward_margin"] > rewards["local-lora"]["reward_margin"] > 0
    assert rewards["local-dpo-from-base"]["reward_accuracy"] > 0.5


def test_dpo_trains_local_loras_adapter_further(chain):
    run, _, models, _, contexts, logs = chain
    state = contexts["local-dpo"].state
    assert state["start_from"] == {
        "backend": "local-lora",
        "adapter": str(run / "local-lora" / "adapter"),
    }
    assert state["artifact"] == "adapter" and state["max_seq_length"] > 0
    assert any("trains local-lora's adapter" in line for line in logs["local-dpo"])
    # One adapter, saved where local-lora saves its own: the reference's copy is gone.
    assert set(models["local-dpo"].model.peft_config) == {"default"}
    saved = json.loads((run / "local-dpo" / "adapter" / "adapter_config.json").read_text())
    sft = json.loads((run / "local-lora" / "adapter" / "adapter_config.json").read_text())
    assert saved["r"] == sft["r"] and not (run / "local-dpo" / "adapter" / "ref").exists()


def test_dpo_logs_its_reward_figures_and_checkpoints_whole(chain):
    run, _, _, _, _, _ = chain
    log = [
        json.loads(line)
        for line in (run / "local-dpo" / "train_log.jsonl").read_text().splitlines()
    ]
    assert [e["step"] for e in log] == list(range(1, STEPS + 1))
    assert log[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # log 2: where DPO starts
    assert log[-1]["loss"] < 0.5 and log[-1]["rewards/accuracies"] > 0.5
    assert all(e["tokens"] > 0 and "rewards/margins" in e for e in log)
    checkpoints = sorted(p.name for p in (run / "local-dpo" / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-12", "checkpoint-8"]  # save_total_limit=2, no .partial
    assert not (run / "local-dpo" / "checkpoints" / "README.md").exists()  # no model card


def test_attach_and_export_are_local_loras(chain, tmp_path):
    from ftx.backends.local.dpo import LocalDPO

    run, splits, models, _, _, _ = chain
    opts = LocalDPO.Options(model=str(models["local-base"].opts.model), device="cpu")
    attached = LocalDPO().attach({}, opts, backend_context(run / "local-dpo"))
    first = splits.eval[:3]
    assert [p.chosen for p in attached.pair_logprobs(first)] == pytest.approx(
        [p.chosen for p in models["local-dpo"].pair_logprobs(first)], abs=1e-4
    )
    LocalDPO().export(run / "local-dpo", opts, tmp_path / "merged", merge=True)
    assert (tmp_path / "merged" / "model.safetensors").is_file()


def test_a_missing_sft_adapter_is_one_sentence(tiny_model, tmp_path):
    from ftx.backends.local.dpo import LocalDPO
    from ftx.errors import FtxError

    opts = LocalDPO.Options(model=str(tiny_model), device="cpu", start_from="local-lora")
    with pytest.raises(FtxError) as failed:
        LocalDPO().train(sample_splits(), opts, backend_context(tmp_path / "local-dpo"))
    assert failed.value.message == (
        f"local-dpo starts from local-lora's adapter, and there is none in "
        f"{tmp_path / 'local-lora' / 'adapter'}: local-lora failed, has not trained yet, or is "
        "not a LoRA or QLoRA backend of this run."
    )
    assert "--set local-dpo.start_from=base" in failed.value.hint
    assert LocalDPO().depends_on(opts) == ["local-lora"]
    assert LocalDPO().depends_on(LocalDPO.Options()) == []


def test_preflight_refuses_data_without_pairs(tiny_model):
    from ftx.backends.local.dpo import LocalDPO

    qa = [
        Example(str(i), (Message("user", f"Q{i}?"), Message("assistant", f"A{i}.")))
        for i in range(4)
    ]
    problems = LocalDPO().check(Splits(qa[:3], qa[3:]), LocalDPO.Options(model=str(tiny_model)))
    assert [p.severity for p in problems] == ["error"]
    assert str(problems[0]).startswith(
        "local-dpo: trains on preference pairs (a chosen and a rejected answer to each "
        "prompt), and the training data has none (give preference data"
    )


@pytest.mark.parametrize(
    "setting, message",
    [
        ("local-dpo.beta=0", "local-dpo: beta must be above 0, got 0.0"),
        ("local-dpo.packing=true", "packing is not available for preference pairs"),
        ("local-dpo.loss_type=exo_pair", "loss_type=exo_pair needs a label_smoothing above 0"),
        ("local-dpo.loss_type=kto", "local-dpo.loss_type"),
    ],
)
def test_bad_options_are_one_clear_error(setting, message, capsys, tmp_path):
    code, _, err = ftx_main(
        capsys, "run", "--data", str(SAMPLE), "--backend", "local-dpo", "--set", setting
    )
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code != 0 and "Traceback" not in err and len(errors) == 1, err
    assert message in errors[0]


def test_the_options_table_states_the_real_defaults():
    import dataclasses

    from ftx.backends.local.dpo import PreferenceOptions

    from .test_docs import DOCS, _documented_defaults, _literal

    rows = _documented_defaults(DOCS / "preference.md")
    for field in dataclasses.fields(PreferenceOptions):
        assert field.name in rows, f"docs/preference.md has no row for option {field.name!r}"
        assert _literal(rows[field.name]) == field.default, field.name


# --- through `ftx run`: the chained run, killed and resumed --------------------------------------

CHAIN = [
    "--data",
    str(SAMPLE),
    "--eval-size",
    "12",
    "--backend",
    "local-base",
    "--backend",
    "local-lora",
    "--backend",
    "local-dpo",
    "--set",
    "local-dpo.start_from=local-lora",
    "--set",
    "local-dpo.learning_rate=5e-3",
    "--evaluator",
    "rouge",
    "--set",
    "run.max_new_tokens=4",
]
for backend in ("local-lora", "local-dpo"):
    CHAIN += ["--set", f"{backend}.max_steps=6", "--set", f"{backend}.save_steps=2"]
    CHAIN += ["--set", f"{backend}.batch_size=4"]


@pytest.mark.slow
def test_the_chained_run_resumes_after_a_kill(tmp_path, tiny_model):
    """SIGKILL while local-dpo trains (after its checkpoint-2), then `ftx resume`: local-lora is
    not trained again, local-dpo goes on from its checkpoint over local-lora's adapter, and the
    run ends as one that never stopped (the same answers, scores and losses)."""
    from .helpers import install_entry_point_plugin, run_ftx
    from .test_survival import events_by_process

    site = install_entry_point_plugin(tmp_path / "site", "ftx_killer", "ftx-killer")
    events = tmp_path / "events.jsonl"
    env = {
        "PYTHONPATH": str(site),
        "FTX_LOAD_PLUGINS": "ftx-killer",
        "FTX_CACHE_DIR": str(tmp_path / "cache"),
    }
    args = [*CHAIN, "--model", str(tiny_model)]
    ref = run_ftx("run", *args, "--name", "ref", cwd=tmp_path, env=env)
    assert ref.returncode == 0, ref.stderr
    env["FTX_EVENTS_LOG"] = str(events)
    kill = {**env, "FTX_KILL_AT": "train_log:local-dpo:step=3"}
    first = run_ftx("run", *args, "--name", "k", cwd=tmp_path, env=kill)
    assert first.returncode == -9
    second = run_ftx("resume", "k", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr

    steps = [
        {b: [e["data"]["step"] for e in p if e["kind"] == "train_log" and e["backend"] == b]}
        for p in events_by_process(events)
        for b in ("local-lora", "local-dpo")
    ]
    assert steps == [
        {"local-lora": [1, 2, 3, 4, 5, 6]},
        {"local-dpo": [1, 2, 3]},
        {"local-lora": []},  # done: never trained again
        {"local-dpo": [3, 4, 5, 6]},  # from checkpoint-2
    ]
    run, ref_run = tmp_path / "runs" / "k", tmp_path / "runs" / "ref"
    for name in ("local-base", "local-lora", "local-dpo"):
        predictions = (run / name / "predictions.jsonl").read_text()
        assert predictions == (ref_run / name / "predictions.jsonl").read_text(), name

    def losses(folder):
        log = (folder / "local-dpo" / "train_log.jsonl").read_text().splitlines()
        return [(e["step"], e["loss"]) for e in map(json.loads, log)]

    assert losses(run) == losses(ref_run) and len(losses(run)) == 6
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "done"
    assert meta["backends"]["local-dpo"]["state"]["start_from"]["backend"] == "local-lora"
    assert "resuming training from" in (run / "local-dpo" / "log.txt").read_text()


@pytest.mark.slow
def test_when_the_sft_backend_fails_dpo_fails_with_one_sentence(tmp_path, tiny_model, capsys):
    code, out, err = ftx_main(
        capsys,
        "run",
        *CHAIN,
        "--model",
        str(tiny_model),
        "--set",
        "local-lora.target_modules=no_such_module",
        "--name",
        "r",
    )
    assert code == 3 and "Traceback" not in err  # partial: the base answered
    meta = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    assert meta["backends"]["local-lora"]["status"] == "failed"
    assert meta["backends"]["local-dpo"]["status"] == "failed"
    assert meta["backends"]["local-dpo"]["error"] == (
        "local-dpo starts from local-lora's adapter, and there is none in "
        "runs/r/local-lora/adapter: local-lora failed, has not trained yet, or is not a LoRA or "
        "QLoRA backend of this run. Train local-lora first (list it before local-dpo, or 'ftx "
        "resume' once it has trained), or --set local-dpo.start_from=base."
    )
    assert "local-dpo failed: local-dpo starts from local-lora's adapter" in err


@pytest.mark.slow
def test_a_run_reports_reward_accuracy(tmp_path, tiny_model, capsys):
    code, _, err = ftx_main(
        capsys, "run", *CHAIN, "--model", str(tiny_model), "--evaluator", "reward", "--name", "r"
    )
    assert code == 0, err
    scores = json.loads((tmp_path / "runs" / "r" / "scores.json").read_text())["backends"]
    accuracy = {name: sum(s["per_example"]["reward_accuracy"]) / 12 for name, s in scores.items()}
    assert accuracy["local-base"] == 0.5
    assert accuracy["local-dpo"] > accuracy["local-base"]


def losses_and_tokens(run: Path, backend: str) -> list[tuple[float, int]]:
    log = (run / backend / "train_log.jsonl").read_text().splitlines()
    return [(e["loss"], e["tokens"]) for e in map(json.loads, log)]


@pytest.mark.slow
def test_two_processes_train_dpo_like_one(tmp_path, tiny_model):
    """Under torchrun, each of two processes takes half of every step's pairs (batch_size 2
    each against 4 in one process): the same losses (to float rounding) and tokens."""
    import subprocess
    import sys

    from .helpers import run_ftx

    steps = ["--set", "local-lora.max_steps=4", "--set", "local-dpo.max_steps=4"]
    args = [*CHAIN, *steps, "--model", str(tiny_model)]
    one = run_ftx("run", *args, "--name", "one", cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    half = ["--set", "local-lora.batch_size=2", "--set", "local-dpo.batch_size=2"]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        + ["-m", "ftx.cli", "run", *args, *half, "--name", "two"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr
    runs = tmp_path / "runs"
    assert json.loads((runs / "two" / "run.json").read_text())["world_size"] == 2
    for backend in ("local-lora", "local-dpo"):
        alone, shared = (
            losses_and_tokens(runs / "one", backend),
            losses_and_tokens(runs / "two", backend),
        )
        assert [t for _, t in shared] == [t for _, t in alone] and len(alone) == 4
        assert [loss for loss, _ in shared] == pytest.approx([loss for loss, _ in alone], rel=1e-5)


@pytest.mark.slow
def test_qlora_dpo_from_local_qlora(tmp_path, tiny_model, capsys):
    """local-qlora-dpo trains local-qlora's adapter further on the 4-bit model (bitsandbytes
    runs on the CPU)."""
    pytest.importorskip("bitsandbytes")
    chain = [
        a.replace("local-dpo", "local-qlora-dpo").replace("local-lora", "local-qlora")
        for a in CHAIN
    ]
    code, _, err = ftx_main(capsys, "run", *chain, "--model", str(tiny_model), "--name", "q")
    assert code == 0, err
    run = tmp_path / "runs" / "q"
    meta = json.loads((run / "run.json").read_text())
    assert meta["backends"]["local-qlora-dpo"]["state"]["start_from"]["backend"] == "local-qlora"
    losses = [loss for loss, _ in losses_and_tokens(run, "local-qlora-dpo")]
    assert losses[0] == pytest.approx(0.6931, abs=1e-3) and losses[-1] < losses[0]
    assert (run / "local-qlora-dpo" / "adapter" / "adapter_model.safetensors").is_file()


def test_a_backend_listed_before_what_it_builds_on_is_one_sentence(tiny_model):
    from ftx import config as configmod
    from ftx.errors import ConfigError
    from ftx.runner import make_plan

    config = configmod.load(
        cli={"backends": ["local-dpo", "local-lora"], "model": str(tiny_model)},
        sets=["local-dpo.start_from=local-lora"],
    )
    with pytest.raises(ConfigError) as caught:
        make_plan(config)
    assert str(caught.value) == (
        "local-dpo builds on local-lora, which the run does not train before it: list "
        "--backend local-lora before --backend local-dpo."
    )
