"""Plots of homotopy classes (backends/torch/homotopy_plots.py): the dendrogram cut at the level
is the partition, exhaustive or adaptive (skipped pairs), with non-numbers never joining; PNGs are
written by `catdsl run --plots DIR` and by `python -m backends.torch.homotopy_plots`, with the
stored per-point curves agreeing with the barriers."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from backends.torch.homotopy import components
from backends.torch.homotopy_plots import chosen, curves_plot, dendrogram_plot, partition_at
from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def _report(n: int, value: dict, level: float, exhaustive: bool, rng: random.Random) -> dict:
    """A classes report as `_sweep_report` makes it, from the algorithm on these barriers."""
    labels = [f"S[{i}]" for i in range(n)]
    order = sorted(value, key=lambda p: (value[p] if not math.isnan(value[p]) else 9.0) + rng.uniform(-0.3, 0.3))
    classes, found = components(n, lambda ps: [value[p] for p in ps], level, order=order, exhaustive=exhaustive)
    return {"kind": "classes", "of": "S", "level": level, "metric": "error", "path": "linear", "split": "train",
            "aligned": True, "order": "exhaustive" if exhaustive else "adaptive", "evaluations": len(found),
            "pairs": n * (n - 1) // 2, "classes": [[labels[i] for i in c] for c in classes],
            "barriers": {f"{labels[i]} ~ {labels[j]}": v for (i, j), v in found.items()}}


def _barriers(rng: random.Random, n: int, level: float) -> dict:
    k = rng.randint(1, max(1, n // 3))
    group = [rng.randrange(k) for _ in range(n)]
    value = {}
    for i, j in itertools.combinations(range(n), 2):
        low = (group[i] == group[j]) != (rng.random() < 0.15)
        value[(i, j)] = rng.uniform(0, level) if low else rng.uniform(level * 1.05, 3 * level)
        if rng.random() < 0.05:
            value[(i, j)] = math.nan  # a diverged point: never joins
    if value and rng.random() < 0.5:
        value[rng.choice(sorted(value))] = level  # exactly at the level joins
    return value


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("exhaustive", [True, False])
def test_the_dendrogram_cut_at_the_level_is_the_partition(seed, exhaustive):
    rng = random.Random(seed)
    n, level = rng.randint(2, 24), rng.choice([0.02, 0.5])
    report = _report(n, _barriers(rng, n, level), level, exhaustive, rng)
    assert {frozenset(c) for c in partition_at(report)} == {frozenset(c) for c in report["classes"]}
    if exhaustive:
        assert report["evaluations"] == report["pairs"]


def _png(path: Path) -> None:
    """A readable PNG with something drawn on it (more than a couple of colours)."""
    import matplotlib.image
    import numpy as np

    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5_000
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and min(pixels.shape[:2]) > 200
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]).round(2), axis=0)) > 10


def test_dendrogram_and_curves_are_pngs_and_pick_the_extremes(tmp_path):
    rng = random.Random(3)
    n, level = 12, 0.05
    report = _report(n, _barriers(rng, n, level), level, False, rng)
    # curves whose height above their endpoints' mean is the barrier
    curves = {}
    for pair, v in report["barriers"].items():
        if not math.isnan(v):
            curves[pair] = [0.1, 0.1 + v / 2, 0.1 + v, 0.1 + v / 3, 0.1]
    assert dendrogram_plot(report, tmp_path / "d.png", "dendrogram")
    assert curves_plot(report, curves, tmp_path / "c.png", "curves")
    _png(tmp_path / "d.png")
    _png(tmp_path / "c.png")
    picked = chosen(report, curves)
    finite = sorted(curves, key=lambda p: report["barriers"][p])
    assert len(picked) == min(6, len(finite)) and finite[0] in picked and finite[-1] in picked
    one = {**report, "classes": [["S[0]"]], "barriers": {}, "evaluations": 0, "pairs": 0}
    assert not dendrogram_plot(one, tmp_path / "one.png", "one run") and not (tmp_path / "one.png").exists()
    assert not curves_plot(report, {}, tmp_path / "none.png", "no curves")


PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 200)
model mlp = Linear(64, 8) >> ReLU >> Linear(8, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 32, epochs = 1, seed = 0)
}

sweep S = Run.fit over seed in 0..2, lr in [0.02, 0.3]
classes C of S by homotopy(level = 0.05, points = 5, align = true)
"""


def test_run_plots_writes_the_dendrogram_and_curves_of_a_sweep(tmp_path, capsys):
    path = tmp_path / "h.cat"
    path.write_text(PROGRAM)
    store, plots = tmp_path / "store", tmp_path / "plots"
    assert main(["run", "--format", "json", "--store", str(store), "--plots", str(plots), str(path)]) == 0
    out, err = capsys.readouterr()
    run = json.loads(out)
    report = run["analyses"]["C"]
    for name in ("C-dendrogram.png", "C-curves.png"):
        assert f"plot: {plots / name}" in err
        _png(plots / name)
    assert {frozenset(c) for c in partition_at(report)} == {frozenset(c) for c in report["classes"]}

    # the stored curves are the ones the barriers were measured on
    from backends.run.store import Store
    from backends.torch.homotopy_plots import barrier_curves

    key = next(j["key"] for j in run["jobs"] if j["kind"] == "classes")
    curves = barrier_curves(Store.open(store), key)
    assert set(curves) == set(report["barriers"]) and report["evaluations"] > 0
    for pair, values in curves.items():
        assert len(values) == 5
        assert max(values) - (values[0] + values[-1]) / 2 == pytest.approx(report["barriers"][pair])

    # from the JSON report and the store, without running anything
    (tmp_path / "run.json").write_text(out)
    again = tmp_path / "again"
    done = subprocess.run([sys.executable, "-m", "backends.torch.homotopy_plots", str(tmp_path / "run.json"),
                           str(again), "--store", str(store)], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(Path(p).name for p in done.stdout.split()) == ["C-curves.png", "C-dendrogram.png"]
    _png(again / "C-curves.png")
