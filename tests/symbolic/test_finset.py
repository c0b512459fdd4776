"""FinSet: finite sets, total functions, exact equality with the first differing element."""

import pytest
from hypothesis import given, settings, strategies as st

from backends.symbolic import Env, FinSet
from backends.symbolic.finset import FiniteSet, Function
from catdsl.backend import BackendError
from cat_values import images, value

S = FinSet()
ENV = Env()
QUICK = settings(max_examples=30, deadline=None, database=None)
ABC = FiniteSet(("a", "b", "c"))
XY = FiniteSet(("x", "y"))


def test_objects():
    assert S.object(value("{a, b, c}")) == ABC
    assert S.object(value("3")) == FiniteSet((0, 1, 2))
    assert S.object(value("0")) == FiniteSet(())
    for text, code in [("{a, a}", "E309"), ("-1", "E306"), ("R^2", "E306"), ("{1.5}", "E303")]:
        with pytest.raises(BackendError) as err:
            S.object(value(text))
        assert err.value.code == code


def test_tables_and_lists():
    f = S.morphism(value("{a: x, b: y, c: x}"), ABC, XY, ENV)
    assert f.images == ("x", "y", "x") and f("b") == "y"
    perm = S.morphism(value("[0, 2, 1]"), S.object(value("3")), S.object(value("3")), ENV)
    assert perm.images == (0, 2, 1)
    assert S.equal(S.compose(perm, perm), S.identity(perm.dom)).status == "proved"


@pytest.mark.parametrize("text, message", [
    ("{a: x, b: y}", "does not map `c`"),
    ("{a: x, b: y, c: z}", "`z` is not an element of the codomain {x, y}"),
    ("{a: x, b: y, c: x, d: y}", "`d` is not an element of the domain"),
    ("{a: x, a: y, b: y, c: x}", "`a` is mapped twice"),
    ("[x, y]", "this list has 2 images but f : {a, b, c} -> {x, y} needs 3"),
    ("(x, y, x)", "expected a table"),
])
def test_ill_typed_functions(text, message):
    node = value(text)
    with pytest.raises(BackendError) as err:
        S.morphism(node, ABC, XY, ENV, name="f")
    assert message in err.value.message


def test_errors_point_at_the_offending_entry():
    v = images("functor F : C -> FinSet { f |-> {a: x, b: w, c: y} }")["f"]
    with pytest.raises(BackendError) as err:
        S.morphism(v, ABC, XY, ENV)
    assert err.value.span == v.entries[1][1].span


def test_equality_names_the_first_differing_element():
    f = S.morphism(value("{a: x, b: y, c: x}"), ABC, XY, ENV)
    g = S.morphism(value("{a: x, b: x, c: y}"), ABC, XY, ENV)
    verdict = S.equal(f, g)
    assert verdict.status == "refuted" and verdict.witness == "at b: lhs = y, rhs = x"


sets = st.integers(0, 4).map(lambda n: FiniteSet(tuple(range(n))))


@st.composite
def chains(draw, length):
    objs = [draw(sets) for _ in range(length + 1)]
    for i in range(1, length + 1):
        if not objs[i].elements and objs[i - 1].elements:
            objs[i] = FiniteSet((0,))
    out = []
    for i in range(length):
        if not objs[i].elements:
            out.append(Function(objs[i], objs[i + 1], ()))
        else:
            out.append(draw(S.samples(objs[i], objs[i + 1])))
    return out


# Associativity and the unit laws: tests/symbolic/test_category_axioms.py, for every category.


@QUICK
@given(chains(1), st.data())
def test_equal_iff_same_table(fs, data):
    (f,) = fs
    if not f.dom.elements:
        return
    g = data.draw(S.samples(f.dom, f.cod))
    verdict = S.equal(f, g)
    assert (verdict.status == "proved") == (f.images == g.images)
