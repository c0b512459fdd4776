"""2-cells in Param: `α : f => g` sent to `homotopy(path = linear, points = K)` is the law
`Run.low_loss[α]` (the loss stays under the level on the deformation between the trajectories,
matched by normalized time, and on the connector of their ends); vertical composition is checked
as transitivity."""

from __future__ import annotations

import json

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, final
  f : init -> final
  g : init -> final
  h : init -> final
  alpha : f => g
  beta : g => h
}}

functor Run : Training -> Param(mlp, digits{level}) {{
  init |-> init(seed = 0)
  f |-> sgd(lr = 0.1, batch = 32, epochs = 2, seed = 1)
  g |-> sgd(lr = 0.1, batch = 32, epochs = 2, seed = 2)
  h |-> sgd(lr = 0.05, batch = 32, epochs = 1, seed = 3)
  alpha |-> homotopy(path = linear, points = 4)
  beta |-> homotopy(path = linear, points = 3)
}}
"""


def obligations(tmp_path, capsys, level: str, extra: str = "") -> dict:
    path = tmp_path / "cells.cat"
    path.write_text(PROGRAM.format(level=level) + extra)
    main(["check", "--format", "json", "--store", str(tmp_path / "store"), str(path)])
    return {o["name"]: o for o in json.loads(capsys.readouterr().out)["obligations"]}


def test_two_cells_hold_under_a_level_above_the_initial_loss(tmp_path, capsys):
    found = obligations(tmp_path, capsys, ", level = 2.5")
    for name in ("Run.low_loss[alpha]", "Run.low_loss[beta]", "Run.low_loss[alpha ; beta]"):
        assert found[name]["verdict"].startswith("passed"), found[name]
        assert "worst training loss" in found[name]["witness"]
    assert found["Run.boundary[alpha].end"]["verdict"] == "proved"


def test_a_level_below_the_path_is_refuted_with_the_worst_point(tmp_path, capsys):
    found = obligations(tmp_path, capsys, ", level = 1.0")
    alpha = found["Run.low_loss[alpha]"]
    # the deformation starts at the initial state, whose loss (about 2.3) is over 1
    assert alpha["verdict"] == "refuted" and "at time 0.00" in alpha["witness"] and "> level 1" in alpha["witness"]


def test_without_a_level_the_law_is_unknown(tmp_path, capsys):
    found = obligations(tmp_path, capsys, "")
    assert found["Run.low_loss[alpha]"]["verdict"] == "unknown"
    assert "needs a level" in found["Run.low_loss[alpha]"]["witness"]


def test_a_check_statement_gives_the_level(tmp_path, capsys):
    found = obligations(tmp_path, capsys, "", "check Run.low_loss with level = 2.5\n")
    assert found["Run.low_loss[beta]"]["verdict"].startswith("passed")
    assert "<= level 2.5" in found["Run.low_loss[beta]"]["witness"]


# ---- Bezier 2-cells ------------------------------------------------------------------------------


def test_the_deformation_has_the_trajectories_as_sides_and_the_bezier_curve_at_the_end():
    import torch

    from backends.torch.param import _deformation

    g = torch.Generator().manual_seed(0)
    a1, b1, c = ({"w": torch.randn(3, 2, generator=g, dtype=torch.float64)} for _ in range(3))
    bend = {"w": c["w"] - (a1["w"] + b1["w"]) / 2}
    for u in (0.0, 0.25, 0.5, 0.9, 1.0):
        curve = (1 - u) ** 2 * a1["w"] + 2 * u * (1 - u) * c["w"] + u ** 2 * b1["w"]
        assert torch.allclose(_deformation(a1, b1, 1.0, u, bend)["w"], curve, atol=1e-12)
        # at time 0 both runs are at the initial state: the deformation stays there
        assert torch.equal(_deformation(a1, a1, 0.0, u, bend)["w"], a1["w"])
    for t in (0.0, 0.3, 1.0):
        assert torch.equal(_deformation(a1, b1, t, 0.0, bend)["w"], a1["w"])
        assert torch.allclose(_deformation(a1, b1, t, 1.0, bend)["w"], b1["w"], atol=1e-15)
    # without a bend (path = linear) it is the straight segment
    assert torch.allclose(_deformation(a1, b1, 1.0, 0.5, None)["w"], (a1["w"] + b1["w"]) / 2)


BEZIER = PROGRAM.replace("alpha |-> homotopy(path = linear, points = 4)",
                         "alpha |-> homotopy(path = bezier, points = 4, epochs = 1)")


def test_a_bezier_two_cell_uses_the_trained_connector_of_the_end_states(tmp_path, capsys):
    from backends.run.store import Store

    path = tmp_path / "bezier.cat"
    path.write_text(BEZIER.format(level=", level = 2.5"))
    store = tmp_path / "store"
    main(["check", "--format", "json", "--store", str(store), str(path)])
    found = {o["name"]: o for o in json.loads(capsys.readouterr().out)["obligations"]}
    alpha = found["Run.low_loss[alpha]"]
    assert alpha["verdict"].startswith("passed") and "the Bezier connector at the end" in alpha["witness"]
    # α ; β (linear after Bezier) is checked with a Bezier connector from f to h; β alone is straight
    assert "the Bezier connector at the end" in found["Run.low_loss[alpha ; beta]"]["witness"]
    assert "the straight connector at the end" in found["Run.low_loss[beta]"]["witness"]
    with Store.open(store) as s:
        rows = [r for r in s.runs(kind="barrier") if r.label == "Bezier connector of Run.alpha"]
        assert len(rows) == 1
        key = rows[0].key
        values = s.get(key).metrics["values"]
        tensors = s.tensors(key)
        spec = s.get(key).spec
        a, b = s.tensors(spec["a"]), s.tensors(spec["b"])
    assert spec["path"]["path"] == "bezier" and spec["path"]["epochs"] == 1 and len(values) == 4
    # the control point was trained away from the midpoint of the two end states
    moved = max(float((tensors[f"control/{k}"] - (a[f"param/{k}"] + b[f"param/{k}"]) / 2).abs().max())
                for k in ("0.weight", "2.weight"))
    assert moved > 1e-4
    assert max(values) <= 2.5


# ---- bad 2-cell images are diagnostics at their place, never skipped ------------------------------

import pytest  # noqa: E402


@pytest.mark.parametrize("image, at, needle", [
    ("foo(1)", "foo(1)", "a 2-cell in Param is sent to `homotopy(…)`, not `foo(1)`"),
    ("homotopy(path = spline, points = 4)", "spline", "`path` must be linear or bezier, not `spline`"),
    ("homotopy(points = 1)", "1)", "`points` must be an integer of at least 2, not `1`"),
    ("homotopy(points = 2.5)", "2.5", "`points` must be an integer of at least 2, not `2.5`"),
    ("homotopy(3)", "3)", "`homotopy` takes named options only"),
    ("homotopy(points = 3, wibble = 2)", "wibble", "`homotopy` has no option `wibble` in Param"),
    ("homotopy(epochs = 2)", "2)", "`epochs` trains a Bezier connector; this path is linear"),
    ("homotopy(path = bezier, epochs = 0)", "0)", "`epochs` must be an integer of at least 1"),
])
def test_a_bad_two_cell_image_is_e404_at_its_place(tmp_path, capsys, image, at, needle):
    path = tmp_path / "bad.cat"
    text = PROGRAM.format(level=", level = 2.5").replace("homotopy(path = linear, points = 4)", image)
    path.write_text(text)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.strip().startswith("alpha |->"))
    col = text.splitlines()[line - 1].index(at, len("  alpha |-> ")) + 1
    assert main(["check", "--store", str(tmp_path / "store"), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"bad.cat:{line}:{col}: error[E404]: 2-cell `alpha` of `Run`: {needle}" in err, err
    assert "hint:" in err


def test_non_parallel_cells_and_bad_levels_are_diagnostics(tmp_path, capsys):
    path = tmp_path / "bad.cat"
    path.write_text(PROGRAM.format(level=", level = 2.5").replace("objects init, final", "objects init, final, other")
                    .replace("h : init -> final", "h : init -> other"))
    assert main(["check", str(path)]) == 2
    assert "error[E205]: the sides of 2-cell `beta` are not parallel" in capsys.readouterr().err
    path.write_text(PROGRAM.format(level=", level = -1"))
    assert main(["check", str(path)]) == 2
    assert "error[E404]: level must be a positive number, not `-1`" in capsys.readouterr().err
    path.write_text(PROGRAM.format(level="") + "check Run.low_loss with level = 0\n")
    assert main(["check", str(path)]) == 2
    assert "error[E313]: a 2-cell's `level` is a training loss above zero, not 0" in capsys.readouterr().err
