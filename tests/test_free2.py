"""2-cells of presented 2-categories (issue 8, item 9): equality in the free 2-category on a
computad modulo declared 2-cell equations (`catdsl.semantics.free2`).

Known answers:
- the 2-category axioms — associativity and units of both compositions, whiskering, interchange
  — are mathlib's `Bicategory` laws (Mathlib/CategoryTheory/Bicategory/Basic.lean:
  `whisker_exchange`, `id_whiskerLeft`, `whiskerLeft_comp`, `comp_whiskerRight`,
  `whisker_assoc`), which hold strictly in a 2-category (Mac Lane, CWM XII.3);
- Eckmann–Hilton: 2-cells id_A => id_A commute (Eckmann & Hilton 1962; CWM XII.3, exercise);
- the free 2-category has no other equations: endo-2-cells of one 1-cell form a free monoid,
  so β . α ≠ α . β (Street, "Limits indexed by category-valued 2-functors" §2, computads);
- declared commutations give the free partially commutative monoid: words are equal iff
  related by swapping commuting letters (Cartier & Foata 1969), so with βα = αβ declared,
  αβγ = βαγ but αβγ ≠ γβα;
- the triangle identity (ε l)(l η) = 1_l, whiskered or precomposed, rewrites to an identity
  (Mac Lane CWM IV.1, adjunctions as unit and counit); it does not imply the other triangle
  identity in general, which must then not be refuted either (completion is not attempted for
  rules with an identity side).
"""

from __future__ import annotations

import json

from catdsl.cli import main
from catdsl.semantics.free import Path
from catdsl.semantics.free2 import Budget2, Computad, decide2
from catdsl.semantics.module import Cell, Horizontal, Id2, Vertical


def path(dom, cod, *word):
    return Path(dom, cod, tuple(word))


f, g, h = path("A", "B", "f"), path("A", "B", "g"), path("A", "B", "h")
p, q, r = path("B", "C", "p"), path("B", "C", "q"), path("B", "C", "r")
alpha, beta = Cell("α", f, g), Cell("β", g, h)
gamma, delta = Cell("γ", p, q), Cell("δ", q, r)


def status(lhs, rhs, computad=None, **kw):
    return decide2(computad if computad is not None else [], lhs, rhs, **kw).status


def test_interchange():
    # (δ . γ) * (β . α) = (δ * β) . (γ * α)
    lhs = Horizontal(Vertical(delta, gamma), Vertical(beta, alpha))
    rhs = Vertical(Horizontal(delta, beta), Horizontal(gamma, alpha))
    assert status(lhs, rhs) == "proved"


def test_whisker_exchange():
    # mathlib: η ▷ h ≫ g ◁ θ = f ◁ θ ≫ η ▷ i, for η = α : f => g and θ = γ : p => q
    lhs = Vertical(Horizontal(Id2(q), alpha), Horizontal(gamma, Id2(f)))
    rhs = Vertical(Horizontal(gamma, Id2(g)), Horizontal(Id2(p), alpha))
    assert status(lhs, rhs) == "proved"
    assert status(lhs, Horizontal(gamma, alpha)) == "proved"


def test_units_of_both_compositions():
    assert status(Vertical(Id2(g), alpha), alpha) == "proved"          # id_comp
    assert status(Vertical(alpha, Id2(f)), alpha) == "proved"          # comp_id
    assert status(Horizontal(Id2(path("B", "B")), alpha), alpha) == "proved"   # id_whiskerLeft
    assert status(Horizontal(alpha, Id2(path("A", "A"))), alpha) == "proved"   # whiskerRight_id
    assert status(Horizontal(Id2(p), Id2(f)), Id2(path("A", "C", "f", "p"))) == "proved"


def test_whiskering_laws():
    # whiskerLeft_comp: p ◁ (α ≫ β) = p ◁ α ≫ p ◁ β
    assert status(Horizontal(Id2(p), Vertical(beta, alpha)),
                  Vertical(Horizontal(Id2(p), beta), Horizontal(Id2(p), alpha))) == "proved"
    # whisker_assoc: (p ◁ α) ▷ s = p ◁ (α ▷ s), for s : C -> D
    s = path("C", "D", "s")
    a = Horizontal(Id2(s), Horizontal(Id2(p), alpha))
    b = Horizontal(Horizontal(Id2(s), Id2(p)), alpha)
    assert status(a, b) == "proved"


def test_eckmann_hilton():
    one = path("A", "A")
    s, t = Cell("s", one, one), Cell("t", one, one)
    assert status(Vertical(t, s), Vertical(s, t)) == "proved"
    assert status(Horizontal(t, s), Vertical(t, s)) == "proved"


def test_the_free_2_category_has_no_other_equations():
    a, b = Cell("a", f, f), Cell("b", f, f)
    assert status(Vertical(b, a), Vertical(a, b)) == "refuted"
    # parallel distinct generators
    assert status(alpha, Cell("α2", f, g)) == "refuted"


def test_declared_commutation_is_the_free_partially_commutative_monoid():
    a, b, c = Cell("a", f, f), Cell("b", f, f), Cell("c", f, f)
    C = Computad([a, b, c], [("ab", Vertical(b, a), Vertical(a, b))])

    def word(*cells):
        t = cells[0]
        for x in cells[1:]:
            t = Vertical(x, t)
        return t

    assert status(word(a, b, c), word(b, a, c), C) == "proved"
    assert status(word(a, a, b), word(b, a, a), C) == "proved"
    d = decide2(C, word(a, b, c), word(c, b, a))
    assert d.status == "refuted" and "class" in d.reason
    assert status(word(c, a), word(a, c), C) == "refuted"


def test_a_declared_triangle_identity_reduces_whiskered_and_composed_instances():
    l, rr = path("A", "B", "l"), path("B", "A", "r")
    eta = Cell("η", path("A", "A"), path("A", "A", "l", "r"))
    eps = Cell("ε", path("B", "B", "r", "l"), path("B", "B"))
    zigzag = Vertical(Horizontal(eps, Id2(l)), Horizontal(Id2(l), eta))
    C = Computad([eta, eps], [("tri", zigzag, Id2(l))])
    k = path("B", "C", "k")
    assert status(Horizontal(Id2(k), zigzag), Id2(path("A", "C", "l", "k")), C) == "proved"
    gam = Cell("γ", path("A", "B", "m"), l)
    assert status(Vertical(zigzag, gam), gam, C) == "proved"
    # the other triangle identity is not a consequence, but it is not refuted either
    other = Vertical(Horizontal(Id2(rr), eps), Horizontal(eta, Id2(rr)))
    d = decide2(C, other, Id2(rr))
    assert d.status == "unknown"


def test_equations_between_1_cells_forbid_refuting():
    a, b = Cell("a", f, f), Cell("b", f, f)
    assert status(Vertical(b, a), Vertical(a, b), free_1cells=False) == "unknown"


def test_a_budget_that_runs_out_is_unknown_with_the_reason():
    one = path("A", "A")
    cells = [Cell(n, one, one) for n in "stuvw"]
    t = cells[0]
    for x in cells[1:]:
        t = Vertical(x, t)
    d = decide2(Computad(cells, budget=Budget2(max_exchange=10)), t, cells[0])
    assert d.status == "unknown" and "budget" in d.reason and "10" in d.reason


ADJ = """
category Adj {
  objects A, B
  l : A -> B
  r : B -> A
  η : id(A) => l >> r
  ε : r >> l => id(B)
  eq tri : (ε * l) . (l * η) = id(l)
}

category Comm {
  objects X
  u : X -> X
  a, b, c : u => u
  eq ab : b . a = a . b
}

category Src {
  objects X
  u : X -> X
  x, y, z : u => u
  eq swap : y . x = x . y
  eq wrong : z . x = x . z
}

functor F : Src -> Comm {
  X |-> X
  u |-> u
  x |-> a
  y |-> b
  z |-> c
}
"""


def test_check_decides_the_equations_a_functor_must_respect(tmp_path, capsys):
    file = tmp_path / "f.cat"
    file.write_text(ADJ)
    code = main(["check", "--format", "json", str(file)])
    laws = {o["name"]: o for o in json.loads(capsys.readouterr().out)["obligations"]}
    assert code == 1
    assert laws["F.respects[swap]"]["verdict"] == "proved"
    assert laws["F.respects[wrong]"]["verdict"] == "refuted"
    assert "c" in laws["F.respects[wrong]"]["witness"]


def test_doctests_state_the_axioms():
    import doctest

    from catdsl.semantics import free2

    result = doctest.testmod(free2)
    assert result.attempted > 0 and result.failed == 0
