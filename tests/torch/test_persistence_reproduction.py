"""The §4.3 reproductions (`examples/paper/persistence_vs_generalization*.cat`) end to end: 81
trained runs on digits and 54 on MNIST-1D with their landscapes, statistics beside the
baselines. Slow (minutes on 2 CPU cores); CI runs short versions (tests/test_examples.py,
`test_persistence_paper_example_runs_short`, and tests/torch/test_landscape.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "paper" / "persistence_vs_generalization.cat"


@pytest.mark.slow
def test_the_reproduction_reports_every_measure_over_every_run(tmp_path, capsys):
    assert main(["run", "--format", "json", "--store", str(tmp_path / "store"), str(EXAMPLE)]) == 0
    report = json.loads(capsys.readouterr().out)
    clean, noisy = report["analyses"]["Clean"], report["analyses"]["Label"]
    assert len(clean["runs"]) == 54 and len(noisy["runs"]) == 27
    for a in (clean, noisy, report["analyses"]["CleanTruncated"]):
        assert set(a["statistics"]) == {"total_persistence", "l2_norm", "sharpness", "hessian_trace"}
        assert a["statistics"]["l2_norm"]["n"] == len(a["runs"])
        assert a["statistics"]["l2_norm"]["kendall_tau"] is not None


MNIST1D = ROOT / "examples" / "paper" / "persistence_vs_generalization_mnist1d.cat"


@pytest.mark.slow
def test_the_mnist1d_reproduction_reports_every_measure_over_54_runs(tmp_path, capsys):
    assert main(["run", "--format", "json", "--store", str(tmp_path / "store"), str(MNIST1D)]) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("Mnist1d", "Mnist1dTruncated"):
        a = report["analyses"][name]
        assert len(a["runs"]) == 54
        assert set(a["statistics"]) == {"total_persistence", "l2_norm", "sharpness", "hessian_trace"}
        assert a["statistics"]["hessian_trace"]["n"] == 54
    # the sweep varies label noise: its members trained on three data sets
    values = {m["values"]["label_noise"] for m in report["analyses"]["M"]["members"].values()}
    assert values == {0, 0.1, 0.3}
