"""The seam between the language and its interpretations (DESIGN.md §3).

A backend registers semantic categories by name through the entry-point group
`catdsl.backends` (see pyproject.toml). Names resolve lazily: `catdsl check` on a file that
only uses `Vect` never imports torch. Arrows point one way: `backends/` imports `catdsl/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from catdsl.span import Span
from catdsl.syntax import ast as A

# Built-in names, so a source checkout that was never pip-installed still resolves them.
_BUILTIN = {
    "Vect": "backends.symbolic.laws:Vect",
    "FinSet": "backends.symbolic.laws:FinSet",
    "Smooth": "backends.symbolic.laws:Smooth",
    "Paths": "backends.symbolic.laws:Paths",
    "Param": "backends.torch.param:Param",
    "Rep": "backends.torch.rep:Rep",
}

# What `catdsl compile | run | runs` call; a backend distribution provides them through the
# entry-point group `catdsl.commands`, so the CLI never imports a backend by name.
_COMMANDS = {
    "compile": "backends.run.commands:compile_file",
    "run": "backends.run.commands:run_file",
    "runs": "backends.run.commands:list_runs",
}


@dataclass(frozen=True)
class SemanticRef:
    """A semantic category named in a file, with its arguments: `Paths(loss = …, level = 2)`."""

    name: str
    args: tuple[A.Expr, ...] = ()
    kwargs: tuple[tuple[str, A.Expr], ...] = ()
    span: Span = field(default=None, compare=False)  # type: ignore[assignment]

    def kwarg(self, key: str) -> A.Expr | None:
        return dict(self.kwargs).get(key)


class BackendError(Exception):
    """A value that a semantic category cannot interpret; rendered as a diagnostic (E3xx)."""

    def __init__(self, code: str, message: str, span: Span, hints: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.span, self.hints = code, message, span, hints


@runtime_checkable
class SemanticCategory(Protocol):
    """What the checker needs of a category that gives terms a meaning.

    `env` maps `param` names to the backend's symbols and carries bound variables.
    Optional capabilities are discovered with `hasattr`: `pullback(f, g)`, `universal(cone,
    f, g)`, and for 2-categories `vertical`, `horizontal`, `two_cell`, `boundary_laws`.
    """

    def object(self, value: A.Expr, env: Any) -> Any: ...
    def morphism(self, value: A.Expr, dom: Any, cod: Any, env: Any) -> Any: ...
    def identity(self, obj: Any) -> Any: ...
    def compose(self, g: Any, f: Any) -> Any: ...
    def equal(self, a: Any, b: Any, how: Any) -> Any: ...


def registry() -> dict[str, str]:
    """Name -> "module:attribute" for every known semantic category."""
    found = dict(_BUILTIN)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="catdsl.backends"):
            found[ep.name] = ep.value
    except Exception:  # a broken third-party distribution must not break the language
        pass
    return found


def command(name: str) -> Any:
    """The implementation of `catdsl NAME` for commands that need an execution backend."""
    import importlib

    target = dict(_COMMANDS)
    try:
        from importlib.metadata import entry_points

        target.update({ep.name: ep.value for ep in entry_points(group="catdsl.commands")})
    except Exception:
        pass
    module, _, attr = target[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def is_semantic(name: str) -> bool:
    return name in registry()


@lru_cache(maxsize=None)
def load(name: str) -> Any:
    """The factory registered under `name` (imported on first use)."""
    import importlib

    target = registry()[name]
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)
