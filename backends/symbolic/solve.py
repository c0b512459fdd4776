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

    Raises NotImplementedError when neither this module nor sympy can solve the system.
    """
    numers, denoms = [], []
    for e in equations:
        n, q = sympy.cancel(e).as_numer_denom()
        numers.append(n)
        if q.free_symbols:
            denoms.append(q)
    solutions = solve_polynomials(numers, symbols)
    if solutions is None:
        solutions = sympy.solve(numers, list(symbols), dict=True)
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
    syms = sorted(f.free_symbols & set(symbols), key=str)
    if len(syms) == 1:
        x = syms[0]
        poly = sympy.Poly(f, x)
        roots = sympy.roots(poly)
        if sum(roots.values()) < poly.degree():
            roots = dict.fromkeys(poly.all_roots(), 1)
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
    for x in syms:
        if sympy.degree(f, x) != 1:
            continue
        c = f.coeff(x, 1)
        value = -sympy.expand(f - c * x) / c
        others = [s for s in symbols if s != x]
        out = []
        sub = solve_polynomials([sympy.together(e.xreplace({x: value})).as_numer_denom()[0]
                                 for e in rest], others)
        if sub is None:
            return None
        for s in sub:
            if sympy.expand(c.xreplace(s)) != 0:  # c = 0 is the other case, below
                out.append({**s, x: sympy.cancel(value.xreplace(s))})
        if c.free_symbols:
            degenerate = solve_polynomials([c, sympy.expand(f - c * x), *rest], symbols)
            if degenerate is None:
                return None
            out.extend(degenerate)
        return out
    return None


def _minimal(solutions: list[dict]) -> list[dict]:
    """Drop duplicates and solutions that a more general one (fewer constraints) contains."""
    unique: list[dict] = []
    for s in solutions:
        if s not in unique:
            unique.append(s)
    keep = []
    for s in unique:
        general = [t for t in unique if t is not s and len(t) < len(s)
                   and all(sympy.expand(v.xreplace(s) - s[k]) == 0 for k, v in t.items())]
        if not general:
            keep.append(s)
    return sorted(keep, key=lambda s: [(str(k), sympy.default_sort_key(v))
                                       for k, v in sorted(s.items(), key=lambda kv: str(kv[0]))])


__all__ = ["real_solutions", "solve_polynomials", "is_real"]
