"""The polynomial-system solver behind `conditional` verdicts agrees with sympy's `solve`."""

import sympy
from hypothesis import given, settings, strategies as st

from backends.symbolic.solve import real_solutions, solve_polynomials

a, b = sympy.symbols("a b", real=True)
FREE = {a: sympy.Rational(3, 7), b: sympy.Rational(-5, 3)}
# at most quadratic, and two equations: sympy's `solve` (the reference) takes ~0.5 s on these
MONOMIALS = [sympy.Integer(1), a, b, a * b, a**2]


def covered(s, solutions):
    """Does one of `solutions` (free symbols stand for themselves) contain the point s?"""
    return any(all(abs(sympy.N(t[k].xreplace(s) - s.get(k, k), 20)) < 1e-12 for k in t)
               for t in solutions)


polys = st.lists(st.integers(-2, 2), min_size=len(MONOMIALS), max_size=len(MONOMIALS)).map(
    lambda cs: sum(c * m for c, m in zip(cs, MONOMIALS)))


# derandomized: a fixed sample, since sympy.solve (the reference) can be slow on some systems
@settings(max_examples=15, deadline=None, database=None, derandomize=True)
@given(st.lists(polys, min_size=1, max_size=2))
def test_solutions_agree_with_sympy(system):
    ours = solve_polynomials(system, [a, b])
    if ours is None:   # out of reach: real_solutions falls back to sympy
        return
    for s in ours:     # every solution is one
        for e in system:
            residual = sympy.cancel(e.xreplace(s))
            assert residual == 0 or abs(sympy.N(residual.xreplace(FREE), 20)) < 1e-12
    theirs = sympy.solve(system, [a, b], dict=True)
    real = [s for s in theirs if all(v.free_symbols or abs(sympy.im(sympy.N(v, 30))) < 1e-20
                                     for v in s.values())]
    for s in real:     # and nothing sympy finds is missing (free symbols: at a sample value)
        point = {k: v.xreplace(FREE) for k, v in {**FREE, **s}.items()}
        if all(v.is_number for v in point.values()):
            assert covered(point, ours), (system, s, ours)


def test_conditions_of_typical_laws():
    assert real_solutions([a**2 - a], [a]) == [{a: 0}, {a: 1}]
    assert real_solutions([a**2 + 1], [a]) == []
    assert real_solutions([a**2 - 1, a * b + b], [a, b]) == [{a: -1}, {a: 1, b: 0}]
    assert real_solutions([a - b], [a, b]) == [{a: b}]
    assert real_solutions([1 / a - a], [a]) == [{a: -1}, {a: 1}]
    assert real_solutions([(a**2 - a) / a], [a]) == [{a: 1}]   # a = 0 is not in the domain
    cubic = real_solutions([a**3 - a - 1], [a])
    assert len(cubic) == 1 and abs(float(cubic[0][a]) - 1.3247179572) < 1e-9
