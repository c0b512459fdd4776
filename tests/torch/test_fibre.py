"""The numeric pullback of two representations (docs/language.md §8.14): the ε-fibre product of
probe pairs, its projections, model stitching as the mediating map, the law `P.universal`, and
diagnostics at the place."""

from __future__ import annotations

import json

import pytest

from catdsl.cli import main
from checking import command_json

RUNS = """
data digits = dataset("digits", limit = 600)
model mlp   = Linear(64, 32) >> ReLU >> Linear(32, 10)
model wide  = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {
  objects init, final
  fit : init -> final
}

functor A : Training -> Param(mlp, digits) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 0)
}

functor Again : Training -> Param(mlp, digits) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 0)
}

functor B : Training -> Param(mlp, digits) {
  init |-> init(seed = 1)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 1)
}

functor W : Training -> Param(wide, digits) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 0)
}
"""


def test_the_fibre_product_of_identical_and_of_unrelated_representations(tmp_path, capsys):
    """Two runs of one model from one state have identical features: at ε = 0 the fibre product
    holds the whole diagonal and stitching is exact. An unrelated representation (another seed)
    gives far fewer pairs at the same ε."""
    code, report, err = command_json(tmp_path, capsys, RUNS + """
transfer Zero  = fibre(source = A.final, other = Again.final, data = digits, eps = 0)
transfer Same  = fibre(source = A.final, other = Again.final, data = digits, eps = 2.5, layer = -2)
transfer Other = fibre(source = A.final, other = B.final, data = digits, eps = 2.5, layer = -2)
""")
    assert code == 0, err
    zero, same, other = (report["analyses"][k] for k in ("Zero", "Same", "Other"))
    assert zero["kind"] == "transfer" and zero["method"] == "fibre" and zero["legs"] == ["A.final", "Again.final"]
    n = zero["probe"]
    assert zero["eps"] == 0 and zero["diagonal"] == n and zero["pairs"] >= n
    assert zero["projections"]["p1"]["image"] == n and zero["projections"]["p2"]["image"] == n
    assert zero["projections"]["defect"] == 0
    for r in (zero, same):
        s = r["stitching"]
        assert s["residual"] < 1e-9 and s["identity"] == 0
        assert s["stitched"] == s["accuracy"]["Again.final"]
        assert r["universal"]["verdict"].startswith("passed")
    assert same["diagonal"] == n and same["pairs"] > zero["pairs"]
    assert same["projections"]["defect"] <= 2.5
    assert other["pairs"] * 5 < same["pairs"] and other["diagonal"] < n // 5
    # unrelated features are nearly a linear function of each other: stitching mediates them
    assert other["stitching"]["identity"] > 0.5 and other["stitching"]["residual"] < 0.5
    assert set(other["universal"]) >= {"verdict", "residual", "cones", "factored", "control", "tol"}


def test_the_universal_property_is_a_law(tmp_path, capsys):
    code, report, err = command_json(tmp_path, capsys, RUNS + """
transfer Same  = fibre(source = A.final, other = Again.final, data = digits, eps = 0.5)
transfer Empty = fibre(source = A.final, other = B.final, data = digits, eps = 0.01)
transfer All   = fibre(source = A.final, other = B.final, data = digits, eps = 1000)
transfer Other = fibre(source = A.final, other = B.final, data = digits, eps = 3)
check Same.universal
check Empty.universal
check All.universal
check Other.universal with tol = 0.001
""", command="check")
    laws = {o["name"]: o for o in report["obligations"] if o["name"].endswith(".universal")}
    assert laws["Same.universal"]["verdict"].startswith("passed"), err
    assert laws["Empty.universal"]["verdict"].startswith("error") and "P is empty" in laws["Empty.universal"]["witness"]
    assert laws["All.universal"]["verdict"].startswith("error") and "every pair" in laws["All.universal"]["witness"]
    other = laws["Other.universal"]
    assert other["verdict"].startswith("failed") and "stitching residual" in other["witness"]
    assert code == 1


def test_sub_cones_factor_and_random_pairs_do_not():
    import torch

    from backends.torch.fibre import fibre_pairs, universal, verdict

    f = torch.randn(40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pairs, dist = fibre_pairs(f, f, 1e-12)
    assert sorted(map(tuple, pairs.tolist())) == [(i, i) for i in range(40)]
    u = universal(pairs, dist, 1e-12, f, f)
    assert u["factored"] == u["cones"] == 8 and u["unique"] and u["residual"] == 0 and u["control"] < 0.2
    assert verdict(u, 0.25, 1e-12, len(pairs)).status == "passed"


@pytest.mark.parametrize("statement, needle", [
    ("transfer P = fibre(source = A.final, data = digits, eps = 0.5)", "names its right leg `other`"),
    ("transfer P = fibre(source = A.final, other = B.final, data = digits)", "needs `eps`"),
    ("transfer P = fibre(source = A.final, other = B.final, data = digits, eps = -1)", "`eps` is a number"),
    ("transfer P = fibre(source = A.final, other = B.final, data = digits, eps = 1, colour = red)",
     "`fibre` has no option `colour`"),
    ("transfer P = fibre(source = A.final, other = B.final, data = digits, eps = 1, layer = 7)", "`layer` is an index"),
    ("transfer P = fibre(source = A.final, other = W.final, data = digits, eps = 1)", "width 32 and 16"),
    ("transfer P = fibre(source = A.final, other = B.final, data = nothing, eps = 1)", "is a declared data set"),
])
def test_bad_fibres_are_e404_at_the_place(tmp_path, capsys, statement, needle):
    code, _, err = command_json(tmp_path, capsys, RUNS + statement + "\n")
    assert code == 2 and "error[E404]" in err and needle in err, err


# ---- a declared pullback in a functor into Rep ------------------------------------------------------

SQUARE = """
data digits = dataset("digits", limit = 600)
model mlp   = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Square {
  objects A, B, C
  f : A -> C
  g : B -> C
  pullback (P, p, q) of f, g
}

functor Run : Square -> Param(mlp, digits) {
  P |-> init(seed = 0)
  p |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 0)
  q |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 0)
  f |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = 1)
  g |-> adam(lr = 0.01, batch = 32, epochs = 1, seed = SEED)
}

functor L : Square -> Rep(probe = digits.test, layer = -2) = features(Run)
"""


def test_representations_that_agree_on_a_known_subset_give_a_fibre_containing_those_pairs():
    """The ground truth: φ₂ = φ₁ on a known subset S of the probe and far from it elsewhere; the
    ε-fibre product holds (s, s) for every s in S, its projections reach S, and no diagonal pair
    outside S."""
    import torch

    from backends.torch.fibre import declared_pullback

    g = torch.Generator().manual_seed(0)
    phi1 = torch.randn(60, 8, generator=g, dtype=torch.float64)
    known = torch.tensor([3, 7, 11, 20, 42, 59])
    phi2 = phi1 + 10.0 * torch.randn(60, 8, generator=g, dtype=torch.float64)
    phi2[known] = phi1[known]
    fit = torch.randn(200, 8, generator=g, dtype=torch.float64)
    for eps in (0.0, 0.5):
        m, v = declared_pullback(phi1, phi2, fit, fit, eps)
        pairs = {tuple(p) for p in m["pair_list"].tolist()}
        assert {(int(s), int(s)) for s in known} <= pairs
        assert m["diagonal"] == len(known)
        assert set(known.tolist()) <= set(m["pair_list"][:, 0].tolist())
        assert m["projections"]["p1"] >= len(known) and m["projections"]["defect"] <= eps
        assert v.status == "passed" and "6 of the 60 diagonal pairs" in v.witness


def _check(tmp_path, capsys, text):
    path = tmp_path / "square.cat"
    path.write_text(text)
    code = main(["check", "--format", "json", "--store", str(tmp_path / "store"), str(path)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else None), err


def test_a_declared_pullback_in_rep_is_the_eps_fibre_product(tmp_path, capsys):
    """Both legs trained alike reach one representation: at ε = 0 the fibre holds the whole
    diagonal and the square commutes bitwise. Legs with another data order give another
    representation: the square no longer commutes, and the fibre is a proper part of the
    diagonal's neighbourhood. Without ε the law is unknown."""
    same = SQUARE.replace("SEED", "1") + "check L.pullback with eps = 0\n"
    code, report, err = _check(tmp_path, capsys, same)
    laws = {o["name"]: o for o in report["obligations"]}
    law = laws["L.pullback[P].universal"]
    assert law["verdict"].startswith("passed") and "450 of the 450 diagonal pairs" in law["witness"], err
    assert laws["L.pullback[P].commutes"]["verdict"] == "proved"
    other = SQUARE.replace("SEED", "2") + "check L.pullback with eps = 0.5\n"
    code, report, err = _check(tmp_path, capsys, other)
    laws = {o["name"]: o for o in report["obligations"]}
    assert laws["L.pullback[P].commutes"]["verdict"] == "refuted"
    law = laws["L.pullback[P].universal"]
    assert law["verdict"].startswith("passed"), law
    diagonal = int(law["witness"].split(" of the 450 diagonal")[0].rsplit(", ", 1)[1])
    assert 0 < diagonal < 450
    code, report, err = _check(tmp_path, capsys, SQUARE.replace("SEED", "2") + "check L.pullback\n")
    (law,) = [o for o in report["obligations"] if o["name"] == "L.pullback[P].universal"]
    assert law["verdict"] == "unknown" and "eps = " in law["witness"]


@pytest.mark.parametrize("statement, needle", [
    ("check L.pullback with eps = -1", "`eps` is a distance"),
    ("check L with eps = 1", "`eps` is set by naming the law"),
])
def test_a_bad_eps_is_e313(tmp_path, capsys, statement, needle):
    path = tmp_path / "square.cat"
    path.write_text(SQUARE.replace("SEED", "2") + statement + "\n")
    code = main(["check", "--store", str(tmp_path / "store"), str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "error[E313]" in err and needle in err, err
