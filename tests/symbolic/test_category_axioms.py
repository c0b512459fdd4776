"""The axioms of every protocol a semantic category implements, generated, not copied per category.

For each category registered under `catdsl.backends` that implements `catdsl.backend.Category`,
a sampler below draws chains of composable morphisms (written as `.cat` values and read through
the category's own `object`/`morphism`, the path a file takes). The suite then runs:

- `Category`: associativity and both unit laws, decided by the category's own `equal`
  (`proved` required: these are exact categories). `Paths` composes by concatenation, which is
  associative and unital only up to reparametrization: there the suite checks the reparametrized
  sides agree exactly at rational times, and that the strict equality is indeed refuted.
- `TwoCategory` (Paths): interchange holds pointwise for straight-line homotopies.
- `HasPullbacks`: a computed pullback's square commutes and its cone is universal.

A category added to the registry without a sampler here fails `test_every_category_has_a_sampler`.
"""

from __future__ import annotations

import sympy
import pytest
from hypothesis import given, settings, strategies as st

from backends.symbolic import Env
from catdsl import backend
from catdsl.backend import Category, HasPullbacks, SemanticCategory, TwoCategory
from catdsl.semantics import free
from catdsl.semantics.interpret import FREE
from cat_values import target_ref, value

SETTINGS = settings(max_examples=12, deadline=None, database=None)

# Categories whose morphisms are computed by training runs: their identity (zero epochs) and
# composition (resumed training) laws are decided on real runs in tests/torch/test_train.py
# (`test_identity_is_zero_epochs`, the resume law) and tests/torch/test_learning_functor.py.
COMPUTED = {"Param", "Rep", "Dom"}


def _category(name: str, ref_text: str):
    return backend.load(name)(target_ref(f"functor F : C -> {ref_text} {{ }}"))


def _ints(lo=-3, hi=3):
    return st.integers(lo, hi)


# ---- samplers: a strategy of chains [f1, …, fn] with cod(fi) = dom(fi+1) ------------------------


@st.composite
def vect_chain(draw, n):
    V = _category("Vect", "Vect")
    dims = [draw(st.integers(1, 3)) for _ in range(n + 1)]
    spaces = [V.object(value(f"R^{d}"), Env()) for d in dims]
    out = []
    for i in range(n):
        rows = [[draw(_ints()) for _ in range(dims[i])] for _ in range(dims[i + 1])]
        text = "[[" + "], [".join(", ".join(map(str, r)) for r in rows) + "]]"
        out.append(V.morphism(value(text), spaces[i], spaces[i + 1], Env()))
    return V, out


@st.composite
def finset_chain(draw, n):
    """Functions between sets of 0 to 4 elements (a set after a non-empty one is non-empty)."""
    S = _category("FinSet", "FinSet")
    sizes = [draw(st.integers(0, 4)) for _ in range(n + 1)]
    for i in range(1, n + 1):
        sizes[i] = max(sizes[i], 1 if sizes[i - 1] else 0)
    sets = [S.object(value(str(k)), Env()) for k in sizes]
    out = [draw(S.samples(sets[i], sets[i + 1])) for i in range(n)]
    return S, out


def _poly(draw, variables, terms=2):
    parts = [str(draw(_ints()))]
    for _ in range(terms):
        c, v, e = draw(_ints(-2, 2)), draw(st.sampled_from(variables)), draw(st.integers(1, 2))
        parts.append(f"({c}) * {v}^{e}")
    return " + ".join(parts)


@st.composite
def smooth_chain(draw, n):
    S = _category("Smooth", "Smooth")
    dims = [draw(st.integers(1, 2)) for _ in range(n + 1)]
    spaces = [S.object(value(f"R^{d}"), Env()) for d in dims]
    out = []
    for i in range(n):
        names = ["x", "y"][: dims[i]]
        body = [_poly(draw, names) for _ in range(dims[i + 1])]
        params = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
        image = body[0] if len(body) == 1 else "(" + ", ".join(body) + ")"
        out.append(S.morphism(value(f"{params} |-> {image}"), spaces[i], spaces[i + 1], Env()))
    return S, out


@st.composite
def paths_chain(draw, n):
    P = _category("Paths", "Paths(2)")
    points = [(draw(_ints()), draw(_ints())) for _ in range(n + 1)]
    objs = [P.object(value(f"({x}, {y})"), Env()) for x, y in points]
    out = []
    for i in range(n):
        (x0, y0), (x1, y1) = points[i], points[i + 1]
        bend = draw(_ints(-2, 2))
        text = f"t |-> ({x0} + ({x1 - x0}) * t, {y0} + ({y1 - y0}) * t + ({bend}) * t * (1 - t))"
        out.append(P.morphism(value(text), objs[i], objs[i + 1], Env()))
    return P, out


GRAPH = {"f": ("A", "B"), "g": ("B", "C"), "h": ("C", "A"), "u": ("A", "A"), "k": ("B", "B")}


@st.composite
def free_chain(draw, n):
    """Walks in a small graph with loops: each morphism of the free category on it."""
    at = draw(st.sampled_from("ABC"))
    out = []
    for _ in range(n):
        word, here = [], at
        for _ in range(draw(st.integers(0, 3))):
            g = draw(st.sampled_from(sorted(x for x, (d, _) in GRAPH.items() if d == here)))
            word.append(g)
            here = GRAPH[g][1]
        out.append(free.Path(at, here, tuple(word)) if word else free.identity(at))
        at = here
    return FREE, out


SAMPLERS = {"Vect": vect_chain, "FinSet": finset_chain, "Smooth": smooth_chain, "Paths": paths_chain}
WEAK = {"Paths"}  # associative and unital up to reparametrization only


def test_every_category_has_a_sampler():
    for name in backend.registry():
        if name in COMPUTED:
            continue
        cat = backend.load(name)
        assert isinstance(cat, type) and issubclass(cat, object)
        assert name in SAMPLERS, f"{name} is registered but the axiom suite has no sampler for it"


def test_the_protocols_name_what_each_category_can_do():
    for name in SAMPLERS:
        cat = backend.load(name)
        instance = _category(name, "Paths(2)" if name == "Paths" else name)
        assert isinstance(instance, SemanticCategory) and isinstance(instance, Category)
        assert isinstance(instance, TwoCategory) == (name == "Paths")
        assert isinstance(instance, HasPullbacks) == (name in ("Vect", "FinSet")), cat


# ---- Category ----------------------------------------------------------------------------------


def _proved(cat, a, b):
    verdict = cat.equal(a, b) if cat is not FREE else ("proved" if a == b else "refuted")
    return getattr(verdict, "status", verdict) == "proved"


STRICT = [(name, SAMPLERS[name]) for name in SAMPLERS if name not in WEAK] + [("free", free_chain)]


@pytest.mark.parametrize("name, chain", STRICT, ids=[n for n, _ in STRICT])
@SETTINGS
@given(data=st.data())
def test_composition_is_associative(name, chain, data):
    cat, (f, g, h) = data.draw(chain(3))
    assert _proved(cat, cat.compose(h, cat.compose(g, f)), cat.compose(cat.compose(h, g), f))


@pytest.mark.parametrize("name, chain", STRICT, ids=[n for n, _ in STRICT])
@SETTINGS
@given(data=st.data())
def test_identities_are_units(name, chain, data):
    cat, (f,) = data.draw(chain(1))
    assert _proved(cat, cat.compose(f, cat.identity(f.dom)), f)
    assert _proved(cat, cat.compose(cat.identity(f.cod), f), f)


# ---- Paths: the laws hold up to reparametrization, and only so --------------------------------

T = sympy.Symbol("t")
TIMES = [sympy.Rational(k, 16) for k in range(17)]


def _agree(p, q, phi):
    """p(phi(t)) == q(t) exactly at rational times."""
    return all(sympy.simplify(a - b) == 0 for t in TIMES for a, b in zip(p.at(phi(t)), q.at(t)))


def _piecewise_linear(knots):
    """The map [0, 1] -> [0, 1] through the (x, y) knots, linear between them."""
    def phi(t):
        for (x0, y0), (x1, y1) in zip(knots, knots[1:]):
            if x0 <= t <= x1:
                return y0 + (y1 - y0) * (t - x0) / (x1 - x0)
        raise ValueError(t)
    return phi


@SETTINGS
@given(data=st.data())
def test_paths_compose_associatively_up_to_reparametrization(data):
    P, (f, g, h) = data.draw(paths_chain(3))
    left, right = P.compose(P.compose(h, g), f), P.compose(h, P.compose(g, f))
    half, quarter = sympy.Rational(1, 2), sympy.Rational(1, 4)
    # right runs f, g on [0, 1/4], [1/4, 1/2] and h on [1/2, 1]; left runs them on [0, 1/2], [1/2, 3/4], [3/4, 1]
    phi = _piecewise_linear([(0, 0), (quarter, half), (half, 3 * quarter), (1, 1)])
    assert _agree(left, right, phi)


@SETTINGS
@given(data=st.data())
def test_paths_have_units_up_to_reparametrization(data):
    P, (f,) = data.draw(paths_chain(1))
    half = sympy.Rational(1, 2)
    assert _agree(P.compose(f, P.identity(f.dom)), f, lambda t: half + t / 2)
    assert _agree(P.compose(P.identity(f.cod), f), f, lambda t: t / 2)


def test_paths_are_not_strictly_associative():
    P = _category("Paths", "Paths(2)")
    a, b, c, d = (P.object(value(p), Env()) for p in ("(0, 0)", "(1, 0)", "(2, 0)", "(3, 0)"))
    f = P.morphism(value("t |-> (t, 0)"), a, b, Env())
    g = P.morphism(value("t |-> (1 + t, 0)"), b, c, Env())
    h = P.morphism(value("t |-> (2 + t, 0)"), c, d, Env())
    verdict = P.equal(P.compose(P.compose(h, g), f), P.compose(h, P.compose(g, f)))
    assert verdict.status == "refuted"


# ---- TwoCategory: interchange -----------------------------------------------------------------


def _straight(P, p, q):
    """The straight-line homotopy (s, t) |-> (1 - t) p(s) + t q(s) between parallel paths."""
    from backends.symbolic.paths import Homotopy, S

    return Homotopy(p, q, tuple((1 - T) * a.xreplace({T: S}) + T * b.xreplace({T: S})
                                for a, b in zip(p.coords, q.coords)))


@SETTINGS
@given(data=st.data())
def test_interchange_holds_in_paths(data):
    P, (p1, p2) = data.draw(paths_chain(2))
    k = [data.draw(_ints(-2, 2)) for _ in range(4)]
    # parallel paths: same endpoints, other bends
    bend = lambda p, c: type(p)(p.dom, p.cod, (p.coords[0], p.coords[1] + c * T * (1 - T)))  # noqa: E731
    q1, r1, q2, r2 = bend(p1, k[0]), bend(p1, k[1]), bend(p2, k[2]), bend(p2, k[3])
    alpha, beta = _straight(P, p1, q1), _straight(P, q1, r1)
    gamma, delta = _straight(P, p2, q2), _straight(P, q2, r2)
    lhs = P.horizontal(P.vertical(delta, gamma), P.vertical(beta, alpha))
    rhs = P.vertical(P.horizontal(delta, beta), P.horizontal(gamma, alpha))
    grid = [sympy.Rational(i, 8) for i in range(9)]
    assert all(sympy.simplify(a - b) == 0 for s in grid for t in grid
               for a, b in zip(lhs.at(s, t), rhs.at(s, t)))
    assert (lhs.source, lhs.target) == (rhs.source, rhs.target)


# ---- HasPullbacks ----------------------------------------------------------------------------

PULLBACK_CASES = [
    ("Vect", "R^2", "R^2", "R^1", "[[1, 2]]", "[[3, -1]]"),
    ("Vect", "R^1", "R^2", "R^2", "[[1], [0]]", "[[1, 0], [0, 0]]"),
    ("Vect", "R^3", "R^1", "R^1", "[[1, 1, 0]]", "[[2]]"),
    ("FinSet", "3", "2", "2", "[0, 1, 1]", "[1, 1]"),
    ("FinSet", "2", "3", "2", "[0, 0]", "[1, 0, 1]"),
]


@pytest.mark.parametrize("name, a, b, c, f_text, g_text", PULLBACK_CASES)
def test_computed_pullbacks_commute_and_are_universal(name, a, b, c, f_text, g_text):
    from backends.symbolic.check import Check

    cat = _category(name, name)
    A_, B_, C_ = (cat.object(value(x), Env()) for x in (a, b, c))
    f = cat.morphism(value(f_text), A_, C_, Env())
    g = cat.morphism(value(g_text), B_, C_, Env())
    apex, left, right = cat.pullback(f, g)
    assert _proved(cat, cat.compose(f, left), cat.compose(g, right))
    assert cat.universal(apex, left, right, f, g, Check(samples=20)).status in ("proved", "passed")
