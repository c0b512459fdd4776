"""The analysis stage: what gives `classes`, `persistence` and `transfer` statements a meaning.

Elaboration resolves an analysis statement into an `Analysis` (its subject a declared sweep,
functor, part of a functor or category value; its method split into a name and named options).
A handler, registered by kind under the entry-point group `catdsl.analyses`, then says what it
means:

- `validate(module, analysis) -> [Diagnostic]`: static problems (a method or option it does not
  know, a subject of the wrong kind), found before anything runs (exit 2);
- `laws(module, analysis) -> [Law]`: the obligations it implies (checked by `catdsl check`);
- `jobs(plan, program, analysis)`: the jobs it adds to a plan (run by `catdsl run`);
- `report(analysis, session) -> dict`: its part of `catdsl run --format json` (`{"kind": …}`,
  plain JSON data read from the finished jobs of the session's store);
- `show(analysis, report, console)`: the same data as tables for the terminal;
- `plots(analysis, report, session, directory) -> [Path]` (optional): its pictures, PNG files
  written into `directory` (`catdsl run FILE --plots DIR`); a handler without it draws nothing.

`catdsl run --format json` prints one shape for every file: `{"file", "jobs": [{"label", "kind",
"key", "digest", "seconds", "metrics"}…], "analyses": {NAME: {"kind": …, …}}}`; an unnamed
analysis is keyed `KIND@LINE` (`key_of`).

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
    def report(self, analysis: Analysis, session: Any) -> dict: ...
    def show(self, analysis: Analysis, report: dict, console: Any) -> None: ...
    # optional: def plots(self, analysis, report, session, directory) -> list[Path]


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


def plots(module: Module, session: Any, reports: dict[str, dict], directory: Any) -> list:
    """The PNG files of every analysis whose handler has a `plots` hook, written into
    `directory` from its report (`reports[key_of(a)]`) and the session's store."""
    from pathlib import Path

    made: list = []
    for a in module.analyses:
        hook = getattr(handler(a.kind), "plots", None)  # optional: not every analysis draws
        if hook is not None:
            made.extend(hook(a, reports[key_of(a)], session, Path(directory)))
    return made


def key_of(analysis: Analysis) -> str:
    """The analysis's key in a run report: its name, or `KIND@LINE` when it has none."""
    return analysis.name or f"{analysis.kind}@{analysis.span.line}"
