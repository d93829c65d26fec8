"""Where API keys come from, and keeping them out of run directories, logs and reports.

A key is read from the environment, or else from a secrets file the user points to with
``FTX_SECRETS_FILE`` (TOML: ``OPENAI_API_KEY = "sk-..."``), kept outside any project like
``~/.netrc``. ftx never writes a key down: anything it writes that could quote one (an error from
an API, a log line) goes through ``redact``, which masks every value from either place.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from functools import lru_cache
from pathlib import Path

from ftx.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


def get(name: str) -> str | None:
    """The secret ``name``: the environment first, then the secrets file."""
    return os.environ.get(name) or _file_secrets(os.environ.get("FTX_SECRETS_FILE", "")).get(name)


def where(name: str) -> str:
    """How to provide ``name``, for error messages."""
    return f"export {name}=... or put it in the TOML file named by FTX_SECRETS_FILE"


@lru_cache(maxsize=4)
def _file_secrets(path: str) -> dict[str, str]:
    if not path:
        return {}
    file = Path(path).expanduser()
    try:
        mode = file.stat().st_mode
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"FTX_SECRETS_FILE {file} does not exist.",
            hint='Point it at a TOML file of NAME = "value" lines.',
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read FTX_SECRETS_FILE {file}: {exc.strerror or exc}.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # The message could quote the file's text, so it is not repeated here.
        raise ConfigError(
            f"FTX_SECRETS_FILE {file} is not valid TOML ({type(exc).__name__}).",
            hint='Write one NAME = "value" line per key.',
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"FTX_SECRETS_FILE {file} can be read by other users.", hint=f"chmod 600 {file}"
        )
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int))}


def secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8}
    try:
        values |= {
            v for v in _file_secrets(os.environ.get("FTX_SECRETS_FILE", "")).values() if len(v) >= 8
        }
    except ConfigError:
        pass
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "***")
    # API keys quoted partly masked by a server ("sk-abc...6789") are masked whole.
    return re.sub(r"\bsk-[A-Za-z0-9_\-*.]{6,}", "sk-***", text)
