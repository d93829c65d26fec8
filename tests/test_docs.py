"""The docs stay true: the hook reference is generated from the specs, and every hook,
command, built-in plugin and option is documented, with the defaults the code has."""

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
            assert "Called" in doc and "Example::" in doc, (
                f"{name} needs: when it is called, and an example"
            )


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


def _documented_defaults(page: Path) -> dict[str, str]:
    """Option tables' rows: each backquoted name in the first cell -> the second cell."""
    import re

    rows = {}
    for line in page.read_text().splitlines():
        cells = (
            [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("| `")
            else []
        )
        if len(cells) >= 3:
            for name in re.findall(r"`([a-z_0-9]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def _literal(cell: str):
    """The value a default cell states, or None where it describes one in words."""
    import json

    if not (cell.startswith("`") and cell.endswith("`") and cell.count("`") == 2):
        return None
    text = cell.strip("`")
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_option_tables_state_the_real_defaults():
    """Every option of each built-in's options class is in its page's table, and where the
    table gives a literal default, it is the dataclass's."""
    import dataclasses

    from ftx.backends.fireworks import FineTuneOptions as FireworksOptions
    from ftx.backends.gemini import GeminiTuneOptions
    from ftx.backends.local.options import QLoraOptions
    from ftx.backends.openai import FineTuneOptions
    from ftx.backends.together import FineTuneOptions as TogetherOptions
    from ftx.config import RunConfig

    pages = {
        "backends/local.md": QLoraOptions,
        "backends/openai.md": FineTuneOptions,
        "backends/gemini.md": GeminiTuneOptions,
        "backends/together.md": TogetherOptions,
        "backends/fireworks.md": FireworksOptions,
        "configuration.md": RunConfig,
    }
    for page, options in pages.items():
        rows = _documented_defaults(DOCS / page)
        for field in dataclasses.fields(options):
            assert field.name in rows, f"docs/{page} has no row for option {field.name!r}"
            stated = _literal(rows[field.name])
            default = (
                field.default
                if field.default is not dataclasses.MISSING
                else field.default_factory()
            )
            if isinstance(default, list) and isinstance(stated, str):
                stated = stated.split(",")  # as --set takes a list
            if stated is not None:
                assert stated == default, (
                    f"docs/{page}: {field.name} is documented as {stated!r}, but defaults to "
                    f"{default!r}"
                )


def test_every_evaluator_option_is_documented():
    import dataclasses

    text = (DOCS / "evaluators.md").read_text()
    registry = get_registry()
    for name in registry.names("evaluator"):
        evaluator = registry.get("evaluator", name)
        for field in dataclasses.fields(evaluator.Options):
            assert f"{name}.{field.name}" in text or f"`{field.name}`" in text, (
                f"{name}'s option {field.name!r} is not in docs/evaluators.md"
            )
