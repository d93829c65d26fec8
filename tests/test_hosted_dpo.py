"""Hosted DPO (``method=dpo``): each provider that offers it, with its real SDK against its fake,
gets its preference file and a job with the method its API expects; preflight refuses DPO where
the provider does not offer it, and SFT-shaped data for DPO everywhere."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftx.cli import cli
from ftx.testing import sample_rows, write_jsonl

PAIRS = Path(__file__).parent / "preference" / "pride_and_prejudice_pairs.jsonl"


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")  # errors as main() would print them
    return result


def problems(result) -> str:
    assert result.exit_code != 0, result.output
    return "\n".join(str(p) for p in getattr(result.exception, "problems", [result.exception]))


def state(tmp_path, backend, name="r"):
    meta = json.loads((tmp_path / "runs" / name / "run.json").read_text())
    return meta["backends"][backend]["state"]


def lines(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


@pytest.fixture
def sft_data(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))


# --- OpenAI ------------------------------------------------------------------------------------


@pytest.fixture
def openai_fake(monkeypatch):
    pytest.importorskip("openai")
    from .fakes.openai_server import KEY, FakeOpenAI

    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


OPENAI = [
    "--backend", "openai", "--set", "openai.poll_interval=0.01", "--set", "openai.max_retries=1",
]  # fmt: skip


def test_openai_dpo_job_has_the_dpo_method_and_a_pairs_file(tmp_path, openai_fake):
    result = run(
        "--data", str(PAIRS), *OPENAI, "--set", "openai.method=dpo", "--set", "openai.beta=0.2",
        "--set", "openai.epochs=2", "--eval-size", "8", "--name", "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    job = openai_fake.state.jobs[state(tmp_path, "openai")["job_id"]]
    assert job["method"] == {
        "type": "dpo",
        "dpo": {"hyperparameters": {"n_epochs": 2, "beta": 0.2}},
    }
    uploaded = lines(openai_fake.state.files[job["training_file"]])
    assert len(uploaded) == 40
    assert set(uploaded[0]) == {"input", "preferred_output", "non_preferred_output"}
    assert uploaded[0]["input"]["messages"][-1]["role"] == "user"


def test_openai_sft_job_on_pairs_trains_on_the_chosen_answers(tmp_path, openai_fake):
    result = run("--data", str(PAIRS), *OPENAI, "--eval-size", "8", "--name", "r")
    assert result.exit_code == 0, result.text
    job = openai_fake.state.jobs[state(tmp_path, "openai")["job_id"]]
    assert job["method"]["type"] == "supervised"
    assert "messages" in lines(openai_fake.state.files[job["training_file"]])[0]


def test_openai_fake_rejects_a_dpo_job_on_sft_data(openai_fake):
    import openai

    client = openai.OpenAI(base_url=openai_fake.base_url, max_retries=0)
    file = client.files.create(
        file=("t.jsonl", b'{"messages": [{"role": "user", "content": "hi"}]}\n'),
        purpose="fine-tune",
    )
    with pytest.raises(openai.BadRequestError, match="not in the dpo format"):
        client.fine_tuning.jobs.create(
            model="gpt-4.1-mini-2025-04-14", training_file=file.id, method={"type": "dpo"}
        )


def test_dpo_on_sft_data_is_refused_in_preflight(tmp_path, openai_fake, sft_data):
    result = run("--data", str(sft_data), *OPENAI, "--set", "openai.method=dpo")
    said = problems(result)
    assert "openai: trains on preference pairs" in said and "the training data has none" in said
    assert openai_fake.state.counts["uploads"] == 0


def test_unknown_method_and_beta_without_dpo_are_refused(tmp_path, openai_fake):
    result = run("--data", str(PAIRS), *OPENAI, "--set", "openai.method=ppo")
    assert "method must be one of sft, dpo, got 'ppo'" in result.text
    result = run("--data", str(PAIRS), *OPENAI, "--set", "openai.beta=0.1")
    assert "beta applies to method=dpo only" in result.text


# --- Together ----------------------------------------------------------------------------------


@pytest.fixture
def together_fake(monkeypatch):
    pytest.importorskip("together")
    from .fakes.together_server import KEY, FakeTogether

    with FakeTogether() as server:
        monkeypatch.setenv("TOGETHER_API_KEY", KEY)
        monkeypatch.setenv("TOGETHER_BASE_URL", server.base_url)
        monkeypatch.delenv("TOGETHER_PROJECT_ID", raising=False)
        yield server


TOGETHER = [
    "--backend", "together", "--set", "together.poll_interval=0.01",
    "--set", "together.max_retries=1",
]  # fmt: skip


def test_together_dpo_job_has_training_method_dpo_and_a_pairs_file(tmp_path, together_fake):
    result = run(
        "--data", str(PAIRS), *TOGETHER, "--set", "together.method=dpo",
        "--set", "together.beta=0.3", "--eval-size", "8", "--name", "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    job_id = state(tmp_path, "together")["job_id"]
    sent = together_fake.state.requests[job_id]["training_method"]
    assert sent["method"] == "dpo" and sent["dpo_beta"] == 0.3
    uploaded = lines(together_fake.state.files[together_fake.state.jobs[job_id]["training_file"]])
    assert len(uploaded) == 40
    assert set(uploaded[0]) == {"input", "preferred_output", "non_preferred_output"}


def test_together_sft_on_pairs_sends_training_method_sft(tmp_path, together_fake):
    result = run("--data", str(PAIRS), *TOGETHER, "--eval-size", "8", "--name", "r")
    assert result.exit_code == 0, result.text
    job_id = state(tmp_path, "together")["job_id"]
    assert together_fake.state.requests[job_id]["training_method"]["method"] == "sft"


def test_together_dpo_on_sft_data_is_refused_in_preflight(together_fake, sft_data):
    said = problems(run("--data", str(sft_data), *TOGETHER, "--set", "together.method=dpo"))
    assert "together: trains on preference pairs" in said
    assert together_fake.state.counts["jobs"] == 0


# --- Vertex AI (gemini) ------------------------------------------------------------------------


@pytest.fixture
def google(tmp_path, monkeypatch):
    pytest.importorskip("google.genai")
    pytest.importorskip("google.cloud.storage")
    from .fakes.gemini_server import PROJECT, FakeGoogle

    with FakeGoogle() as server:
        (tmp_path / "secrets").mkdir()
        key_file = server.service_account_file(tmp_path / "secrets")
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        yield server


def gemini(server):
    return [
        "--backend", "gemini", "--set", f"gemini.base_url={server.url}/",
        "--set", "gemini.bucket=gs://ftx-bucket/tuning", "--set", "gemini.poll_interval=0.01",
        "--set", "gemini.max_retries=1",
    ]  # fmt: skip


def test_gemini_dpo_is_vertex_preference_tuning_on_a_pairs_file(tmp_path, google):
    result = run(
        "--data", str(PAIRS), *gemini(google), "--set", "gemini.method=dpo",
        "--set", "gemini.beta=0.5", "--set", "gemini.epochs=2", "--eval-size", "8", "--name", "r",
    )  # fmt: skip
    assert result.exit_code == 0, result.text
    (job,) = google.state.jobs.values()
    assert "supervisedTuningSpec" not in job
    spec = job["preferenceOptimizationSpec"]
    assert spec["hyperParameters"] == {"epochCount": 2, "beta": 0.5}
    rows = lines(google.state.objects[spec["trainingDatasetUri"]])
    assert len(rows) == 40
    assert rows[0]["contents"][-1]["role"] == "user"
    assert sorted(c["score"] for c in rows[0]["completions"]) == [0, 1]
    assert state(tmp_path, "gemini")["data_stats"]["tuning_dataset_example_count"] == 40


def test_gemini_fake_rejects_preference_tuning_on_sft_data(google):
    from google import genai
    from google.genai import errors, types

    from .fakes.gemini_server import PROJECT

    uri = "gs://ftx-bucket/sft.jsonl"
    google.state.objects[uri] = (
        b'{"contents": [{"role": "user", "parts": [{"text": "hi"}]}, '
        b'{"role": "model", "parts": [{"text": "hello"}]}]}\n'
    )
    client = genai.Client(
        vertexai=True,
        project=PROJECT,
        location="us-central1",
        http_options=types.HttpOptions(base_url=f"{google.url}/"),
    )
    with pytest.raises(errors.ClientError, match="Invalid preference tuning dataset"):
        client.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=types.TuningDataset(gcs_uri=uri),
            config=types.CreateTuningJobConfig(method="PREFERENCE_TUNING"),
        )


def test_gemini_dpo_on_sft_data_is_refused_in_preflight(google, sft_data):
    said = problems(run("--data", str(sft_data), *gemini(google), "--set", "gemini.method=dpo"))
    assert "gemini: trains on preference pairs" in said
    assert google.state.counts["jobs"] == 0


# --- Fireworks: refused ------------------------------------------------------------------------


@pytest.fixture
def fireworks_fake(monkeypatch):
    pytest.importorskip("fireworks")
    from .fakes.fireworks_server import ACCOUNT, KEY, FakeFireworks

    with FakeFireworks() as server:
        monkeypatch.setenv("FIREWORKS_API_KEY", KEY)
        monkeypatch.setenv("FIREWORKS_ACCOUNT_ID", ACCOUNT)
        monkeypatch.setenv("FIREWORKS_BASE_URL", server.base_url)
        yield server


def test_fireworks_refuses_dpo_in_preflight_with_one_sentence(fireworks_fake):
    result = run(
        "--data", str(PAIRS), "--backend", "fireworks", "--set", "fireworks.method=dpo",
        "--set", "fireworks.dedicated_endpoint=true", "--set", "fireworks.max_retries=1",
    )  # fmt: skip
    said = problems(result)
    assert (
        "fireworks: Fireworks does not offer method=dpo through ftx: its docs (read 2026-11-30) "
        "say managed DPO jobs no longer accept new jobs, so ftx does not create them"
    ) in said
    assert "trains on preference pairs" not in said  # the refusal, not the data rules
    assert fireworks_fake.state.counts.get("jobs", 0) == 0


def test_together_fake_rejects_a_dpo_job_on_sft_data(tmp_path, together_fake):
    import together

    from .fakes.together_server import KEY, TUNABLE

    sft = write_jsonl(tmp_path / "sft.jsonl", [{"messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
    ]}])  # fmt: skip
    client = together.Together(api_key=KEY, base_url=together_fake.base_url, max_retries=0)
    file = client.files.upload(file=sft, purpose="fine-tune", check=False)
    with pytest.raises(together.APIStatusError, match="does not match training_method dpo"):
        client.fine_tuning.create(
            training_file=file.id,
            model=next(iter(TUNABLE)),
            training_method="dpo",
            train_on_inputs=None,
        )


def test_a_dpo_job_trains_and_validates_on_the_pairs_only():
    """Examples without a rejected answer are left out before the validation share is taken:
    a validation file of them would be empty, or refused by the provider."""
    from ftx.backends.openai import FineTuneOptions, OpenAIFineTune
    from ftx.types import Example, Message, Splits

    def example(i, rejected):
        messages = (Message("user", f"q{i}"), Message("assistant", f"a{i}"))
        return Example(f"e{i}", messages, rejected=rejected)

    train = [example(i, "no" if i % 2 else None) for i in range(20)]
    backend = OpenAIFineTune()
    chosen = backend.trained_on(Splits(train, []), FineTuneOptions(method="dpo"))
    assert [e.id for e in chosen] == [f"e{i}" for i in range(1, 20, 2)]
    assert backend.trained_on(Splits(train, []), FineTuneOptions()) == train
