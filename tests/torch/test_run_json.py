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
    _groups_agree_with_members(sweep, {j["key"]: j["metrics"] for j in report["jobs"]})
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


def _groups_agree_with_members(sweep: dict, metrics: dict) -> None:
    """`groups`: one per learning rate of `seed in 0..3, lr in [0.05, 0.1]`, each over its four
    seeds, with the mean and sd of its members' accuracies and its most accurate member."""
    import statistics

    groups = sweep["groups"]
    assert [g["values"] for g in groups] == [{"lr": 0.05}, {"lr": 0.1}]
    members = sweep["members"]
    for g in groups:
        assert g["runs"] == len(g["members"]) == 4
        assert all(members[name]["values"]["lr"] == g["values"]["lr"] for name in g["members"])
        accuracies = {name: metrics[members[name]["key"]]["accuracy"] for name in g["members"]}
        assert abs(g["accuracy"]["mean"] - statistics.mean(accuracies.values())) < 1e-12
        assert abs(g["accuracy"]["sd"] - statistics.stdev(accuracies.values())) < 1e-12
        losses = [metrics[members[name]["key"]]["loss"] for name in g["members"]]
        assert abs(g["loss"]["mean"] - statistics.mean(losses)) < 1e-12
        assert accuracies[g["best"]] == max(accuracies.values())
    assert sorted(n for g in groups for n in g["members"]) == sorted(members)
