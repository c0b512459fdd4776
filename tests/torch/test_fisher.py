"""Fisher geometry (paper §8): the Fisher against hand computation, K-FAC's exact case, the
natgrad optimizer (resume law bit for bit, ensembles) and the Fisher–Rao length in `run`."""

from __future__ import annotations

import json
import math

import pytest
import torch

from backends.torch.fisher import (diagonal_fisher, empirical_fisher, fisher_quadratic, fisher_rao_length,
                                   kfac_fisher)
from backends.torch.models import Linear, ReLU, Sequential, infer_shapes
from backends.torch.updates import natgrad_update
from catdsl.cli import main

# A 2-parameter logistic model: logits (w0·x, w1·x), so p(y = 1 | x) = σ((w1 − w0)·x).
LOGISTIC = Linear(1, 2, bias=False)
infer_shapes(LOGISTIC, (1,))


def _logistic(w):
    return {"0.weight": torch.tensor(w, dtype=torch.float64).reshape(2, 1)}  # a bare layer builds as Sequential


def test_the_fisher_of_a_logistic_model_is_the_hand_computed_one():
    # w = (0, ln 3) at x = 1: p = (1/4, 3/4). ∇ℓ = (p − e_y)·x, so for y = 1: (1/4, −1/4), for
    # y = 0: (−3/4, 3/4); F_emp = mean of the outer products = (1/16 + 9/16)/2 · [[1, −1], [−1, 1]]
    # = 5/16 · [[1, −1], [−1, 1]]. The model's Fisher is x²(diag p − ppᵀ) = 3/16 · [[1, −1], [−1, 1]].
    params = _logistic([0.0, math.log(3)])
    x, y = torch.ones(2, 1, dtype=torch.float64), torch.tensor([1, 0])
    pattern = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(empirical_fisher(LOGISTIC, params, {}, x, y), 5 / 16 * pattern)
    assert torch.allclose(diagonal_fisher(LOGISTIC, params, {}, x, y), torch.full((2,), 5 / 16, dtype=torch.float64))
    # one input feature: A = mean x² = 1 is a scalar, so K-FAC is exact whatever N
    assert torch.allclose(kfac_fisher(LOGISTIC, params, {}, x, y), 5 / 16 * pattern)
    delta = {"0.weight": torch.tensor([[1.0], [0.0]], dtype=torch.float64)}
    assert fisher_quadratic(LOGISTIC, params, {}, delta, x, y, kind="empirical") == pytest.approx(5 / 16)
    assert fisher_quadratic(LOGISTIC, params, {}, delta, x, y, kind="model") == pytest.approx(3 / 16)


def _mlp_case(n: int, seed: int = 0):
    model = Sequential((Linear(5, 4), ReLU(), Linear(4, 3)))
    infer_shapes(model, (5,))
    g = torch.Generator().manual_seed(seed)
    params = {"0.weight": torch.randn(4, 5, generator=g, dtype=torch.float64),
              "0.bias": torch.randn(4, generator=g, dtype=torch.float64),
              "2.weight": torch.randn(3, 4, generator=g, dtype=torch.float64),
              "2.bias": torch.randn(3, generator=g, dtype=torch.float64)}
    x = torch.randn(n, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=g)
    return model, params, x, y


def test_kfac_equals_the_empirical_fisher_of_a_linear_layer_for_one_example():
    # one example: F_emp[W|b] = (δ ⊗ ā)(δ ⊗ ā)ᵀ = (δδᵀ) ⊗ (āāᵀ) = S ⊗ A exactly, bias included
    layer = Linear(5, 3)
    infer_shapes(layer, (5,))
    g = torch.Generator().manual_seed(1)
    params = {"0.weight": torch.randn(3, 5, generator=g, dtype=torch.float64),
              "0.bias": torch.randn(3, generator=g, dtype=torch.float64)}
    x, y = torch.randn(1, 5, generator=g, dtype=torch.float64), torch.tensor([2])
    exact = empirical_fisher(layer, params, {}, x, y)
    assert torch.allclose(kfac_fisher(layer, params, {}, x, y), exact, atol=1e-12)
    # in an MLP, with one example, each layer's block is exact (K-FAC drops only the cross-layer blocks)
    model, params, x, y = _mlp_case(1)
    exact, kfac = empirical_fisher(model, params, {}, x, y), kfac_fisher(model, params, {}, x, y)
    first, second = slice(0, 24), slice(24, 39)
    assert torch.allclose(kfac[first, first], exact[first, first], atol=1e-12)
    assert torch.allclose(kfac[second, second], exact[second, second], atol=1e-12)
    assert kfac[first, second].abs().max() == 0 and exact[first, second].abs().max() > 0
    # with several examples it is an approximation, not an identity
    model, params, x, y = _mlp_case(8)
    assert not torch.allclose(kfac_fisher(model, params, {}, x, y)[second, second],
                              empirical_fisher(model, params, {}, x, y)[second, second])


def test_quadratic_forms_agree_with_the_matrices_and_lengths_add_up():
    model, params, x, y = _mlp_case(16)
    g = torch.Generator().manual_seed(3)
    delta = {k: torch.randn(v.shape, generator=g, dtype=torch.float64) for k, v in params.items()}
    flat = torch.cat([delta[k].reshape(-1) for k in params])
    want = float(flat @ empirical_fisher(model, params, {}, x, y) @ flat)
    assert fisher_quadratic(model, params, {}, delta, x, y, kind="empirical") == pytest.approx(want, rel=1e-9)
    from backends.torch.train import TrainingState

    a = TrainingState(params)
    b = TrainingState({k: v + delta[k] for k, v in params.items()})
    length, steps = fisher_rao_length(model, [a, b], x, y, kind="empirical")
    assert length == pytest.approx(math.sqrt(want)) and len(steps) == 1
    assert fisher_rao_length(model, [a], x, y)[0] == 0.0


def test_natgrad_kfac_factors_are_the_per_example_fisher_at_batch_one():
    # the update sees one example's gradient G = δ aᵀ (rank one): its factors S ⊗ A equal that
    # example's empirical Fisher of the weight, the block fisher.py computes
    layer = Linear(5, 3, bias=False)
    infer_shapes(layer, (5,))
    g = torch.Generator().manual_seed(2)
    params = {"0.weight": torch.randn(3, 5, generator=g, dtype=torch.float64)}
    x, y = torch.randn(1, 5, generator=g, dtype=torch.float64), torch.tensor([0])
    from backends.torch.fisher import per_example_grads

    grad = {"0.weight": per_example_grads(layer, params, {}, x, y)[0].reshape(3, 5)}
    _, state = natgrad_update(params, grad, {}, {"lr": 0.1, "damping": 1e-3, "ema": 0.9, "kind": "kfac"})
    kron = torch.kron(state["natgrad.kfac_s/0.weight"], state["natgrad.kfac_a/0.weight"])
    assert torch.allclose(kron, empirical_fisher(layer, params, {}, x, y), atol=1e-12)


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

functor Run : Training -> Param(mlp, digits{fisher}) {{
  init |-> init(seed = 0)
  warm |-> natgrad(lr = 0.01, damping = 0.01, kind = {kind}, batch = 32, epochs = 1, seed = 1)
  cool |-> natgrad(lr = 0.01, damping = 0.01, kind = {kind}, batch = 32, epochs = 1, seed = 1)
  full |-> natgrad(lr = 0.01, damping = 0.01, kind = {kind}, batch = 32, epochs = 2, seed = 1)
}}
{sweep}
"""


@pytest.mark.parametrize("kind", ["diagonal", "kfac"])
def test_natgrad_obeys_the_resume_law_bit_for_bit_and_trains_as_an_ensemble(tmp_path, capsys, kind):
    path = tmp_path / "ng.cat"
    path.write_text(PROGRAM.format(kind=kind, fisher="", sweep="sweep S = Run.full over damping in [0.01, 0.1]"))
    code = main(["check", "--format", "json", "--store", str(tmp_path / "store"), str(path)])
    report = json.loads(capsys.readouterr().out)
    verdicts = {o["name"]: (o["verdict"], o["via"]) for o in report["obligations"]}
    assert verdicts["Run.respects[resume]"] == ("proved", "torch (bitwise)")
    assert verdicts["S.ensemble"][0].split()[0] in ("proved", "passed")
    assert code == 0


def test_natgrad_validates_its_hyperparameters():
    from backends.torch.segment import OptimizerSpec

    spec = OptimizerSpec.of("natgrad", lr=0.1, kind="kfac")
    assert dict(spec.options) == {"damping": 1e-3, "ema": 0.95, "kind": "kfac"}
    with pytest.raises(ValueError, match="kind must be one of diagonal, kfac"):
        OptimizerSpec.of("natgrad", lr=0.1, kind="full")
    with pytest.raises(ValueError, match="damping must be a positive number"):
        OptimizerSpec.of("natgrad", lr=0.1, damping=0)
    with pytest.raises(ValueError, match="natgrad takes no `momentum`"):
        OptimizerSpec.of("natgrad", lr=0.1, momentum=0.9)


def test_run_shows_each_states_fisher_rao_length(tmp_path, capsys):
    path = tmp_path / "fr.cat"
    path.write_text(PROGRAM.format(kind="kfac", fisher=", fisher = true", sweep=""))
    store = str(tmp_path / "store")
    assert main(["run", "--store", store, str(path)]) == 0
    assert "Fisher–Rao" in capsys.readouterr().out
    assert main(["run", "--format", "json", "--store", store, str(path)]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    lengths = {j["label"]: j["metrics"]["fisher_rao"] for j in jobs if j["kind"] == "fisher_rao"}
    assert len(lengths) == 3 and all(v > 0 for v in lengths.values())
    warm, cool, full = (next(v for k, v in lengths.items() if f"Run.{g} " in k) for g in ("warm", "cool", "full"))
    # full = warm then cool, bit for bit, and lengths are sums over per-epoch checkpoints
    assert warm + cool == pytest.approx(full, rel=1e-12)


def test_fisher_option_must_name_a_fisher(tmp_path, capsys):
    path = tmp_path / "bad.cat"
    path.write_text(PROGRAM.format(kind="kfac", fisher=", fisher = 3", sweep=""))
    assert main(["check", str(path)]) != 0
    assert "fisher must be `true` or `empirical`" in capsys.readouterr().err


def test_sweep_members_get_their_fisher_rao_length_in_the_table_and_the_json(tmp_path, capsys):
    path = tmp_path / "sweep.cat"
    path.write_text(PROGRAM.format(kind="kfac", fisher=", fisher = true",
                                   sweep="sweep S = Run.full over damping in [0.01, 0.1]"))
    store = str(tmp_path / "store")
    assert main(["run", "--store", store, str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out[out.index("sweep S = "):].splitlines() if "member" in line)
    assert "Fisher–Rao" in header
    assert main(["run", "--format", "json", "--store", store, str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    members = report["analyses"]["S"]["members"]
    by_label = {j["label"]: j["metrics"]["fisher_rao"] for j in report["jobs"] if j["kind"] == "fisher_rao"}
    assert [by_label[f"Fisher–Rao length of S[damping={d}]"] for d in ("0.01", "0.1")] == \
        [members["S[0]"]["fisher_rao"], members["S[1]"]["fisher_rao"]]
    assert all(m["fisher_rao"] > 0 for m in members.values())
    full = next(v for k, v in by_label.items() if "Run.full " in k)
    # S[0] binds Run.full's own damping: its per-epoch checkpoints are Run.full's, bit for bit
    assert members["S[0]"]["fisher_rao"] == pytest.approx(full, rel=1e-12)
    assert members["S[1]"]["fisher_rao"] != pytest.approx(full, rel=1e-6)
