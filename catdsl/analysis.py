"""The analysis stage: what gives `classes`, `persistence` and `transfer` statements a meaning.

Elaboration resolves an analysis statement into an `Analysis` (its subject a declared sweep,
functor, part of a functor or category value; its method split into a name and named options).
A handler, registered by kind under the entry-point group `catdsl.analyses`, then says what it
means:

- `validate(module, analysis) -> [Diagnostic]`: static problems (a method or option it does not
  know, a subject of the wrong kind), found before anything runs (exit 2);
- `laws(module, analysis) -> [Law]`: the obligations it implies (checked by `catdsl check`);
- `jobs(plan, program, analysis)`: the jobs it adds to a plan (run by `catdsl run`);
- `report(analysis, results) -> dict`: its part of the run report.

A statement whose kind has no handler is E215 "not supported yet", never a silent success.
Handlers are found lazily, like semantic categories, so `catdsl check` imports none it does not
need.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol

from catdsl.diagnostics import Diagnostic
from catdsl.semantics.module import Analysis, Module

GROUP = "catdsl.analyses"


class AnalysisHandler(Protocol):
    def validate(self, module: Module, analysis: Analysis) -> list[Diagnostic]: ...
    def laws(self, module: Module, analysis: Analysis) -> list: ...
    def jobs(self, plan: Any, program: Any, analysis: Analysis) -> None: ...
    def report(self, analysis: Analysis, results: Any) -> dict: ...


def registry() -> dict[str, str]:
    """Analysis kind -> "module:attribute" of its handler."""
    from catdsl.backend import entry_points_of

    return entry_points_of(GROUP)


@lru_cache(maxsize=None)
def _load(target: str) -> AnalysisHandler:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def handler(kind: str) -> AnalysisHandler | None:
    target = registry().get(kind)
    return _load(target) if target is not None else None


def validate(module: Module) -> list[Diagnostic]:
    """Every analysis statement has a handler, and its handler finds nothing wrong with it."""
    found: list[Diagnostic] = []
    for a in module.analyses:
        h = handler(a.kind)
        if h is None:
            what = f"`{a.kind} {a.name}`" if a.name else f"`{a.kind}`"
            found.append(Diagnostic(
                "E215", f"{what} is not supported yet: nothing computes `{a.kind} … by {a.method}`",
                a.span, hints=(f"the statement is parsed and its names are resolved; remove it, or "
                               f"install a backend that registers `{a.kind}` under `{GROUP}`",)))
            continue
        found.extend(h.validate(module, a))
    return found


def laws(module: Module) -> list:
    """The obligations of every analysis whose handler implies some."""
    out: list = []
    for a in module.analyses:
        h = handler(a.kind)
        if h is not None:
            out.extend(h.laws(module, a))
    return out
