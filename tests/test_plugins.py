"""The plugin system: built-ins as plugins, entry points, clashes, broken plugins, fast start."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ftx import hookimpl, plugins
from ftx.cli import cli
from ftx.errors import PluginError
from ftx.evaluator import Evaluator
from ftx.testing import registered
from ftx.types import Scores

from .helpers import install_entry_point_plugin, run_ftx

EXPECTED_PLUGINS = """\
ftx.backends.fireworks  [built-in 0.1.0]
    backend fireworks-base
    backend fireworks
ftx.backends.gemini  [built-in 0.1.0]
    backend gemini-base
    backend gemini
ftx.backends.local  [built-in 0.1.0]
    backend local-base
    backend local-full
    backend local-lora
    backend local-qlora
    backend local-dpo
    backend local-qlora-dpo
ftx.backends.openai  [built-in 0.1.0]
    backend openai-base
    backend openai
ftx.backends.together  [built-in 0.1.0]
    backend together-base
    backend together
ftx.evaluators.bleu  [built-in 0.1.0]
    evaluator bleu
ftx.evaluators.chrf  [built-in 0.1.0]
    evaluator chrf
ftx.evaluators.exact_match  [built-in 0.1.0]
    evaluator exact_match
ftx.evaluators.jaccard  [built-in 0.1.0]
    evaluator jaccard
ftx.evaluators.length_ratio  [built-in 0.1.0]
    evaluator length_ratio
ftx.evaluators.llm_judge  [built-in 0.1.0]
    evaluator llm_judge
ftx.evaluators.perplexity  [built-in 0.1.0]
    evaluator perplexity
ftx.evaluators.reward  [built-in 0.1.0]
    evaluator reward
ftx.evaluators.rouge  [built-in 0.1.0]
    evaluator rouge
ftx.evaluators.semantic  [built-in 0.1.0]
    evaluator semantic
ftx.formatters  [built-in 0.1.0]
    formatter messages
    formatter sharegpt
    formatter alpaca
    formatter gemini
    formatter prompt_completion
    formatter prompt_response
    formatter question_answer
    formatter dolly
    formatter input_output
    formatter text_input_output
    formatter trl_preference
    formatter trl_implicit_preference
    formatter openai_preference
    formatter sharegpt_preference
    formatter alpaca_preference
    formatter gemini_preference
ftx.report.html  [built-in 0.1.0]
    reporter html
ftx.report.json_report  [built-in 0.1.0]
    reporter json
ftx.report.markdown  [built-in 0.1.0]
    reporter markdown
ftx.report.terminal  [built-in 0.1.0]
    reporter terminal
ftx.templates  [built-in 0.1.0]
    template chat
    template chatml
    template alpaca
    template plain
"""


def test_ftx_plugins_lists_builtins_exactly():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED_PLUGINS


def test_hookimpls_match_specs():
    plugins.get_plugin_manager().check_pending()


class Dup(Evaluator):
    name = "rouge"
    metrics = ("x",)

    def score(self, predictions, references, prompts):
        return Scores({"x": [0.0] * len(predictions)})


class DupPlugin:
    @hookimpl
    def ftx_register_evaluators(self, register):
        register(Dup)


class BadPlugin:
    @hookimpl
    def ftx_register_backends(self, register):
        register(object)
        register("not a class")


def test_duplicate_name_is_an_error_naming_both_plugins():
    with registered(DupPlugin(), name="my-dup-plugin"):
        registry = plugins.get_registry()
        assert registry.errors == [
            "evaluator 'rouge' is registered by both plugin 'ftx.evaluators.rouge' and plugin "
            "'my-dup-plugin'."
        ]
        with pytest.raises(PluginError, match="registered by both"):
            registry.get("evaluator", "rouge")
        result = CliRunner().invoke(cli, ["plugins"])
        assert result.exit_code == 1
        assert "error: evaluator 'rouge' is registered by both" in result.output


def test_invalid_registrations_are_reported():
    with registered(BadPlugin(), name="bad"):
        errors = plugins.get_registry().errors
    assert errors == [
        "plugin 'bad' registered an invalid backend: object must subclass ftx.backend.Backend.",
        "plugin 'bad' registered an invalid backend: expected a class, got str 'not a class'.",
    ]
    assert plugins.get_registry().errors == []  # unregistered again


def test_entry_point_plugin_is_listed_and_used_in_a_run(tmp_path, qa_file):
    site = install_entry_point_plugin(tmp_path / "site", "ftx_echo", "ftx-echo")
    env = {"PYTHONPATH": str(site), "FTX_LOAD_PLUGINS": "ftx-echo"}
    listed = run_ftx("plugins", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    assert (
        "ftx-echo  [entry point (ftx-echo) 0.1.0]\n    backend echo\n    evaluator answer_length\n"
        in listed.stdout
    )
    ran = run_ftx(
        "run",
        "--data",
        str(qa_file),
        "--backend",
        "echo",
        "--evaluator",
        "answer_length",
        "--evaluator",
        "exact_match",
        "--set",
        "echo.prefix=A: ",
        "--eval-size",
        "4",
        cwd=tmp_path,
        env={**env, "COLUMNS": "120"},
    )
    assert ran.returncode == 0, ran.stderr
    assert (
        "words ↓" in ran.stdout and "echo" in ran.stdout
    )  # the header "answer_words ↓" on two lines
    import json

    report = json.loads(next((tmp_path / "runs").glob("*/report.json")).read_text())
    assert (
        report["backends"][0]["name"] == "echo"
        and report["backends"][0]["scores"]["exact_match"] == 0.0
    )
    # FTX_LOAD_PLUGINS='' loads no third-party plugin
    none = run_ftx("plugins", cwd=tmp_path, env={**env, "FTX_LOAD_PLUGINS": ""})
    assert "ftx-echo" not in none.stdout


def test_broken_plugin_is_reported_not_fatal(tmp_path):
    site = install_entry_point_plugin(
        tmp_path / "site", "ftx_broken", source="import does_not_exist\n"
    )
    env = {"PYTHONPATH": str(site), "FTX_LOAD_PLUGINS": "ftx_broken,missing-one"}
    result = run_ftx("plugins", cwd=tmp_path, env=env)
    assert result.returncode == 0
    assert (
        "warning: FTX_LOAD_PLUGINS names 'missing-one', but no installed plugin has that name."
        in result.stderr
    )
    assert (
        "warning: plugin 'ftx_broken' failed to load: ModuleNotFoundError: No module named "
        "'does_not_exist'" in result.stderr
    )
    assert (
        "ftx_broken  [entry point (ftx_broken) 0.1.0]\n    ERROR: plugin 'ftx_broken' failed to "
        "load" in result.stdout
    )
    assert "backend local-lora" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--help"], ["plugins"], ["backends"], ["evaluators"], ["formatters"], ["data", "--help"]],
)
def test_listing_commands_import_no_heavy_libraries(args):
    code = (
        "import sys\nfrom ftx.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft', 'openai', 'google.genai', "
        "'google.cloud.storage', 'rouge_score', 'sacrebleu', 'rich') if m in sys.modules)\n"
        "assert heavy == [] or heavy == ['rich'], heavy\nprint('OK')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("OK\n")


def test_run_events_reach_observers_and_never_break_a_run(tmp_path, qa_file):
    seen = []

    class Observer:
        @hookimpl
        def ftx_run_event(self, event):
            seen.append((event.kind, event.backend))
            raise RuntimeError("observer bug")

    from tests.plugins import ftx_echo

    with registered(ftx_echo, name="echo"), registered(Observer(), name="observer"):
        result = CliRunner().invoke(
            cli, ["run", "--data", str(qa_file), "--backend", "echo", "--evaluator", "exact_match"]
        )
    assert result.exit_code == 0, result.output
    kinds = [k for k, _ in seen]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert ("backend_state", "echo") in seen and ("eval_done", "echo") in seen


def test_trace_hooks_shows_every_hook_call(qa_file, capsys, monkeypatch):
    """FTX_TRACE_HOOKS=1 traces registrations and run events (ftx calls those impl by impl), not
    only ftx_register_commands: each with its plugin, arguments and result, as pluggy traces."""
    from tests.helpers import ftx_main
    from tests.plugins import ftx_echo

    class Observer:
        @hookimpl
        def ftx_run_event(self, event):
            pass

    monkeypatch.setenv("FTX_TRACE_HOOKS", "1")
    plugins.reset()
    with registered(ftx_echo, name="echo"), registered(Observer(), name="observer"):
        code, out, err = ftx_main(
            capsys, "run", "--data", str(qa_file), "--backend", "echo", "--evaluator", "exact_match"
        )
    assert code == 0, err
    for line in (
        "  ftx_register_commands [hook]",
        "  ftx_register_backends (ftx.backends.local) [hook]",
        "  ftx_register_backends (echo) [hook]",
        "  ftx_register_evaluators (ftx.evaluators.rouge) [hook]",
        "  ftx_run_event (observer) [hook]",
        "  finish ftx_run_event --> None [hook]",
    ):
        assert line + "\n" in err, line
    assert "      event: RunEvent(kind='run_started'" in err


def test_registered_leaves_a_plugin_loaded_through_its_entry_point_as_it_is():
    """`with registered(plugin)` in a plugin's own tests must work with the plugin installed too."""
    import ftx.evaluators.rouge as loaded  # a plugin the plugin manager already holds

    with registered(loaded) as name:
        assert name == "ftx.evaluators.rouge"
    assert plugins.get_plugin_manager().is_registered(loaded)  # not unregistered after
