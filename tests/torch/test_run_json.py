"""`catdsl run --format json`: one shape for every file — every job with its digest and metrics,
every sweep and analysis under `analyses` — and nothing else on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_a_sweep_run_as_json(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["run", "--format", "json", "--store", str(store), str(ROOT / "examples" / "sweep.cat")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"file", "jobs", "analyses", "counts"}
    assert report["counts"]["ran"] == len(report["jobs"]) > 0
    for job in report["jobs"]:
        assert set(job) >= {"label", "kind", "key", "digest", "seconds", "metrics"}
        assert job["kind"] in ("init", "train", "checkpoints", "features")
    trained = [j for j in report["jobs"] if j["kind"] == "train"]
    assert all(len(j["digest"]) == 64 and 0 <= j["metrics"]["accuracy"] <= 1 for j in trained)
    (sweep,) = [a for a in report["analyses"].values() if a["kind"] == "sweep"]
    keys = {j["key"] for j in report["jobs"]}
    assert all(m["key"] in keys for m in sweep["members"].values())
    # a second run reuses everything and reports the same digests
    assert main(["run", "--format", "json", "--store", str(store), str(ROOT / "examples" / "sweep.cat")]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == {"reused": len(report["jobs"]), "ran": 0}
    assert [j["digest"] for j in again["jobs"]] == [j["digest"] for j in report["jobs"]]


def test_a_file_without_learning_has_the_same_shape(tmp_path, capsys):
    assert main(["run", "--format", "json", "--store", str(tmp_path / "s"), str(ROOT / "examples" / "square.cat")]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "file": str(ROOT / "examples" / "square.cat"), "jobs": [], "analyses": {}, "counts": {"reused": 0, "ran": 0}}


def test_run_refuses_an_analysis_nothing_computes(tmp_path, capsys, monkeypatch):
    from catdsl import analysis

    monkeypatch.setattr(analysis, "registry", lambda: {})
    path = tmp_path / "a.cat"
    path.write_text((ROOT / "tests" / "golden" / "ill-e222-classes-of-a-category.cat").read_text()
                    .replace("classes K of Valley", "classes K of V").replace("classes K2 of Swep", "classes K2 of V"))
    assert main(["run", "--format", "json", "--store", str(tmp_path / "s"), str(path)]) == 2
    assert "error[E215]" in capsys.readouterr().err
