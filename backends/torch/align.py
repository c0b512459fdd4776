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
`Flatten` (the models `mlp_linears` accepts). Everything but the assignment itself (on the
host, h × h numbers per step) runs on the device the parameters are on.
"""

from __future__ import annotations

from typing import Mapping

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
                    seed: int = 0, restarts: int = 1) -> list:
    """Permutations of b's hidden units (one index tensor per hidden layer, on the weights'
    device; `perm[i]` = the unit of b matched to unit i of a) maximising the weight inner
    product with a.

    One hidden layer: a single linear assignment, the exact optimum. Deeper: coordinate descent
    from the identity, the layers in a seeded random order each sweep, each step an exact
    assignment given the others, until a sweep improves nothing: a fixed point, where no single
    layer's permutation can be improved. The joint problem is NP-hard in general, so this is
    not a certificate of the global optimum; `restarts` > 1 also descends from that many − 1
    seeded random permutations and keeps the best fixed point (bench/bench_homotopy.py counts
    how often each reaches the optimum on a small width, by enumeration). The cost matrices are
    built on the tensors' device in float64; only each h × h matrix goes to the host for scipy's
    `linear_sum_assignment`.
    """
    import torch

    Wa, Ba = _layers(a, linears)
    Wb, Bb = _layers(b, linears)
    L = len(linears)
    if L < 2:
        return []
    device = Wa[0].device
    identity = [torch.arange(Wa[k].shape[0], device=device) for k in range(L - 1)]
    if L == 2:
        return [_assign(_cost(Wa, Ba, Wb, Bb, identity, 0))]
    best, best_value = None, -float("inf")
    g = torch.Generator().manual_seed(seed)
    for start in range(max(restarts, 1)):
        perms = identity if start == 0 else [torch.randperm(len(p), generator=g).to(device) for p in identity]
        perms = _descend(Wa, Ba, Wb, Bb, list(perms), max_iter, seed + start)
        value = _matched(Wa, Ba, Wb, Bb, perms)
        if value > best_value + 1e-12:
            best, best_value = perms, value
    return best


def _descend(Wa, Ba, Wb, Bb, perms: list, max_iter: int, seed: int) -> list:
    """Coordinate descent from `perms` to a fixed point (or `max_iter` sweeps)."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(len(perms)).tolist():
            cost = _cost(Wa, Ba, Wb, Bb, perms, k)
            col = _assign(cost)
            if not torch.equal(col, perms[k]):
                rows = torch.arange(len(col), device=col.device)
                gain = float(cost[rows, col].sum() - cost[rows, perms[k]].sum())
                if gain > 1e-12:
                    perms[k], changed = col, True
        if not changed:
            break
    return perms


def _matched(Wa, Ba, Wb, Bb, perms: list) -> float:
    """The objective with b's hidden units permuted by `perms`."""
    total = 0.0
    for k in range(len(Wa)):
        wb, bb = Wb[k], Bb[k]
        if k < len(perms):
            wb, bb = wb[perms[k]], bb[perms[k]]
        if k > 0:
            wb = wb[:, perms[k - 1]]
        total = total + (Wa[k] * wb).sum() + (Ba[k] * bb).sum()
    return float(total)


def _layers(params: Mapping, linears: list[int]) -> tuple[list, list]:
    import torch

    weights = [params[f"{i}.weight"].detach().to(torch.float64) for i in linears]
    biases = [params[f"{i}.bias"].detach().to(torch.float64) for i in linears]
    return weights, biases


def _cost(Wa, Ba, Wb, Bb, perms, k: int):
    """The h_k × h_k matrix C with C[i, j] = what matching unit j of b to unit i of a adds to the
    objective, the other layers' permutations fixed: rows of W_k and b_k, columns of W_{k+1}."""
    wb = Wb[k] if k == 0 else Wb[k][:, perms[k - 1]]
    nb = Wb[k + 1] if k + 1 == len(perms) else Wb[k + 1][perms[k + 1]]
    return Wa[k] @ wb.T + Ba[k][:, None] * Bb[k][None, :] + Wa[k + 1].T @ nb


def _assign(cost):
    """The column matched to each row by a maximum-weight assignment (scipy, on the host)."""
    import torch
    from scipy.optimize import linear_sum_assignment

    _, col = linear_sum_assignment(cost.cpu().numpy(), maximize=True)
    return torch.as_tensor(col, device=cost.device)


def objective(a: Mapping, b: Mapping, linears: list[int]) -> float:
    """Σ_l ⟨W_l^a, W_l^b⟩_F + ⟨b_l^a, b_l^b⟩: what weight matching maximises over b's permutations."""
    Wa, Ba = _layers(a, linears)
    Wb, Bb = _layers(b, linears)
    return float(sum((wa * wb).sum() + (ba * bb).sum() for wa, ba, wb, bb in zip(Wa, Ba, Wb, Bb)))


def permute(params: Mapping, linears: list[int], perms: list) -> dict:
    """The parameters with hidden units permuted: W_l ← P_l W_l P_{l−1}ᵀ, b_l ← P_l b_l. A
    permutation is an index tensor or array (`perm[i]`: the unit that becomes unit i)."""
    import torch

    out = dict(params)
    for k, i in enumerate(linears):
        w, bias = params[f"{i}.weight"], params[f"{i}.bias"]
        if k < len(perms):
            index = torch.as_tensor(perms[k], device=w.device)
            w, bias = w[index], bias[index]
        if k > 0:
            w = w[:, torch.as_tensor(perms[k - 1], device=w.device)]
        out[f"{i}.weight"], out[f"{i}.bias"] = w, bias
    return out


def align(a: Mapping, b: Mapping, linears: list[int]) -> dict:
    """b's parameters permuted into a's basin by weight matching."""
    return permute(b, linears, weight_matching(a, b, linears))
