"""Which laws a run checks and with which options: `check … with …`, `--only`, resolved once.

A check target `T` selects a law when `T` is the law's name or a prefix of it ending at `.` or
`[` (`check F` selects `F.map_id[X]`, never the laws of `FG`). Every option of a statement is
validated against the laws its targets select: a name no selected law accepts, or a value of the
wrong kind, is E313; a target or `--only` name that selects no law is E221. These are static
errors (exit 2), found before anything is discharged. Later statements win over earlier ones.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from catdsl.diagnostics import Diagnostic
from catdsl.laws.law import Law, target_of
from catdsl.syntax import ast as A
from catdsl.syntax import printer


@dataclass(frozen=True)
class Options:
    """Effort and reproducibility of a whole check run (`--seed`, `--samples`)."""

    seed: int = 0
    samples: int = 200
    tol: float = 1e-9
    store: str | None = None  # the run store directory (default: .catdsl/ beside the file)


@dataclass(frozen=True)
class LawOptions:
    """The options one law is discharged with: the run's, overridden by its check statements.

    `given` holds only what a check statement set, so a kind with a default of its own (the
    ensemble's tolerance, the structure condition's k) can tell "set" from "inherited"."""

    samples: int = 200
    tol: float = 1e-9
    seed: int = 0
    store: str | None = None
    given: dict[str, Any] = field(default_factory=dict, compare=False)

    def get(self, name: str, default: Any = None) -> Any:
        return self.given.get(name, default)


def selects(target: str, law: Law) -> bool:
    name = law.name
    return name == target or name.startswith((target + ".", target + "["))


def _applies(target: str, law: Law, option: str) -> bool:
    """Whether an option of `check target with …` reaches `law`: own options only from a target
    that names the law's kind (`L.structure`, `L.structure[f]`)."""
    if option not in law.options:
        return False
    if option in law.own_options:
        return len(target) > len(law.owner) + 1 and law.name.startswith(target.rstrip("]"))
    return True


# Option name -> (what it must be, test).
_VALUES = {
    "samples": ("a positive integer", lambda v: isinstance(v, int) and v >= 1),
    "seed": ("a non-negative integer", lambda v: isinstance(v, int) and v >= 0),
    "tol": ("a non-negative number", lambda v: isinstance(v, (int, float)) and v >= 0),
    "k": ("a positive integer", lambda v: isinstance(v, int) and v >= 1),
}


class _NotANumber(Exception):
    pass


def number(e: A.Expr) -> int | float:
    """The value of a numeric literal expression (`500`, `1e-6`, `10^-6`, `-1`, `1/2`): read from
    the tree, never evaluated as text."""
    def go(e: A.Expr) -> Fraction:
        match e:
            case A.Number(text=t):
                mantissa, _, exponent = t.lower().partition("e")
                if len(mantissa) > 30 or len(exponent) > 4:  # an option is a small number
                    raise _NotANumber
                return Fraction(t)
            case A.Neg(operand=x):
                return -go(x)
            case A.BinOp(op=op, left=left, right=right) if op in ("+", "-", "*", "/", "^"):
                a, b = go(left), go(right)
                if op == "/":
                    if b == 0:
                        raise _NotANumber
                    return a / b
                if op == "^":
                    if b.denominator != 1 or abs(b) > 64 or (a == 0 and b < 0):
                        raise _NotANumber
                    return a ** int(b)
                return {"+": a + b, "-": a - b, "*": a * b}[op]
        raise _NotANumber

    value = go(e)
    if abs(value) > 10**30:
        raise _NotANumber
    exact_int = isinstance(e, A.Number) and not any(c in e.text for c in ".eE")
    if value.denominator == 1 and (exact_int or not isinstance(e, A.Number)):
        return int(value)
    return float(value)


@dataclass(frozen=True)
class Selection:
    """The laws to discharge, each with its options; or the static errors that stop the run."""

    laws: tuple[tuple[Law, LawOptions], ...]
    diagnostics: tuple[Diagnostic, ...]


def select(module, laws: list[Law], run: Options = Options(), only: tuple[str, ...] = ()) -> Selection:
    """The laws named by `--only`, else by the file's `check` statements, else all; with the
    options each one is discharged with. (`--only` may select nothing in one of several files;
    the command reports a name that selects nothing in any of them.)"""
    problems: list[Diagnostic] = []
    targets = [(printer.expr(t), t.span) for c in module.checks for t in c.targets]
    for text, span in targets:
        if not any(selects(text, law) for law in laws):
            problems.append(Diagnostic("E221", f"`check {text}` selects no obligation", span,
                                       hints=nearest(text, laws)))
    given: dict[int, dict[str, Any]] = {i: {} for i in range(len(laws))}
    for chk in module.checks:
        names = [printer.expr(t) for t in chk.targets]
        chosen = [i for i, law in enumerate(laws) if any(selects(n, law) for n in names)]
        for kw in chk.options:
            try:
                value = number(kw.value)
            except _NotANumber:
                problems.append(Diagnostic("E313", f"`{kw.name}` must be a number of at most 30 digits, "
                                           f"not `{_short(printer.expr(kw.value))}`", kw.value.span))
                continue
            reached = [i for i in chosen if any(selects(n, laws[i]) and _applies(n, laws[i], kw.name)
                                                for n in names)]
            if not reached:
                if chosen:
                    accepted = sorted({o for i in chosen for o in laws[i].options})
                    close = difflib.get_close_matches(kw.name, accepted, n=1)
                    problems.append(Diagnostic(
                        "E313", f"`{kw.name}` is not an option of {_what(names)}", kw.span,
                        hints=(*(f"did you mean `{c}`?" for c in close), f"its options are {', '.join(accepted)}",
                               *_own_hint(kw.name, [laws[i] for i in chosen]))))
                continue
            what, ok = _VALUES.get(kw.name, ("", lambda v: True))
            if not ok(value):
                problems.append(Diagnostic("E313", f"`{kw.name}` must be {what}, not {value!r}", kw.value.span))
                continue
            why = next((w for i in reached if (w := laws[i].check_option(kw.name, value))), None)
            if why:
                problems.append(Diagnostic("E313", why, kw.value.span))
                continue
            unused = [i for i in reached if not _target_uses(module, laws[i], kw.name)]
            if unused:
                law = laws[unused[0]]
                problems.append(Diagnostic(
                    "E313", f"`{kw.name}` has no use for `{law.name}`: {_target_name(module, law)} decides it exactly",
                    kw.span, hints=(f"`{kw.name}` applies where the target computes this law numerically "
                                    "(docs/checking.md, \"Options\"); remove it",)))
                continue
            for i in reached:
                given[i][kw.name] = value
    if problems:
        return Selection((), tuple(problems))
    picked = [i for i, law in enumerate(laws)
              if (not only and not targets) or
              (only and any(law.name.startswith(n) for n in only)) or
              (not only and any(selects(t, law) for t, _ in targets))]
    return Selection(tuple((laws[i], _resolve(run, given[i])) for i in picked), ())


def _target_uses(module, law: Law, option: str) -> bool:
    """Whether `law`'s target decides it with `option`: every option but a `target_options` one;
    that one only where the target's registered category lists it (`law_options`)."""
    if option not in law.target_options:
        return True
    from catdsl import backend
    target = target_of(module, law)
    if isinstance(target, str):  # a presentation: the free category decides exactly
        return False
    return option in getattr(backend.load(target.name), "law_options", {}).get(type(law), ())


def _target_name(module, law: Law) -> str:
    target = target_of(module, law)
    return f"the free category {target}" if isinstance(target, str) else target.name


def _resolve(run: Options, given: dict[str, Any]) -> LawOptions:
    return LawOptions(samples=given.get("samples", run.samples), tol=float(given.get("tol", run.tol)),
                      seed=given.get("seed", run.seed), store=run.store, given=dict(given))


def _what(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)


def _own_hint(option: str, laws: list[Law]) -> tuple[str, ...]:
    owners = sorted({f"{law.owner}.{law.kind}" for law in laws if option in law.own_options})
    return (f"`{option}` is set by naming the law: `check {owners[0]} with {option} = …`",) if owners else ()


def nearest(name: str, laws: list[Law]) -> tuple[str, ...]:
    """A hint for a name that selects no law: the closest law or owner name."""
    candidates = sorted({law.owner for law in laws} | {law.name for law in laws})
    close = difflib.get_close_matches(name, candidates, n=1)
    if close:
        return (f"did you mean `{close[0]}`?",)
    if not laws:
        return ("this file implies no obligations",)
    return (f"its obligations belong to {', '.join(f'`{o}`' for o in sorted({law.owner for law in laws}))}",)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "…"
