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


def obligations(tmp_path, capsys, level: str) -> dict:
    path = tmp_path / "cells.cat"
    path.write_text(PROGRAM.format(level=level))
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
