"""The Python API: `load`, `check`, `run` and `diagrams` for scripts and notebooks (docs/api.md).

Each does what its command does and returns the same data: `check` the obligations of
`catdsl check --format json`, `run` the object of `catdsl run --format json`, as plain dicts
(that also show themselves as HTML tables in a notebook). A file with errors raises
`InputError`, whose message is the rendered diagnostics. Nothing heavy is imported before it is
needed: `load` and `diagrams` import no torch or sympy, and `run` imports torch only when a job
must run.
"""

from __future__ import annotations

import os

from catdsl.diagnostics import DiagnosticError
from catdsl.semantics.module import Module


class InputError(DiagnosticError):
    """A file with errors (syntax, names, types, values): `.diagnostics`, and the rendered text."""

    def __init__(self, err: DiagnosticError, sources: dict[str, str]):
        from catdsl.diagnostics import render_all

        super().__init__(err.diagnostics)
        self.text = render_all(err.diagnostics, {**sources, **getattr(err, "sources", {})})

    def __str__(self) -> str:
        return self.text


class Document(Module):
    """An elaborated module (a `catdsl.semantics.module.Module`) that draws itself in a notebook."""

    def diagrams(self, *only: str):
        from catdsl.draw import diagrams

        return diagrams(self, only)

    def _repr_svg_(self) -> str:
        from catdsl.draw import scene_of
        from catdsl.draw.svg import to_svg

        return to_svg(scene_of(self.diagrams()))

    def _repr_html_(self) -> str:
        from html import escape

        parts = [f"<p><b>{escape(self.file)}</b>: {len(self.presentations)} presentations, "
                 f"{len(self.functors)} functors, {len(self.transformations)} transformations</p>"]
        parts += [_inline(d.svg()) for d in self.diagrams()]
        return "\n".join(parts)


class CheckReport(dict):
    """`catdsl check --format json` of one file: `{"file", "obligations": […], "summary"}`."""

    @property
    def holds(self) -> bool:
        return bool(self["summary"]["holds"])

    def _repr_html_(self) -> str:
        from catdsl.html_report import obligations_html

        return obligations_html(self)


class RunResults(dict):
    """`catdsl run --format json`: `{"file", "jobs": […], "analyses": {…}, "counts"}`."""

    def _repr_html_(self) -> str:
        from catdsl.html_report import analyses_html, jobs_html

        return jobs_html(self) + analyses_html(self)


def load(path: str | os.PathLike, import_root: str | None = None) -> Document:
    """Read, parse and elaborate a `.cat` file; raises InputError on errors."""
    from dataclasses import fields

    from catdsl.cli import _load

    module, text, err = _load(os.fspath(path), import_root)
    if err is not None:
        raise InputError(err, {os.fspath(path): text})
    return Document(**{f.name: getattr(module, f.name) for f in fields(Module)})


def diagrams(target, *only: str):
    """The diagrams of a file or module (`catdsl.draw.Diagram`: `.svg()`, `.tikz()`, `.png(path)`)."""
    from catdsl.draw import diagrams as draw

    return draw(_module(target), only)


def check(target, only: tuple[str, ...] | list[str] = (), seed: int = 0, samples: int = 200,
          store: str | None = None) -> CheckReport:
    """Discharge the laws of a file (or a loaded module), as `catdsl check --format json`."""
    from catdsl import cli
    from catdsl.laws import report
    from catdsl.laws.discharge import discharge
    from catdsl.laws.options import Options

    module = _module(target)
    args = _arguments("check", module, store)
    cli._hand_settings(module, args)
    problems = cli._validate(module)
    selection = None
    if not problems:
        selection, laws = cli._selection(module, Options(seed=seed, samples=samples, store=store), tuple(only))
        problems = list(selection.diagnostics)
        problems += [_unmatched(module, n, laws) for n in only if not any(law.name.startswith(n) for law in laws)]
    if problems:
        raise InputError(DiagnosticError(problems), module.sources)
    results = [discharge(law, module, opts) for law, opts in selection.laws]
    return CheckReport(report.to_json(module.file, results))


def run(target, store: str | None = None, device: str = "auto", executor: str = "local") -> RunResults:
    """Run the plan of a file (reusing the store), as `catdsl run --format json`."""
    import contextlib
    import io
    import json

    from catdsl import analysis, backend, cli

    module = _module(target)
    args = _arguments("run", module, store, "--device", device, "--executor", executor, "--format", "json")
    cli._hand_settings(module, args)
    problems = analysis.validate(module)
    if problems:
        raise InputError(DiagnosticError(problems), module.sources)
    found: list[dict] = []
    args.on_report = found.append  # the seam of `run --report`: the backend hands its JSON data here
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = backend.command("run")(module, args)
    except DiagnosticError as err:
        raise InputError(err, module.sources) from None
    if code != 0 or not found:
        raise RuntimeError(f"catdsl run {module.file} stopped with exit code {code}")
    return RunResults(json.loads(json.dumps(found[0])))  # exactly the JSON's data: lists, not tuples


def _module(target) -> Module:
    return target if isinstance(target, Module) else load(target)


def _arguments(command: str, module: Module, store: str | None, *extra: str):
    """The command's arguments with the command line's defaults (limits, store)."""
    from catdsl.cli import _parser

    argv = [command, module.file, *extra] + (["--store", store] if store else [])
    return _parser().parse_args(argv)


def _unmatched(module: Module, name: str, laws):
    from catdsl.diagnostics import Diagnostic
    from catdsl.laws.options import nearest
    from catdsl.span import Span

    return Diagnostic("E221", f"`only={name!r}` selects no obligation", Span(module.file, 1, 1, 1, 1),
                      hints=nearest(name, laws))


def _inline(svg: str) -> str:
    """An SVG document as an element of an HTML page (without its XML declaration)."""
    return svg.split("?>", 1)[1].strip() if svg.startswith("<?xml") else svg
