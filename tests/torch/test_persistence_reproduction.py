"""The §4.3 reproduction (`examples/paper/persistence_vs_generalization.cat`) end to end: 81
trained runs with their landscapes, statistics beside the baselines. Slow (minutes on 2 CPU
cores); CI runs the short version in tests/torch/test_landscape.py."""

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
