"""Pullbacks in Vect and FinSet: computed, and checked universal (or refuted with a cone)."""

import sympy
from hypothesis import HealthCheck, given, settings, strategies as st

from backends.symbolic import Check, Env, FinSet, Vect
from backends.symbolic.finset import FiniteSet, Function
from backends.symbolic.vect import Linear, Space, integer_matrices
from cat_values import value

V, S = Vect(), FinSet()
ENV = Env()
# `universal` runs its own hypothesis search for random cones inside these tests.
QUICK = settings(max_examples=20, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.nested_given])
FAST = Check(samples=10)
R1, R2 = Space(1), Space(2)


def lin(text, dom, cod):
    return V.morphism(value(text), dom, cod, ENV)


def test_vect_pullback_is_the_kernel_of_f_minus_g():
    f, g = lin("[[1, 1]]", R2, R1), lin("[[1]]", R1, R1)
    P, p, q = V.pullback(f, g)
    assert P == R2                      # {(u, v) | u1 + u2 = v} ≅ R^2
    assert V.equal(V.compose(f, p), V.compose(g, q)).status == "proved"
    assert V.universal(P, p, q, f, g, FAST).status == "proved"


def test_a_commuting_square_with_two_mediating_maps_is_refuted():
    f = g = lin("[[1]]", R1, R1)
    p = q = lin("[[1, 0]]", R2, R1)
    verdict = V.universal(R2, p, q, f, g, FAST)
    assert verdict.status == "refuted"
    assert verdict.witness == ("the cone (R^1, [[1]], [[1]]) has two mediating maps: "
                               "[[1], [0]] and [[1], [1]]")


def test_a_commuting_square_too_small_to_be_universal_is_refuted():
    f = g = lin("[[1]]", R1, R1)
    R0 = V.object(value("R^0"), ENV)
    p = q = lin("O(1, 0)", R0, R1)
    verdict = V.universal(R0, p, q, f, g, FAST)
    assert verdict.status == "refuted"
    assert verdict.witness == "the cone (R^1, [[1]], [[1]]) commutes but has no mediating map"


def test_a_square_that_does_not_commute_is_refuted():
    f = g = lin("[[1]]", R1, R1)
    p, q = lin("[[1]]", R1, R1), lin("[[2]]", R1, R1)
    verdict = V.universal(R1, p, q, f, g, FAST)
    assert verdict.status == "refuted" and "does not commute" in verdict.witness


@st.composite
def cospans(draw):
    a, b, c = (draw(st.integers(1, 3)) for _ in range(3))
    f = Linear(Space(a), Space(c), draw(integer_matrices(c, a)))
    g = Linear(Space(b), Space(c), draw(integer_matrices(c, b)))
    return f, g


@QUICK
@given(cospans())
def test_computed_vect_pullbacks_are_universal(fg):
    f, g = fg
    P, p, q = V.pullback(f, g)
    rank = sympy.Matrix.hstack(f.matrix, -g.matrix).rank()
    assert P.dim == f.dom.dim + g.dom.dim - rank
    assert V.universal(P, p, q, f, g, FAST).status == "proved"


# ---- FinSet ------------------------------------------------------------------------------

ABC, XY, UV = FiniteSet(("a", "b", "c")), FiniteSet(("x", "y")), FiniteSet(("u", "v"))


def fn(text, dom, cod):
    return S.morphism(value(text), dom, cod, ENV)


def test_finset_pullback_is_the_fibre_product():
    f = fn("{a: x, b: y, c: x}", ABC, XY)
    g = fn("{u: x, v: x}", UV, XY)
    P, p, q = S.pullback(f, g)
    assert P.elements == (("a", "u"), ("a", "v"), ("c", "u"), ("c", "v"))
    assert S.universal(P, p, q, f, g).status == "proved"


def test_finset_non_universal_squares_are_refuted_with_a_cone_from_a_point():
    f = fn("{a: x, b: y, c: x}", ABC, XY)
    g = fn("{u: x, v: y}", UV, XY)
    # the fibre product is {(a, u), (b, v), (c, u)}; duplicate one element, drop another
    P = FiniteSet((0, 1, 2, 3))
    p = Function(P, ABC, ("a", "a", "b", "b"))
    q = Function(P, UV, ("u", "u", "v", "v"))
    verdict = S.universal(P, p, q, f, g)
    assert verdict.status == "refuted"
    assert verdict.witness == ("the cone ({*}, * ↦ a, * ↦ u) has two mediating maps: "
                               "* ↦ 0 and * ↦ 1")
    P2 = FiniteSet((0, 1))
    verdict = S.universal(P2, Function(P2, ABC, ("a", "b")), Function(P2, UV, ("u", "v")), f, g)
    assert verdict.status == "refuted" and "(* ↦ c" not in verdict.witness
    assert verdict.witness.startswith("the cone ({*}, * ↦ c, * ↦ u) commutes")


@st.composite
def finite_cospans(draw):
    C = FiniteSet(tuple(range(draw(st.integers(1, 3)))))
    A_ = FiniteSet(tuple(range(draw(st.integers(0, 3)))))
    B = FiniteSet(tuple(f"b{i}" for i in range(draw(st.integers(0, 3)))))
    f = draw(S.samples(A_, C)) if A_.elements else Function(A_, C, ())
    g = draw(S.samples(B, C)) if B.elements else Function(B, C, ())
    return f, g


@QUICK
@given(finite_cospans())
def test_computed_finset_pullbacks_are_universal(fg):
    f, g = fg
    P, p, q = S.pullback(f, g)
    sizes = sum(f.images.count(c) * g.images.count(c) for c in f.cod.elements)
    assert len(P.elements) == sizes
    assert S.universal(P, p, q, f, g).status == "proved"
