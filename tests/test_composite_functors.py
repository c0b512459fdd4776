"""Composite and identity functors (issue 8, item 7): `functor H : A -> C = G . F`, `id(A)`, and
transformations whose functors are composites, e.g. the unit of an adjunction η : id(A) => G . F.

Answers derived by hand: (G . F)(x) = G(F(x)) on objects and generators (Mac Lane CWM I.3); a
composite of functors into Vect respects an equation of its source exactly when the composite
matrices agree, which is computed below for each case; naturality squares are written out in
each test's comment.
"""

from __future__ import annotations

import pytest

from checking import check_obligations

PAIR = """
category A {
  objects X, Y
  f : X -> Y
  u : Y -> Y
  eq idem : u . u = u
  FIX
}
category B {
  objects U
  e : U -> U
  eq idem : e . e = e
}
functor F : A -> B {
  X |-> U
  Y |-> U
  f |-> e
  u |-> e
}
functor G : B -> A {
  U |-> Y
  e |-> u
}
transformation eta : id(A) => G . F {
  X |-> f
  Y |-> ETA_Y
}
"""


@pytest.mark.parametrize("fix, eta_y, verdict", [
    # naturality at f: (G.F)(f) . η_X = u . f  and  η_Y . f; with η_Y = u both are u . f
    ("", "u", "proved"),
    # with η_Y = id: u . f = f needs the equation `fix`
    ("", "id", "refuted"),
    ("eq fix : u . f = f", "id", "proved"),
])
def test_naturality_of_a_unit_into_a_composite(tmp_path, capsys, fix, eta_y, verdict):
    code, laws, err = check_obligations(tmp_path, capsys, PAIR.replace("FIX", fix).replace("ETA_Y", eta_y))
    assert laws is not None, err
    assert laws["eta.naturality[f]"]["verdict"] == verdict
    # the derived functors `id(A)` and `G . F` hold by construction and add no laws of their own
    assert not any(name.startswith(("id(", "G . F")) for name in laws)


VECT = """
category A {
  objects X
  f : X -> X
  eq twice : f . f = f
}
category B {
  objects U
  g : U -> U
}
functor F : A -> B {
  X |-> U
  f |-> g . g
}
functor G : B -> Vect {
  U |-> R^2
  g |-> M
}
functor H : A -> Vect = G . F
"""


@pytest.mark.parametrize("matrix, verdict", [
    # H(f) = G(g)^2; H respects `twice` iff M^4 = M^2: true for a projection, false for 2·I
    ("[[1, 0], [0, 0]]", "proved"),
    ("[[2, 0], [0, 2]]", "refuted"),
])
def test_a_composite_into_vect_respects_equations_exactly_when_the_matrices_do(tmp_path, capsys, matrix, verdict):
    code, laws, err = check_obligations(tmp_path, capsys, VECT.replace("M", matrix))
    assert laws is not None, err
    assert laws["H.respects[twice]"]["verdict"] == verdict


def test_identity_functor_and_composites_typed(tmp_path, capsys):
    text = VECT.replace("M", "[[1, 0], [0, 1]]") + "functor I : B -> B = id(B)\nfunctor J : A -> B = id(B) . F\n"
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 1, err
    assert laws["H.respects[twice]"]["verdict"] == "proved" and laws["I.map_id[U]"]["verdict"] == "proved"
    assert laws["J.respects[twice]"]["verdict"] == "refuted"  # g . g . g . g vs g . g in the free B
    wrong = VECT.replace("M", "[[1, 0], [0, 1]]").replace("functor H : A -> Vect = G . F",
                                                          "functor H : A -> Vect = F . G")
    code, _, err = check_obligations(tmp_path, capsys, wrong)
    assert code == 2 and "error[E203]" in err and "`F . G` does not compose" in err
    mistyped = VECT.replace("M", "[[1, 0], [0, 1]]").replace("functor H : A -> Vect", "functor H : B -> Vect")
    code, _, err = check_obligations(tmp_path, capsys, mistyped)
    assert code == 2 and "error[E208]" in err and "declared B -> Vect" in err
