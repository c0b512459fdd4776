"""The command line in a workflow: an exploding (finite) loss is flagged, Ctrl-C keeps the jobs
that finished, `--device` is checked, `runs` filters and prints for pipes (tsv, json), `compile`
takes `--format json`, and `export` writes a state that loads into a plain torch module."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, trained
  fit : init -> trained
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = {lr}, batch = {batch}, epochs = {epochs}, seed = 0)
}}
{extra}
"""


def write(where: Path, lr: float = 0.1, batch: int = 32, epochs: int = 1, extra: str = "",
          name: str = "w.cat") -> Path:
    path = where / name
    path.write_text(PROGRAM.format(lr=lr, batch=batch, epochs=epochs, extra=extra))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A store with Run (lr 0.1) and a sweep over lr in [0.1, 1e6], run once as JSON."""
    where = tmp_path_factory.mktemp("workflow")
    path = write(where, extra="sweep S = Run.fit over lr in [0.1, 1000000.0]")
    store = where / "store"
    done = subprocess.run([sys.executable, "-m", "catdsl.cli", "run", "--format", "json", "--store", str(store),
                           str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return path, store, json.loads(done.stdout)


# ---- divergence -----------------------------------------------------------------------------


def test_an_exploding_loss_is_a_warning_in_the_json_metrics(trained):
    _, _, report = trained
    by_label = {j["label"]: j for j in report["jobs"]}
    exploded = by_label["S[lr=1000000.0]"]["metrics"]
    assert exploded["accuracy"] < 0.3 and "loss exploded" in exploded["warning"]
    assert "warning" not in by_label["S[lr=0.1]"]["metrics"]
    assert "warning" not in by_label["Run.fit after Run.init"]["metrics"]


def test_an_exploding_loss_is_a_warning_in_the_run_table(trained, capsys):
    path, store, _ = trained
    assert main(["run", "--store", str(store), str(path)]) == 0
    out = capsys.readouterr().out
    assert "loss exploded" in out
    (line,) = [line for line in out.splitlines() if line.startswith("warning: S[1]")]
    assert "lower the learning rate" in line


def test_an_exploding_single_run_is_flagged_in_its_states_table(tmp_path, capsys):
    path = write(tmp_path, lr=1e6, epochs=2)
    assert main(["run", "--store", str(tmp_path / "s"), str(path)]) == 0
    out = capsys.readouterr().out
    assert "warning: Run.trained: loss exploded" in out


# ---- Ctrl-C -----------------------------------------------------------------------------------


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # so the child installs Python's own handler


def test_ctrl_c_exits_130_and_keeps_the_finished_jobs(tmp_path):
    path = write(tmp_path, batch=1, epochs=50)  # init at once, then a long training job
    store = tmp_path / "s"
    child = subprocess.Popen([sys.executable, "-m", "catdsl.cli", "run", "--store", str(store), str(path)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            try:
                with sqlite3.connect(store / "catdsl.sqlite", timeout=5) as db:
                    if db.execute("SELECT count(*) FROM jobs").fetchone()[0] >= 1:
                        break
            except sqlite3.OperationalError:
                pass  # not made yet
            time.sleep(0.1)
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, err
    assert "interrupted; 1 job kept" in err and "Traceback" not in err
    # a new run reuses what was kept
    with sqlite3.connect(store / "catdsl.sqlite") as db:
        assert [k for (k,) in db.execute("SELECT kind FROM jobs")] == ["init"]


# ---- --device ---------------------------------------------------------------------------------


def test_an_unknown_device_is_e408_before_any_work(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["run", "--device", "gpu", "--store", str(tmp_path / "s"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E408]" in err and "--device gpu" in err and "internal error" not in err
    assert not (tmp_path / "s").exists()


def test_cuda_without_cuda_is_e408_not_a_silent_cpu_run(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = write(tmp_path)
    assert main(["run", "--device", "cuda", "--store", str(tmp_path / "s"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E408]" in err and "CUDA is not available" in err
    assert main(["runs", "--store", str(tmp_path / "s"), "--format", "tsv"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # the header only: nothing trained


# ---- runs ---------------------------------------------------------------------------------------


def test_runs_filters_and_prints_tsv_with_hyperparameters(trained, capsys):
    path, store, report = trained
    assert main(["runs", "--store", str(store), "--kind", "train", "--format", "tsv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t") == ["id", "kind", "label", "lr", "epochs", "seed", "loss", "accuracy", "seconds",
                                    "when"]
    rows = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    assert {r["label"] for r in rows} == {"Run.fit after Run.init", "S[lr=0.1]", "S[lr=1000000.0]"}
    assert {r["lr"] for r in rows} == {"0.1", "1000000.0"} and {r["epochs"] for r in rows} == {"1"}
    assert all(len(r["id"]) == 64 for r in rows)  # full keys, nothing cut
    assert main(["runs", "--store", str(store), "--label", "S[", "--format", "tsv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 2
    assert main(["runs", "--store", str(store), "--file", str(path), "--format", "tsv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(report["jobs"])
    assert main(["runs", "--store", str(store), "--file", str(path.with_name("other.cat")), "--format", "tsv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_runs_as_json(trained, capsys):
    path, store, report = trained
    assert main(["runs", "--store", str(store), "--format", "json", "--kind", "init"]) == 0
    listed = json.loads(capsys.readouterr().out)
    (init,) = listed["jobs"]
    assert init["label"] == "Run.init" and init["hyperparameters"] == {"seed": 0}
    assert init["files"] == [str(path.resolve())] and init["key"] in {j["key"] for j in report["jobs"]}


def test_runs_piped_is_one_line_per_job(trained, capsys):
    _, store, report = trained
    assert main(["runs", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert sum("Run.fit after Run.init" in line for line in out.splitlines()) == 1  # not wrapped
    assert f"{len(report['jobs'])} finished job(s)" in out


# ---- compile, export ------------------------------------------------------------------------------


def test_compile_takes_format_json(trained, capsys):
    path, store, _ = trained
    assert main(["compile", "--store", str(store), str(path)]) == 0
    plain = capsys.readouterr().out
    assert main(["compile", "--format", "json", "--store", str(store), str(path)]) == 0
    assert capsys.readouterr().out == plain and json.loads(plain)["jobs"]


def test_export_writes_safetensors_and_a_model_spec_that_load(trained, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    from backends.run.store import Store
    from backends.torch.models import build, spec_from_json

    path, store, report = trained
    out = tmp_path / "exported"
    assert main(["export", str(path), "S[0]", "--store", str(store), "--to", str(out)]) == 0
    assert "exported S[0]" in capsys.readouterr().out
    spec = json.loads((out / "model.json").read_text())
    member = next(j for j in report["jobs"] if j["label"] == "S[lr=0.1]")
    assert spec["key"] == member["key"] and spec["digest"] == member["digest"] and spec["input_shape"] == [64]
    # the loading code of docs/language.md §8.5
    model = build(spec_from_json(json.dumps(spec["model"])))
    model.load_state_dict(load_file(out / "model.safetensors"))
    with Store.open(store) as s:
        stored = s.tensors(member["key"])
    assert all(torch.equal(t, stored[f"param/{name}"]) for name, t in model.state_dict().items())
    assert model(torch.zeros(2, 64)).shape == (2, 10)


def test_export_of_an_unknown_or_unrun_state_is_e903(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["export", str(path), "Run.nothing", "--store", str(tmp_path / "s"), "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error[E903]" in err and "Run.trained" in err  # the states it has
    assert main(["export", str(path), "Run.trained", "--store", str(tmp_path / "s"), "--to", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error[E903]" in err and "catdsl run" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


def test_export_to_a_folder_that_cannot_be_made_is_e904(trained, tmp_path, capsys):
    path, store, _ = trained
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["export", str(path), "Run.trained", "--store", str(store), "--to", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "error[E904]" in err and "a-file" in err
