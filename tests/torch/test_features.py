"""Rep and the learning functor L: features, CKA, Procrustes, paths, obligations, affine fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import orthogonal_procrustes
from torch import nn

from backends.torch.features import (
    RepPath,
    _hsic_terms,
    _trace_products,
    affine_fit,
    affine_naturality,
    features,
    functor_map_comp,
    functor_map_id,
    linear_cka,
    procrustes_distance,
    rep_compose,
    structure_violation_rate,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def orthogonal(d: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen(seed), dtype=torch.float64))
    return q


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def trajectory(model: nn.Sequential, steps: int, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    """Checkpoints θ0 … θ_steps of full-batch SGD on a fixed random task."""
    g = gen(seed)
    x, y = torch.randn(64, 8, generator=g), torch.randint(0, 4, (64,), generator=g)
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    out = [params]
    for _ in range(steps):
        p = {k: v.clone().requires_grad_() for k, v in out[-1].items()}
        loss = nn.functional.cross_entropy(torch.func.functional_call(model, p, (x,)), y)
        grads = torch.autograd.grad(loss, list(p.values()))
        out.append({k: (v - 0.5 * g_).detach() for (k, v), g_ in zip(p.items(), grads)})
    return out


# -- features -----------------------------------------------------------------------------------


def test_features_after_a_layer_with_and_without_params() -> None:
    model = mlp()
    probe = torch.randn(10, 8, generator=gen(2))
    hidden = torch.relu(model[0](probe))
    assert torch.allclose(features(model, None, 1, probe), hidden)
    assert torch.allclose(features(model, None, -2, probe), hidden)
    assert torch.allclose(features(model, None, -1, probe), model(probe))
    assert torch.allclose(features(model, None, "1", probe), hidden)  # by submodule name

    other = {k: 2 * v for k, v in model.state_dict().items()}
    expected = torch.relu(probe @ other["0.weight"].T + other["0.bias"])
    assert torch.allclose(features(model, other, 1, probe), expected)
    assert torch.allclose(features(model, other, "1", probe), expected)
    assert torch.allclose(features(model, None, 1, probe), hidden)  # own weights untouched
    assert model.training  # mode restored
    with pytest.raises(IndexError):
        features(model, None, 3, probe)


def test_features_flatten_to_a_matrix() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    F = features(model, None, 0, torch.randn(5, 1, 6, 6, generator=gen(0)))
    assert F.shape == (5, 2 * 4 * 4)


# -- CKA and Procrustes -------------------------------------------------------------------------


def reference_cka(X: np.ndarray, Y: np.ndarray, debiased: bool) -> float:
    """Kornblith et al.'s published numpy CKA (U-centred Gram matrices when debiased)."""

    def center(gram: np.ndarray) -> np.ndarray:
        gram = gram.copy()
        n = gram.shape[0]
        if debiased:
            np.fill_diagonal(gram, 0)
            means = gram.sum(0) / (n - 2)
            means -= means.sum() / (2 * (n - 1))
            gram -= means[:, None] + means[None, :]
            np.fill_diagonal(gram, 0)
        else:
            means = gram.mean(0)
            gram -= means[:, None] + means[None, :] - means.mean()
        return gram

    K, L = center(X @ X.T), center(Y @ Y.T)
    return float(K.ravel() @ L.ravel() / (np.linalg.norm(K) * np.linalg.norm(L)))


@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_matches_the_reference_estimator(unbiased: bool) -> None:
    X = torch.randn(60, 7, generator=gen(0), dtype=torch.float64)
    Y = X[:, :3] @ torch.randn(3, 5, generator=gen(1), dtype=torch.float64) + torch.randn(
        60, 5, generator=gen(2), dtype=torch.float64)
    expected = reference_cka(X.numpy(), Y.numpy(), debiased=unbiased)
    assert linear_cka(X, Y, unbiased=unbiased) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_invariances(unbiased: bool) -> None:
    X = torch.randn(200, 20, generator=gen(0), dtype=torch.float64)
    Y = torch.tanh(X @ torch.randn(20, 12, generator=gen(1), dtype=torch.float64))
    Q = orthogonal(20, 2)
    assert linear_cka(X, X @ Q, unbiased) == pytest.approx(1.0, abs=1e-10)
    assert linear_cka(X, 3.7 * X, unbiased) == pytest.approx(1.0, abs=1e-10)
    base = linear_cka(X, Y, unbiased)
    assert 0.0 < base < 1.0
    assert linear_cka(0.01 * X, 50.0 * Y, unbiased) == pytest.approx(base, abs=1e-10)
    assert linear_cka(X @ Q + 4.0, Y, unbiased) == pytest.approx(base, abs=1e-10)


def test_cka_of_independent_features_is_near_zero_only_when_unbiased() -> None:
    X = torch.randn(2000, 32, generator=gen(0))
    Y = torch.randn(2000, 32, generator=gen(1))
    assert abs(linear_cka(X, Y)) < 0.005
    assert linear_cka(X, Y, unbiased=False) > 0.01  # the biased estimator's d/n offset


def gram_hsic(K: torch.Tensor, L: torch.Tensor) -> float:
    """The oracle: Song et al.'s unbiased HSIC from the n × n Gram matrices, term by term."""
    n = K.shape[0]
    Kt = K - torch.diag(torch.diagonal(K))
    Lt = L - torch.diag(torch.diagonal(L))
    ones = torch.ones(n, dtype=K.dtype)
    value = (torch.trace(Kt @ Lt) + (ones @ Kt @ ones) * (ones @ Lt @ ones) / ((n - 1) * (n - 2))
             - 2.0 / (n - 2) * (ones @ Kt @ Lt @ ones))
    return float(value / (n * (n - 3)))


def gram_cka(X: torch.Tensor, Y: torch.Tensor) -> float:
    K, L = X @ X.T, Y @ Y.T
    return gram_hsic(K, L) / math.sqrt(gram_hsic(K, K) * gram_hsic(L, L))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(4, 40), d1=st.integers(1, 60), d2=st.integers(1, 60), shift=st.floats(-3, 3),
       mix=st.floats(0, 2), seed=st.integers(0, 2**31))
def test_unbiased_cka_in_feature_space_equals_the_gram_form(n, d1, d2, shift, mix, seed) -> None:
    """Narrower and wider than the probe set (both ways of forming tr KL), uncentred inputs."""
    g = gen(seed)
    X = torch.randn(n, d1, generator=g, dtype=torch.float64) + shift
    Y = torch.randn(n, d2, generator=g, dtype=torch.float64)
    Y[:, : min(d1, d2)] += mix * X[:, : min(d1, d2)]
    terms = _hsic_terms(X, Y).tolist()  # the estimator itself is invariant to centring
    K, L = X @ X.T, Y @ Y.T
    for got, want in zip(terms, (gram_hsic(K, L), gram_hsic(K, K), gram_hsic(L, L))):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9 * (1 + float((K * K).sum() + (L * L).sum())) ** 0.5)
    assert linear_cka(X, Y) == pytest.approx(gram_cka(X - X.mean(0), Y - Y.mean(0)), rel=1e-8, abs=1e-9)


@pytest.mark.parametrize("n, d", [(50, 3), (6, 40)])
def test_both_ways_of_forming_the_traces_are_taken_and_agree(n, d) -> None:
    X = torch.randn(n, d, generator=gen(0), dtype=torch.float64)
    Y = torch.randn(n, d + 1, generator=gen(1), dtype=torch.float64)
    K, L = X @ X.T, Y @ Y.T
    expected = torch.stack([(K * L).sum(), (K * K).sum(), (L * L).sum()])
    assert torch.allclose(_trace_products(X, Y), expected, rtol=1e-12)
    assert linear_cka(X, Y) == pytest.approx(gram_cka(X - X.mean(0), Y - Y.mean(0)), rel=1e-10)
    assert linear_cka(X, Y, unbiased=False) == pytest.approx(reference_cka(X.numpy(), Y.numpy(), False), rel=1e-10)


def test_cka_of_a_constant_side_is_nan_and_needs_four_points() -> None:
    X = torch.randn(10, 4, generator=gen(0))
    assert math.isnan(linear_cka(X, torch.ones(10, 3)))
    assert math.isnan(linear_cka(torch.zeros(10, 2), X, unbiased=False))
    with pytest.raises(ValueError, match="at least 4"):
        linear_cka(X[:3], X[:3])


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA"))])
def test_cka_runs_on_the_features_device(device) -> None:
    X = torch.randn(300, 16, generator=gen(0))
    Y = torch.tanh(X @ torch.randn(16, 8, generator=gen(1)))
    for unbiased in (True, False):
        assert linear_cka(X.to(device), Y.to(device), unbiased) == pytest.approx(linear_cka(X, Y, unbiased), rel=1e-9)
    assert _hsic_terms(*(t.to(device, torch.float64) for t in (X, Y))).device.type == device


def test_procrustes_distance() -> None:
    X = torch.randn(100, 10, generator=gen(0), dtype=torch.float64)
    Q = orthogonal(10, 1)
    assert procrustes_distance(X, X @ Q) == pytest.approx(0.0, abs=1e-6)
    assert procrustes_distance(X, 5.0 * X @ Q - 2.0) == pytest.approx(0.0, abs=1e-6)
    Y = torch.randn(100, 10, generator=gen(2), dtype=torch.float64)
    d = procrustes_distance(X, Y)
    # Cross-check with scipy's rotation on the centred, normalized matrices.
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Xc, Yc = (Xc / Xc.norm()).numpy(), (Yc / Yc.norm()).numpy()
    R, _ = orthogonal_procrustes(Xc, Yc)
    assert d == pytest.approx(float(np.linalg.norm(Xc @ R - Yc)), abs=1e-10)
    assert 0.5 < d <= 2.0
    assert procrustes_distance(X, torch.cat([X @ Q, torch.zeros(100, 3)], dim=1)) == \
        pytest.approx(0.0, abs=1e-6)  # different widths


# -- paths and the functor laws -----------------------------------------------------------------


def test_rep_compose_concatenates_and_checks_the_junction() -> None:
    a, b, c = (torch.randn(6, 3, generator=gen(i)) for i in range(3))
    p = rep_compose(RepPath((b, c)), RepPath((a, b)))
    assert len(p) == 3 and all(torch.equal(x, y) for x, y in zip(p.points, (a, b, c)))
    ident = rep_compose(p, RepPath.identity(a))
    assert len(ident) == 3 and all(torch.equal(x, y) for x, y in zip(ident.points, p.points))
    with pytest.raises(ValueError, match="do not compose"):
        rep_compose(RepPath((c, a)), RepPath((a, b)))


def test_functor_laws_on_a_real_trajectory() -> None:
    model = mlp()
    probe = torch.randn(32, 8, generator=gen(3))
    thetas = trajectory(model, 6)
    whole = RepPath.along(model, thetas, -2, probe)
    first = RepPath.along(model, thetas[:4], -2, probe)
    second = RepPath.along(model, thetas[3:], -2, probe)

    comp = functor_map_comp(whole, first, second)
    assert comp.holds and comp.value == 0.0 and comp.checked == 7
    assert comp.verdict().word() == "passed 7"

    ident = functor_map_id(RepPath.along(model, thetas[2:3], -2, probe),
                           features(model, thetas[2], -2, probe))
    assert ident.holds and ident.value == 0.0

    moved = RepPath(second.points[:1] + tuple(p + 0.1 for p in second.points[1:]))
    broken = functor_map_comp(whole, first, moved)
    assert not broken.holds and broken.value == pytest.approx(0.1, rel=1e-4)
    assert broken.verdict().status == "failed"

    gap = functor_map_comp(whole, first, RepPath(second.points[1:]))
    assert not gap.holds and "do not compose" in (gap.witness or "")
    short = functor_map_comp(RepPath(whole.points[:-1]), first, second)
    assert not short.holds and "points" in (short.witness or "")


def test_map_comp_holds_on_a_split_and_concatenated_path() -> None:
    pts = tuple(torch.randn(12, 5, generator=gen(i)) for i in range(9))
    whole = RepPath(pts)
    for cut in range(len(pts)):
        assert functor_map_comp(whole, RepPath(pts[: cut + 1]), RepPath(pts[cut:])).holds


# -- the structure condition --------------------------------------------------------------------


def test_structure_holds_on_a_constant_path_and_breaks_when_points_are_scrambled() -> None:
    F = torch.randn(50, 6, generator=gen(0))
    constant = RepPath((F, F.clone(), F.clone()))
    assert structure_violation_rate(constant, k=5).value == 0.0
    assert structure_violation_rate(RepPath.identity(F), k=5).checked == 0

    similar = RepPath((F, 3.0 * F @ orthogonal(6, 1).float() + 1.0))  # distances scale alike
    assert structure_violation_rate(similar, k=5).holds

    perm = torch.randperm(50, generator=gen(2))
    scrambled = RepPath((F, F[perm]))
    result = structure_violation_rate(scrambled, k=5)
    assert result.value > 0.5 and not result.holds
    assert result.checked == 50 * 5

    radius = float(torch.cdist(F, F).median())
    assert structure_violation_rate(constant, radius=radius).value == 0.0
    assert structure_violation_rate(RepPath((F, 10 * F)), radius=radius).value > 0.5
    with pytest.raises(ValueError):
        structure_violation_rate(constant, k=5, radius=1.0)


# -- affine maps between representations (Thm 5.3) ---------------------------------------------


def test_affine_fit_recovers_an_exact_affine_image() -> None:
    F0 = torch.randn(80, 6, generator=gen(0), dtype=torch.float64)
    A = torch.randn(4, 6, generator=gen(1), dtype=torch.float64)
    b = torch.randn(4, generator=gen(2), dtype=torch.float64)
    fit = affine_fit(F0, F0 @ A.T + b)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12) and fit.residual < 1e-10
    assert torch.allclose(fit.A, A) and torch.allclose(fit.b, b)

    noisy = affine_fit(F0, torch.tanh(F0 @ A.T) + torch.randn(80, 4, generator=gen(3)).double())
    assert 0.0 < noisy.r2 < 0.99
    with pytest.raises(ValueError, match="probe points"):
        affine_fit(F0[:7], F0[:7])


def test_affine_naturality_between_stagewise_related_paths() -> None:
    stages = [torch.randn(40, 5, generator=gen(i), dtype=torch.float64) for i in range(3)]
    maps = [(torch.randn(5, 5, generator=gen(10 + i), dtype=torch.float64),
             torch.randn(5, generator=gen(20 + i), dtype=torch.float64)) for i in range(3)]
    p0 = RepPath(tuple(stages))
    p1 = RepPath(tuple(F @ A.T + b for F, (A, b) in zip(stages, maps)))
    assert affine_naturality(p0, p1).holds
    unrelated = RepPath(tuple(torch.randn(40, 5, generator=gen(30 + i)) for i in range(3)))
    assert not affine_naturality(p0, unrelated).holds
    assert math.isinf(affine_naturality(p0, RepPath(p1.points[:2])).value)
