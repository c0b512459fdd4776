"""Sweeps, end to end through the CLI: expansion, bounds, one batched ensemble equal to single
runs, reuse of finished members, the results table and the law `S.ensemble`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 400)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, trained
  fit : init -> trained
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 32, epochs = 2, seed = 0)
}}

sweep {sweep}
"""

SWEEP = "S = Run.fit over seed in 0..2, lr in [0.05, 0.1]"


def write(tmp_path: Path, sweep: str = SWEEP, name: str = "s.cat") -> Path:
    path = tmp_path / name
    path.write_text(PROGRAM.format(sweep=sweep))
    return path


def compile_jobs(path: Path, capsys) -> list[dict]:
    assert main(["compile", str(path)]) == 0
    return json.loads(capsys.readouterr().out)["jobs"]


def test_a_sweep_expands_to_the_product_of_its_bindings(tmp_path, capsys):
    jobs = compile_jobs(write(tmp_path), capsys)
    members = [j for j in jobs if j["label"].startswith("S[")]
    # the first binding varies slowest; each member is one ensemble train job
    assert [j["label"] for j in members] == [f"S[seed={s}, lr={lr}]" for s in range(3) for lr in (0.05, 0.1)]
    assert all(j["kind"] == "train" and j["spec"]["ensemble"] is True for j in members)
    assert [(j["spec"]["optimizer"]["seed"], j["spec"]["optimizer"]["lr"]) for j in members] == \
        [(s, lr) for s in range(3) for lr in (0.05, 0.1)]
    assert {j["spec"]["optimizer"]["momentum"] for j in members} == {0.9}  # unbound keywords kept
    # `seed` also sets the init seed of the source object: seed 0 is Run's own initial state
    inits = {j["spec"]["seed"]: j["key"] for j in jobs if j["kind"] == "init"}
    assert set(inits) == {0, 1, 2}
    assert [j["deps"] for j in members] == [[inits[s]] for s in range(3) for _ in range(2)]
    # a member equal to Run.fit is still its own job: ensemble results agree only up to rounding
    fit = next(j for j in jobs if j["label"] == "Run.fit after Run.init")
    assert fit["key"] not in {j["key"] for j in members}
    assert len({j["key"] for j in members}) == 6


def test_identical_members_are_one_job(tmp_path, capsys):
    jobs = compile_jobs(write(tmp_path, "S = Run.fit over lr in [0.1, 0.1, 0.2]"), capsys)
    assert [j["label"] for j in jobs if j["label"].startswith("S[")] == ["S[lr=0.1]", "S[lr=0.2]"]


def test_sweep_size_is_bounded_by_max_runs(tmp_path, capsys):
    path = write(tmp_path, "S = Run.fit over seed in 0..999999999, lr in [0.05, 0.1]")
    assert main(["compile", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E401]" in err and "--max-runs" in err and "2,000,000,000 runs" in err
    assert main(["check", "--max-runs", "5", str(write(tmp_path))]) == 2
    assert "6 runs, over the limit of 5" in capsys.readouterr().err


@pytest.mark.parametrize("sweep, code, needle", [
    ("S = Run.fit over speed in 0..2", "E404", "cannot vary `speed`"),
    ("S = Run.fit over seed in 3..1", "E404", "is empty"),
    ("S = Run.fit over seed in 0..1, seed in [4]", "E404", "bound twice"),
    ("S = Run.nothing over seed in 0..1", "E404", "maps no generator `nothing`"),
    ("S = Other.fit over seed in 0..1", "E201", "`Other` is not declared"),
    ("S = Training.fit over seed in 0..1", "E222", "`Training` is a category, not a functor"),
    ("S = Run.fit over lr in [0.1, -1]", "E404", "lr must be a positive number"),
    ("S = Run.fit over epochs in [1, 500]", "E401", "--max-epochs"),
    ("S = Run.fit over seed in 0.5..2", "E404", "between integers"),
])
def test_bad_sweeps_are_static_errors(tmp_path, capsys, sweep, code, needle):
    assert main(["check", str(write(tmp_path, sweep))]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err


def test_members_train_as_one_ensemble_equal_to_single_runs(tmp_path, capsys):
    from backends.run.store import Store
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import OptimizerSpec, TrainingState, init_state, states_equal, train

    path, store = write(tmp_path), tmp_path / "store"
    assert main(["run", "--store", str(store), str(path)]) == 0
    out = capsys.readouterr().out
    assert "sweep S = Run.fit (6 runs)" in out and "test acc" in out and "mean ± sd over 6 runs" in out
    assert "S[5]" in out
    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0, limit=400))
    model = Linear(64, 16) >> ReLU() >> Linear(16, 10)
    with Store.open(store) as s:
        members = [r for r in s.runs() if s.get(r.key).spec["label"].startswith("S[")]
        assert len(members) == 6
        for row in members:
            job = s.get(row.key)
            assert job.metrics["members"] == 6  # all six trained in one batched run
            o = job.spec["optimizer"]
            alone = train(init_state(model, data.input_shape, o["seed"]), model, data,
                          OptimizerSpec("sgd", lr=o["lr"], momentum=0.9, batch=32, epochs=2, seed=o["seed"])).end
            stored = TrainingState.from_tensors(s.tensors(row.key), job.metrics["step"], job.metrics["epoch"])
            assert states_equal(stored, alone)[1] <= 1e-5
            assert job.state_digest == stored.digest()
    # a second run reuses every member (and everything before them)
    assert main(["run", "--store", str(store), str(path)]) == 0
    assert "0 job(s) ran, 10 reused" in capsys.readouterr().out  # 3 inits, Run.fit, 6 members
    # a wider sweep trains only its new members
    wider = write(tmp_path, "S = Run.fit over seed in 0..3, lr in [0.05, 0.1]", name="wider.cat")
    assert main(["run", "--store", str(store), str(wider)]) == 0
    assert "3 job(s) ran, 10 reused" in capsys.readouterr().out  # init(seed=3) and two members


def test_check_decides_the_ensemble_law(tmp_path, capsys):
    path = write(tmp_path, "S = Run.fit over seed in 0..1, lr in [0.05, 0.1]")
    code = main(["check", "--format", "json", "--store", str(tmp_path / "store"), str(path)])
    report = json.loads(capsys.readouterr().out)
    law = next(o for o in report["obligations"] if o["name"] == "S.ensemble")
    assert law["verdict"] in ("proved", "passed 2") and "4 members as one ensemble" in law["witness"]
    assert law["span"]["line"] == 15 and code == 0


def test_members_that_cannot_share_a_batch_train_one_at_a_time(tmp_path, capsys):
    from backends.run.store import Store

    path, store = write(tmp_path, "S = Run.fit over seed in 0..1"), tmp_path / "store"
    path.write_text(path.read_text().replace("ReLU >> Linear(16, 10)", "ReLU >> Dropout(0.1) >> Linear(16, 10)"))
    assert main(["run", "--store", str(store), str(path)]) == 0
    assert "sweep S = Run.fit (2 runs)" in capsys.readouterr().out
    with Store.open(store) as s:
        members = [s.get(r.key) for r in s.runs() if s.get(r.key).spec["label"].startswith("S[")]
        assert [j.metrics["members"] for j in members] == [1, 1]  # Dropout: no shared batch


def test_a_diverging_member_is_reported_and_the_others_are_kept(tmp_path, capsys):
    from backends.run.store import Store

    path, store = write(tmp_path, "S = Run.fit over lr in [0.05, 1e30]"), tmp_path / "store"
    assert main(["run", "--store", str(store), str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E405]" in err and "S[lr=1e+30]" in err and f"{path}:15:1" in err
    with Store.open(store) as s:
        labels = [s.get(r.key).spec["label"] for r in s.runs()]
    assert "S[lr=0.05]" in labels and "S[lr=1e+30]" not in labels
