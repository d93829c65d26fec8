"""One exception hierarchy, so the CLI can turn any expected failure into one clear line.

Messages say what is wrong, where, and what to do. Only ``ftx.cli`` prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ftx.types import Problem


class FtxError(Exception):
    """An expected failure with a message meant for the user (no traceback needed)."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(FtxError):
    """Bad configuration: an unknown key, a value of the wrong type, a missing file."""

    exit_code = 2


class PluginError(FtxError):
    """A plugin could not be loaded or registered something invalid."""


class DataError(FtxError):
    """The dataset has problems; ``problems`` lists every one of them, not only the first."""

    def __init__(
        self, message: str, problems: list[Problem] | None = None, *, hint: str | None = None
    ):
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class PreflightError(FtxError):
    """One or more backends cannot start; nothing has been trained or paid for yet."""

    def __init__(self, message: str, problems: list[Problem], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems


class BackendError(FtxError):
    """A backend failed while training or generating."""


class StoreError(FtxError):
    """A run directory is missing, unreadable or corrupt."""


class MissingDependency(FtxError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed.",
            hint=f"Install it with: {install_command(extra)}",
        )
        self.package = package
        self.extra = extra


def install_command(extra: str) -> str:
    """The pip command that installs ftx with ``extra``, by ftx's own distribution name."""
    from ftx import DISTRIBUTION

    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(module: str, *, package: str | None = None, extra: str, purpose: str):
    """Import an optional dependency, or raise MissingDependency saying which extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(package or module, extra, purpose) from exc
