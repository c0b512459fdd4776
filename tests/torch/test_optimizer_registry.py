"""The optimizer registry is the one seam for optimizers: a toy optimizer registered in one place
(Signum: sign-SGD with momentum, with a hyperparameter of its own) is read from .cat files,
validated, hashed, swept, trained alone and as a batched ensemble, and resumes bit for bit —
without touching segment, train, ensemble, the executor or the program reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from backends.run.store import Store
from backends.torch.optimizers import LR, OPTIMIZERS, Hyperparameter, Optimizer, hint, optimizer
from backends.torch.segment import OptimizerSpec
from backends.torch.updates import broadcast
from catdsl.cli import main


def signum_update(params, grads, opt_state, hyper):
    """m ← β·m + (1 − β)·g (m₀ = g), p ← p − lr·sign(m); β = 0 is plain sign-SGD."""
    lr, beta = hyper["lr"], hyper["beta"]
    new_params, new_state = {}, dict(opt_state)
    for name, p in params.items():
        key = f"signum.momentum/{name}"
        m = opt_state.get(key)
        m = grads[name] if m is None else broadcast(beta, p) * m + (1 - broadcast(beta, p)) * grads[name]
        new_state[key] = m
        new_params[name] = p - broadcast(lr, p) * torch.sign(m)
    return new_params, new_state


def _unit(value) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"beta must lie in [0, 1), got {value!r}")
    return float(value)


SIGNUM = Optimizer("signum", signum_update, (LR, Hyperparameter("beta", 0.9, _unit)), per_member=("beta",),
                   state_keys=lambda spec, params: frozenset(f"signum.momentum/{n}" for n in params))


@pytest.fixture(autouse=True)
def signum(monkeypatch):
    monkeypatch.setitem(OPTIMIZERS, "signum", SIGNUM)  # the one registry line


PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, mid, final
  warm : init -> mid
  cool : mid -> final
  full : init -> final
  eq resume : cool . warm = full
}}

functor Run : Training -> Param(mlp, digits) {{
  init |-> init(seed = 0)
  warm |-> signum(lr = 0.01, {warm}batch = 32, epochs = 1, seed = 1)
  cool |-> signum(lr = 0.01, beta = 0.5, batch = 32, epochs = 1, seed = 1)
  full |-> signum(lr = 0.01, beta = 0.5, batch = 32, epochs = 2, seed = 1)
}}

sweep S = Run.full over {sweep}
"""


def write(tmp_path: Path, warm: str = "beta = 0.5, ", sweep: str = "beta in [0.0, 0.5, 0.9]") -> Path:
    path = tmp_path / "signum.cat"
    path.write_text(PROGRAM.format(warm=warm, sweep=sweep))
    return path


def test_a_registered_optimizer_is_validated_and_hashed_like_the_builtins():
    spec = OptimizerSpec.of("signum", lr=0.01, beta=0.5, epochs=2)
    assert spec.options == (("beta", 0.5),) and spec.hyper(0)["beta"] == 0.5
    assert json.loads(spec.to_json())["beta"] == 0.5
    assert OptimizerSpec.from_json(json.loads(spec.to_json())).to_json() == spec.to_json()
    assert OptimizerSpec.of("signum", lr=0.01).options == (("beta", 0.9),)  # the default, hashed
    assert spec.replace(beta=0.25).options == (("beta", 0.25),)
    with pytest.raises(ValueError, match="beta must lie in"):
        OptimizerSpec.of("signum", lr=0.01, beta=1.5)
    with pytest.raises(ValueError, match="signum takes no `momentum`; it takes lr, beta, batch, epochs, seed"):
        OptimizerSpec.of("signum", lr=0.01, momentum=0.9)
    assert "signum(lr, beta, …)" in hint()
    # the builtins' JSON is unchanged (stored job keys stay valid)
    assert OptimizerSpec("sgd", lr=0.1).to_json() == (
        '{"batch":64,"betas":[0.9,0.999],"epochs":1,"eps":1e-08,"lr":0.1,"momentum":0.0,"name":"sgd",'
        '"nesterov":false,"schedule":{"kind":"constant"},"seed":0,"weight_decay":0.0}')
    assert optimizer("adamw").constants["decoupled"] is True


def test_a_registered_optimizer_trains_resumes_and_sweeps_as_an_ensemble(tmp_path, capsys):
    path, store = write(tmp_path), tmp_path / "store"
    # the resume law holds bit for bit: the optimizer state (momenta) is part of the state
    assert main(["check", "--format", "json", "--store", str(store), "--only", "Run", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    resume = next(o for o in report["obligations"] if o["name"] == "Run.respects[resume]")
    assert resume["verdict"] == "proved"
    assert main(["run", "--store", str(store), str(path)]) == 0
    assert "sweep S = Run.full (3 runs)" in capsys.readouterr().out
    with Store.open(store) as s:
        members = [s.get(r.key) for r in s.runs() if s.get(r.key).spec["label"].startswith("S[")]
        assert sorted(j.spec["optimizer"]["beta"] for j in members) == [0.0, 0.5, 0.9]
        assert all(j.metrics["members"] == 3 for j in members)  # one batched run, beta per member
        assert all(j.metrics["accuracy"] > 0.5 for j in members)
        assert all(any(k.startswith("opt/signum.momentum/") for k in s.tensors(j.key)) for j in members)


@pytest.mark.parametrize("warm, sweep, needle", [
    ("momentum = 0.9, ", "beta in [0.5]", "`signum` has no hyperparameter `momentum`"),
    ("beta = 2, ", "beta in [0.5]", "beta must lie in [0, 1)"),
    ("", "momentum in [0.5]", "it may vary seed, lr, beta, batch, epochs"),
])
def test_a_registered_optimizer_s_schema_gives_static_errors(tmp_path, capsys, warm, sweep, needle):
    assert main(["check", str(write(tmp_path, warm, sweep))]) == 2
    err = capsys.readouterr().err
    assert "error[E404]" in err and needle in err
