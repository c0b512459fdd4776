"""The category Rep and the learning functor L : Param -> Rep (paper Def 2.4, Thm 2.6, Thm 5.3).

An object of Rep is a feature map evaluated on a fixed probe set: an (n, d) matrix F with one
row per probe input. A morphism is a deformation: the path of feature matrices along a
trajectory's checkpoints (`RepPath`); composition is concatenation, the identity a one-point
path. L sends a training state θ to `features(model, θ, layer, probe)` and a trajectory to the
path of its checkpoints' features.

Similarity of objects: unbiased linear CKA (Song et al. 2012; Nguyen, Raghu & Kornblith 2021)
and orthogonal Procrustes distance. Obligations (`functor_map_id`, `functor_map_comp`,
`structure_violation_rate`, `affine_naturality`) return a `Measured` that turns into a
`Verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from catdsl.laws.verdict import Verdict

# ---------------------------------------------------------------------------------------------
# The functor on objects


def features(module: nn.Module, params: Mapping[str, Tensor] | None, layer: int | str,
             probe: Tensor) -> Tensor:
    """L(θ): the activations after `layer` on `probe`, flattened to an (n, d) matrix.

    `layer` is an index into an `nn.Sequential` (Python style: -2 is the penultimate
    representation, the input of the last module) or the name of any submodule. With `params`
    (a state dict, possibly of another run) the module is evaluated through
    `torch.func.functional_call`, leaving its own parameters untouched. Runs in eval mode
    without gradients, so the result is a deterministic function of (θ, probe).
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            if isinstance(layer, int):
                out = _sequential_prefix(module, params, layer, probe)
            elif isinstance(layer, str):
                out = _hooked(module, params, layer, probe)
            else:
                raise TypeError(f"layer must be an index or a submodule name, not {layer!r}")
    finally:
        module.train(was_training)
    return out.reshape(out.shape[0], -1)


def _sequential_prefix(module: nn.Module, params: Mapping[str, Tensor] | None, layer: int,
                       probe: Tensor) -> Tensor:
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"an integer layer needs an nn.Sequential, not {type(module).__name__}")
    n = len(module)
    index = layer + n if layer < 0 else layer
    if not 0 <= index < n:
        raise IndexError(f"layer {layer} is outside a Sequential of {n} modules")
    prefix = module[: index + 1]  # keeps the children's names, so state-dict keys still match
    if params is None:
        return prefix(probe)
    kept = {name: t for name, t in params.items() if name.split(".", 1)[0] in prefix._modules}
    return torch.func.functional_call(prefix, kept, (probe,))


def _hooked(module: nn.Module, params: Mapping[str, Tensor] | None, layer: str,
            probe: Tensor) -> Tensor:
    captured: list[Tensor] = []
    handle = module.get_submodule(layer).register_forward_hook(
        lambda _m, _inputs, output: captured.append(output))
    try:
        if params is None:
            module(probe)
        else:
            torch.func.functional_call(module, dict(params), (probe,))
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ValueError(f"submodule {layer!r} ran {len(captured)} times in one forward pass")
    return captured[0]


# ---------------------------------------------------------------------------------------------
# Similarity of objects


def linear_cka(X: Tensor, Y: Tensor, unbiased: bool = True) -> float:
    """Linear CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with K = X Xᵀ, L = Y Yᵀ.

    Invariant to orthogonal maps and isotropic scaling of either side. The unbiased HSIC
    estimator (Song et al. 2012) makes independent features score ≈ 0 rather than ≈ d/n, and
    needs n ≥ 4; the biased one is tr(K H L H) up to a factor. nan when a side is constant.

    Both are computed without the n × n Gram matrices when the features are narrower than the
    probe set (`_hsic_terms`): O(n d²) instead of O(n² d), on the tensors' own device, with one
    transfer of three numbers at the end.
    """
    X, Y = _paired(X, Y)
    n = X.shape[0]
    if unbiased:
        if n < 4:
            raise ValueError(f"unbiased CKA needs at least 4 probe points, got {n}")
        xy, xx, yy = _hsic_terms(X, Y).tolist()
    else:
        # HSIC_0 ∝ tr(K H L H) = ‖Yᵀ X‖²_F for centred X, Y (`_paired` centres them)
        xy, xx, yy = _trace_products(X, Y).tolist()
    if not (xx > 0 and yy > 0):
        return math.nan
    return xy / math.sqrt(xx * yy)


def _trace_products(X: Tensor, Y: Tensor) -> Tensor:
    """(tr KL, tr KK, tr LL) for K = X Xᵀ, L = Y Yᵀ, as one tensor.

    tr(K L) = ‖Xᵀ Y‖²_F: in feature space (d1 × d2 products, n d1 d2 multiply-adds) when that is
    cheaper than forming K and L (n² (d1 + d2)), as for the narrow layers of small networks;
    from the Gram matrices otherwise (features wider than the probe set)."""
    n, d1, d2 = X.shape[0], X.shape[1], Y.shape[1]
    if d1 * d2 + d1 * d1 + d2 * d2 <= n * (d1 + d2):
        XtY, XtX, YtY = X.T @ Y, X.T @ X, Y.T @ Y
        return torch.stack([(XtY * XtY).sum(), (XtX * XtX).sum(), (YtY * YtY).sum()])
    K, L = X @ X.T, Y @ Y.T
    return torch.stack([(K * L).sum(), (K * K).sum(), (L * L).sum()])


def _hsic_terms(X: Tensor, Y: Tensor) -> Tensor:
    """(HSIC_1(K, L), HSIC_1(K, K), HSIC_1(L, L)): Song et al.'s U-statistic with K̃ = K − diag K,

        HSIC_1 = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n-1)(n-2)) − 2/(n-2)·1ᵀK̃L̃1] / (n(n-3)),

    from feature-space quantities only. With r_i = ‖x_i‖² (the diagonal of K), c = Xᵀ1 and the
    same s, e for Y:

        tr(K̃L̃) = tr(KL) − r·s,   1ᵀK̃1 = ‖c‖² − Σr,   K̃1 = X c − r,   1ᵀK̃L̃1 = (X c − r)·(Y e − s).
    """
    n = X.shape[0]
    traces = _trace_products(X, Y)
    r, s = (X * X).sum(1), (Y * Y).sum(1)
    c, e = X.sum(0), Y.sum(0)
    kr, ls = X @ c - r, Y @ e - s  # K̃1, L̃1
    k1, l1 = c @ c - r.sum(), e @ e - s.sum()  # 1ᵀK̃1, 1ᵀL̃1
    diag = torch.stack([r @ s, r @ r, s @ s])
    totals = torch.stack([k1 * l1, k1 * k1, l1 * l1])
    rows = torch.stack([kr @ ls, kr @ kr, ls @ ls])
    return (traces - diag + totals / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * rows) / (n * (n - 3))


def procrustes_distance(X: Tensor, Y: Tensor) -> float:
    """Orthogonal Procrustes distance after centring and scaling both sides to ‖·‖_F = 1.

    d² = min over orthogonal Q of ‖X Q − Y‖²_F = 2 − 2‖Xᵀ Y‖_* (nuclear norm), which also
    covers different widths (the narrower side padded with zero columns). In [0, 2].
    """
    X, Y = _paired(X, Y)
    nx, ny = torch.linalg.matrix_norm(X), torch.linalg.matrix_norm(Y)
    if nx == 0 or ny == 0:
        return math.nan
    nuclear = torch.linalg.matrix_norm((X / nx).T @ (Y / ny), ord="nuc")
    return math.sqrt(max(0.0, 2.0 - 2.0 * float(nuclear)))


def _paired(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    """Two feature matrices on the same probe points, flattened, float64, column-centred."""
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"feature maps on different probe sets: {X.shape[0]} vs {Y.shape[0]} rows")
    X = X.detach().reshape(X.shape[0], -1).to(torch.float64)
    Y = Y.detach().reshape(Y.shape[0], -1).to(torch.float64)
    return X - X.mean(0), Y - Y.mean(0)


# ---------------------------------------------------------------------------------------------
# Morphisms: paths of feature maps


@dataclass(frozen=True, eq=False)
class RepPath:
    """A morphism of Rep: feature matrices at a trajectory's checkpoints, start to end."""

    points: tuple[Tensor, ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a path of feature maps needs at least one point")
        shape = self.points[0].shape
        if any(p.shape != shape for p in self.points):
            raise ValueError("every point of a path must be a feature map on the same probe set")

    @property
    def start(self) -> Tensor:
        return self.points[0]

    @property
    def end(self) -> Tensor:
        return self.points[-1]

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def identity(cls, obj: Tensor) -> RepPath:
        """id_φ: the one-point path at φ."""
        return cls((obj,))

    @classmethod
    def along(cls, module: nn.Module, checkpoints: Sequence[Mapping[str, Tensor]],
              layer: int | str, probe: Tensor) -> RepPath:
        """L(γ): the features of every checkpoint of a trajectory, in order."""
        return cls(tuple(features(module, θ, layer, probe) for θ in checkpoints))


def rep_compose(p2: RepPath, p1: RepPath, tol: float = 1e-6) -> RepPath:
    """p2 ∘ p1: p1 then p2, sharing the junction point; needs max|end(p1) − start(p2)| ≤ tol."""
    gap = _max_difference(p1.end, p2.start)
    if not gap <= tol:
        raise ValueError(f"paths do not compose: end of the first differs from start of the "
                         f"second by {gap:.3g} (tol {tol:g})")
    return RepPath(p1.points + p2.points[1:])


def _max_difference(a: Tensor, b: Tensor) -> float:
    if a.shape != b.shape:
        return math.inf
    if a.numel() == 0:
        return 0.0
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max())


# ---------------------------------------------------------------------------------------------
# Obligations


@dataclass(frozen=True)
class Measured:
    """The outcome of a numeric obligation: `value` measured against `tol` over `checked` cases.

    `witness` says why the law could not hold at all (e.g. paths of different lengths).
    """

    law: str
    value: float
    tol: float
    checked: int
    witness: str | None = None

    @property
    def holds(self) -> bool:
        return self.witness is None and self.value <= self.tol  # nan never holds

    def verdict(self) -> Verdict:
        if self.holds:
            return Verdict("passed", "torch", samples=self.checked, difference=self.value)
        witness = self.witness or f"{self.law}: {self.value:.3g} > tol {self.tol:g}"
        return Verdict("failed", "torch", witness=witness, samples=self.checked,
                       difference=self.value)


def functor_map_id(image: RepPath, obj: Tensor, tol: float = 1e-6) -> Measured:
    """L(id_θ) = id_{L θ}: every point of L's image of the zero-step trajectory equals L(θ).

    `value` is max over points of max |L(id_θ)(t) − L(θ)|.
    """
    value = max(_max_difference(p, obj) for p in image.points)
    return Measured("map_id", value, tol, len(image))


def functor_map_comp(path12: RepPath, path1: RepPath, path2: RepPath,
                     tol: float = 1e-6) -> Measured:
    """L(γ2 ∘ γ1) = L(γ2) ∘ L(γ1), compared point by point along the checkpoints.

    `path12` is L of the composite trajectory (e.g. training for e1 + e2 epochs), `path1` and
    `path2` are L of the parts (e1 epochs, then e2 resumed). `value` is the largest entry-wise
    difference between the two feature paths.
    """
    try:
        composed = rep_compose(path2, path1, tol)
    except ValueError as err:
        return Measured("map_comp", _max_difference(path1.end, path2.start), tol, 0, str(err))
    if len(composed) != len(path12):
        return Measured("map_comp", math.inf, tol, 0,
                        f"L(γ2∘γ1) has {len(path12)} points, L(γ2)∘L(γ1) has {len(composed)}")
    value = max(_max_difference(a, b) for a, b in zip(path12.points, composed.points))
    return Measured("map_comp", value, tol, len(composed))


def structure_violation_rate(path: RepPath, k: int | None = None, *,
                             radius: float | None = None, tol: float = 0.0) -> Measured:
    """The structure condition on Rep morphisms (Def 2.4): k-close probe pairs stay k-close.

    With `k`: the pairs (i, j) with j among the k nearest neighbours of i under the start
    features must keep j within i's k-th-neighbour distance at every later point. With
    `radius`: pairs within `radius` at the start must stay within it. `value` is the fraction
    of (pair, later point) cases that break the condition (0 for a path of one point).
    """
    if (k is None) == (radius is None):
        raise ValueError("give exactly one of k (nearest neighbours) or radius (distance)")
    F0 = path.start.reshape(path.start.shape[0], -1).to(torch.float64)
    n = F0.shape[0]
    D0 = _pairwise(F0)
    if k is not None:
        if not 1 <= k < n:
            raise ValueError(f"k = {k} must be between 1 and the probe size − 1 ({n - 1})")
        neighbours = D0.topk(k, dim=1, largest=False).indices  # (n, k)
        pairs = n * k
    else:
        close = D0 <= radius  # diagonal is inf, so never close
        pairs = int(close.sum())
    violations = 0
    for F in path.points[1:]:
        D = _pairwise(F.reshape(n, -1).to(torch.float64))
        if k is not None:
            kth = D.topk(k, dim=1, largest=False).values[:, -1:]
            violations += int((D.gather(1, neighbours) > kth).sum())
        else:
            violations += int((D[close] > radius).sum())
    checked = pairs * (len(path) - 1)
    rate = violations / checked if checked else 0.0
    return Measured("structure", rate, tol, checked)


def _pairwise(F: Tensor) -> Tensor:
    D = torch.cdist(F, F)
    D.fill_diagonal_(math.inf)
    return D


@dataclass(frozen=True, eq=False)
class AffineFit:
    """Least squares F1 ≈ F0 Aᵀ + b (row form of φ¹ = A φ⁰ + b) and how well it fits."""

    A: Tensor  # (d1, d0)
    b: Tensor  # (d1,)
    r2: float  # 1 − ‖residual‖²_F / ‖F1 − mean F1‖²_F
    residual: float  # root-mean-square residual per entry


def affine_fit(F0: Tensor, F1: Tensor) -> AffineFit:
    """Fit F1 ≈ A F0 + b per probe point (Thm 5.3: homotopic runs differ by an affine map).

    Needs more probe points than d0 + 1; otherwise any F1 fits exactly and R² says nothing.
    """
    X, Y = (F.detach().reshape(F.shape[0], -1).to(torch.float64) for F in (F0, F1))
    n, d0 = X.shape
    if n <= d0 + 1:
        raise ValueError(f"an affine fit from width {d0} needs more than {d0 + 1} probe points "
                         f"(got {n}); with fewer it is exact whatever the features")
    design = torch.cat([X, torch.ones(n, 1, dtype=X.dtype)], dim=1)
    coef = torch.linalg.lstsq(design, Y, driver="gelsd").solution  # (d0 + 1, d1)
    resid = Y - design @ coef
    ss_res = float((resid**2).sum())
    ss_tot = float(((Y - Y.mean(0)) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else math.nan)
    return AffineFit(coef[:-1].T.contiguous(), coef[-1].clone(), r2,
                     math.sqrt(ss_res / Y.numel()))


def affine_naturality(path0: RepPath, path1: RepPath, tol: float = 0.01) -> Measured:
    """The 2-functor check (Thm 5.3): at every stage k, L(γ¹)(k) ≈ A_k L(γ⁰)(k) + b_k.

    `value` is the worst 1 − R² over stages.
    """
    if len(path0) != len(path1):
        return Measured("affine_naturality", math.inf, tol, 0,
                        f"paths have {len(path0)} and {len(path1)} stages")
    worst = max(1.0 - affine_fit(a, b).r2 for a, b in zip(path0.points, path1.points))
    return Measured("affine_naturality", worst, tol, len(path0))
