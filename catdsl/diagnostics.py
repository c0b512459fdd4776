"""Diagnostics: stable codes, one message table, rendering as text or JSON (docs/architecture.md, "Errors").

Every error a user can cause is a `Diagnostic` with a code from `CODES`; nothing else reaches
the terminal. Codes are stable: tests/golden holds at least one ill file per code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Literal

from catdsl.span import Span

Severity = Literal["error", "warning", "note"]

# code -> short title. E1xx syntax, E2xx names and types, E3xx values in semantic categories,
# E4xx learning and resources, E9xx input/output.
CODES: dict[str, str] = {
    "E101": "unexpected character",
    "E102": "unexpected token",
    "E103": "unexpected end of file",
    "E104": "lambda parameters must be names",
    "E105": "a body item must be a mapping `X |-> value`",
    "E106": "invalid string literal",
    "E107": "expression nested too deeply",
    "E201": "undeclared name",
    "E202": "name declared twice",
    "E203": "composite does not compose",
    "E204": "equation between non-parallel terms",
    "E205": "2-cell between non-parallel 1-cells",
    "E206": "pullback of arrows with different codomains, or pushout of arrows with different domains",
    "E207": "functor or transformation leaves something unmapped",
    "E208": "image has the wrong type",
    "E209": "mapping of a name the source does not have",
    "E210": "identity whose object cannot be inferred",
    "E211": "expected an object",
    "E212": "expected a 1-cell",
    "E213": "expected a 2-cell",
    "E214": "unknown category",
    "E215": "not supported in this version",
    "E216": "ill-typed 2-cell composite",
    "E217": "expression cannot be read as a term",
    "E218": "import cycle",
    "E219": "reserved name",
    "E220": "expected a functor",
    "E221": "check target selects no obligation",
    "E222": "name of the wrong kind for this statement",
    "E301": "unknown name in a value",
    "E302": "unknown function in a value",
    "E303": "expression is not a value of this kind",
    "E304": "value's shape contradicts its type",
    "E305": "malformed matrix",
    "E306": "not an object of this semantic category",
    "E307": "dimension or size is not a non-negative integer",
    "E308": "operation on values that do not fit",
    "E309": "not a total function between the given finite sets",
    "E310": "division by zero in a value",
    "E311": "bad arguments to a semantic category",
    "E312": "unsupported pattern in a generic rule",
    "E313": "bad check option",
    "E314": "value must be numeric",
    "E315": "the semantic category lacks the structure this needs",
    "E316": "number too large to hold exactly, or not a finite number",
    "E401": "resource limit exceeded",
    "E402": "model does not fit its data or is not a model",
    "E403": "data set cannot be loaded",
    "E404": "bad value for a learning declaration",
    "E405": "training diverged",
    "E406": "not an initial state",
    "E407": "a computed object was given a value",
    "E408": "device unknown or not available",
    "E901": "cannot read file",
    "E902": "run store damaged or unreadable",
    "E903": "no stored state to export",
    "E904": "cannot write file",
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hints: tuple[str, ...] = ()
    severity: Severity = "error"
    notes: tuple[tuple[str, Span], ...] = field(default=())

    def __post_init__(self) -> None:
        assert self.code in CODES, f"unregistered diagnostic code {self.code}"

    def to_json(self) -> dict:
        s = self.span
        return {
            "file": s.file, "line": s.line, "column": s.column,
            "end_line": s.end_line, "end_column": s.end_column,
            "severity": self.severity, "code": self.code, "message": self.message,
            "hints": list(self.hints),
        }


class DiagnosticError(Exception):
    """Raised to abandon a phase; carries the diagnostics found so far."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("; ".join(d.message for d in self.diagnostics))


def sort_key(d: Diagnostic) -> tuple:
    return (d.span.file, d.span.line, d.span.column, d.code)


def render(d: Diagnostic, sources: dict[str, str]) -> str:
    """`file:line:col: error[CODE]: message`, the source line, a caret under the span, hints."""
    s = d.span
    out = [f"{s.file}:{s.line}:{s.column}: {d.severity}[{d.code}]: {d.message}"]
    text = sources.get(s.file)
    if text is not None and s.line >= 1:
        lines = text.split("\n")
        if s.line <= len(lines):
            src = lines[s.line - 1].expandtabs(1)
            width = len(str(s.line))
            end = s.end_column if s.end_line == s.line and s.end_column > s.column else len(src) + 1
            carets = "^" * max(1, end - s.column)
            out.append(f"{' ' * (4 - width) if width < 4 else ''}{s.line} | {src}".rstrip())
            out.append(f"{' ' * max(4, width)} | {' ' * (s.column - 1)}{carets}")
    for hint in d.hints:
        out.append(f"  hint: {hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(render(d, sources) for d in sorted(diagnostics, key=sort_key))


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps([d.to_json() for d in sorted(diagnostics, key=sort_key)], indent=2,
                      ensure_ascii=False)
