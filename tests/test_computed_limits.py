"""Cases that used to crash the checker (issue 8, item 6), each with the answer derived by hand.

- Generators into and out of a *computed* pullback apex are typed against the computed apex
  (FinSet: the fibre product {(a, b) | f a = g b}, Mac Lane CWM III.4; Vect: ker [f | -g]).
- A transformation between functors whose pullback apex is computed has, at the apex, the
  component the universal property induces: η_P = ⟨η_A ∘ F p, η_B ∘ F q⟩ (Awodey, Category
  Theory §5.1, "pullbacks are functorial"), so naturality at p and q holds.
- Zero-dimensional spaces in generic functors (`R^0`, `O(0, n)`) are decided or sampled, not a
  TypeError from the block algebra.
- An unmapped pullback whose image is a declared pullback with its legs swapped is that
  pullback read the other way round (a pullback of g, f is one of f, g with the legs swapped).
"""

from __future__ import annotations

from pathlib import Path

from checking import check_obligations

ROOT = Path(__file__).resolve().parents[1]

FIBRE = """
category C {
  objects A, B, Z, W
  f : A -> Z
  g : B -> Z
  pullback (P, p, q) of f, g
  h : W -> P
  k : P -> W
}
functor F : C -> FinSet {
  A |-> 2
  B |-> 2
  Z |-> 2
  W |-> 1
  f |-> [0, 1]
  g |-> [1, 1]
  h |-> [H]
  k |-> [0, 0]
}
"""


def test_a_generator_into_a_computed_apex_is_typed_against_it(tmp_path, capsys):
    # f(a) = g(b) only for a = 1 (f 1 = 1 = g 0 = g 1): P = {(1, 0), (1, 1)}
    code, laws, _ = check_obligations(tmp_path, capsys, FIBRE.replace("[H]", "[(1, 1)]"))
    assert code == 0 and laws["F.pullback[P].universal"]["verdict"] == "proved"
    assert laws["F.map_comp[h, p]"]["verdict"] == "proved"
    # (0, 0) is not in the fibre product: the value is rejected, not silently passed
    code, _, err = check_obligations(tmp_path, capsys, FIBRE.replace("[H]", "[(0, 0)]"))
    assert code == 2 and "error[E309]" in err and "(1, 0), (1, 1)" in err


def test_a_generator_into_a_computed_vect_apex(tmp_path, capsys):
    text = """
category C {
  objects A, B, Z, W
  f : A -> Z
  g : B -> Z
  pullback (P, p, q) of f, g
  h : W -> P
  eq square : f . p . h = g . q . h
}
functor F : C -> Vect {
  A |-> R^1
  B |-> R^1
  Z |-> R^1
  W |-> R^1
  f |-> [[2]]
  g |-> [[1]]
  h |-> [[1]]
}
"""
    # ker [2 | -1] is a line: P = R^1, whatever basis the kernel gets, and any h : R^1 -> P
    # composes with the legs of the (commuting) square
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["F.respects[square]"]["verdict"] == "proved"
    code, _, err = check_obligations(tmp_path, capsys, text.replace("h |-> [[1]]", "h |-> [[1, 0]]"))
    assert code == 2 and "error[E304]" in err


def test_naturality_at_a_computed_apex_uses_the_induced_component(tmp_path, capsys):
    text = """
category C {
  objects A, B, Z
  f : A -> Z
  g : B -> Z
  pullback (P, p, q) of f, g
}
functor F : C -> FinSet {
  A |-> 2
  B |-> 2
  Z |-> 1
  f |-> [0, 0]
  g |-> [0, 0]
}
functor G : C -> FinSet {
  A |-> 2
  B |-> 2
  Z |-> 1
  f |-> [0, 0]
  g |-> [0, 0]
}
transformation swap : F => G {
  A |-> [1, 0]
  B |-> [0, 0]
  Z |-> [0]
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    for g in ("f", "g", "p", "q"):
        assert laws[f"swap.naturality[{g}]"]["verdict"] == "proved"


def test_zero_dimensional_spaces_in_generic_functors(tmp_path, capsys):
    text = """
functor Plus : Vect -> Vect {
  R^n |-> R^(n + 1)
  m |-> m (+) I(1)
}
functor Zero : Vect -> Vect {
  R^n |-> R^0
  m |-> O(0, 0)
}
transformation toZero : Plus => Zero {
  R^n |-> O(0, n + 1)
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert {o["verdict"].split()[0] for o in laws.values()} <= {"proved", "passed"}


def test_an_unmapped_pullback_onto_a_declared_one_with_swapped_legs(tmp_path, capsys):
    text = """
category D {
  objects A, B, Z
  f : A -> Z
  g : B -> Z
  pullback (P, p, q) of f, g
}
category C {
  objects A, B, Z
  f : A -> Z
  g : B -> Z
  pullback (Q, i, j) of g, f
}
functor F : C -> D {
  A |-> A
  B |-> B
  Z |-> Z
  f |-> f
  g |-> g
}
"""
    code, laws, err = check_obligations(tmp_path, capsys, text)
    assert code == 0, err
    assert laws["F.pullback[Q].commutes"]["verdict"] == "proved"
    assert laws["F.pullback[Q].universal"]["verdict"] == "proved"


def test_eps_is_an_error_where_the_pullback_is_decided_exactly(tmp_path, capsys):
    """`eps` is the ε of Rep's fibre product; Vect and the free category decide a pullback
    exactly, so `check F.pullback with eps = …` there is E313, never an option silently ignored."""
    vect = """
category C {
  objects A, B, Z
  f : A -> Z
  g : B -> Z
  pullback (P, p, q) of f, g
}
functor F : C -> Vect {
  A |-> R^1
  B |-> R^1
  Z |-> R^1
  f |-> [[2]]
  g |-> [[1]]
}
"""
    code, laws, _ = check_obligations(tmp_path, capsys, vect + "check F.pullback\n")
    assert code == 0 and laws["F.pullback[P].universal"]["verdict"] == "proved"
    code, _, err = check_obligations(tmp_path, capsys, vect + "check F.pullback with eps = 0.5\n")
    assert code == 2 and "error[E313]" in err and "`eps` has no use for `F.pullback[P].universal`" in err
    assert "Vect decides it exactly" in err
    free = (ROOT / "tests" / "golden" / "happy-pullback-mapped.cat").read_text()
    code, _, err = check_obligations(tmp_path, capsys, free + "check F.pullback with eps = 0.5\n")
    assert code == 2 and "the free category Target decides it exactly" in err
