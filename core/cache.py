"""ftx's cache folder (``FTX_CACHE_DIR``, default ``~/.cache/ftx``): converted models, judge
verdicts. Everything in it can be deleted; it is rebuilt (or re-bought) on demand."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("FTX_CACHE_DIR") or Path.home() / ".cache" / "ftx")
