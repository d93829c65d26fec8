"""The docs' examples are tests: what a newcomer copies from docs/*.md runs here, against the
tiny model and the fake hosted APIs, and what a page shows as output is what ftx prints.

A fenced block runs when the line before it is a ``<!-- test ... -->`` comment (invisible on a
rendered page); docs/contributing.md describes the markers. Each page runs top to bottom in a
folder of its own, as a user would follow it:

- shell blocks (``sh``, ``console``): each command runs; ``ftx`` in this process (``ftx.cli.main``,
  what the console script calls: one import of torch for every page), ``pytest`` and the rest
  in a real subprocess. ``$ `` marks a command when a block also shows output: the lines under
  it, up to the next ``$ ``, are checked against what it printed. Installs and cloud logins
  (``pip``, ``python3 -m venv``, ``gcloud``, ``torchrun``) are not run, except ``pip install -e .``
  of a page's own ``pyproject.toml``: its ``ftx`` entry points are installed as pip would
  (a ``.dist-info`` on the path), and loaded, alone, through ``FTX_LOAD_PLUGINS``.
  ``export NAME=sk-...`` (a placeholder) keeps the test's value.
- a block whose first line is ``# NAME`` (``# ftx_shout.py``, ``# ftx.toml``) is that file.
- ``output``: the block is what the previous block's last command printed.
- ``tree``: the block is a run folder's listing; every file of the newest run must be listed,
  and when the listing names real backends (no ``<backend>``), every entry must exist.
- ``slow``: the block trains; it runs only in ``test_examples_that_train`` (marked slow).
- ``exit=N``: the block's last command exits N (the others exit 0).

Every page starts with ``qa.jsonl``, ``train.jsonl``, ``test.jsonl`` (sample records) and the
model folders its commands name (``./my-model``, ``./Qwen2.5-0.5B-Instruct``), all the tiny
model; ``ftx run`` with no ``--model`` uses it too (``FTX_RUN__MODEL``). To keep the pages under
a minute and a half, a run holds out 8 examples unless its command says otherwise, trainings stop
after 2 steps and answers after 8 tokens (``FTX_RUN__EVAL_SIZE``, ``FTX_LOCAL_LORA__MAX_STEPS``,
``FTX_RUN__MAX_NEW_TOKENS``: the environment layer, below the commands' own flags), and torch
uses one thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ftx.testing import sample_rows, write_jsonl

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKER = re.compile(r"<!--\s*test\b(?P<options>[^>]*?)-->")
NOT_RUN = {
    "pip",
    "python3",
    "gcloud",
    "torchrun",
    "accelerate",
    "twine",
    "uv",
}  # installs, logins, launchers
# Pages a user copies commands from: each must have runnable examples.
PAGES_WITH_COMMANDS = (
    "quickstart.md",
    "cli.md",
    "data.md",
    "configuration.md",
    "plugins.md",
    "evaluators.md",
    "reports.md",
)


@dataclass
class Block:
    page: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"

    @property
    def file_name(self) -> str | None:
        first = self.text.split("\n", 1)[0]
        match = re.fullmatch(r"#\s*([\w.-]+\.(py|toml|jsonl?|txt))", first.strip())
        return match.group(1) if match and self.lang in ("python", "toml", "json", "") else None


def _fences(lines: list[str]) -> list[tuple[int, int]]:
    """(opening line, closing line) of each top-level fenced block; a fence closes only at a
    fence at least as long, so a ````markdown block can show a ``` one."""
    fences, i = [], 0
    while i < len(lines):
        fence = re.match(r"`{3,}", lines[i])
        if fence:
            close = re.compile(fence.group() + r"`*\s*")
            end = next(
                (j for j in range(i + 1, len(lines)) if close.fullmatch(lines[j])), len(lines)
            )
            fences.append((i, end))
            i = end
        i += 1
    return fences


def marked_blocks(page: str) -> list[Block]:
    """The page's fenced blocks that follow a <!-- test --> comment, in order."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    blocks = []
    for start, end in _fences(lines):
        match = MARKER.fullmatch(lines[start - 1].strip()) if start else None
        if match:
            options = {}
            for word in match.group("options").split():
                key, _, value = word.partition("=")
                options[key] = value or "yes"
            lang = lines[start].strip("`").strip().split(" ")[0]
            blocks.append(Block(page, start + 1, lang, "\n".join(lines[start + 1 : end]), options))
    return blocks


def _pages(slow: bool) -> list[str]:
    """The pages with examples that train (slow), or with examples that do not."""

    def runs(block: Block) -> bool:
        return not {"output", "tree"} & block.options.keys() and ("slow" in block.options) == slow

    return sorted(p.name for p in DOCS.glob("*.md") if any(runs(b) for b in marked_blocks(p.name)))


# --- output --------------------------------------------------------------------------------


def _line_pattern(line: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in line.rstrip().split("...")))


def _in_order(expected: list[str], actual: list[str]) -> bool:
    """Every expected line matches an actual line, in order (``...`` matches any text; a line
    that is only ``...`` stands for lines left out, which are allowed anywhere)."""
    patterns = [_line_pattern(line) for line in expected if line.strip() and line.strip() != "..."]
    it = iter(line.rstrip() for line in actual)
    return all(any(p.fullmatch(line) for line in it) for p in patterns)


def check_output(block: Block, expected: list[str], out: str, err: str) -> None:
    # stdout and stderr are captured apart; at a terminal they interleave, so either order will do
    if not (
        _in_order(expected, (out + err).splitlines())
        or _in_order(expected, (err + out).splitlines())
    ):
        pytest.fail(
            f"{block.where}: the page shows\n"
            + "\n".join(expected)
            + f"\n\nbut it printed\n{out}{err}"
        )


# --- run folder listings --------------------------------------------------------------------


def check_tree(block: Block, runs: Path) -> None:
    """A listing's entries against the newest run: every file of it is listed (a listed folder,
    ending in /, holds what is under it); without placeholders, every listed entry exists."""
    lines = block.text.splitlines()
    assert lines[0].startswith("runs/") and lines[0].endswith("/"), (
        f"{block.where}: a listing starts with runs/<run-id>/"
    )
    run = max(
        (p for p in runs.iterdir() if p.is_dir()), key=lambda p: (p / "run.json").stat().st_mtime
    )
    listed = []
    for line in lines[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            listed += re.split(r"\s{2,}", line.strip())[0].split(" ")
        elif line and not line.startswith(" "):  # next to the run folder: runs/index.sqlite
            assert (runs.parent / line.split()[0]).exists(), (
                f"{block.where}: {line.split()[0]} does not exist"
            )
    patterns = [
        re.compile(
            re.escape(p).replace(re.escape("<backend>"), "[^/]+")
            + ("(.+)?" if p.endswith("/") else "")
        )
        for p in listed
    ]
    unlisted = [
        str(f.relative_to(run))
        for f in sorted(run.rglob("*"))
        if f.is_file() and not any(p.fullmatch(str(f.relative_to(run))) for p in patterns)
    ]
    assert not unlisted, (
        f"{block.where}: the run folder has {unlisted}, which the page does not list"
    )
    if "<backend>" not in block.text:
        missing = [p for p in listed if not (run / p).exists()]
        assert not missing, (
            f"{block.where}: the page lists {missing}, which the run folder does not have"
        )


# --- a page, run as a user follows it ----------------------------------------------------------


@contextlib.contextmanager
def _environ(changes: dict[str, str]):
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Page:
    def __init__(self, folder: Path, env: dict[str, str], capsys):
        self.folder, self.env, self.capsys = folder, env, capsys
        self.printed = ("", "")  # stdout, stderr of the last command
        self.installed: list[str] = []  # entry points of the page's own `pip install -e .`

    def run_block(self, block: Block) -> None:
        if block.file_name:
            # JSON has no comments: the line naming the file is not part of it
            text = block.text.split("\n", 1)[1] if block.lang == "json" else block.text
            (self.folder / block.file_name).write_text(text + "\n", encoding="utf-8")
            return
        assert block.lang in ("sh", "console", "bash"), (
            f"{block.where}: cannot run a {block.lang or 'plain'} block"
        )
        commands = self.commands(block.text)
        for n, (command, expected) in enumerate(commands):
            code = self.run(command)
            want = int(block.options.get("exit", 0)) if n == len(commands) - 1 else 0
            if code != want:
                pytest.fail(
                    f"{block.where}: `{command}` exited {code}, not "
                    f"{want}:\n{self.printed[0]}{self.printed[1]}"
                )
            if expected:
                check_output(block, expected, *self.printed)

    @staticmethod
    def commands(text: str) -> list[tuple[str, list[str]]]:
        """(command, the output shown under it) for each command of a shell block."""
        lines = re.sub(r"\\\n\s*", "", text).splitlines()
        if not any(line.startswith("$ ") for line in lines):
            return [
                (line, []) for line in lines if line.strip() and not line.lstrip().startswith("#")
            ]
        commands: list[tuple[str, list[str]]] = []
        for line in lines:
            if line.startswith("$ "):
                commands.append((line[2:], []))
            elif commands:
                commands[-1][1].append(line)
        return commands

    def run(self, command: str) -> int:
        words = shlex.split(command, comments=True)
        prefix = {}
        while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            prefix[name] = value
        if not words or words[0] == "export":
            for assignment in [*(f"{k}={v}" for k, v in prefix.items()), *words[1:]]:
                name, _, value = assignment.partition("=")
                if not value.endswith("..."):  # a placeholder (sk-...): the test's own value stays
                    self.env[name] = self.home(value)
            return 0
        if words[:3] == ["pip", "install", "-e"] and words[3:] == ["."]:
            return self.install_editable()
        if words[0] in NOT_RUN:
            return 0
        env = {**self.env, **prefix}
        if words[0] == "ftx":
            return self.ftx(words[1:], env)
        if words[0] == "pytest":
            words = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *words[1:]]
            command = shlex.join(words)
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.folder,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.printed = (result.stdout, result.stderr)
        return result.returncode

    def home(self, word: str) -> str:
        """``~/x`` as the shell expands it, in the page's own home folder."""
        return self.env["HOME"] + word[1:] if word == "~" or word.startswith("~/") else word

    def ftx(self, args: list[str], env: dict[str, str]) -> int:
        """``ftx ARGS`` in this process, as the console script runs it, in a fresh plugin state."""
        from ftx import plugins
        from ftx.cli import main

        args = [self.home(a) for a in args]
        self.capsys.readouterr()
        plugins.reset()
        with _environ(env):
            try:
                main(args)
                code = 0
            except SystemExit as exit_info:
                code = exit_info.code if isinstance(exit_info.code, int) else 1
            finally:
                plugins.reset()
        self.printed = self.capsys.readouterr()
        return code

    def install_editable(self) -> int:
        """What `pip install -e .` leaves: the project importable, with its entry points."""
        import tomllib

        project = tomllib.loads((self.folder / "pyproject.toml").read_text())["project"]
        points = project.get("entry-points", {}).get("ftx", {})
        dist = self.folder / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
        dist.mkdir(exist_ok=True)
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
        )
        (dist / "entry_points.txt").write_text(
            "[ftx]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
        )
        self.installed += points
        self.env["FTX_LOAD_PLUGINS"] = ",".join(
            self.installed
        )  # this plugin, not others installed here
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(self.folder), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        sys.path.insert(0, str(self.folder))
        return 0


@pytest.fixture
def page_folder(tmp_path, tiny_model, monkeypatch):
    """The files a page's commands name, and the environment every page runs in."""
    rows = [{k: v for k, v in r.items() if k != "id"} for r in sample_rows(90)]
    write_jsonl(tmp_path / "qa.jsonl", rows[:60])
    write_jsonl(tmp_path / "train.jsonl", rows[:70])
    write_jsonl(tmp_path / "test.jsonl", rows[70:80])
    for name in ("my-model", "Qwen2.5-0.5B-Instruct", "models/Qwen2.5-0.5B-Instruct"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(tiny_model, target_is_directory=True)
    (tmp_path / "home").mkdir()
    env = {
        "HOME": str(tmp_path / "home"),
        "FTX_LOAD_PLUGINS": "",
        "FTX_RUN__MODEL": str(tiny_model),
        "FTX_RUN__EVAL_SIZE": "8",
        "FTX_RUN__MAX_NEW_TOKENS": "8",
        "FTX_LOCAL_LORA__MAX_STEPS": "2",
        "FTX_LOCAL_BASE__EVAL_BATCH_SIZE": "64",
        "FTX_LOCAL_LORA__EVAL_BATCH_SIZE": "64",
    }
    modules = set(sys.modules)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(
        1
    )  # a 64-wide model gains nothing from more, and loses 4x on a busy machine
    yield tmp_path, env
    torch.set_num_threads(threads)
    for name in set(sys.modules) - modules:  # a page's own plugin modules (ftx_shout) leave with it
        if str(tmp_path) in str(getattr(sys.modules[name], "__file__", "") or ""):
            del sys.modules[name]
    with contextlib.suppress(ValueError):
        sys.path.remove(str(tmp_path))


def _data_page(folder: Path) -> None:
    """qa.jsonl as data.md shows it: 11 valid records (line 12 repeats line 3), invalid JSON on
    line 7, and 120 records with an empty answer."""
    rows = iter({k: v for k, v in r.items() if k != "id"} for r in sample_rows(10))
    lines = []
    for n in range(1, 133):
        if n == 7:
            lines.append('{"question": "Why", "answer":}')
        elif n == 12:
            lines.append(lines[2])
        elif n in (1, 2, 3, 4, 5, 6, 8, 10, 11, 13):
            lines.append(json.dumps(next(rows)))
        else:
            lines.append(json.dumps({"question": f"Question {n}?", "answer": ""}))
    (folder / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def follow(page: str, folder: Path, env: dict[str, str], capsys, *, slow: bool) -> None:
    from .fakes.openai_server import KEY, FakeOpenAI

    if page == "data.md":
        _data_page(folder)
    with FakeOpenAI() as openai:
        env.update({"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": openai.base_url})
        runner, skipped = Page(folder, env, capsys), False
        for block in marked_blocks(page):
            if "output" in block.options or "tree" in block.options:
                if skipped:
                    continue
                if "output" in block.options:
                    check_output(block, block.text.splitlines(), *runner.printed)
                else:
                    check_tree(block, folder / "runs")
                continue
            skipped = "slow" in block.options and not slow
            if not skipped:
                runner.run_block(block)


@pytest.mark.parametrize("page", _pages(slow=False))
def test_examples(page, page_folder, capsys):
    """Each page's examples that do not train."""
    follow(page, *page_folder, capsys, slow=False)


@pytest.mark.slow
@pytest.mark.parametrize("page", _pages(slow=True))
def test_examples_that_train(page, page_folder, capsys):
    """Each page's examples in full, trainings included."""
    follow(page, *page_folder, capsys, slow=True)


def test_every_page_with_commands_has_runnable_examples():
    for page in PAGES_WITH_COMMANDS:
        assert marked_blocks(page), (
            f"docs/{page} has commands a user copies, but none is marked <!-- test -->"
        )


def test_marked_blocks_are_well_formed():
    known = {"slow", "output", "tree", "exit"}
    for path in DOCS.rglob("*.md"):
        page = str(path.relative_to(DOCS))
        lines = path.read_text(encoding="utf-8").splitlines()
        fenced = {n for start, end in _fences(lines) for n in range(start, end + 1)}
        for n, line in enumerate(lines):
            if n not in fenced and MARKER.fullmatch(line.strip()):
                assert n + 1 in fenced and lines[n + 1].startswith("```"), (
                    f"docs/{page}:{n + 1}: a test marker must be right before a fence"
                )
        for block in marked_blocks(page):
            unknown = set(block.options) - known
            assert not unknown, (
                f"{block.where}: unknown test option {sorted(unknown)} (known: {sorted(known)})"
            )
