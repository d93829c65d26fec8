"""ftx: fine-tune language models on several backends at once and compare the results."""

from ftx.hookspecs import hookimpl

# The name on PyPI ("ftx" there is an unrelated exchange client): what `pip install` takes. The
# command, the import package and the plugins' entry-point group stay "ftx", as scikit-learn
# keeps `import sklearn`.
DISTRIBUTION = "ftx-finetune"

__all__ = ["DISTRIBUTION", "hookimpl"]
