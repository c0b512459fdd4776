"""Adjunctions, monads and transformations built from others (issue 8, item 7), decided in the
free categories of presentations. Each case's answer is derived by hand from the definitions
(Mac Lane, CWM IV.1 for the triangle identities, VI.1 for the monad laws, II.5 for whiskering).
"""

from __future__ import annotations

import pytest

from checking import check_obligations

# F ⊣ G where B is a point: Hom_B(F x, P) has one element and so has Hom_A(x, Y), because Y is
# terminal in the walking arrow X -> Y; the unit is (f, id), the counit id.
TERMINAL = """
category A {
  objects X, Y
  f : X -> Y
  EXTRA
}
category B {
  objects P
}
functor F : A -> B {
  X |-> P
  Y |-> P
  f |-> id
  EXTRA_F
}
functor G : B -> A {
  P |-> Y
}
transformation eta : id(A) => G . F {
  X |-> f
  Y |-> id
}
transformation eps : F . G => id(B) {
  P |-> id
}
adjunction adj : F -| G {
  unit |-> eta
  counit |-> eps
}
"""

# An idempotent monad from a reflection: T sends X to R and R to R, η = (r, id), μ = id.
REFLECTION = """
category C {
  objects X, R
  r : X -> R
}
functor T : C -> C {
  X |-> R
  R |-> R
  r |-> id
}
transformation eta : id(C) => T {
  X |-> r
  R |-> id
}
transformation mu : T . T => T {
  X |-> MU
  R |-> MU
}
monad M : T {
  unit |-> eta
  mult |-> mu
}
"""


def test_an_adjunction_into_a_point_satisfies_the_triangle_identities(tmp_path, capsys):
    code, laws, err = check_obligations(tmp_path, capsys, TERMINAL.replace("EXTRA_F", "").replace("EXTRA", ""))
    assert code == 0, err
    assert {n: o["verdict"] for n, o in laws.items() if n.startswith("adj.")} == {
        "adj.triangle_left[X]": "proved", "adj.triangle_left[Y]": "proved", "adj.triangle_right[P]": "proved"}


def test_a_second_arrow_makes_the_unit_unnatural(tmp_path, capsys):
    # with g : X -> Y too, Y is no longer terminal: naturality at g asks id . f = g . id
    text = TERMINAL.replace("EXTRA_F", "g |-> id").replace("EXTRA", "g : X -> Y")
    code, laws, _ = check_obligations(tmp_path, capsys, text)
    assert code == 1
    assert laws["eta.naturality[g]"]["verdict"] == "refuted"
    assert laws["eta.naturality[f]"]["verdict"] == "proved"


def test_a_unit_of_the_wrong_type_is_a_static_error(tmp_path, capsys):
    text = TERMINAL.replace("EXTRA_F", "").replace("EXTRA", "").replace("unit |-> eta", "unit |-> eps")
    code, _, err = check_obligations(tmp_path, capsys, text)
    assert code == 2 and "error[E208]" in err and "must be id(A) => G . F" in err


@pytest.mark.parametrize("mu, verdict", [("id", "proved")])
def test_the_reflection_monad(tmp_path, capsys, mu, verdict):
    code, laws, err = check_obligations(tmp_path, capsys, REFLECTION.replace("MU", mu))
    assert code == 0, err
    for x in ("X", "R"):
        for law in ("associativity", "left_unit", "right_unit"):
            assert laws[f"M.{law}[{x}]"]["verdict"] == verdict


def test_monad_laws_fail_for_an_idempotent_that_is_not_an_identity(tmp_path, capsys):
    # η = μ = e with e . e = e: associativity holds, but μ . T(η) = e . e = e ≠ id
    text = """
category C {
  objects Z
  e : Z -> Z
  eq idem : e . e = e
}
functor T : C -> C {
  Z |-> Z
  e |-> e
}
transformation u : id(C) => T {
  Z |-> e
}
transformation m : T . T => T {
  Z |-> e
}
monad M : T {
  unit |-> u
  mult |-> m
}
"""
    code, laws, _ = check_obligations(tmp_path, capsys, text)
    assert code == 1
    assert laws["M.associativity[Z]"]["verdict"] == "proved"
    assert laws["M.left_unit[Z]"]["verdict"] == "refuted" and laws["M.right_unit[Z]"]["verdict"] == "refuted"


def test_transformations_built_by_whiskering_and_composition(tmp_path, capsys):
    text = REFLECTION.replace("MU", "id") + """
transformation Teta : T => T . T = T * eta
transformation etaT : T => T . T = eta * T
transformation back : T => T = mu . Teta
transformation two : id(C) => T . T = eta * eta
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    # T(η) and η_T are natural; μ . T(η) = id_T componentwise, and the horizontal composite
    # η * η has components η_{T x} . η_x
    for t in ("Teta", "etaT", "back", "two"):
        assert laws[f"{t}.naturality[r]"]["verdict"] == "proved"
    wrong = REFLECTION.replace("MU", "id") + "transformation bad : id(C) => T = T * eta\n"
    code, _, err = check_obligations(tmp_path, capsys, wrong)
    assert code == 2 and "error[E208]" in err and "is declared id(C) => T" in err


def test_adjunction_and_monad_print_in_canonical_form():
    from catdsl.syntax.parse import parse
    from catdsl.syntax.printer import to_text

    text = TERMINAL.replace("EXTRA_F", "").replace("EXTRA", "") + "transformation w : G . F => G . F = eta . id(G . F)\n"
    tree = parse(text)
    assert parse(to_text(tree)) == tree
    assert "adjunction adj : F -| G {" in to_text(tree)
