"""The real solutions of a polynomial system in the `param`s: the condition of a law.

`solve_polynomials` splits the system on the factors of its simplest equation: a univariate
factor contributes its roots, a factor linear in some x gives x = -d/c (with the case c = 0
kept separately), and each branch recurses on the rest with one symbol fewer. Every solution
it returns satisfies the system; symbols a solution does not mention are free. sympy's
general `solve` is kept for what this does not reach (it re-checks solutions, and is ~10-50×
slower on the small systems laws produce).

>>> a, b = sympy.symbols("a b", real=True)
>>> solve_polynomials([a**2 - 1, a*b + b], [a, b])
[{a: -1}, {a: 1, b: 0}]
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy


def real_solutions(equations: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]
                   ) -> list[dict]:
    """The real solutions of {e = 0} for rational functions e, where no denominator vanishes.

    Raises NotImplementedError for systems beyond `solve_polynomials` (sympy's general
    `solve` is not tried: on two generic quadrics it can run for minutes).
    """
    numers, denoms = [], []
    for e in equations:
        n, q = sympy.cancel(e).as_numer_denom()
        numers.append(n)
        if q.free_symbols:
            denoms.append(q)
    solutions = solve_polynomials(numers, symbols)
    if solutions is None:
        raise NotImplementedError("the condition is beyond the polynomial solver")
    return [s for s in solutions
            if all(is_real(v) for v in s.values())
            and not any(sympy.expand(q.xreplace(s)) == 0 for q in denoms)]


def solve_polynomials(equations: Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol]
                      ) -> list[dict] | None:
    """All solutions of the polynomial system {e = 0} (None: a branch is out of reach)."""
    eqs = [sympy.expand(e) for e in equations]
    eqs = [e for e in eqs if e != 0]
    if not eqs:
        return [{}]
    if any(not (e.free_symbols & set(symbols)) for e in eqs):
        return [] if any(e.is_number for e in eqs) else None
    first = min(eqs, key=lambda e: (len(e.free_symbols), sympy.Poly(e, *symbols).total_degree()))
    rest = [e for e in eqs if e is not first]
    if len(first.free_symbols) == 1:
        # the others matter only modulo the univariate one
        (x,) = first.free_symbols
        rest = [r for r in (sympy.expand(sympy.rem(e, first, x)) for e in rest) if r != 0]
    out: list[dict] = []
    try:
        factors = sympy.factor_list(first)[1]
    except sympy.PolynomialError:
        return None
    for factor, _ in factors:
        branch = _solve_factor(factor, rest, list(symbols))
        if branch is None:
            return None
        out.extend(branch)
    return _minimal(out)


def is_real(v: sympy.Expr) -> bool:
    """A solution value that is real (a number by its imaginary part, to 30 digits)."""
    if v.is_real is not None:
        return bool(v.is_real)
    if v.free_symbols:
        return True
    return abs(sympy.im(sympy.N(v, 30))) < 1e-20


def _solve_factor(f: sympy.Expr, rest: list, symbols: list) -> list[dict] | None:
    """The solutions of {f = 0} ∪ rest, f irreducible over the rationals.

    Over the reals a sum of terms of one sign (`a^2 + b^2`) vanishes iff every term does,
    so such a factor is replaced by its terms: `a = 0 and b = 0`, never complex roots.
    """
    if f.is_Add and (all(t.is_nonnegative for t in f.args)
                     or all(t.is_nonpositive for t in f.args)):
        return solve_polynomials([*f.args, *rest], symbols)
    syms = sorted(f.free_symbols & set(symbols), key=str)
    if len(syms) == 1:
        return _univariate(f, syms[0], rest, symbols)
    for x in syms:
        if sympy.degree(f, x) == 1:
            return _linear(f, x, rest, symbols)
    if not rest:
        for x in syms:
            if sympy.degree(f, x) == 2:
                return _quadratic(f, x, symbols)
    return None


def _univariate(f, x, rest, symbols) -> list[dict] | None:
    """Roots of f in x: by radicals up to degree 2, else exact real roots (CRootOf) when
    nothing else remains to be solved."""
    poly = sympy.Poly(f, x)
    if poly.degree() <= 2:
        roots = list(sympy.roots(poly))
    elif not rest:
        roots = list(dict.fromkeys(poly.real_roots()))
    else:
        return None
    out = []
    for r in roots:
        if not is_real(r):
            continue
        sub = solve_polynomials([e.xreplace({x: r}) for e in rest],
                                [s for s in symbols if s != x])
        if sub is None:
            return None
        out.extend({x: r, **s} for s in sub)
    return out


def _linear(f, x, rest, symbols) -> list[dict] | None:
    """f = c x + d: x = -d/c where c ≠ 0, and the case c = d = 0 on its own."""
    c = f.coeff(x, 1)
    d = sympy.expand(f - c * x)
    value = -d / c
    sub = solve_polynomials([sympy.together(e.xreplace({x: value})).as_numer_denom()[0]
                             for e in rest], [s for s in symbols if s != x])
    if sub is None:
        return None
    out = [{**s, x: sympy.cancel(value.xreplace(s))} for s in sub
           if sympy.expand(c.xreplace(s)) != 0]
    if c.free_symbols:
        degenerate = solve_polynomials([c, d, *rest], symbols)
        if degenerate is None:
            return None
        out.extend(degenerate)
    return out


def _quadratic(f, x, symbols) -> list[dict] | None:
    """f = A x^2 + B x + C alone: x = (-B ± sqrt(B^2 - 4AC)) / 2A, and A = 0 on its own."""
    A, B = f.coeff(x, 2), f.coeff(x, 1)
    C = sympy.expand(f - A * x**2 - B * x)
    disc = sympy.expand(B**2 - 4 * A * C)
    signed = sympy.factor(disc)
    if signed.is_negative:  # no real root where A ≠ 0
        out = []
    elif signed.is_nonpositive:  # real roots only where the discriminant is 0
        out = solve_polynomials([f, disc], symbols)
        if out is None:
            return None
        out = [s for s in out if sympy.expand(A.xreplace(s)) != 0]
    else:
        root = sympy.sqrt(disc)
        out = [{x: sympy.cancel((-B + sign * root) / (2 * A))} for sign in (1, -1)]
    if A.free_symbols:
        degenerate = solve_polynomials([A, sympy.expand(B * x + C)], symbols)
        if degenerate is None:
            return None
        out.extend(degenerate)
    return out


def _minimal(solutions: list[dict]) -> list[dict]:
    """Drop duplicates and solutions that a more general one (fewer constraints) contains."""
    unique: list[dict] = []
    for s in solutions:
        if s not in unique:
            unique.append(s)
    keep = []
    for s in unique:
        # t contains s when s fixes every symbol t fixes, to values satisfying t
        general = [t for t in unique if t is not s and len(t) < len(s)
                   and all(k in s and sympy.expand(v.xreplace(s) - s[k]) == 0
                           for k, v in t.items())]
        if not general:
            keep.append(s)
    return sorted(keep, key=lambda s: [(str(k), sympy.default_sort_key(v))
                                       for k, v in sorted(s.items(), key=lambda kv: str(kv[0]))])


__all__ = ["real_solutions", "solve_polynomials", "is_real"]
