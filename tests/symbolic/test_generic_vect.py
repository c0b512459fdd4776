"""Generic functors and transformations on Vect: laws for every dimension and matrix."""

import pytest

from backends.symbolic import Check, Env, Vect
from catdsl.backend import BackendError
from cat_values import mappings

V = Vect()
ENV = Env()
FAST = Check(samples=60)

SOURCE = """
functor Double : Vect -> Vect {
  R^n |-> R^(2*n)
  m   |-> m ⊕ m
}
transformation swap : Double => Double {
  R^n |-> [[O(n, n), I(n)], [I(n), O(n, n)]]
}
functor Twice : Vect -> Vect {
  R^n |-> R^n
  m   |-> 2 * m
}
functor Id : Vect -> Vect {
  R^n |-> R^n
  m   |-> m
}
transformation two : Id => Twice {
  R^n |-> I(n)
}
functor Plus1 : Vect -> Vect {
  R^n |-> R^(n + 1)
  m   |-> m (+) [[1]]
}
functor Const : Vect -> Vect {
  R^n |-> R^2
  m   |-> I(2)
}
functor Dup : Vect -> Vect {
  R^n |-> R^(2*n)
  m   |-> [[m, 0 * m], [0 * m, m]]
}
functor Wrong : Vect -> Vect {
  R^n |-> R^n
  m   |-> m^T
}
transformation bad : Double => Double {
  R^n |-> I(n)
}
"""


def functor(name):
    return V.functor(mappings(SOURCE, name), ENV, name)


def test_double_is_a_functor_symbolically():
    D = functor("Double")
    assert D.map_id().status == "proved" and D.map_id().via == "sympy"
    assert D.map_comp().status == "proved"


def test_swap_is_natural_for_double():
    D = functor("Double")
    swap = V.transformation(D, D, mappings(SOURCE, "swap"), ENV, "swap")
    assert swap.naturality().status == "proved"
    by_tests = swap.naturality(FAST, route="property")
    assert by_tests.status == "passed" and by_tests.samples > 0


def test_scaling_by_two_is_not_a_functor():
    T = functor("Twice")
    ident = T.map_id(FAST)
    assert ident.status == "refuted"
    assert ident.witness == "n = 1: Twice(I(1)) = [[2]] but I(1) = [[1]]"
    comp = T.map_comp(FAST)
    assert comp.status == "refuted"   # shrunk to the smallest counterexample
    assert comp.witness == ("m1 = [[1]], m2 = [[1]]: Twice(m2 . m1) = [[2]] "
                            "but Twice(m2) . Twice(m1) = [[4]]")


def test_unnatural_transformation_is_refuted_with_a_shrunk_map():
    eta = V.transformation(functor("Id"), functor("Twice"), mappings(SOURCE, "two"), ENV, "two")
    verdict = eta.naturality(FAST)
    assert verdict.status == "refuted"
    assert verdict.witness.startswith("m = [[1]]: Twice(m) . two_1 = [[2]]")


@pytest.mark.parametrize("name", ["Plus1", "Const", "Dup", "Id"])
def test_more_functors_are_proved(name):
    F = functor(name)
    assert F.map_id().status == "proved"
    assert F.map_comp().status == "proved"


@pytest.mark.parametrize("name", ["Double", "Plus1", "Dup"])
def test_what_sympy_proves_the_property_route_never_refutes(name):
    F = functor(name)
    for law in (F.map_id, F.map_comp):
        assert law(route="symbolic").status == "proved"
        assert law(Check(samples=30), route="property").status == "passed"


def test_image_of_the_wrong_type_is_a_static_error():
    with pytest.raises(BackendError) as err:
        functor("Wrong")
    assert err.value.code == "E304"
    assert "Wrong(m) : R^a -> R^b needs b×a" in err.value.message
    with pytest.raises(BackendError) as err:
        V.transformation(functor("Double"), functor("Double"), mappings(SOURCE, "bad"), ENV,
                         "bad")
    assert err.value.code == "E304"


def test_a_morphism_rule_cannot_use_the_size_variable():
    src = "functor G : Vect -> Vect { R^n |-> R^(2*n); m |-> [[m, O(n, n)], [O(n, n), m]] }"
    with pytest.raises(BackendError) as err:
        V.functor(mappings(src, "G"), ENV, "G")
    assert err.value.code == "E301" and "`n`" in err.value.message


def test_rules_need_patterns():
    src = "functor G : Vect -> Vect { R^2 |-> R^2; m |-> m }"
    with pytest.raises(BackendError) as err:
        V.functor(mappings(src, "G"), ENV, "G")
    assert err.value.code == "E312"


def test_verdicts_are_reproducible_for_a_seed():
    T = functor("Twice")
    runs = {T.map_comp(Check(samples=40, seed=3)).witness for _ in range(2)}
    assert len(runs) == 1


def test_an_object_rule_must_give_a_space_for_every_n():
    src = "functor G : Vect -> Vect { R^n |-> R^(n - 2); m |-> m }"
    with pytest.raises(BackendError) as err:
        V.functor(mappings(src, "G"), ENV, "G")
    assert err.value.code == "E307" and "G(R^1)" in err.value.message
