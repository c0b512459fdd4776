"""Products, equalizers and terminal objects as declarations (issue 8, item 8), each checked for
its universal property. Answers derived by hand from the definitions (Mac Lane CWM III.4,
Awodey §2.4–3.3): in FinSet a product of sets of sizes m, n has mn elements with the pairing a
bijection, the equalizer of f, g is {a | f a = g a}, the terminal object is a one-point set; in
Vect the product of R^m and R^n is R^(m+n), the equalizer of f, g is ker(f - g), terminal is R^0.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checking import check_obligations

LIMITS = (Path(__file__).resolve().parents[1] / "examples" / "limits.cat").read_text()


def test_the_example_proves_every_universal_property(tmp_path, capsys):
    code, laws, err = check_obligations(tmp_path, capsys, LIMITS)
    assert code == 0, err
    for name in ("S.product[P].universal", "S.equalizer[E].universal", "S.terminal[T]",
                 "V.product[P].universal", "V.equalizer[E].universal", "V.terminal[T]",
                 "S.equalizer[E].commutes", "V.equalizer[E].commutes"):
        assert laws[name]["verdict"] == "proved", name


@pytest.mark.parametrize("old, new, law, needle", [
    # 5 elements cannot be the 6 pairs of 3 × 2; two elements go to one pair
    ("P |-> 6\n  p |-> [0, 0, 1, 1, 2, 2]\n  q |-> [0, 1, 0, 1, 0, 1]",
     "P |-> 6\n  p |-> [0, 0, 1, 1, 2, 2]\n  q |-> [0, 1, 0, 1, 0, 0]", "S.product[P].universal", "two mediating"),
    # f and g agree at 0 and 2; e = [0, 0] misses 2 and is not injective
    ("e |-> [0, 2]", "e |-> [0, 0]", "S.equalizer[E].universal", "not injective"),
    ("E |-> 2\n  e |-> [0, 2]", "E |-> 1\n  e |-> [0]", "S.equalizer[E].universal", "not in the image"),
    ("T |-> 1", "T |-> 2", "S.terminal[T]", "2 maps"),
    # ker(f - g) = span (1, 1): e = [[1], [1]] is an equalizer, [[1], [2]] does not even commute
    ("e |-> [[1], [1]]", "e |-> [[1], [2]]", "V.equalizer[E].commutes", "lhs"),
    ("T |-> R^0", "T |-> R^1", "V.terminal[T]", "more than one map"),
    # R^3 with p, q dropping the third coordinate: [p; q] is not injective
    ("q |-> [[0, 0, 1]]", "q |-> [[0, 0, 0]]", "V.product[P].universal", "two mediating"),
])
def test_a_cone_that_is_not_a_limit_is_refuted_with_a_witness(tmp_path, capsys, old, new, law, needle):
    assert old in LIMITS
    code, laws, err = check_obligations(tmp_path, capsys, LIMITS.replace(old, new))
    assert laws is not None, err
    assert laws[law]["verdict"] == "refuted" and needle in laws[law]["witness"], laws[law]


DECLARED = """
category D {
  objects A, B
  f, g : A -> B
  product (Q, u, v) of A, B
  equalizer (K, k) of f, g
  terminal One
}
category C {
  objects A, B
  f, g : A -> B
  product (P, p, q) of B, A
  equalizer (E, e) of g, f
  terminal T
}
functor F : C -> D {
  A |-> A
  B |-> B
  f |-> f
  g |-> g
  P |-> Q
  p |-> v
  q |-> u
  E |-> K
  e |-> k
  T |-> TARGET
}
"""


def test_limits_of_presentations_go_to_the_declared_ones_in_either_order(tmp_path, capsys):
    code, laws, err = check_obligations(tmp_path, capsys, DECLARED.replace("TARGET", "One"))
    assert code == 0, err
    assert laws["F.product[P].universal"]["verdict"] == "proved"
    assert laws["F.equalizer[E].universal"]["verdict"] == "proved"
    assert laws["F.terminal[T]"]["verdict"] == "proved"
    code, laws, _ = check_obligations(tmp_path, capsys, DECLARED.replace("TARGET", "A"))
    assert code == 1 and laws["F.terminal[T]"]["verdict"] == "unknown"


def test_a_smooth_target_has_no_limits_here(tmp_path, capsys):
    text = """
category C {
  objects A
  terminal T
}
functor F : C -> Smooth {
  A |-> R^1
  T |-> R^1
}
"""
    code, laws, _ = check_obligations(tmp_path, capsys, text)
    assert code == 1 and laws["F.terminal[T]"]["verdict"] == "unknown"


def test_an_equalizer_of_arrows_that_are_not_parallel_is_an_error(tmp_path, capsys):
    text = "category C {\n  objects A, B\n  f : A -> B\n  g : B -> A\n  equalizer (E, e) of f, g\n}\n"
    code, _, err = check_obligations(tmp_path, capsys, text)
    assert code == 2 and "error[E206]" in err and "not parallel" in err
