"""Exact decisions shared by the symbolic categories: is a difference zero, and where not.

`is_zero(expr)` answers True (shown zero), False (shown non-zero) or None (undecided), with
the reason, so a category never refutes what was not shown non-zero and never passes what
was shown non-zero:

* a constant is decided by algebra where it can (expansion; the minimal polynomial of an
  algebraic number — radicals, and sin/cos/tan of rational multiples of pi; `simplify`),
  and shown non-zero by interval arithmetic (mpmath `iv`) at rising precision: an interval
  that excludes 0 is a proof. A constant whose interval still contains 0 at the last
  precision and that algebra did not reduce is undecided (`unknown`), never `refuted`;
* a rational function of symbols is zero iff every coefficient of its numerator is, each a
  constant decided as above;
* any other expression is shown zero by `simplify` (piecewise: every piece), and non-zero by
  a point where its value, evaluated with intervals, excludes 0 (the point is returned).

Budgets are counts (precisions, points, expression sizes), never seconds, so a verdict does
not depend on how loaded the machine is.

>>> is_zero(sympy.cos(sympy.pi / 5) - (1 + sympy.sqrt(5)) / 4).zero
True
>>> is_zero(sympy.pi - sympy.Rational(355, 113)).zero
False
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import mpmath
import sympy
from mpmath.ctx_iv import MPIntervalContext

# Rising working precisions (bits) of the interval evaluation; the last bounds the search.
PRECISIONS = (64, 192, 640, 2048)
# Expressions larger than this (sympy.count_ops) skip minimal_polynomial and simplify.
ALGEBRA_OPS = 400
# Points probed to show a non-constant expression non-zero.
PROBES = 24


RATIONAL = "a rational number"


@dataclass(frozen=True)
class Zero:
    """The answer of `is_zero`: `zero` is True, False or None (undecided), `reason` says how.

    For a non-zero answer, `value` is the (approximate) value, at `at` for a non-constant
    expression (a point of exact rationals, one per symbol).
    """

    zero: bool | None
    reason: str
    value: sympy.Expr | None = None
    at: dict | None = None

    def why(self) -> str:
        """` (reason)` for a witness, empty where the reason is plain arithmetic."""
        plain = self.reason == RATIONAL or (self.value is not None and self.value.is_Rational)
        return "" if plain or self.zero else f" ({self.reason})"


class Undefined(Exception):
    """The expression has no real value here (a log or even root of a negative, 1/0)."""


class _Loose(Exception):
    """The interval is too wide to tell (a divisor or radicand straddles 0): more precision."""


class _Unsupported(Exception):
    """The interval evaluator does not know a node."""


# ---- constants -----------------------------------------------------------------------------


def is_zero(expr: Any, box: dict | None = None) -> Zero:
    """Decide expr = 0: for a constant, or identically in its free symbols.

    `box` maps symbols to (lo, hi): where to probe for a non-zero value (default [-3, 3]).
    """
    e = expr if isinstance(expr, sympy.Basic) else sympy.Integer(int(expr))
    if e == 0:
        return Zero(True, "identically 0")
    if not e.free_symbols:
        return constant_zero(e)
    return _function_zero(e, box or {})


def constant_zero(e: sympy.Expr) -> Zero:
    """Decide a constant: algebra first, then intervals at rising precision."""
    if e.is_Rational:
        return Zero(e == 0, RATIONAL, e if e != 0 else None)
    first = _excludes_zero(e, PRECISIONS[0])
    if isinstance(first, Zero):
        return first
    x = _expanded(e)
    if x == 0:
        return Zero(True, "0 after expansion")
    if x.is_Rational:
        return Zero(False, RATIONAL, x)
    small = sympy.count_ops(x) <= ALGEBRA_OPS
    if small and _algebraic(x):
        try:
            poly = sympy.minimal_polynomial(x, sympy.Dummy("z"))
        except (NotImplementedError, sympy.PolynomialError, ValueError, TypeError):
            poly = None
        if poly is not None:
            if poly.is_Symbol:
                return Zero(True, "an algebraic number with minimal polynomial z")
            return Zero(False, f"an algebraic number, minimal polynomial {poly}",
                        _approx(x))
    if small:
        try:
            s = sympy.simplify(x)
        except Exception:  # simplify may fail on exotic input; that decides nothing
            s = x
        if s == 0:
            return Zero(True, "0 by simplify")
    undefined = None
    for prec in PRECISIONS[1:]:
        out = _excludes_zero(x, prec)
        if isinstance(out, Zero):
            return out
        if out == "undefined":
            undefined = True
            break
        if out == "unsupported":
            return Zero(None, f"cannot evaluate `{x}` with interval arithmetic")
    if undefined:
        return Zero(None, f"`{x}` has no real value")
    digits = int(PRECISIONS[-1] * 0.30103)
    return Zero(None, f"|{x}| < 10^-{digits - 10} at {digits} digits, but no exact proof "
                "that it is 0")


def _excludes_zero(e: sympy.Expr, prec: int) -> Zero | str | None:
    """A Zero(False) when the interval of e at `prec` bits excludes 0; else a word."""
    try:
        box = interval(e, prec)
    except Undefined:
        return "undefined"
    except _Loose:
        return None
    except _Unsupported:
        return "unsupported"
    lo, hi = bounds(box)
    if lo > 0 or hi < 0:
        return Zero(False, f"interval arithmetic at {prec} bits puts it in "
                    f"[{mpmath.nstr(lo, 6)}, {mpmath.nstr(hi, 6)}]", _approx(e))
    return None


def bounds(box: Any) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The end points of an `iv` interval, as plain mpf numbers."""
    lo, hi = box._mpi_
    # exact: the working precision exceeds that of any end point (comparisons of mpf
    # numbers are exact at any precision, so nothing is rounded afterwards either)
    with mpmath.workprec(PRECISIONS[-1] + 64):
        return +mpmath.mpf(lo), +mpmath.mpf(hi)


def sign(e: sympy.Expr) -> tuple[int | None, str]:
    """The sign of a real constant (-1, 0, 1), or None with the reason it is undecided."""
    z = constant_zero(e)
    if z.zero:
        return 0, z.reason
    if z.zero is None:
        return None, z.reason
    for prec in PRECISIONS:
        try:
            box = interval(e, prec)
        except (_Loose, Undefined, _Unsupported):
            continue
        lo, hi = bounds(box)
        if lo > 0:
            return 1, z.reason
        if hi < 0:
            return -1, z.reason
    return None, "the sign is beyond the precision limit"


# ---- expressions in symbols ------------------------------------------------------------------


def _function_zero(e: sympy.Expr, box: dict) -> Zero:
    symbols = sorted(e.free_symbols, key=str)
    if e.has(sympy.Piecewise):
        return _piecewise_zero(e, box)
    if e.is_rational_function(*symbols):
        numer = sympy.together(e).as_numer_denom()[0]
        numer = _expanded(numer)
        if numer == 0:
            return Zero(True, "0 as a rational function")
        try:
            coeffs = sympy.Poly(numer, *symbols).coeffs()
        except sympy.PolynomialError:
            coeffs = None
        if coeffs is not None:
            answers = [constant_zero(c) for c in coeffs]
            if all(a.zero for a in answers):
                return Zero(True, "every coefficient is 0")
            if any(a.zero is False for a in answers):
                return _nonzero_somewhere(e, symbols, box, "a non-zero rational function")
            undecided = next(a for a in answers if a.zero is None)
            return Zero(None, f"a coefficient is undecided: {undecided.reason}")
    if sympy.count_ops(e) <= ALGEBRA_OPS:
        forms = [e]
        if e.has(sympy.tanh, sympy.sinh, sympy.cosh):
            forms.append(e.rewrite(sympy.exp))
        for form in forms:
            try:
                if sympy.simplify(form) == 0:
                    return Zero(True, "0 by simplify")
            except Exception:
                pass
    found = _nonzero_somewhere(e, symbols, box, "non-zero at a point")
    if found.zero is False:
        return found
    return Zero(None, f"`simplify` does not reduce it to 0 and it vanishes at every point "
                f"probed ({PROBES})")


def _piecewise_zero(e: sympy.Expr, box: dict) -> Zero:
    folded = sympy.piecewise_fold(e)
    if isinstance(folded, sympy.Piecewise):
        pieces = [is_zero(p.expr, box) for p in folded.args]
        if all(p.zero for p in pieces):
            return Zero(True, "every piece is 0")
    symbols = sorted(e.free_symbols, key=str)
    found = _nonzero_somewhere(e, symbols, box, "non-zero at a point")
    if found.zero is False:
        return found
    return Zero(None, "a piecewise difference not shown 0")


def probe_points(symbols: Sequence[sympy.Symbol], box: dict, count: int = PROBES
                 ) -> list[dict]:
    """Deterministic rational points in the box, simplest fractions first; each symbol
    walks the list at its own stride, so no two symbols stay equal (x - y would vanish)."""
    lists = {}
    for x in symbols:
        lo, hi = (Fraction(v) for v in box.get(x, (-3, 3)))
        simple = []
        for q in range(1, 40):
            for p in range(0, int(max(abs(lo), abs(hi)) * q) + 1):
                for v in (Fraction(p, q), -Fraction(p, q)):
                    if lo < v < hi and v not in simple:
                        simple.append(v)
            if len(simple) >= 4 * count:
                break
        lists[x] = simple or [lo]
    out = []
    for k in range(count):
        point = {}
        for j, x in enumerate(symbols):
            simple = lists[x]
            v = simple[(k * (j + 1) + 2 * j) % len(simple)]
            point[x] = sympy.Rational(v.numerator, v.denominator)
        out.append(point)
    return out


def _nonzero_somewhere(e: sympy.Expr, symbols, box: dict, what: str) -> Zero:
    for point in probe_points(symbols, box):
        try:
            v = e.xreplace(point)
        except Exception:
            continue
        if v.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            continue
        v = _expanded(v)
        if v.is_Rational:
            if v != 0:
                return Zero(False, what, v, point)
            continue
        for prec in PRECISIONS[:2]:
            out = _excludes_zero(v, prec)
            if isinstance(out, Zero):
                return Zero(False, f"{what}: {out.reason}", out.value, point)
            if out is not None:
                break
    return Zero(None, f"{what}: no probed point shows it")


# ---- interval evaluation ---------------------------------------------------------------------


def interval(e: sympy.Expr, prec: int, env: dict | None = None, ctx: Any = None) -> Any:
    """A rigorous real interval containing the value of e (mpmath `iv`): a constant, or an
    expression whose symbols `env` maps to intervals (an enclosure over that box)."""
    if ctx is None:
        ctx = MPIntervalContext()
        ctx.prec = prec
    return _iv(e, ctx, env or {})


def interval_context(prec: int) -> Any:
    ctx = MPIntervalContext()
    ctx.prec = prec
    return ctx


def _rational(ctx, q: sympy.Rational):
    return ctx.mpf(int(q.p)) / ctx.mpf(int(q.q)) if q.q != 1 else ctx.mpf(int(q.p))


def _positive(x) -> None:
    lo, hi = bounds(x)
    if hi <= 0:
        raise Undefined()
    if lo <= 0:
        raise _Loose()


Loose = _Loose
Unsupported = _Unsupported


def _iv(e: sympy.Basic, ctx, env: dict) -> Any:
    if e.is_Symbol:
        if e in env:
            return env[e]
        raise _Unsupported()
    if e.is_Rational:
        return _rational(ctx, e)
    if e.is_Float:
        return _rational(ctx, sympy.Rational(e))
    if e is sympy.pi:
        return ctx.pi
    if e is sympy.E:
        return ctx.e
    if e.is_Atom and (e is sympy.I or e in (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)):
        raise Undefined()
    if e.is_Add:
        out = ctx.mpf(0)
        for a in e.args:
            out = out + _iv(a, ctx, env)
        return out
    if e.is_Mul:
        out = ctx.mpf(1)
        for a in e.args:
            out = out * _iv(a, ctx, env)
        return out
    if e.is_Pow:
        base, exp = e.args
        if exp.is_Integer:
            b = _iv(base, ctx, env)
            n = int(exp)
            if n >= 0:
                return b ** n
            lo, hi = bounds(b)
            if lo <= 0 <= hi:
                if lo == 0 == hi:
                    raise Undefined()
                raise _Loose()
            return 1 / (b ** (-n))
        b = _iv(base, ctx, env)
        if exp == sympy.Rational(1, 2):
            lo, hi = bounds(b)
            if hi < 0:
                raise Undefined()
            if lo < 0:
                raise _Loose()
            return ctx.sqrt(b)
        _positive(b)
        return ctx.exp(_iv(exp, ctx, env) * ctx.log(b))
    if isinstance(e, sympy.exp):
        return ctx.exp(_iv(e.args[0], ctx, env))
    if isinstance(e, sympy.log):
        x = _iv(e.args[0], ctx, env)
        _positive(x)
        return ctx.log(x)
    if isinstance(e, (sympy.sin, sympy.cos)):
        x = _iv(e.args[0], ctx, env)
        return ctx.sin(x) if isinstance(e, sympy.sin) else ctx.cos(x)
    if isinstance(e, sympy.tan):
        x = _iv(e.args[0], ctx, env)
        c = ctx.cos(x)
        lo, hi = bounds(c)
        if lo <= 0 <= hi:
            raise _Loose()
        return ctx.sin(x) / c
    if isinstance(e, sympy.tanh):
        x = _iv(e.args[0], ctx, env)
        return 1 - 2 / (ctx.exp(2 * x) + 1)
    if isinstance(e, sympy.sinh):
        x = _iv(e.args[0], ctx, env)
        return (ctx.exp(x) - ctx.exp(-x)) / 2
    if isinstance(e, sympy.cosh):
        x = _iv(e.args[0], ctx, env)
        return (ctx.exp(x) + ctx.exp(-x)) / 2
    if isinstance(e, sympy.Abs):
        return abs(_iv(e.args[0], ctx, env))
    if isinstance(e, (sympy.Min, sympy.Max)):
        parts = [_iv(a, ctx, env) for a in e.args]
        pick = min if isinstance(e, sympy.Min) else max
        ends = [bounds(p) for p in parts]
        return ctx.mpf([pick(lo for lo, _ in ends), pick(hi for _, hi in ends)])
    if isinstance(e, sympy.Piecewise):
        for piece in e.args:
            if piece.cond is sympy.true:
                return _iv(piece.expr, ctx, env)
            if piece.cond is not sympy.false:
                raise _Unsupported()
        raise Undefined()
    if e.is_Symbol:
        raise _Unsupported()
    raise _Unsupported()


# ---- helpers ---------------------------------------------------------------------------------


def _expanded(e: sympy.Expr) -> sympy.Expr:
    try:
        return sympy.expand(e)
    except Exception:
        return e


def _algebraic(e: sympy.Expr) -> bool:
    """Built from rationals by + * and rational powers, and sin/cos/tan of rational·pi."""
    if e.is_Rational:
        return True
    if e is sympy.pi or e is sympy.E or e.is_Float:
        return False
    if e.is_Add or e.is_Mul:
        return all(_algebraic(a) for a in e.args)
    if e.is_Pow:
        return e.exp.is_Rational and _algebraic(e.base)
    if isinstance(e, (sympy.sin, sympy.cos, sympy.tan)):
        q = e.args[0] / sympy.pi
        return q.is_Rational
    return False


def _approx(e: sympy.Expr) -> sympy.Expr | None:
    try:
        v = sympy.N(e, 15)
    except Exception:
        return None
    return v if v.is_number else None


def non_zero_conditions(denominators: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]
                        ) -> list[tuple[sympy.Symbol, sympy.Expr]] | None:
    """The real points where some denominator vanishes, as (symbol, value) exclusions when
    each is a single symbol equal to a value; None when they are not of that simple form."""
    from backends.symbolic.solve import real_solutions

    out: list[tuple[sympy.Symbol, sympy.Expr]] = []
    for q in denominators:
        try:
            sols = real_solutions([q], list(symbols))
        except NotImplementedError:
            return None
        for s in sols:
            if len(s) != 1:
                return None
            ((x, v),) = s.items()
            if (x, v) not in out:
                out.append((x, v))
    return out


__all__ = ["Zero", "is_zero", "constant_zero", "sign", "interval", "bounds", "Undefined",
           "probe_points", "non_zero_conditions", "interval_context", "Loose", "Unsupported"]
