"""ftx-mlflow's own tests: a real (tiny) training run logged to a local MLflow file store."""

import os
import subprocess
import sys

import pytest

ftx_mlflow = pytest.importorskip("ftx_mlflow")
pytest.importorskip("mlflow")

from ftx.testing import registered, sample_rows, write_jsonl  # noqa: E402


def test_loss_curve_scores_and_reports_are_logged(ftx_run, ftx_env, tiny_model, monkeypatch):
    pytest.importorskip("torch")
    uri = (ftx_env / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    data = write_jsonl(ftx_env / "qa.jsonl", sample_rows(16))
    with registered(ftx_mlflow):
        result, meta = ftx_run(
            "--data",
            str(data),
            "--model",
            str(tiny_model),
            "--eval-size",
            "4",
            "--set",
            "local-lora.max_steps=4",
            "--set",
            "run.max_new_tokens=4",
        )
    assert result.exit_code == 0, result.output

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("ftx")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "test-run" and run.info.status == "FINISHED"
    assert run.data.tags["ftx.status"] == "done" and run.data.tags["local-lora.status"] == "done"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "local-lora/loss")] == [
        1,
        2,
        3,
        4,
    ]
    assert "local-base/rougeL" in run.data.metrics and "local-lora/bleu" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"report.json", "report.md"} <= artifacts


def test_installed_entry_point_logs_a_cli_run(tmp_path):
    """With the package installed (pip install ./plugins/ftx-mlflow), a plain `ftx run` logs."""
    pytest.importorskip("ftx_plugin_template")  # a backend that needs no model, to keep this fast
    env = {**os.environ, "FTX_LOAD_PLUGINS": "mlflow,template"}
    env.pop("MLFLOW_TRACKING_URI", None)  # the default: ./mlruns
    data = write_jsonl(tmp_path / "qa.jsonl", sample_rows(30))
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftx.cli",
            "run",
            "--data",
            str(data),
            "--backend",
            "nearest-answer",
            "--evaluator",
            "exact_match",
            "--eval-size",
            "6",
            "--name",
            "cli",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "warning" not in ran.stderr.lower(), ran.stderr

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("ftx").experiment_id])
    assert run.info.run_name == "cli" and "nearest-answer/exact_match" in run.data.metrics


def test_a_broken_tracking_server_warns_once_and_the_run_goes_on(
    ftx_run, ftx_env, monkeypatch, capsys
):
    pytest.importorskip("ftx_plugin_template")
    import ftx_plugin_template

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    data = write_jsonl(ftx_env / "qa.jsonl", sample_rows(30))
    with registered(ftx_mlflow), registered(ftx_plugin_template):
        result, meta = ftx_run(
            "--data",
            str(data),
            "--backend",
            "nearest-answer",
            "--evaluator",
            "exact_match",
            "--eval-size",
            "6",
        )
    assert result.exit_code == 0 and meta["status"] == "done"
    printed = result.output + capsys.readouterr().err  # CliRunner captures stderr itself
    assert printed.count("ftx-mlflow stopped logging run test-run") == 1
