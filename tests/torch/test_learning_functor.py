"""Rep and the learning functor L = features(Run), end to end through the CLI: its laws on
real runs, broken cases, checkpoints and feature paths in the store, static errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 400)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, mid, final
  warm : init -> mid
  cool : mid -> final
  full : init -> final
  eq resume : cool . warm = full
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  warm |-> sgd(lr = 0.05, momentum = 0.9, batch = 32, epochs = 2, seed = 1)
  cool |-> sgd(lr = {lr2}, momentum = 0.9, batch = 32, epochs = 1, seed = 1)
  full |-> sgd(lr = 0.05, momentum = 0.9, batch = 32, epochs = 3, seed = 1)
}}

functor L : Training -> {rep} = features(Run)
{extra}
"""

REP = "Rep(probe = digits.test, layer = -2)"


def write(tmp_path: Path, rep: str = REP, extra: str = "", lr2: float = 0.05) -> Path:
    path = tmp_path / "l.cat"
    path.write_text(PROGRAM.format(rep=rep, extra=extra, lr2=lr2))
    return path


def check(path: Path, capsys, *flags) -> tuple[int, dict[str, dict]]:
    code = main(["check", "--format", "json", "--store", str(path.parent / "store"), *flags, str(path)])
    report = json.loads(capsys.readouterr().out)
    return code, {o["name"]: o for o in report["obligations"]}


def test_the_laws_of_L_hold_on_a_real_run(tmp_path, capsys):
    # a tolerance for the equalities does not become the structure condition's threshold
    code, laws = check(write(tmp_path, extra="check Run, L with tol = 1e-12"), capsys)
    assert code == 0
    assert {name.split(".")[0] for name in laws} == {"Run", "L"}
    for x in ("init", "mid", "final"):
        assert laws[f"L.map_id[{x}]"]["verdict"] == "proved"
    comp = laws["L.map_comp[warm, cool]"]
    assert comp["verdict"] == "proved" and "4 points along cool . warm" in comp["witness"]
    resume = laws["L.respects[resume]"]
    assert resume["verdict"] == "proved" and "4 points each" in resume["witness"]
    assert resume["via"] == "torch (bitwise)" and resume["span"]["line"] == 10
    for g, points in (("warm", 3), ("cool", 2), ("full", 4)):
        structure = laws[f"L.structure[{g}]"]
        # 450 probe points x 10 neighbours x (points - 1) later checkpoints
        assert structure["verdict"] == f"passed {450 * 10 * (points - 1)}"
        assert "violation rate" in structure["witness"] and "threshold 0.8" in structure["witness"]


def test_a_structure_condition_with_threshold_zero_fails(tmp_path, capsys):
    path = write(tmp_path, extra="check L.structure with tol = 0, k = 5")
    code, laws = check(path, capsys)
    assert set(laws) == {"L.structure[warm]", "L.structure[cool]", "L.structure[full]"}  # selected
    for o in laws.values():
        assert o["verdict"] == "failed" and "k = 5" in o["witness"] and "threshold 0" in o["witness"]
        rate = float(o["witness"].split("violation rate ")[1].split()[0])
        assert rate > 0.1  # training moves the features a lot
    assert code == 1


def test_bad_check_options_are_static_errors(tmp_path, capsys):
    """Options are validated against the laws they reach before anything trains (exit 2)."""
    path = write(tmp_path, extra="check L.structure with k = 0\ncheck L.map_id with speed = 1\n"
                                 "check L with k = 3\ncheck L.structure with tol = 2")
    assert main(["check", "--store", str(tmp_path / "store"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "`k` must be a positive integer, not 0" in err
    assert "`speed` is not an option of `L.map_id`" in err
    # k is the structure condition's own option: `check L` does not reach it
    assert "`k` is not an option of `L`" in err and "check L.structure with k = …" in err
    assert "violation rate in [0, 1], not 2" in err
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.safetensors"))


def test_L_respects_is_refuted_when_the_sides_train_differently(tmp_path, capsys):
    code, laws = check(write(tmp_path, lr2=0.02), capsys)
    resume = laws["L.respects[resume]"]
    assert resume["verdict"] == "refuted" and "largest difference" in resume["witness"]
    assert laws["Run.respects[resume]"]["verdict"] == "refuted"
    # the other laws of L still hold: functoriality does not depend on the equation
    assert laws["L.map_comp[warm, cool]"]["verdict"] == "proved"
    assert code == 1


def test_run_stores_checkpoints_and_feature_paths(tmp_path, capsys):
    from safetensors import safe_open

    from backends.run.store import Store

    path, store = write(tmp_path), tmp_path / "store"
    assert main(["run", "--store", str(store), str(path)]) == 0
    out = capsys.readouterr().out
    assert "L = features(Run): layer -2, probe digits.test (450 points)" in out
    assert "L(Run.warm)" in out and "CKA" in out and "violations" in out
    with Store.open(store) as s:
        jobs = {r.key: s.get(r.key) for r in s.runs()}
        features = {j.spec["label"]: j for j in jobs.values() if j.kind == "features"}
        assert set(features) == {"L(Run.warm after Run.init)", "L(Run.cool after Run.warm after Run.init)",
                                 "L(Run.full after Run.init)"}
        warm = features["L(Run.warm after Run.init)"]
        assert s.tensors(warm.key)["features"].shape == (3, 450, 16)  # start + 2 epochs
        assert warm.metrics["points"] == 3 and 0 <= warm.metrics["structure"] <= 1
        for ckpt in (j for j in jobs.values() if j.kind == "checkpoints"):
            assert ckpt.metrics["reproduces"] is True  # epoch by epoch = the stored run, bit for bit
            with safe_open(s.root / "tensors" / f"{ckpt.key}.safetensors", "pt") as f:  # safetensors only
                assert any(k.startswith("0/param/") for k in f.keys())
    assert main(["run", "--store", str(store), str(path)]) == 0
    assert "0 job(s) ran" in capsys.readouterr().out


def test_compile_lists_checkpoint_and_feature_jobs(tmp_path, capsys):
    assert main(["compile", str(write(tmp_path))]) == 0
    jobs = {j["label"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    feat = jobs["L(Run.warm after Run.init)"]
    ckpt = jobs["checkpoints of Run.warm after Run.init"]
    assert feat["deps"] == [ckpt["key"]] and ckpt["deps"] == [jobs["Run.warm after Run.init"]["key"]]
    assert feat["spec"]["layer"] == -2 and feat["spec"]["probe"]["size"] == 450
    # the options may also be keywords of `features`; the probe defaults to Run's test split
    path = write(tmp_path, rep="Rep")
    path.write_text(path.read_text().replace("features(Run)", "features(Run, layer = 0, size = 100)"))
    assert main(["compile", str(path)]) == 0
    jobs = {j["label"]: j for j in json.loads(capsys.readouterr().out)["jobs"]}
    spec = jobs["L(Run.warm after Run.init)"]["spec"]
    assert spec["layer"] == 0 and spec["probe"]["size"] == 100 and spec["probe"]["split"] == "test"


@pytest.mark.parametrize("rep, flags, code, needle", [
    ("Rep(probe = digits.test, layer = 7)", (), "E404", "layer 7 is not a layer of `mlp`"),
    ("Rep(probe = digits.test, layer = -4)", (), "E404", "-3..2"),
    ("Rep(probe = digits.test)", ("--max-probe", "100"), "E401", "--max-probe"),
    ("Rep(probe = digits.test, size = 200)", ("--max-probe", "100"), "E401", "200 points"),
    ("Rep(probe = digits.test, size = 2)", (), "E404", "from 4 to 450"),
    ("Rep(probe = nothing.test)", (), "E404", "`nothing` is not a declared data set"),
    ("Rep(probe = digits.valid)", (), "E404", "a data set's split"),
    ("Rep(probe = digits, depth = 2)", (), "E404", "no option `depth`"),
    ("Rep(digits)", (), "E404", "keyword arguments"),
])
def test_static_errors_of_Rep(tmp_path, capsys, rep, flags, code, needle):
    assert main(["check", *flags, str(write(tmp_path, rep=rep))]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err


@pytest.mark.parametrize("definition, needle", [
    ("features(Nope)", "`Nope` is not a functor into Param"),
    ("features()", "`features` takes the functor into Param"),
    ("pca(Run)", "is `features(…)`"),
])
def test_the_definition_must_be_features_of_a_functor_into_param(tmp_path, capsys, definition, needle):
    path = write(tmp_path)
    path.write_text(path.read_text().replace("features(Run)", definition))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E404]" in err and needle in err


def test_a_probe_of_another_shape_does_not_fit(tmp_path, capsys):
    path = write(tmp_path, rep="Rep(probe = img.test)")
    path.write_text(path.read_text() + 'data img = dataset("digits", image = true)\n')
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E402]" in err and "shape" in err
