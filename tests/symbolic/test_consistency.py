"""Engines agree: what sympy proves, the numeric/property side never refutes, and conversely."""

import random

import numpy as np
import sympy
from hypothesis import given, settings, strategies as st

from backends.symbolic import Check, Env, Vect
from backends.symbolic.vect import Linear, Space, decide, evaluate
from catdsl.syntax import ast as A

V = Vect()


def literal(m):
    return A.ListExpr(tuple(A.ListExpr(tuple(_num(x) for x in row)) for row in m.tolist()))


def _num(x):
    return A.Neg(A.Number(str(-x))) if x < 0 else A.Number(str(x))


@st.composite
def matrix_terms(draw, rows, cols, depth=2):
    """A random AST of shape rows × cols: literals, sums, scalings, products, transposes,
    direct sums; returned with its value computed independently in numpy."""
    kind = draw(st.sampled_from(["lit", "lit", "add", "scale", "compose", "transpose", "oplus"]
                                if depth else ["lit"]))
    if kind == "add":
        a, x = draw(matrix_terms(rows, cols, depth - 1))
        b, y = draw(matrix_terms(rows, cols, depth - 1))
        return A.BinOp("+", a, b), x + y
    if kind == "scale":
        c = draw(st.integers(-2, 2))
        a, x = draw(matrix_terms(rows, cols, depth - 1))
        return A.BinOp("*", _num(c), a), c * x
    if kind == "compose":
        k = draw(st.integers(1, 3))
        a, x = draw(matrix_terms(rows, k, depth - 1))
        b, y = draw(matrix_terms(k, cols, depth - 1))
        return A.Compose((a, b)), x @ y
    if kind == "transpose":
        a, x = draw(matrix_terms(cols, rows, depth - 1))
        return A.BinOp("^", a, A.Name("T")), x.T
    if kind == "oplus" and rows > 1 and cols > 1:
        (a, x), (b, y) = (draw(matrix_terms(1, 1, depth - 1)),
                          draw(matrix_terms(rows - 1, cols - 1, depth - 1)))
        z = np.zeros((rows, cols), dtype=np.int64)
        z[:1, :1], z[1:, 1:] = x, y
        return A.BinOp("(+)", a, b), z
    m = np.array(draw(st.lists(st.lists(st.integers(-3, 3), min_size=cols, max_size=cols),
                               min_size=rows, max_size=rows)), dtype=np.int64)
    return literal(m), m


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_symbolic_verdicts_match_numeric_evaluation(data):
    rows, cols = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    (a, x), (b, y) = data.draw(matrix_terms(rows, cols)), data.draw(matrix_terms(rows, cols))
    lhs, rhs = evaluate(a, Env()), evaluate(b, Env())
    assert np.array_equal(np.array(lhs.tolist(), dtype=np.int64), x)
    verdict = decide(lhs, rhs, Check())
    assert verdict.status == ("proved" if np.array_equal(x, y) else "refuted")


def test_conditional_verdicts_hold_exactly_on_their_condition():
    """For random 2×2 matrices with one param: the law holds at every solution found, and
    fails at the witness value."""
    rng = random.Random(0)
    a = sympy.Symbol("a", real=True)
    for _ in range(15):
        M = sympy.ImmutableMatrix(2, 2, [rng.choice([a, 0, 1, -1, 2]) for _ in range(4)])
        N = sympy.ImmutableMatrix(2, 2, [rng.choice([a, 0, 1, 2]) for _ in range(4)])
        lhs, rhs = M * N, N * M
        verdict = decide(lhs, rhs, Check())
        if verdict.status == "conditional":
            for clause in verdict.witness.split(";")[0].removeprefix("holds iff ").split(" or "):
                value = sympy.Rational(clause.split(" = ")[1])
                assert (lhs - rhs).subs(a, value) == sympy.zeros(2, 2)
        if verdict.status == "refuted" and a not in (lhs - rhs).free_symbols:
            assert lhs != rhs
        elif verdict.status in ("conditional", "refuted"):
            at = sympy.Rational(verdict.witness.split("a = ")[-1].split(":")[0])
            assert (lhs - rhs).subs(a, at) != sympy.zeros(2, 2)
        if verdict.status == "proved":
            for t in range(-3, 4):
                assert (lhs - rhs).subs(a, t) == sympy.zeros(2, 2)


def test_linear_maps_built_by_hand_and_from_values_agree():
    m = sympy.ImmutableMatrix([[1, 2], [3, 4]])
    f = Linear(Space(2), Space(2), m)
    g = V.morphism(literal(np.array([[1, 2], [3, 4]])), Space(2), Space(2), Env())
    assert V.equal(f, g).status == "proved"
