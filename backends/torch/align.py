"""Weight matching (Ainsworth et al. 2023, "Git Re-Basin"): permute the hidden units of one MLP
so that its weights match another's, before interpolating between them.

Hidden units of an MLP can be permuted without changing the function it computes; two runs
that differ only by such a permutation are the same point of function space, and a barrier
on the straight line between them would be an artefact of the labelling. For hidden layers
1 … L−1 with permutations P_l (P_0 = P_L = id), weight matching maximises

    Σ_l ⟨W_l^a, P_l W_l^b P_{l−1}ᵀ⟩_F + ⟨b_l^a, P_l b_l^b⟩

by coordinate descent: each P_l in turn is a linear assignment problem (scipy's
`linear_sum_assignment`, exact) with the others fixed. With one hidden layer it is solved
exactly in one step. Supported: top-level chains of `Linear` with elementwise activations and
`Flatten` (the models `mlp_linears` accepts).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from backends.torch.models import GELU, Flatten, Layer, Linear, ReLU, Sequential, Tanh

_ELEMENTWISE = (ReLU, Tanh, GELU, Flatten)


def mlp_linears(model_spec: Layer) -> list[int] | None:
    """Top-level indices of the Linear layers of an MLP (None for any other model)."""
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    if not all(isinstance(layer, (Linear, *_ELEMENTWISE)) for layer in layers):
        return None
    linears = [i for i, layer in enumerate(layers) if isinstance(layer, Linear)]
    if any(not layers[i].bias for i in linears):
        return None
    return linears


def weight_matching(a: Mapping, b: Mapping, linears: list[int], max_iter: int = 100,
                    seed: int = 0) -> list[np.ndarray]:
    """Permutations of b's hidden units (one index array per hidden layer, `perm[i]` = the unit
    of b matched to unit i of a) maximising the weight inner product with a."""
    from scipy.optimize import linear_sum_assignment

    W = lambda s, k: np.asarray(s[f"{linears[k]}.weight"].double())  # noqa: E731
    B = lambda s, k: np.asarray(s[f"{linears[k]}.bias"].double())  # noqa: E731
    L = len(linears)
    perms = [np.arange(W(a, k).shape[0]) for k in range(L - 1)]
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(L - 1):
            wa, wb = W(a, k), W(b, k)
            if k > 0:
                wb = wb[:, perms[k - 1]]
            cost = wa @ wb.T + np.outer(B(a, k), B(b, k))
            na, nb = W(a, k + 1), W(b, k + 1)
            if k + 1 < L - 1:
                nb = nb[perms[k + 1]]
            cost += na.T @ nb
            _, col = linear_sum_assignment(cost, maximize=True)
            if not np.array_equal(col, perms[k]):
                old = _objective(cost, perms[k])
                if _objective(cost, col) > old + 1e-12:
                    perms[k], changed = col, True
        if not changed:
            break
    return perms


def _objective(cost: np.ndarray, perm: np.ndarray) -> float:
    return float(cost[np.arange(len(perm)), perm].sum())


def permute(params: Mapping, linears: list[int], perms: list[np.ndarray]) -> dict:
    """The parameters with hidden units permuted: W_l ← P_l W_l P_{l−1}ᵀ, b_l ← P_l b_l."""
    import torch

    out = dict(params)
    for k, i in enumerate(linears):
        w, bias = params[f"{i}.weight"], params[f"{i}.bias"]
        if k < len(perms):
            index = torch.as_tensor(perms[k])
            w, bias = w[index], bias[index]
        if k > 0:
            w = w[:, torch.as_tensor(perms[k - 1])]
        out[f"{i}.weight"], out[f"{i}.bias"] = w, bias
    return out


def align(a: Mapping, b: Mapping, linears: list[int]) -> dict:
    """b's parameters permuted into a's basin by weight matching."""
    return permute(b, linears, weight_matching(a, b, linears))
