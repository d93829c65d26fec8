"""The OpenAI backends with the real `openai` SDK against a fake API on 127.0.0.1."""

import json
import re

import pytest
from click.testing import CliRunner

from ftx import hookimpl
from ftx.cli import cli
from ftx.display import money
from ftx.testing import registered, sample_rows, write_jsonl

from .fakes.openai_server import KEY, FakeOpenAI
from .helpers import run_ftx, start_and_kill_when

pytest.importorskip("openai")


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(40))


FAST = ["--set", "openai.poll_interval=0.01", "--set", "openai.max_retries=3"]


def run(*args):
    result = CliRunner().invoke(cli, ["run", *args])
    result.text = result.output + str(result.exception or "")  # errors as main() would print them
    return result


def meta(tmp_path, name="r"):
    return json.loads((tmp_path / "runs" / name / "run.json").read_text())


def test_fine_tune_beats_base_and_key_never_written(tmp_path, fake, data):
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--backend",
        "openai",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    m = meta(tmp_path)
    state = m["backends"]["openai"]["state"]
    assert (
        state["job_id"] == "ftjob-1"
        and state["training_file"] == "file-1"
        and state["fine_tuned_model"].startswith("ft:gpt-4.1-mini")
    )
    assert (
        m["backends"]["openai"]["train"]["train_tokens"] > 0
        and m["backends"]["openai"]["train"]["cost_usd"] > 0
    )
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    scores = {b["name"]: b["scores"]["rougeL"] for b in report["backends"]}
    assert scores["openai"] > scores["openai-base"]
    cost = {b["name"]: b["cost_usd"] for b in report["backends"]}
    assert cost["openai"] > cost["openai-base"] > 0  # training and answers; the base only answers
    assert money(cost["openai"]) in result.output  # shown in the terminal table
    log = [
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "openai" / "train_log.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [e["step"] for e in log] == [1, 2, 3] and log[-1]["loss"] < log[0]["loss"]
    assert "estimated training cost $" in result.output
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_local_and_openai_in_one_table(tmp_path, fake, tiny_model, data):
    result = run(
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        "local-base",
        "--backend",
        "local-lora",
        "--backend",
        "openai-base",
        "--backend",
        "openai",
        "--eval-size",
        "6",
        "--name",
        "r",
        "--set",
        "local-lora.max_steps=2",
        "--set",
        "run.max_new_tokens=4",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert [b["name"] for b in report["backends"]] == [
        "local-base",
        "local-lora",
        "openai-base",
        "openai",
    ]
    assert (
        all(b["status"] == "done" for b in report["backends"])
        and report["baseline"] == "local-base"
    )
    for name in ("local-base", "local-lora", "openai-base", "openai"):
        assert name in result.output  # one table with all four


class KillAfterJobCreated:
    """Ctrl-C at the first training metric: the file is uploaded and the job exists."""

    @hookimpl
    def ftx_run_event(self, event):
        if event.kind == "train_log" and event.backend == "openai":
            raise KeyboardInterrupt


def test_resume_reattaches_without_second_upload_or_job(tmp_path, fake, data):
    with registered(KillAfterJobCreated()):
        result = run(
            "--data", str(data), "--backend", "openai", "--eval-size", "8", "--name", "r", *FAST
        )
    assert result.exit_code != 0
    assert meta(tmp_path)["backends"]["openai"]["status"] == "interrupted"
    assert meta(tmp_path)["backends"]["openai"]["state"]["job_id"] == "ftjob-1"
    resumed = CliRunner().invoke(cli, ["resume", "r"])
    assert resumed.exit_code == 0, resumed.output
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    assert meta(tmp_path)["backends"]["openai"]["status"] == "done"
    chats = fake.state.counts["chat"]
    again = CliRunner().invoke(cli, ["resume", "r"])  # nothing left to do: nothing is asked again
    assert again.exit_code == 0 and fake.state.counts["chat"] == chats


def test_failed_job_marks_only_that_backend_failed(tmp_path, fake, data):
    fake.behaviour.fail_job = "Training file contains examples with invalid roles"
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--backend",
        "openai",
        "--eval-size",
        "8",
        "--name",
        "r",
        *FAST,
    )
    assert result.exit_code == 3, result.output
    m = meta(tmp_path)
    assert m["backends"]["openai-base"]["status"] == "done"
    assert m["backends"]["openai"]["status"] == "failed"
    assert (
        m["backends"]["openai"]["error"]
        == "OpenAI job ftjob-1 failed: Training file contains examples with invalid roles See the "
        "job's events in log.txt."
    )


def test_slow_job_and_rate_limits_and_server_errors_are_survived(tmp_path, fake, data):
    fake.behaviour.polls_per_state = 4  # many polls in validating_files, queued and running
    fake.behaviour.chat_429 = 3
    fake.behaviour.chat_500 = 2
    result = run(
        "--data", str(data), "--backend", "openai", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code == 0, result.output
    assert fake.state.counts["chat_errors"] == 5
    assert (
        fake.state.counts["chat"] == 8 + 5
    )  # every failed request was retried once it was allowed
    assert fake.state.polls["ftjob-1"] >= 12


def test_rate_limit_beyond_retries_fails_clearly(tmp_path, fake, data):
    fake.behaviour.chat_429 = 1000
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--eval-size",
        "4",
        "--name",
        "r",
        "--set",
        "openai-base.max_retries=1",
    )
    assert result.exit_code == 1
    assert (
        "OpenAI kept rate-limiting asking gpt-4.1-mini-2025-04-14 after all retries"
        in meta(tmp_path)["backends"]["openai-base"]["error"]
    )


def test_wrong_key_is_a_preflight_error_before_anything_runs(tmp_path, fake, data, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456789")
    result = run("--data", str(data), "--backend", "openai", "--eval-size", "8", *FAST)
    assert result.exit_code != 0
    assert (
        "OpenAI rejected the API key while checking the model gpt-4.1-mini-2025-04-14 (401)"
        in result.text
    )
    assert fake.state.counts["uploads"] == 0 and not (tmp_path / "runs").exists()


def test_missing_key_fails_before_local_training(tmp_path, fake, tiny_model, data, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    result = run(
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--backend",
        "local-lora",
        "--backend",
        "openai",
        *FAST,
    )
    assert result.exit_code != 0
    assert "openai: OPENAI_API_KEY is not set" in result.text
    assert not (tmp_path / "runs").exists()  # nothing trained, nothing paid for


def test_cost_above_max_cost_is_refused_unless_yes(tmp_path, fake, data):
    result = run("--data", str(data), "--backend", "openai", "--max-cost", "0.00001", *FAST)
    assert result.exit_code != 0
    assert re.search(
        r"not started: The estimated cost is \$0\.\d\d \(openai \$0\.\d\d\), above --max-cost "
        r"\$0\.00001\. "
        r"Nothing was trained or paid for\.",
        result.text,
    ), result.text
    assert "Pass --yes to accept it" in result.text
    assert fake.state.counts["uploads"] == 0 and not (tmp_path / "runs").exists()
    accepted = run(
        "--data",
        str(data),
        "--backend",
        "openai",
        "--max-cost",
        "0.00001",
        "--yes",
        "--eval-size",
        "4",
        *FAST,
    )
    assert accepted.exit_code == 0, accepted.text
    assert fake.state.counts["uploads"] == 1


def test_too_few_examples_and_unknown_model(tmp_path, fake):
    small = write_jsonl(tmp_path / "small.jsonl", sample_rows(8))
    result = run(
        "--data",
        str(small),
        "--backend",
        "openai",
        "--eval-size",
        "2",
        "--set",
        "openai.model=davinci-classic",
        *FAST,
    )
    assert result.exit_code != 0
    problems = "\n".join(str(p) for p in result.exception.problems)
    assert "OpenAI fine-tuning needs at least 10 training examples; there are 6" in problems
    assert "OpenAI answered 404 while checking the model davinci-classic" in problems


def test_a_model_past_its_shutdown_date_is_refused_and_one_near_it_warned(tmp_path, fake, data):
    import time

    model = "gpt-4o-mini-2024-07-18"
    fake.behaviour.shutdown_dates[model] = int(time.time()) - 86400
    args = ["--data", str(data), "--backend", "openai", "--set", f"openai.model={model}", *FAST]
    result = run(*args)
    assert result.exit_code != 0 and fake.state.counts["uploads"] == 0
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
    assert f"{model} was shut down on {day}" in result.text
    fake.behaviour.shutdown_dates[model] = int(time.time()) + 10 * 86400
    result = run(*args, "--name", "near")
    assert result.exit_code == 0, result.text
    assert f"{model} shuts down on " in result.text and "in 9 day(s)" in result.text


def test_cancel(tmp_path, fake, data):
    with registered(KillAfterJobCreated()):
        run("--data", str(data), "--backend", "openai", "--eval-size", "8", "--name", "r", *FAST)
    result = CliRunner().invoke(cli, ["cancel", "r"])
    assert result.exit_code == 0, result.output
    assert "openai: job ftjob-1: " in result.output and fake.state.counts["cancels"] == 1


def test_hosted_job_runs_while_local_training_runs(tmp_path, fake, tiny_model, data):
    events = []

    class Recorder:
        @hookimpl
        def ftx_run_event(self, event):
            if event.kind == "backend_state":
                events.append((event.backend, event.data["status"]))

    fake.behaviour.polls_per_state = 3
    with registered(Recorder()):
        result = run(
            "--data",
            str(data),
            "--model",
            str(tiny_model),
            "--backend",
            "local-lora",
            "--backend",
            "openai",
            "--eval-size",
            "6",
            "--name",
            "r",
            "--set",
            "local-lora.max_steps=20",
            "--set",
            "run.max_new_tokens=4",
            *FAST,
        )
    assert result.exit_code == 0, result.output
    # The hosted job was started before local training began, not after it finished.
    assert events.index(("openai", "training")) < events.index(("local-lora", "training"))
    assert events.index(("openai", "training")) < events.index(("local-lora", "done"))
    assert json.loads((tmp_path / "runs" / "r" / "report.json").read_text())["status"] == "done"


def test_sigkill_after_job_created_then_resume(tmp_path, fake, data, monkeypatch):
    """A real process, killed with SIGKILL once the job exists; resume finishes it without a
    second upload or job."""
    fake.behaviour.polls_per_state = 10**6  # the job stays in validation until we let it go
    monkeypatch.setenv("FTX_LOAD_PLUGINS", "")
    run_json = tmp_path / "runs" / "k" / "run.json"
    start_and_kill_when(
        [
            "run",
            "--data",
            str(data),
            "--backend",
            "openai",
            "--eval-size",
            "8",
            "--name",
            "k",
            *FAST,
        ],
        tmp_path,
        run_json,
        "job_id",
    )
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    fake.behaviour.polls_per_state = 1
    resumed = run_ftx("resume", "k", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (
        fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    )  # nothing uploaded or created twice
    assert json.loads(run_json.read_text())["backends"]["openai"]["status"] == "done"


def test_validation_file_comes_from_the_training_split(tmp_path, fake, data):
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "openai.validation_size=0.25",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    state = meta(tmp_path)["backends"]["openai"]["state"]
    assert (state["training_file"], state["validation_file"]) == ("file-1", "file-2")
    assert fake.state.jobs["ftjob-1"]["validation_file"] == "file-2"

    def uploaded(f):
        return {
            json.loads(line)["messages"][-2]["content"]
            for line in fake.state.files[f].decode().splitlines()
        }

    held_out = {
        json.loads(line)["messages"][-2]["content"]
        for line in (tmp_path / "runs" / "r" / "data" / "eval.jsonl").read_text().splitlines()
    }
    assert len(uploaded("file-1")) == 24 and len(uploaded("file-2")) == 8
    assert (
        not (uploaded("file-1") | uploaded("file-2")) & held_out
    )  # the eval split never reaches OpenAI
    log = [
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "openai" / "train_log.jsonl")
        .read_text()
        .splitlines()
    ]
    assert all("eval_loss" in e for e in log)


def test_sigkill_mid_evaluation_keeps_paid_answers(tmp_path, fake, data):
    """Killed after the third answer: resume asks only the prompts not yet answered."""
    from .helpers import install_entry_point_plugin

    site = install_entry_point_plugin(tmp_path / "site", "ftx_killer", "ftx-killer")
    env = {"PYTHONPATH": str(site), "FTX_LOAD_PLUGINS": "ftx-killer"}
    killed = run_ftx(
        "run",
        "--data",
        str(data),
        "--backend",
        "openai",
        "--eval-size",
        "8",
        "--name",
        "k",
        "--set",
        "openai.concurrency=1",
        *FAST,
        cwd=tmp_path,
        env={**env, "FTX_KILL_AT": "answer:openai:done=3"},
    )
    assert killed.returncode == -9
    assert fake.state.counts["chat"] == 3
    resumed = run_ftx("resume", "k", cwd=tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert fake.state.counts["chat"] == 8  # each eval prompt paid for once
    assert fake.state.counts["uploads"] == 1 and fake.state.counts["jobs"] == 1
    rows = [
        json.loads(line)
        for line in (tmp_path / "runs" / "k" / "openai" / "predictions.jsonl")
        .read_text()
        .splitlines()
    ]
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8


def test_key_from_a_secrets_file_is_used_and_never_written(tmp_path, fake, data, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    secrets_file = tmp_path / "home" / "secrets.toml"
    secrets_file.parent.mkdir()
    secrets_file.write_text(f'OPENAI_API_KEY = "{KEY}"\n')
    secrets_file.chmod(0o644)
    monkeypatch.setenv("FTX_SECRETS_FILE", str(secrets_file))
    refused = run("--data", str(data), "--backend", "openai", "--name", "r", *FAST)
    assert (
        refused.exit_code != 0
        and "can be read by other users" in refused.text
        and KEY not in refused.text
    )

    secrets_file.chmod(0o600)
    result = run(
        "--data", str(data), "--backend", "openai", "--eval-size", "8", "--name", "r", *FAST
    )
    assert result.exit_code == 0, result.text
    assert fake.state.counts["jobs"] == 1
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_llm_judge_grades_through_the_endpoint_and_caches_verdicts(tmp_path, fake, data):
    from ftx.evaluators.llm_judge import JudgeOptions, LLMJudge

    judge = LLMJudge(JudgeOptions(base_url=fake.base_url, max_retries=0))
    answers, references = (
        ["Jane Austen", "Mr Darcy", "", "nothing alike"],
        ["Jane Austen", "Jane Austen", "Jane Austen", "Jane Austen"],
    )
    scores = judge.score(answers, references, ["Who wrote it?"] * 4)
    assert scores.per_example["judge"] == [1.0, 0.0, 0.0, 0.0]  # grade 5 -> 1.0, grade 1 -> 0.0
    assert fake.state.counts["chat"] == 3  # the empty answer is not sent
    # What the verdicts cost: the endpoint's reported usage at gpt-4.1-mini's prices ($0.80 / $3.20
    # per 1M).
    paid = (
        fake.state.counts["chat_prompt_tokens"] * 0.80
        + fake.state.counts["chat_completion_tokens"] * 3.20
    ) / 1e6
    assert scores.cost_usd == pytest.approx(paid, abs=1e-6) and scores.cost_usd > 0
    again = judge.score(answers, references, ["Who wrote it?"] * 4)
    assert fake.state.counts["chat"] == 3  # verdicts come from the cache the second time
    assert again.cost_usd == 0.0  # and cost nothing


def test_what_the_judge_paid_is_reported_kept_across_resume_and_counted_in_max_cost(
    tmp_path, fake, data
):
    judge = (
        "--evaluator",
        "rouge",
        "--evaluator",
        "llm_judge",
        "--set",
        f"llm_judge.base_url={fake.base_url}",
    )
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        *judge,
        *FAST,
    )
    assert result.exit_code == 0, result.text
    scores = json.loads((tmp_path / "runs" / "r" / "scores.json").read_text())["backends"][
        "openai-base"
    ]
    assert "judge" in scores["per_example"]
    paid = scores["cost_usd"]["llm_judge"]
    assert paid > 0
    assert (
        f"scoring paid: llm_judge {money(paid)}" in result.output
    )  # under a cent too: never $0.00
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert report["scoring_cost_usd"] == {"llm_judge": paid}
    assert "Scoring paid: llm_judge" in (tmp_path / "runs" / "r" / "report.md").read_text()
    # A resumed run scores again from cached verdicts: nothing new is paid, nothing paid is
    # forgotten.
    asked = fake.state.counts["chat"]
    assert CliRunner().invoke(cli, ["resume", "r"]).exit_code == 0
    assert fake.state.counts["chat"] == asked
    assert json.loads((tmp_path / "runs" / "r" / "scores.json").read_text())["backends"][
        "openai-base"
    ]["cost_usd"] == {"llm_judge": paid}
    # The judge's estimate counts towards --max-cost before anything is asked.
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--eval-size",
        "8",
        "--name",
        "r2",
        *judge,
        "--set",
        "llm_judge.input_price=100000",
        "--max-cost",
        "1",
        *FAST,
    )
    assert result.exit_code != 0
    assert re.search(
        r"\(llm_judge \$\d+\.\d\d\), above --max-cost \$1\.00\. Nothing was trained or paid for",
        result.text,
    ), result.text
    assert fake.state.counts["chat"] == asked


def test_a_judge_failing_part_way_keeps_what_it_paid_for(tmp_path, fake, data):
    from ftx.errors import FtxError
    from ftx.evaluators.llm_judge import JudgeOptions, LLMJudge

    fake.behaviour.chat_500_after = 2
    judge = LLMJudge(JudgeOptions(base_url=fake.base_url, max_retries=0, concurrency=1))
    with pytest.raises(
        FtxError,
        match=r"The 2 verdict\(s\) already received are kept and will not be paid for again",
    ) as info:
        judge.score(["one", "two", "three", "four"], ["a", "b", "c", "d"], ["q"] * 4)
    assert info.value.cost_usd == pytest.approx(
        (
            fake.state.counts["chat_prompt_tokens"] * 0.80
            + fake.state.counts["chat_completion_tokens"] * 3.20
        )
        / 1e6,
        abs=1e-6,
    )
    # Through a run: the judge's metric is missing, the rest stands, and what it paid is counted.
    fake.behaviour.chat_500_after = (
        8 + 3
    )  # openai-base answers 8 prompts, then the judge gets 3 verdicts
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--eval-size",
        "8",
        "--name",
        "p",
        "--evaluator",
        "rouge",
        "--evaluator",
        "llm_judge",
        "--set",
        f"llm_judge.base_url={fake.base_url}",
        "--set",
        "llm_judge.max_retries=0",
        *FAST,
    )
    assert result.exit_code == 3, result.text  # partial: a metric asked for is missing
    assert "evaluator 'llm_judge' failed on openai-base" in result.text
    assert (
        json.loads((tmp_path / "runs" / "p" / "run.json").read_text())["failures"][0]["name"]
        == "llm_judge"
    )
    scored = json.loads((tmp_path / "runs" / "p" / "scores.json").read_text())["backends"][
        "openai-base"
    ]
    assert "rougeL" in scored["per_example"] and "judge" not in scored["per_example"]
    assert scored["cost_usd"]["llm_judge"] > 0


def test_llm_judge_with_a_wrong_key_fails_clearly(tmp_path, fake, monkeypatch):
    from ftx.errors import FtxError
    from ftx.evaluators.llm_judge import JudgeOptions, LLMJudge

    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123456")
    with pytest.raises(FtxError, match=r"the judge \(gpt-4.1-mini\) failed") as info:
        LLMJudge(JudgeOptions(base_url=fake.base_url, max_retries=0)).score(["a"], ["b"], ["q"])
    assert "sk-wrong-key-123456" not in str(info.value)


def test_answers_stopped_at_the_length_limit_are_counted(tmp_path, fake, data):
    fake.behaviour.cut_at_max_tokens = (
        True  # finish_reason "length" past max_completion_tokens words
    )
    result = run(
        "--data",
        str(data),
        "--backend",
        "openai-base",
        "--eval-size",
        "8",
        "--name",
        "r",
        "--set",
        "run.max_new_tokens=4",
        *FAST,
    )
    assert result.exit_code == 0, result.text
    rows = [
        json.loads(line)
        for line in (tmp_path / "runs" / "r" / "openai-base" / "predictions.jsonl")
        .read_text()
        .splitlines()
    ]
    assert [r["truncated"] for r in rows] == [True] * 8 and all(
        len(r["prediction"].split()) == 4 for r in rows
    )
    report = json.loads((tmp_path / "runs" / "r" / "report.json").read_text())
    assert report["backends"][0]["answers_cut_short"] == 8
    assert "openai-base: 8 of 8 answers (100%) stopped at max_new_tokens=4" in " ".join(
        result.output.split()
    )
    # max_new_tokens=auto gives the references' length room: nothing is cut.
    result = run(
        "--data", str(data), "--backend", "openai-base", "--eval-size", "8", "--name", "auto", *FAST
    )
    assert result.exit_code == 0, result.text
    assert (
        json.loads((tmp_path / "runs" / "auto" / "report.json").read_text())["backends"][0][
            "answers_cut_short"
        ]
        == 0
    )
    assert meta(tmp_path, "auto")["generation"]["counted_with"] == "approximate"


def test_a_hosted_sweep_estimates_every_variant_and_trains_each(tmp_path, fake, data):
    sweep = ["--sweep", "openai.epochs=1,2"]
    refused = run(
        "--data", str(data), "--backend", "openai", "--max-cost", "0.00001", *sweep, *FAST
    )
    assert refused.exit_code != 0
    # One estimate for the whole sweep, each variant named, the 2-epoch one twice the 1-epoch's.
    found = re.search(
        r"The estimated cost is \$(\S+) \(openai-epochs1 \$(\S+), openai-epochs2 \$(\S+)\)",
        refused.text,
    )
    assert found, refused.text
    one, two = (float(v) for v in found.group(2, 3))
    assert two == pytest.approx(2 * one, abs=0.01)
    assert fake.state.counts["uploads"] == 0

    result = run(
        "--data", str(data), "--backend", "openai", "--eval-size", "4", "--name", "r", *sweep, *FAST
    )
    assert result.exit_code == 0, result.text
    backends = meta(tmp_path)["backends"]
    assert list(backends) == ["openai-epochs1", "openai-epochs2"]
    assert all(b["status"] == "done" for b in backends.values())
    assert fake.state.counts["jobs"] == 2  # a fine-tuning job each
