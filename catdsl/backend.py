"""The seam between the language and its interpretations (docs/architecture.md, "The seam").

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


# ---- what a semantic category can do: layered protocols --------------------------------------
#
# The checker asks `isinstance(cat, TwoCategory)` (and so on) before it uses a capability, and
# a file that needs a capability its target lacks gets E315 at the place that needs it. The
# category-axiom suite (tests/test_category_axioms.py) runs the laws of every protocol a
# registered category implements.


@runtime_checkable
class Category(Protocol):
    """Identities and composition (`g . f`, g after f) of morphisms."""

    def identity(self, obj: Any) -> Any: ...
    def compose(self, g: Any, f: Any) -> Any: ...


@runtime_checkable
class SemanticCategory(Category, Protocol):
    """A category that gives `.cat` values a meaning and decides equality of its morphisms.

    `env` maps `param` names to the backend's symbols and carries bound variables."""

    def object(self, value: A.Expr, env: Any) -> Any: ...
    def morphism(self, value: A.Expr, dom: Any, cod: Any, env: Any, name: str = "") -> Any: ...
    def equal(self, a: Any, b: Any, how: Any = None) -> Any: ...


@runtime_checkable
class TwoCategory(Category, Protocol):
    """2-cells between parallel morphisms, with identities and both compositions."""

    def identity_cell(self, mor: Any) -> Any: ...
    def vertical(self, second: Any, first: Any) -> Any: ...
    def horizontal(self, outer: Any, inner: Any) -> Any: ...


@runtime_checkable
class HasTwoCellValues(TwoCategory, Protocol):
    """A 2-category whose 2-cells are written as values (`α |-> (s, t) |-> …`), each with laws
    for the sides of its boundary."""

    def two_cell(self, value: A.Expr, source: Any, target: Any, env: Any, name: str = "") -> Any: ...
    def boundary_laws(self, cell: Any, how: Any, name: str, source: str, target: str) -> dict: ...


@runtime_checkable
class HasPullbacks(Protocol):
    """Pullbacks of cospans, and a decision whether a given cone is one."""

    def pullback(self, f: Any, g: Any) -> tuple[Any, Any, Any]: ...
    def universal(self, apex: Any, left: Any, right: Any, f: Any, g: Any, how: Any) -> Any: ...
    def mediate(self, apex: Any, left: Any, right: Any, cone_left: Any, cone_right: Any) -> Any: ...


@runtime_checkable
class HasPushouts(Protocol):
    """Pushouts of spans (the dual of `HasPullbacks`), and a decision whether a given cocone is
    one; `comediate` is the unique map out of a pushout that a cocone induces."""

    def pushout(self, f: Any, g: Any) -> tuple[Any, Any, Any]: ...
    def couniversal(self, apex: Any, left: Any, right: Any, f: Any, g: Any, how: Any) -> Any: ...
    def comediate(self, apex: Any, left: Any, right: Any, cocone_left: Any, cocone_right: Any) -> Any: ...


@runtime_checkable
class HasFiniteLimits(HasPullbacks, Protocol):
    """A terminal object and equalizers besides pullbacks (so products, as pullbacks over 1)."""

    def terminal(self) -> Any: ...
    def to_terminal(self, obj: Any) -> Any: ...
    def is_terminal(self, obj: Any) -> Any: ...
    def equalizer_universal(self, apex: Any, e: Any, f: Any, g: Any, how: Any) -> Any: ...


@runtime_checkable
class HasGenericFunctors(Protocol):
    """Functors and transformations given by rules with pattern variables (`R^n |-> R^(2*n)`)."""

    def functor(self, rules: list, env: Any, name: str) -> Any: ...
    def transformation(self, F: Any, G: Any, rules: list, env: Any, name: str) -> Any: ...


@lru_cache(maxsize=1)
def _installed() -> Any:
    """Every installed entry point. The metadata of the installed distributions is read here,
    once per process, for all groups together (`clear_caches` reads it again)."""
    from importlib.metadata import entry_points

    return entry_points()


@lru_cache(maxsize=None)
def entry_points_of(group: str) -> dict[str, str]:
    """Name -> "module:attribute" for every entry point of `group`. pyproject.toml is the one
    list of what this distribution provides: `catdsl.backends` (semantic categories),
    `catdsl.commands` (`compile`, `run`, `runs`), `catdsl.analyses` (analysis handlers)."""
    try:
        return {ep.name: ep.value for ep in _installed().select(group=group)}
    except Exception:  # a broken third-party distribution must not break the language
        return {}


def clear_caches() -> None:
    """Forget the entry points read and the factories loaded, so the next use reads the installed
    metadata again (for tests that install or fake a backend, and for long-lived processes)."""
    _installed.cache_clear()
    entry_points_of.cache_clear()
    load.cache_clear()


def registry() -> dict[str, str]:
    """Name -> "module:attribute" for every known semantic category."""
    return entry_points_of("catdsl.backends")


def command(name: str) -> Any:
    """The implementation of `catdsl NAME` for commands that need an execution backend."""
    import importlib

    target = entry_points_of("catdsl.commands").get(name)
    if target is None:
        raise LookupError(f"no installed backend provides `catdsl {name}`: install catdsl with "
                          "its backends (`pip install -e .` in the source tree, as `make` does)")
    module, _, attr = target.partition(":")
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
