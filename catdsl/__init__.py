"""catdsl: a small formal language for category theory with a numeric backend.

Importing this package is cheap: nothing here imports torch, sympy or hypothesis.
"""

__version__ = "0.1.0"


def load(path, import_root=None):
    """The elaborated module of a `.cat` file (draws itself in a notebook); see docs/api.md."""
    from catdsl.api import load as _load

    return _load(path, import_root)


def check(target, only=(), seed=0, samples=200, store=None):
    """The obligations of a file or module with their verdicts: `catdsl check --format json`."""
    from catdsl.api import check as _check

    return _check(target, only, seed, samples, store)


def run(target, store=None, device="auto", executor="local"):
    """The jobs and analyses of a file's run: `catdsl run --format json`; see docs/api.md."""
    from catdsl.api import run as _run

    return _run(target, store, device, executor)


def diagrams(target, *only):
    """The commutative diagrams of a file or module (`.svg()`, `.tikz()`, `.png(path)`)."""
    from catdsl.api import diagrams as _diagrams

    return _diagrams(target, *only)
