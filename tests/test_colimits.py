"""`pushout (Q, i, j) of f, g` declarations (issue 8, item 8): elaborated dually to pullbacks,
generated as laws `F.pushout[Q].commutes` / `.universal`, computed where unmapped, and decided
in presentations by the pushouts they declare (in either orientation).

Answers: a pushout of g, f is the pushout of f, g with its injections swapped (the colimit of a
diagram does not depend on how its legs are listed; CWM III.3); a presentation has no colimits
but those it declares; in FinSet a pushout is A + B / ~ (Awodey §3.6), so with C = {c},
A = {a1, a2}, B = {b}, f c = a1, g c = b it has the two elements [a1 = b] and [a2].
"""

from __future__ import annotations

from catdsl.laws.catalogue import obligations
from catdsl.semantics.elaborate import elaborate
from catdsl.syntax.parse import parse
from checking import check_obligations

SPAN = """
category Span {
  objects C, A, B
  f : C -> A
  g : C -> B
  pushout (Q, i, j) of f, g
}
"""


def test_a_pushout_declares_its_object_injections_and_square():
    m = elaborate(parse(SPAN, "f.cat"), "f.cat")
    p = m.presentations["Span"]
    assert "Q" in p.objects
    assert (p.generator["i"].dom, p.generator["i"].cod) == ("A", "Q")
    assert (p.generator["j"].dom, p.generator["j"].cod) == ("B", "Q")
    (sq,) = [e for e in p.equations if e.construction == "pushout"]
    assert sq.name == "Q.commutes" and [g for g in sq.lhs.word] == ["f", "i"]
    assert p.pushouts[0].apex == "Q" and p.pullback_names() == {"Q", "i", "j"}


def test_a_bare_identity_in_a_pushout_is_typed_from_the_other_leg():
    text = SPAN.replace("pushout (Q, i, j) of f, g", "pushout (Q, i, j) of id, g")
    m = elaborate(parse(text, "f.cat"), "f.cat")
    po = m.presentations["Span"].pushouts[0]
    assert (po.f.dom, po.f.cod) == ("C", "C")


def test_the_laws_of_a_pushout_are_named_after_it():
    text = SPAN + """
functor F : Span -> FinSet {
  C |-> 1
  A |-> 2
  B |-> 1
  f |-> [0]
  g |-> [0]
}
"""
    names = [law.name for law in obligations(elaborate(parse(text, "f.cat"), "f.cat"))]
    assert "F.pushout[Q].commutes" in names and "F.pushout[Q].universal" in names


FINSET = SPAN + """
functor F : Span -> FinSet {
  C |-> {c}
  A |-> {a1, a2}
  B |-> {b}
  Q |-> {u, v}
  f |-> {c: a1}
  g |-> {c: b}
  i |-> {a1: u, a2: v}
  j |-> {b: J}
}
"""


def test_a_mapped_pushout_in_finset_is_decided_exactly(tmp_path, capsys):
    code, laws, _ = check_obligations(tmp_path, capsys, FINSET.replace("J", "u"))
    assert code == 0 and laws["F.pushout[Q].universal"]["verdict"] == "proved"
    # j(b) = v: the square i f = j g fails at c
    code, laws, _ = check_obligations(tmp_path, capsys, FINSET.replace("J", "v"))
    assert code == 1 and laws["F.pushout[Q].commutes"]["verdict"] == "refuted"
    assert laws["F.pushout[Q].universal"]["verdict"] == "refuted"


def test_an_unmapped_pushout_is_computed_and_generators_out_of_it_are_typed(tmp_path, capsys):
    text = SPAN.replace("}", "  objects W\n  h : Q -> W\n}") + """
functor F : Span -> FinSet {
  C |-> {c}
  A |-> {a1, a2}
  B |-> {b}
  W |-> {x, y}
  f |-> {c: a1}
  g |-> {c: b}
  h |-> {(0, a1): x, (0, a2): y}
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["F.pushout[Q].universal"]["verdict"] == "proved"
    assert laws["F.map_comp[i, h]"]["verdict"] == "proved"


def test_a_transformation_gets_the_induced_component_at_a_computed_pushout(tmp_path, capsys):
    # η_Q is the map out of F's pushout that the cocone (G Q, G i . η_A, G j . η_B) induces,
    # so naturality at i and j holds by construction
    text = SPAN + """
functor F : Span -> Vect {
  C |-> R
  A |-> R^2
  B |-> R
  f |-> [[1], [0]]
  g |-> [[1]]
}
functor G : Span -> Vect {
  C |-> R
  A |-> R^2
  B |-> R
  f |-> [[1], [0]]
  g |-> [[1]]
}
transformation η : F => G {
  C |-> [[2]]
  A |-> [[2, 0], [0, 3]]
  B |-> [[2]]
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["η.naturality[i]"]["verdict"] == "proved"
    assert laws["η.naturality[j]"]["verdict"] == "proved"


def test_an_unmapped_pushout_needs_a_target_that_computes_pushouts(tmp_path, capsys):
    text = SPAN + """
functor F : Span -> Smooth {
  C |-> R
  A |-> R
  B |-> R
  f |-> x |-> x
  g |-> x |-> x
}
"""
    code, _, err = check_obligations(tmp_path, capsys, text)
    assert code == 2 and "error[E315]" in err and "pushouts it can compute" in err


def test_mapping_part_of_a_pushout_is_an_error(tmp_path, capsys):
    text = SPAN + """
functor F : Span -> FinSet {
  C |-> 1
  A |-> 1
  B |-> 1
  Q |-> 1
  f |-> [0]
  g |-> [0]
}
"""
    code, _, err = check_obligations(tmp_path, capsys, text)
    assert code == 2 and "error[E207]" in err and "of the pushout `(Q, i, j)`" in err


TARGET = """
category T {
  objects X, Y, Z, R
  u : X -> Y
  v : X -> Z
  w : Y -> R
  pushout (P, k, l) of u, v
}
"""


def test_a_cocone_onto_a_declared_pushout_is_proved_by_the_declaration(tmp_path, capsys):
    text = SPAN + TARGET + """
functor F : Span -> T {
  C |-> X
  A |-> Y
  B |-> Z
  Q |-> P
  f |-> u
  g |-> v
  i |-> k
  j |-> l
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["F.pushout[Q].universal"]["via"] == "declaration"
    assert laws["F.pushout[Q].commutes"]["verdict"] == "proved"


def test_a_declared_pushout_read_the_other_way_round_is_the_same_pushout(tmp_path, capsys):
    text = SPAN + TARGET + """
functor F : Span -> T {
  C |-> X
  A |-> Z
  B |-> Y
  Q |-> P
  f |-> v
  g |-> u
  i |-> l
  j |-> k
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["F.pushout[Q].universal"]["verdict"] == "proved"


def test_a_cocone_onto_something_else_is_unknown_in_a_presentation(tmp_path, capsys):
    # (R, w, ?) is no declared pushout: a presentation has no other colimits, so not decided
    text = SPAN + TARGET.replace("  pushout", "  t : Z -> R\n  eq sq : w . u = t . v\n  pushout") + """
functor F : Span -> T {
  C |-> X
  A |-> Y
  B |-> Z
  Q |-> R
  f |-> u
  g |-> v
  i |-> w
  j |-> t
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 1, err
    assert laws["F.pushout[Q].commutes"]["verdict"] == "proved"
    assert laws["F.pushout[Q].universal"]["verdict"] == "unknown"


def test_an_unmapped_pushout_goes_to_the_declared_one_in_either_orientation(tmp_path, capsys):
    for swap in (False, True):
        a, b, f, g = ("Z", "Y", "v", "u") if swap else ("Y", "Z", "u", "v")
        text = SPAN + TARGET + f"""
functor F : Span -> T {{
  C |-> X
  A |-> {a}
  B |-> {b}
  f |-> {f}
  g |-> {g}
}}
"""
        code, laws, err = check_obligations(tmp_path, capsys, text)
        assert code == 0, err
        assert laws["F.pushout[Q].universal"]["verdict"] == "proved"
