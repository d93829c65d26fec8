import os

import pytest

# Tests never load third-party plugins installed in the environment unless they mean to.
os.environ.setdefault("FTX_LOAD_PLUGINS", "")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    """Each test runs in its own folder, with its own cache, and fresh plugin state."""
    from ftx import plugins

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FTX_CACHE_DIR", str(tmp_path / "cache"))
    for name in list(os.environ):
        if name.startswith("FTX_") and "__" in name:
            monkeypatch.delenv(name)
    plugins.reset()
    yield
    plugins.reset()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A config-built 2-layer Llama (hidden 64) with the tiny tokenizer, saved once per session."""
    pytest.importorskip("torch")
    from ftx.testing import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def qa_file(tmp_path):
    from ftx.testing import sample_rows, write_jsonl

    return write_jsonl(tmp_path / "qa.jsonl", sample_rows(24))
