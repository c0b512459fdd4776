"""A fully cached `catdsl run` (and `catdsl compile`) imports neither torch nor scikit-learn: the
program is read from the data facts recorded in the run store, model sizes are counted without
torch, the device is decided only when a job runs, and the tables print stored metrics. What
changed is still recomputed, and static errors are still found from the cached facts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = {model}

category Training {{
  objects init, trained
  fit : init -> trained
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = {lr}, momentum = 0.9, batch = 32, epochs = 1, seed = 0)
}}

functor L : Training -> Rep(probe = {probe}, layer = -2, size = 100) = features(Run)
sweep S = Run.fit over seed in 0..1
{extra}
"""
MLP = "Linear(64, 16) >> ReLU >> Linear(16, 10)"
# Run.init, Run.fit, its checkpoints and features, init(seed = 1), two sweep members
JOBS = 7

# Runs the CLI in a fresh interpreter and reports which heavy modules it imported.
PROBE = """
import json, sys
import catdsl.cli
rc = catdsl.cli.main(sys.argv[1:])
sys.stdout.flush()
print("HEAVY=" + json.dumps(sorted(m for m in ("torch", "sklearn") if m in sys.modules)))
sys.exit(rc)
"""


def write(tmp_path: Path, model: str = MLP, lr: float = 0.1, probe: str = "digits.test", extra: str = "",
          name: str = "c.cat") -> Path:
    path = tmp_path / name
    path.write_text(PROGRAM.format(model=model, lr=lr, probe=probe, extra=extra))
    return path


def fresh_process(*argv: str) -> tuple[int, str, str, list[str]]:
    """(exit code, stdout, stderr, heavy modules imported) of `catdsl ARGV` in a new interpreter."""
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=300)
    out, _, heavy = done.stdout.rpartition("HEAVY=")
    return done.returncode, out, done.stderr, json.loads(heavy)


def test_a_cached_run_and_compile_import_neither_torch_nor_sklearn(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["run", str(path)]) == 0  # the default store, .catdsl/ beside the file
    assert f"{JOBS} job(s) ran, 0 reused" in capsys.readouterr().out
    code, out, err, heavy = fresh_process("run", str(path))
    assert code == 0, err
    assert heavy == []
    assert f"0 job(s) ran, {JOBS} reused" in out
    # every table is printed from the stored metrics
    assert "Run.trained" in out and "sweep S = Run.fit (2 runs)" in out and "L(Run.fit)" in out
    code, out, err, heavy = fresh_process("compile", str(path))
    assert code == 0 and heavy == [], err
    assert len(json.loads(out)["jobs"]) == JOBS


def test_a_changed_hyperparameter_is_recomputed(tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["run", "--store", store, str(write(tmp_path))]) == 0
    capsys.readouterr()
    # lr changes Run.fit and what follows it (checkpoints, features, both sweep members)
    code, out, err, heavy = fresh_process("run", "--store", store, str(write(tmp_path, lr=0.05)))
    assert code == 0, err
    assert "5 job(s) ran, 2 reused" in out and "torch" in heavy
    code, out, _, heavy = fresh_process("run", "--store", store, str(write(tmp_path, lr=0.05)))
    assert "0 job(s) ran, 7 reused" in out and heavy == []


def test_a_shape_error_is_found_from_cached_facts(tmp_path, capsys):
    store = str(tmp_path / "store")
    assert main(["run", "--store", store, str(write(tmp_path))]) == 0
    capsys.readouterr()
    bad = write(tmp_path, model=MLP.replace("Linear(64, 16)", "Linear(60, 16)"))
    code, _, err, heavy = fresh_process("run", "--store", store, str(bad))
    assert code == 2 and heavy == []
    assert "error[E402]" in err and "expects 60" in err and "(64,)" in err
    # a probe of another shape: its facts are recorded the first time, then read from the store
    other = write(tmp_path, probe="img.test", extra='data img = dataset("digits", image = true)')
    for _ in range(2):
        code, _, err, heavy = fresh_process("run", "--store", store, str(other))
        assert code == 2 and "error[E402]" in err and "(1, 8, 8)" in err
    assert heavy == []


def test_data_that_cannot_be_read_any_more_is_E403_when_a_job_needs_it(tmp_path, capsys):
    import numpy as np

    root = tmp_path / "mnist"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("train-images-idx3-ubyte", (40, 28, 28)), ("train-labels-idx1-ubyte", (40,)),
                        ("t10k-images-idx3-ubyte", (10, 28, 28)), ("t10k-labels-idx1-ubyte", (10,))):
        header = bytes([0, 0, 0x08, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)
        (root / name).write_bytes(header + rng.integers(0, 10, shape, dtype=np.uint8).tobytes())
    text = (PROGRAM.replace('dataset("digits", test = 0.25, seed = 0, limit = 300)', f'dataset("mnist", root = "{root}")')
            .split("functor L")[0])
    path, store = tmp_path / "m.cat", str(tmp_path / "store")
    path.write_text(text.format(model="Flatten >> Linear(784, 10)", lr=0.1))
    assert main(["run", "--store", store, str(path)]) == 0
    assert "2 job(s) ran" in capsys.readouterr().out
    for f in root.iterdir():
        f.unlink()
    assert main(["run", "--store", store, str(path)]) == 0  # nothing to run: the store answers
    assert "0 job(s) ran" in capsys.readouterr().out
    path.write_text(text.format(model="Flatten >> Linear(784, 10)", lr=0.2))
    assert main(["run", "--store", store, str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E403]" in err and "is missing" in err and f"{path}:2:1" in err


def test_digits_are_cached_as_npz_and_reloaded_without_sklearn(tmp_path, monkeypatch):
    import backends.torch.data as data
    from backends.torch.data import DataFacts, DataSpec, data_facts, load_dataset

    spec = DataSpec.of("digits", test=0.3, seed=2, limit=500, image=True)
    fresh = load_dataset(spec)
    facts = data_facts(spec, tmp_path)
    assert facts == DataFacts((1, 8, 8), 10, 500, fresh.facts.test_size) == fresh.facts
    assert len(list(tmp_path.glob("digits-*.npz"))) == 1

    def no_sklearn(*args, **kwargs):
        raise AssertionError("the cached split should have been used")

    monkeypatch.setattr(data, "_split_digits", no_sklearn)
    cached = load_dataset(spec, tmp_path)
    for name in ("x_train", "y_train", "x_test", "y_test"):  # bit for bit the split sklearn made
        assert getattr(cached, name).numpy().tobytes() == getattr(fresh, name).numpy().tobytes()
    other = DataSpec.of("digits", test=0.3, seed=2)  # another limit: the same cached split
    assert data_facts(other, tmp_path).train_size == 1257


def test_facts_are_keyed_by_spec_and_a_damaged_file_is_only_a_miss(tmp_path, monkeypatch):
    import backends.torch.data as data
    from backends.torch.data import FACTS_FILE, DataSpec, data_facts

    a, b = DataSpec.of("digits"), DataSpec.of("digits", limit=100)
    assert data_facts(a, tmp_path).train_size == 1347 and data_facts(b, tmp_path).train_size == 100
    recorded = json.loads((tmp_path / FACTS_FILE).read_text())["facts"]
    assert set(recorded) == {a.to_json(), b.to_json()}

    def no_load(*args, **kwargs):
        raise AssertionError("the recorded facts should have been used")

    with monkeypatch.context() as m:
        m.setattr(data, "_load_arrays", no_load)
        assert data_facts(a, tmp_path).input_shape == (64,)
    for damage in ("{not json", '{"format": "catdsl-data-facts/0", "facts": {}}',
                   json.dumps({"format": data.FACTS_FORMAT, "facts": {a.to_json(): {"input_shape": "64"}}})):
        (tmp_path / FACTS_FILE).write_text(damage)
        assert data_facts(a, tmp_path).input_shape == (64,)  # reloaded and recorded again
    assert a.to_json() in json.loads((tmp_path / FACTS_FILE).read_text())["facts"]


def _models():
    from backends.torch.models import (BatchNorm2d, Conv2d, Flatten, GlobalAvgPool, GroupNorm, LayerNorm, Linear,
                                       MaxPool2d, ReLU, Residual, ResNet18)

    return {
        "mlp": (Linear(64, 16) >> ReLU() >> Linear(16, 10, bias=False), (64,)),
        "cnn": (Conv2d(1, 4, 3, padding=1) >> BatchNorm2d(4) >> GroupNorm(2, 4) >> MaxPool2d(2) >> Flatten()
                >> LayerNorm(64), (1, 8, 8)),
        "residual": (Residual(Conv2d(1, 2, 3, padding=1, bias=False), Conv2d(1, 2, 1)) >> GlobalAvgPool(), (1, 8, 8)),
        "resnet18": (ResNet18(num_classes=10, in_channels=1), (1, 32, 32)),
    }


@pytest.mark.parametrize("name", ["mlp", "cnn", "residual", "resnet18"])
def test_parameters_are_counted_without_torch_as_torch_counts_them(name):
    from backends.torch.models import build, parameter_count

    model, shape = _models()[name]
    assert parameter_count(model, shape) == sum(p.numel() for p in build(model).parameters())
