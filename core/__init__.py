"""ftx: fine-tune language models on several backends at once and compare the results."""

from ftx.hookspecs import hookimpl

__all__ = ["hookimpl"]
