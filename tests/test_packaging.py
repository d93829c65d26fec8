"""ftx installs by its own name: every install hint names the `ftx-finetune` distribution (`ftx`
on PyPI is an unrelated exchange client), and the wheel built from this repository installs
into a clean venv and runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from ftx import DISTRIBUTION

ROOT = Path(__file__).resolve().parent.parent
# Where users read or copy install commands: the program, the docs, the READMEs.
SOURCES = sorted(
    {
        *ROOT.glob("core/**/*.py"),
        *ROOT.glob("backends/**/*.py"),
        *ROOT.glob("evaluators/*.py"),
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("*.md"),
        *ROOT.glob("plugins/*/*.md"),
        *ROOT.glob("plugins/*/*.py"),
    }
)
OURS = {DISTRIBUTION, "ftx-mlflow", "ftx-plugin-template"}
# A distribution named in a pip command: a word starting "ftx" that is not part of a path.
PIP_ARGUMENT = re.compile(r"""(?<![\w./-])['"]?(ftx[\w-]*)(?=[\[\s'"`=<>~!]|$)""")


def test_the_distribution_name_is_the_one_in_pyproject():
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"] == DISTRIBUTION


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_install_command_names_a_distribution_that_is_not_ours(path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if "pip install" not in line:
            continue
        for command in line.split("pip install")[1:]:
            arguments = re.split(r"&&|;|\||#", command)[0]  # up to the end of this command
            for name in PIP_ARGUMENT.findall(arguments):
                assert name in OURS, (
                    f"{path.relative_to(ROOT)}: '{line.strip()}' installs '{name}', not "
                    f"'{DISTRIBUTION}'"
                )


@pytest.mark.parametrize(
    "path",
    [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_requirement_names_a_distribution_that_is_not_ours(path):
    project = tomllib.loads(path.read_text())["project"]
    requirements = [
        *project.get("dependencies", []),
        *(r for extra in project.get("optional-dependencies", {}).values() for r in extra),
    ]
    for requirement in requirements:
        name = re.match(r"[\w.-]+", requirement).group()
        assert not name.startswith("ftx") or name in OURS, (
            f"{path.relative_to(ROOT)}: requirement '{requirement}'"
        )


def test_the_missing_extra_hint_installs_ours():
    from ftx.errors import MissingDependency

    assert str(MissingDependency("pyarrow", "data", "Reading Parquet")).endswith(
        f"pip install '{DISTRIBUTION}[data]'"
    )


@pytest.mark.slow
def test_the_built_wheel_installs_in_a_clean_venv_and_runs(tmp_path):
    """The path a user takes once ftx is published: build, install by name, run the demo's
    machinery (bundled data and templates come from the wheel, not this checkout)."""
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("ftx_finetune-*.whl"))
    assert next(dist.glob("ftx_finetune-*.tar.gz"))  # the wheel was built from it

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python, ftx = venv / "bin" / "python", venv / "bin" / "ftx"
    import torch

    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            f"torch=={torch.__version__.split('+')[0]}",
            f"{wheel}[local]",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(ftx), *args], cwd=work, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout + result.stderr

    assert "Fine-tune language models" in run("--help")
    assert run("--version").startswith(
        "ftx, version "
    )  # read from the installed distribution's metadata
    assert "ftx.formatters  [built-in" in run("plugins")
    # The bundled data and the tiny tokenizer ship in the wheel.
    subprocess.run(
        [str(python), "-c", "from ftx.testing import make_tiny_model; make_tiny_model('tiny')"],
        cwd=work,
        check=True,
        timeout=300,
    )
    out = run(
        "run",
        "--model",
        "tiny",
        "--backend",
        "local-base",
        "--evaluator",
        "exact_match",
        "--eval-size",
        "4",
        "--set",
        "run.max_new_tokens=4",
        "--name",
        "r",
    )
    assert "296 train / 4 eval examples" in out  # the bundled Pride and Prejudice questions
    assert (work / "runs" / "r" / "report.json").exists()
    assert (
        str(ROOT)
        not in subprocess.run(
            [str(python), "-c", "import ftx; print(ftx.__file__)"], capture_output=True, text=True
        ).stdout
    )
