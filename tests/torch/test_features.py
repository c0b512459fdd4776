"""Rep and the learning functor L: features, CKA, Procrustes, paths, obligations, affine fits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from torch import nn

from backends.torch.features import (
    RepPath,
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
