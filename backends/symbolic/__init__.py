"""The exact semantic categories Vect, FinSet, Smooth and Paths (docs/language.md §7, docs/checking.md), in sympy.

The names resolve lazily, so importing this package (as the backend registry does to list
entry points) costs nothing until a category is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOME = {
    "Vect": "backends.symbolic.generic",  # with generic functors given by rules
    "FinSet": "backends.symbolic.finset",
    "Smooth": "backends.symbolic.smooth",
    "Paths": "backends.symbolic.paths",
    "Check": "backends.symbolic.check",
    "Env": "backends.symbolic.build",
}

__all__ = ["Vect", "FinSet", "Smooth", "Paths", "Check", "Env"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
