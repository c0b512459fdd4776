"""Homotopy classes of paths in `Paths(loss, level)` (backends/symbolic/homotopy.py): the ring and
two-bump landscapes give their classes exactly in 2-D; elsewhere the straight-line certificate
joins what it can and leaves the rest undecided; bad statements are diagnostics at their place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]

RING = """
category Ring {
  objects A, B
  up, down, up2, down2 : A -> B
}

functor R : Ring -> Paths(loss = (x, y) |-> (x^2 + y^2 - 1)^2, level = 0.5) {
  A |-> (-1, 0)
  B |-> (1, 0)
  up |-> t |-> (-cos(pi * t), sin(pi * t))
  down |-> t |-> (-cos(pi * t), -sin(pi * t))
  up2 |-> t |-> (-cos(pi * t), 1.2 * sin(pi * t))
  down2 |-> t |-> (-cos(pi * t) * (1 + sin(pi * t) / 5), -sin(pi * t) * 0.9)
}
"""

BUMPS = """
category Two {
  objects A, B
  oo, uu, ou, uo, oo2 : A -> B
}

functor F : Two -> Paths(loss = (x, y) |-> exp(-10 * ((x + 1)^2 + y^2)) + exp(-10 * ((x - 1)^2 + y^2)), level = 0.5) {
  A |-> (-2.5, 0)
  B |-> (2.5, 0)
  oo |-> t |-> (5 * t - 2.5, sin(pi * t))
  uu |-> t |-> (5 * t - 2.5, -sin(pi * t))
  ou |-> t |-> (5 * t - 2.5, sin(2 * pi * t))
  uo |-> t |-> (5 * t - 2.5, -sin(2 * pi * t))
  oo2 |-> t |-> (5 * t - 2.5, 2 * sin(pi * t))
}
"""


def run_json(tmp_path, capsys, text: str, statement: str) -> dict:
    path = tmp_path / "h.cat"
    path.write_text(text + statement + "\n")
    code = main(["run", "--format", "json", "--store", str(tmp_path / "s"), str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["analyses"]


def classes_of(report: dict) -> set[frozenset]:
    return {frozenset(c) for c in report["classes"]}


def test_the_ring_puts_paths_over_and_under_the_peak_in_two_classes(tmp_path, capsys):
    report = run_json(tmp_path, capsys, RING, "classes C of R by homotopy(level = 0.5)")["C"]
    assert report["kind"] == "classes" and report["method"] == "winding" and report["exact"]
    assert classes_of(report) == {frozenset({"up", "up2"}), frozenset({"down", "down2"})}
    assert report["holes"] == {"(-1, 0) -> (1, 0)": 1}


def test_above_the_peak_the_ring_is_one_class(tmp_path, capsys):
    # at level 1.5 the central peak (loss 1) is below the level: no hole, one class
    report = run_json(tmp_path, capsys, RING.replace("level = 0.5", "level = 1.5"),
                      "classes C of R by homotopy")["C"]
    assert classes_of(report) == {frozenset({"up", "up2", "down", "down2"})}


def test_two_bumps_give_four_classes(tmp_path, capsys):
    (key, report), = run_json(tmp_path, capsys, BUMPS, "classes of F by homotopy(grid = 201)").items()
    assert key.startswith("classes@")  # unnamed: keyed by its line
    assert classes_of(report) == {frozenset({"oo", "oo2"}), frozenset({"uu"}), frozenset({"ou"}),
                                  frozenset({"uo"})}
    assert report["level"] == 0.5 and report["outside"] == []


def test_a_path_through_a_peak_is_in_no_class(tmp_path, capsys):
    text = RING.replace("down2 |-> t |-> (-cos(pi * t) * (1 + sin(pi * t) / 5), -sin(pi * t) * 0.9)",
                        "down2 |-> t |-> (2 * t - 1, 0)")
    report = run_json(tmp_path, capsys, text, "classes C of R by homotopy")["C"]
    assert report["outside"] == ["down2"]
    assert classes_of(report) == {frozenset({"up", "up2"}), frozenset({"down"})}


SPACE = """
category Two {
  objects A, B
  p, q, r : A -> B
}

functor G : Two -> Paths(loss = (x, y, z) |-> exp(-10 * (x^2 + y^2 + z^2)), level = 0.5) {
  A |-> (-1, 0, 0)
  B |-> (1, 0, 0)
  p |-> t |-> (2 * t - 1, sin(pi * t), 0)
  q |-> t |-> (2 * t - 1, 2 * sin(pi * t), 0)
  r |-> t |-> (2 * t - 1, -sin(pi * t), 0)
}
"""


def test_in_three_dimensions_the_straight_line_certificate_joins_or_leaves_undecided(tmp_path, capsys):
    report = run_json(tmp_path, capsys, SPACE, "classes C of G by homotopy")["C"]
    assert report["method"] == "certificate"
    # p and q: the straight-line homotopy stays off the bump; p and r: it crosses it (in R^3 they
    # are homotopic around the bump, which no certificate here finds: undecided, not separated)
    assert classes_of(report) == {frozenset({"p", "q"}), frozenset({"r"})}
    assert not report["exact"] and report["undecided"] == [["p", "r"]]


def test_a_two_cell_under_the_level_is_a_certificate(tmp_path, capsys):
    text = SPACE.replace("p, q, r : A -> B", "p, q, r : A -> B\n  H : p => r").replace(
        "  r |-> t |-> (2 * t - 1, -sin(pi * t), 0)\n",
        "  r |-> t |-> (2 * t - 1, -sin(pi * t), 0)\n"
        "  H |-> (s, t) |-> (2 * s - 1, cos(pi * t) * sin(pi * s), sin(pi * t) * sin(pi * s))\n")
    report = run_json(tmp_path, capsys, text, "classes C of G by homotopy")["C"]
    assert classes_of(report) == {frozenset({"p", "q", "r"})} and report["exact"]


def test_paths_classes_import_no_torch():
    code = (
        "import sys\n"
        "from catdsl.semantics.elaborate import load\n"
        "from catdsl.analysis import handler\n"
        f"m = load({str(ROOT / 'tests' / 'symbolic' / 'ring_for_import.cat')!r})\n"
        "a = m.analyses[0]\n"
        "from backends.analyses.classes import _paths_report\n"
        "r = _paths_report(a, m)\n"
        "assert len(r['classes']) == 2, r\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    path = ROOT / "tests" / "symbolic" / "ring_for_import.cat"
    path.write_text(RING + "classes C of R by homotopy\n")
    try:
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("statement, code, needle", [
    ("classes C of R by homotopy(level = 0)", "E311", "`level` must be positive"),
    ("classes C of R by homotopy(level = -1)", "E311", "`level` must be positive"),
    ("classes C of R by homotopy(levl = 1)", "E311", "has no option `levl`"),
    ("classes C of R by homotopy(grid = 3)", "E311", "`grid` must be an integer of at least 16"),
    ("classes C of R by winding(level = 1)", "E222", "has no method `winding`"),
    ("classes C of R.up by homotopy", "E222", "is of a sweep or a functor into"),
])
def test_bad_classes_statements_are_diagnostics_at_their_place(tmp_path, capsys, statement, code, needle):
    path = tmp_path / "bad.cat"
    path.write_text(RING + statement + "\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err, err


def test_a_paths_functor_without_a_level_has_no_classes(tmp_path, capsys):
    path = tmp_path / "bad.cat"
    path.write_text("category C { objects A, B\n p : A -> B }\n"
                    "functor P : C -> Paths(2) { A |-> (0, 0)\n B |-> (1, 0)\n p |-> t |-> (t, 0) }\n"
                    "classes K of P by homotopy\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E311]" in err and "need a loss and a level" in err
