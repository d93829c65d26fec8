"""The docs stay true: the hook reference is generated from the specs, and every hook,
command and built-in plugin is documented."""

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from ftx import hookspecs
from ftx.cli import cli
from ftx.plugins import get_registry

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def test_hook_reference_is_current():
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_hook_docs.py"), "--check"])
    assert result.returncode == 0, "docs/hooks.md is stale: run python scripts/gen_hook_docs.py"


def test_every_hook_has_a_documented_contract():
    for name in dir(hookspecs):
        if name.startswith("ftx_"):
            doc = getattr(hookspecs, name).__doc__ or ""
            assert "Called" in doc and "Example::" in doc, f"{name} needs: when it is called, and an example"


def test_every_command_is_in_the_cli_docs():
    text = (DOCS / "cli.md").read_text()
    for name, command in cli.commands.items():
        assert f"ftx {name}" in text, name
        for sub in getattr(command, "commands", {}):
            assert f"ftx {name} {sub}" in text, sub


def test_every_builtin_plugin_is_documented():
    text = "".join(p.read_text() for p in DOCS.rglob("*.md"))
    registry = get_registry()
    for kind in ("backend", "evaluator", "formatter", "template", "reporter"):
        for name in registry.names(kind):
            assert f"`{name}`" in text, f"{kind} {name} is not documented"


def test_help_texts_exist():
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
