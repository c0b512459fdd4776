"""Vect: matrices from the AST, shapes against types, and exact equality with witnesses."""

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

from backends.symbolic import Check, Env, Vect
from backends.symbolic.vect import Linear, Space, integer_matrices
from catdsl.backend import BackendError
from cat_values import images, value

V = Vect()
ENV = Env.of_params("a", "b")
R1, R2, R3 = Space(1), Space(2), Space(3)
QUICK = settings(max_examples=25, deadline=None, database=None)


def mor(text, dom, cod, env=ENV, name=None):
    return V.morphism(value(text), dom, cod, env, name)


def test_objects():
    assert V.object(value("R^3"), ENV) == R3
    assert V.object(value("R"), ENV) == R1
    with pytest.raises(BackendError) as err:
        V.object(value("R^a"), ENV)
    assert err.value.code == "E307"
    with pytest.raises(BackendError) as err:
        V.object(value("{a, b}"), ENV)
    assert err.value.code == "E306"


def test_value_forms():
    assert mor("I(2)", R2, R2).matrix == sympy.eye(2)
    assert mor("O(3, 2)", R2, R3).matrix == sympy.zeros(3, 2)
    assert mor("[[1]] (+) [[2, 3]]", R3, R2).matrix == sympy.Matrix([[1, 0, 0], [0, 2, 3]])
    assert mor("[[1, 2, 3]]^T", R1, R3).matrix == sympy.Matrix([[1], [2], [3]])
    assert mor("a * I(2)", R2, R2).matrix == ENV.params["a"] * sympy.eye(2)
    assert mor("I(2) / 2 - [[0.5, 0], [0, 0]]", R2, R2).matrix == sympy.Matrix(
        [[0, 0], [0, sympy.Rational(1, 2)]])
    assert mor("[[O(1, 1), I(1)], [I(1), O(1, 1)]]", R2, R2).matrix == sympy.Matrix(
        [[0, 1], [1, 0]])
    assert mor("[[1, 2]] . [[3], [4]]", R1, R1).matrix == sympy.Matrix([[11]])
    assert mor("[[1, 1], [0, 1]]^3", R2, R2).matrix == sympy.Matrix([[1, 3], [0, 1]])


def test_shape_contradicting_the_type_is_a_static_error():
    src = "functor X : C -> Vect { A |-> R^2; B |-> R^3; f |-> [[1, 2], [3, 4]] }"
    vals = images(src)
    A_, B_ = V.object(vals["A"], ENV), V.object(vals["B"], ENV)
    with pytest.raises(BackendError) as err:
        V.morphism(vals["f"], A_, B_, ENV, name="f")
    e = err.value
    assert e.code == "E304"
    assert e.message == "this matrix is 2×2 but f : R^2 -> R^3 needs 3×2"
    assert e.span == vals["f"].span and (e.span.line, e.span.column) == (1, 53)


@pytest.mark.parametrize("text, code", [
    ("[[1, 2], [3]]", "E305"),
    ("[[I(2), O(2, 1)], [O(1, 1), I(1)]]", "E305"),      # blocks that do not fit
    ("[[1, 2]] * [[1], [2]]", "E308"),                   # `*` is scaling, `.` composes
    ("[[1, 2]] . [[1, 2]]", "E308"),                     # does not compose
    ("[[1, 2]] + [[1]]", "E308"),
    ("[[1, 2]]^2", "E308"),                              # not square
    ("I(a)", "E307"),
    ("I(2, 3)", "E302"),
    ("3", "E303"),
    ("(1, 2)", "E303"),
])
def test_bad_values(text, code):
    with pytest.raises(BackendError) as err:
        mor(text, R2, R2)
    assert err.value.code == code


def test_commuting_square_is_proved():
    src = """functor S : Square -> Vect {
      A |-> R^2; B |-> R^1; C |-> R^1; D |-> R^1
      f |-> [[1, 1]]; g |-> [[2, 2]]; h |-> [[2]]; k |-> [[1]]
    }"""
    v = images(src)
    ob = {x: V.object(v[x], ENV) for x in "ABCD"}
    f = V.morphism(v["f"], ob["A"], ob["B"], ENV)
    g = V.morphism(v["g"], ob["A"], ob["C"], ENV)
    h = V.morphism(v["h"], ob["B"], ob["D"], ENV)
    k = V.morphism(v["k"], ob["C"], ob["D"], ENV)
    assert V.equal(V.compose(h, f), V.compose(k, g)).status == "proved"
    h3 = mor("[[3]]", R1, R1)
    verdict = V.equal(V.compose(h3, f), V.compose(k, g))
    assert verdict.status == "refuted"
    assert verdict.witness == "lhs = [[3, 3]], rhs = [[2, 2]]"


def test_idempotent_holds_iff_a_is_0_or_1():
    q = mor("[[a]]", R1, R1)
    verdict = V.equal(V.compose(q, q), q)
    assert verdict.status == "conditional"
    assert verdict.witness == "holds iff a = 0 or a = 1; fails at a = 2: lhs = [[4]], rhs = [[2]]"


def test_no_real_solution_is_refuted_with_a_witness():
    q = mor("[[a]]", R1, R1)
    verdict = V.equal(V.compose(q, q), mor("[[-1]]", R1, R1))
    assert verdict.status == "refuted"
    assert verdict.witness == "a = 0: lhs = [[0]], rhs = [[-1]]"


def test_conditions_in_two_params():
    m = mor("[[a, b], [0, 1]]", R2, R2)
    verdict = V.equal(V.compose(m, m), V.identity(R2))
    assert verdict.status == "conditional"
    assert verdict.witness.startswith("holds iff a = -1 or (a = 1 and b = 0); fails at")


def test_identities_beyond_polynomials():
    assert V.equal(mor("[[sin(a)^2 + cos(a)^2]]", R1, R1), mor("[[1]]", R1, R1)).status == "proved"
    assert V.equal(mor("[[sqrt(2) * sqrt(8)]]", R1, R1), mor("[[4]]", R1, R1)).status == "proved"
    verdict = V.equal(mor("[[sin(a)]]", R1, R1), mor("[[a]]", R1, R1), Check(samples=50))
    assert verdict.status == "refuted" and verdict.witness.startswith("a = ")  # exact point


def test_parallel_but_different_shapes_is_an_error_verdict():
    assert V.equal(V.identity(R2), V.identity(R3)).status == "error"


def test_compose_checks_types():
    with pytest.raises(BackendError) as err:
        V.compose(V.identity(R2), V.identity(R3))
    assert err.value.code == "E308"


# ---- laws of the category, as property tests ---------------------------------------------------

dims = st.integers(1, 3)


@st.composite
def chains(draw, length):
    ds = [draw(dims) for _ in range(length + 1)]
    return [Linear(Space(ds[i]), Space(ds[i + 1]), draw(integer_matrices(ds[i + 1], ds[i])))
            for i in range(length)]


# Associativity and the unit laws: tests/symbolic/test_category_axioms.py, for every category.


@QUICK
@given(chains(2))
def test_refutations_are_real(fs):
    """Law: refuted iff the matrices differ numerically, and the witness prints both sides."""
    f, g = fs
    lhs, rhs = V.compose(g, f), Linear(f.dom, g.cod, g.matrix * f.matrix + 0 * g.matrix * f.matrix)
    assert V.equal(lhs, rhs).status == "proved"
    other = Linear(f.dom, g.cod, lhs.matrix + sympy.ones(*lhs.matrix.shape))
    verdict = V.equal(lhs, other)
    assert verdict.status == "refuted"
    assert np.array_equal(np.array(lhs.matrix, dtype=int) + 1, np.array(other.matrix, dtype=int))


def test_samples_strategy_has_the_right_type():
    from hypothesis import find

    f = find(V.samples(R2, R3), lambda f: True)
    assert (f.dom, f.cod, f.matrix.shape) == (R2, R3, (3, 2))


def test_conditions_beyond_the_solver_still_get_an_exact_counterexample():
    lhs = mor("[[a^2 + b^2, a^2 - b^2 + a*b]]", R2, R1)
    verdict = V.equal(lhs, mor("[[1, 2]]", R2, R1))
    assert verdict.status == "refuted"
    assert verdict.witness.startswith("a = 0, b = 0: lhs = [[0, 0]], rhs = [[1, 2]]")
    circle = V.equal(mor("[[a^2 + b^2]]", R1, R1), mor("[[1]]", R1, R1))
    assert circle.status == "conditional"
    assert circle.witness.startswith("holds iff a = -sqrt(1 - b^2) or a = sqrt(1 - b^2)")


def test_irrational_roots_are_shown_approximately():
    verdict = V.equal(mor("[[a^3 - a]]", R1, R1), mor("[[1]]", R1, R1))
    assert verdict.status == "conditional"
    assert verdict.witness.startswith("holds iff a ≈ 1.32471795")
