"""Sublevel persistence of symbolic landscapes (`persistence … by sublevel(…)`) and of sampled
grids (`backends.persistence.sublevel`): known diagrams within the grid's resolution, the elder rule, the
essential-class and noise conventions, distances, diagnostics, and no torch on this path."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.persistence.sublevel import bottleneck, diagram, total_persistence, wasserstein
from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path, capsys, text: str, *flags: str):
    path = tmp_path / "p.cat"
    path.write_text(text)
    code = main(["run", "--format", "json", "--store", str(tmp_path / "store"), *flags, str(path)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def _analysis(tmp_path, capsys, loss: str, box: str, grid: int = 41, extra: str = "") -> dict:
    code, report, err = _run(tmp_path, capsys, f"persistence P of Paths(loss = {loss}) by sublevel(box = {box}, "
                                                f"grid = {grid}{extra})\n")
    assert code == 0, err
    return report["analyses"]["P"]


def _finite(report: dict, dim: str, noise: bool = False) -> list[list[float]]:
    return sorted([b["birth"], b["death"]] for b in report["bars"]
                  if str(b["dimension"]) == dim and b["death"] is not None and (noise or not b["noise"]))


# ---- ground truth ---------------------------------------------------------------------------


def test_double_well_has_one_finite_bar_and_the_essential_class(tmp_path, capsys):
    r = _analysis(tmp_path, capsys, "(x, y) |-> (x^2 - 1)^2 + y^2", "[[-2, 2], [-1, 1]]")
    assert r["kind"] == "persistence"
    assert r["diagram"]["0"] == [[0.0, None], [0.0, 1.0]]  # the essential class first: death null
    assert r["diagram"]["1"] == []
    (bar,) = [b for b in r["bars"] if b["death"] is not None]
    assert bar["dies_at"] == [0.0, 0.0]  # the saddle
    assert sorted([bar["born_at"][0], next(b for b in r["bars"] if b["death"] is None)["born_at"][0]]) == [-1.0, 1.0]
    assert r["total_persistence"] == pytest.approx(1.0)


def test_ring_has_one_loop_and_its_grid_minima_are_flagged_as_noise(tmp_path, capsys):
    r = _analysis(tmp_path, capsys, "(x, y) |-> (x^2 + y^2 - 1)^2", "[[-2, 2], [-2, 2]]")
    (loop,) = _finite(r, "1")
    assert loop[0] == pytest.approx(0.0, abs=0.02) and loop[1] == pytest.approx(1.0)
    assert _finite(r, "0") == []  # the ring of minima, sampled, gives only tiny H0 bars …
    assert r["noise_bars"] > 0 and len(_finite(r, "0", noise=True)) == r["noise_bars"]  # … kept, flagged
    assert r["total_persistence"] == pytest.approx(loop[1] - loop[0])


@pytest.mark.parametrize("tilt", [0.1, 0.3])
def test_tilted_double_well_follows_the_elder_rule(tmp_path, capsys, tilt):
    """(x²−1)² + y² + t·x: minima near ∓1 at ∓t, the saddle near 0 at 1; the younger (higher)
    minimum dies at the saddle, the elder lives on."""
    r = _analysis(tmp_path, capsys, f"(x, y) |-> (x^2 - 1)^2 + y^2 + {tilt} * x", "[[-2, 2], [-1, 1]]", grid=81)
    (bar,) = _finite(r, "0")
    crit = np.roots([4, 0, -4, tilt])  # critical points of the 1-D profile
    values = sorted((x ** 2 - 1) ** 2 + tilt * x for x in crit.real)
    low, younger, saddle = values
    assert bar == pytest.approx([younger, saddle], abs=0.01)
    assert r["diagram"]["0"][0] == pytest.approx([low, None], abs=0.01)


def test_three_wells_in_one_variable_die_in_order():
    """f = x²(x²−1)²·(stuff) sampled directly: wells at −1, 0, 1 with values 0.2, 0, 0.1 merge
    into the elder (0) at their own saddles."""
    x = np.linspace(-1.6, 1.6, 641)
    f = (x ** 2) * (x ** 2 - 1) ** 2 + 0.05 * (x + 1.2) ** 2 * (x < -0.5) + 0.03 * (x - 1.2) ** 2 * (x > 0.5)
    d = diagram(f, [x])
    finite = sorted((b.birth, b.death) for b in d.bars if not b.essential and not b.noise)
    assert len(finite) == 2
    for birth, death in finite:  # each dies at the local maximum between it and the elder well
        between = f[(x > -1) & (x < 1)]
        assert death <= between.max() + 1e-12 and birth < death


def test_a_loss_of_three_variables_has_a_two_dimensional_diagram_key(tmp_path, capsys):
    r = _analysis(tmp_path, capsys, "(x, y, z) |-> (x^2 - 1)^2 + y^2 + z^2", "[[-2, 2], [-1, 1], [-1, 1]]", grid=21)
    assert set(r["diagram"]) == {"0", "1", "2"}
    assert _finite(r, "0") == [[0.0, 1.0]]


def test_one_variable_box_may_be_a_pair(tmp_path, capsys):
    r = _analysis(tmp_path, capsys, "x |-> (x^2 - 1)^2", "[-2, 2]")
    assert r["diagram"] == {"0": [[0.0, None], [0.0, 1.0]]}


def test_a_functor_into_paths_gives_its_loss(tmp_path, capsys):
    text = (ROOT / "examples" / "double_well.cat").read_text() + \
        "persistence P of W by sublevel(box = [[-2, 2], [-1, 1]], grid = 41, p = 2)\n"
    code, report, err = _run(tmp_path, capsys, text)
    assert code == 0, err
    assert _finite(report["analyses"]["P"], "0") == [[0.0, 1.0]]
    assert report["analyses"]["P"]["p"] == 2


def test_text_output_lists_bars_and_total(tmp_path, capsys):
    path = tmp_path / "p.cat"
    path.write_text("persistence P of Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2) by "
                    "sublevel(box = [[-2, 2], [-1, 1]], grid = 21)\n")
    assert main(["run", "--store", str(tmp_path / "s"), str(path)]) == 0
    out = capsys.readouterr().out
    assert "persistence P" in out and "total persistence 1" in out and "essential class excluded" in out


def test_the_symbolic_path_imports_no_torch(tmp_path):
    path = tmp_path / "p.cat"
    path.write_text("persistence P of Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2) by "
                    "sublevel(box = [[-2, 2], [-1, 1]], grid = 21)\n")
    code = ("import sys; from catdsl.cli import main; "
            f"rc = main(['run', '--format', 'json', '--store', {str(tmp_path / 's')!r}, {str(path)!r}]); "
            "assert rc == 0; assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# ---- diagnostics --------------------------------------------------------------------------------


@pytest.mark.parametrize("method, code, needle", [
    ("sublevel(box = [[-2, 2]], grid = 11)", "E311", "two numbers per variable"),
    ("sublevel(box = [[-2, 2], [1, -1]], grid = 11)", "E311", "low < high"),
    ("sublevel(box = [[-2, 2], [-1, 1]], grid = 1)", "E311", "`grid` must be an integer"),
    ("sublevel(box = [[-2, 2], [-1, 1]], grid = 2000)", "E401", "over the limit"),
    ("sublevel(box = [[-2, 2], [-1, 1]], grid = 11, colour = 1)", "E311", "no option `colour`"),
    ("sublevel(grid = 11)", "E311", "needs a `box`"),
    ("landscape(grid = 11)", "E222", "the subject must be a sweep"),
    ("banana(grid = 11)", "E222", "no method `banana`"),
])
def test_bad_options_are_diagnostics_at_their_place(tmp_path, capsys, method, code, needle):
    status, _, err = _run(tmp_path, capsys, f"persistence P of Paths(loss = (x, y) |-> x^2 + y^2) by {method}\n")
    assert status == 2
    main(["run", "--store", str(tmp_path / "store"), str(tmp_path / "p.cat")])
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err


def test_a_loss_that_is_not_real_on_the_box_is_reported_at_the_loss(tmp_path, capsys):
    path = tmp_path / "p.cat"
    path.write_text("persistence P of Paths(loss = (x, y) |-> sqrt(x) + y^2) by "
                    "sublevel(box = [[-1, 1], [-1, 1]], grid = 5)\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E311]" in err and "not real on the box" in err and "x = -1" in err and "1:31" in err


def test_the_grid_limit_is_a_flag(tmp_path, capsys):
    text = "persistence P of Paths(loss = (x, y) |-> x^2 + y^2) by sublevel(box = [[-1, 1], [-1, 1]], grid = 11)\n"
    status, _, _ = _run(tmp_path, capsys, text, "--max-grid", "100")
    assert status == 2
    assert _run(tmp_path, capsys, text, "--max-grid", "121")[0] == 0


# ---- the persistence module ---------------------------------------------------------------------


def test_total_persistence_p_norms_and_the_essential_convention():
    x = np.linspace(-2, 2, 81)
    X, Y = np.meshgrid(x, x, indexing="ij")
    d = diagram((X ** 2 - 1) ** 2 + Y ** 2 + 0.2 * X, [x, x])
    (bar,) = d.of(0, finite=True)
    assert total_persistence(d, 1) == pytest.approx(bar.persistence)
    assert total_persistence(d, 2) == pytest.approx(bar.persistence)
    assert total_persistence(d, math.inf) == pytest.approx(bar.persistence)
    assert total_persistence(d, 1, essential="truncate") == pytest.approx(bar.persistence + d.maximum - d.minimum)


def test_distances_between_diagrams():
    x = np.linspace(-2, 2, 81)
    X, Y = np.meshgrid(x, x, indexing="ij")
    a = diagram((X ** 2 - 1) ** 2 + Y ** 2, [x, x])
    b = diagram((X ** 2 - 1) ** 2 + Y ** 2 + 0.2 * X, [x, x])
    (ba,), (bb,) = a.of(0, finite=True), b.of(0, finite=True)
    expected = max(abs(ba.birth - bb.birth), abs(ba.death - bb.death))
    assert bottleneck(a, b) == pytest.approx(expected)
    assert wasserstein(a, b) == pytest.approx(expected)
    assert bottleneck(a, a) == pytest.approx(0, abs=1e-12) and wasserstein(a, a) == pytest.approx(0, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=40))
def test_one_dimensional_diagrams_follow_the_elder_rule(values):
    """Against a direct union-find over the sorted samples of a path graph: the same multiset
    of finite bars, one essential class at the minimum."""
    f = np.asarray(values)
    d = diagram(f)
    parent, birth, bars = {}, {}, []

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in sorted(range(len(f)), key=lambda i: (f[i], i)):
        parent[i], birth[i] = i, f[i]
        for j in (i - 1, i + 1):
            if j in parent:
                ri, rj = root(i), root(j)
                if ri != rj:
                    young, old = (ri, rj) if birth[ri] > birth[rj] else (rj, ri)
                    if f[i] > birth[young]:
                        bars.append((birth[young], f[i]))
                    parent[young] = old
    got = sorted((b.birth, b.death) for b in d.bars if not b.essential)
    assert np.allclose(np.array(got).reshape(-1, 2), np.array(sorted(bars)).reshape(-1, 2))
    (essential,) = [b for b in d.bars if b.essential]
    assert essential.birth == f.min()


def test_plots_of_a_report_are_pngs(tmp_path, capsys):
    from backends.persistence.plots import diagram_plot, heat_map

    r = _analysis(tmp_path, capsys, "(x, y) |-> (x^2 - 1)^2 + y^2 + 0.2 * x", "[[-2, 2], [-1, 1]]", grid=21)
    diagram_plot(r, tmp_path / "d.png", "double well")
    x, y = np.linspace(-2, 2, 21), np.linspace(-1, 1, 21)
    X, Y = np.meshgrid(x, y, indexing="ij")
    heat_map((X ** 2 - 1) ** 2 + Y ** 2 + 0.2 * X, (x, y), r, tmp_path / "h.png", "double well")
    for name in ("d.png", "h.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
