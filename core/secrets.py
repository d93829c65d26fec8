"""Keeping secrets out of run directories, logs and reports.

Keys are read from the environment only. Anything ftx writes that could quote one (an error
from an API, a log line) goes through ``redact``, which masks the value of every environment
variable whose name says it holds a secret.
"""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL)", re.IGNORECASE)


def secret_values() -> list[str]:
    return sorted({v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 8}, key=len, reverse=True)


def redact(text: str) -> str:
    for value in secret_values():
        text = text.replace(value, "***")
    # API keys quoted partly masked by a server ("sk-abc...6789") are masked whole.
    return re.sub(r"\bsk-[A-Za-z0-9_\-*.]{6,}", "sk-***", text)
