"""Certificates that a function stays at or below a level on [0, 1]^k: `low_loss` in Paths.

Two certificates, tried in order, both exact about what they claim:

* **critical points** (one variable, a rational function of t): the maximum on [0, 1] is
  attained at 0, 1 or a real root of the derivative's numerator; those are found exactly
  (sympy's real roots) and each value is compared with the level exactly (`decide.sign`).
* **interval branch and bound** (any k, any expression `decide.interval` evaluates): boxes
  of [0, 1]^k are taken highest upper bound first; a box whose interval enclosure lies at
  or below the level is certified; otherwise its midpoint is evaluated (a value shown
  above the level refutes) and the box is halved along its widest side. Refining where the
  bound is loose is what finds a narrow spike that a fixed grid misses.

The budget is a count of boxes, never seconds. When it runs out, no certificate is claimed
and the caller falls back to sampling (`passed N`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import mpmath
import sympy

from backends.symbolic.decide import (Loose, Undefined, Unsupported, bounds, interval,
                                      interval_context, sign)

# Boxes the branch and bound may evaluate, and the degree up to which critical points are
# computed exactly.
MAX_BOXES = 6000
MAX_DEGREE = 40
PREC = 64


@dataclass(frozen=True)
class Certificate:
    """`status` is "proved" (value <= level everywhere), "refuted" (a point above it) or
    None (no certificate). `at` is the worst point found (exact rationals), `value` the
    value there, `how` the certificate or why none was found."""

    status: str | None
    how: str
    at: tuple | None = None
    value: float | None = None


def certify(height: sympy.Expr, variables: Sequence[sympy.Symbol], level: sympy.Expr,
            max_boxes: int = MAX_BOXES) -> Certificate:
    """Is height <= level on [0, 1]^k? A certificate either way, or none."""
    level = sympy.Integer(level) if isinstance(level, int) else level
    if len(variables) == 1:
        cert = critical_points(height, variables[0], level)
        if cert.status is not None:
            return cert
    return branch_and_bound(height, variables, level, max_boxes)


def critical_points(height: sympy.Expr, t: sympy.Symbol, level: sympy.Expr) -> Certificate:
    """The exact maximum of a rational function of t on [0, 1], against the level."""
    if not height.is_rational_function(t) or height.has(sympy.Piecewise):
        return Certificate(None, "not a rational function of t")
    numer, denom = sympy.together(height).as_numer_denom()
    try:
        q = sympy.Poly(denom, t)
        if q.degree() > 0 and any(0 <= r <= 1 for r in q.real_roots()):
            return Certificate(None, "the loss is undefined somewhere on [0, 1]")
        dn = sympy.Poly(sympy.expand(sympy.diff(numer, t) * denom - numer * sympy.diff(denom, t)),
                        t)
        if dn.degree() > MAX_DEGREE or not all(c.is_Rational for c in dn.coeffs()):
            return Certificate(None, "the derivative is beyond the exact root finder")
        roots = [r for r in dict.fromkeys(dn.real_roots()) if 0 < r < 1] if not dn.is_zero else []
    except (sympy.PolynomialError, NotImplementedError):
        return Certificate(None, "the critical points are beyond sympy")
    candidates = [sympy.Integer(0), sympy.Integer(1), *roots]
    worst, worst_value = None, None
    for c in candidates:
        v = height.xreplace({t: c})
        s, why = sign(sympy.expand(level - v) if v.is_Rational else level - v)
        if s is None:
            return Certificate(None, f"cannot compare the loss at a critical point with the "
                               f"level: {why}")
        value = float(sympy.N(v, 20))
        if s < 0:
            return Certificate("refuted", "the loss at an exact point exceeds the level",
                               (c,), value)
        if worst_value is None or value > worst_value:
            worst, worst_value = c, value
    return Certificate("proved", f"the maximum over [0, 1] is at t = 0, 1 or one of "
                       f"{len(roots)} critical point{'s' * (len(roots) != 1)} of the loss "
                       "(exact)", (worst,), worst_value)


def branch_and_bound(height: sympy.Expr, variables: Sequence[sympy.Symbol], level: sympy.Expr,
                     max_boxes: int = MAX_BOXES) -> Certificate:
    """Certify height <= level on [0, 1]^k by interval enclosures on refined boxes."""
    ctx = interval_context(PREC)
    try:
        lvl = interval(level, PREC, ctx=ctx)
    except (Loose, Undefined, Unsupported):
        return Certificate(None, "the level is not a real number")
    level_lo, _ = bounds(lvl)
    k = len(variables)
    root = tuple((Fraction(0), Fraction(1)) for _ in range(k))
    heap: list = []
    counter = 0
    best_at, best = None, None

    def exact(v: Fraction):
        return ctx.mpf(v.numerator) / ctx.mpf(v.denominator)   # an enclosure of v

    def enclose(box):
        env = {x: ctx.mpf([bounds(exact(lo))[0], bounds(exact(hi))[1]])
               for x, (lo, hi) in zip(variables, box)}
        try:
            return bounds(interval(height, PREC, env, ctx))[1]
        except (Loose, Undefined, ZeroDivisionError):
            return mpmath.inf

    def at_point(point):
        env = {x: exact(v) for x, v in zip(variables, point)}
        try:
            return bounds(interval(height, PREC, env, ctx))
        except (Loose, Undefined, ZeroDivisionError):
            return None

    try:
        heapq.heappush(heap, (-enclose(root), counter, root))
    except Unsupported:
        return Certificate(None, "the loss has a function interval arithmetic does not cover")
    evaluated = 1
    while heap:
        neg_upper, _, box = heapq.heappop(heap)
        if -neg_upper <= level_lo:
            # every remaining box is below the level too (the heap is highest first)
            heap.clear()
            break
        if evaluated >= max_boxes:
            return Certificate(None, f"the interval bound stayed above the level after "
                               f"{max_boxes} boxes (at most {mpmath.nstr(-neg_upper, 6)})",
                               best_at, best)
        mid = tuple((lo + hi) / 2 for lo, hi in box)
        value = at_point(mid)
        evaluated += 1
        if value is not None:
            lo_v, hi_v = value
            if best is None or float(hi_v) > best:
                best_at, best = tuple(sympy.Rational(v.numerator, v.denominator) for v in mid), \
                    float((lo_v + hi_v) / 2)
            if lo_v > level_lo and sign(level - height.xreplace(
                    dict(zip(variables, best_at))))[0] == -1:
                return Certificate("refuted", "the loss at an exact point exceeds the level",
                                   best_at, best)
        widest = max(range(k), key=lambda i: box[i][1] - box[i][0])
        lo, hi = box[widest]
        for half in ((lo, (lo + hi) / 2), ((lo + hi) / 2, hi)):
            child = box[:widest] + (half,) + box[widest + 1:]
            counter += 1
            evaluated += 1
            heapq.heappush(heap, (-enclose(child), counter, child))
    return Certificate("proved", f"interval arithmetic bounds the loss by the level on "
                       f"every one of the boxes covering [0, 1]{'²' if k == 2 else ''} "
                       f"({evaluated} evaluated)", best_at, best)


__all__ = ["Certificate", "certify", "critical_points", "branch_and_bound"]
