"""Weight matching (backends/torch/align.py): the exact optimum with one hidden layer (against
enumeration), a coordinate-descent fixed point with more, the function kept, and everything on the
parameters' device (CPU here; CUDA too where there is one)."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.torch.align import _assign, _cost, _layers, align, objective, permute, weight_matching

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]


def _mlp(widths, seed: int, device="cpu") -> dict:
    g = torch.Generator().manual_seed(seed)
    params = {}
    for k in range(len(widths) - 1):
        params[f"{2 * k}.weight"] = torch.randn(widths[k + 1], widths[k], generator=g).to(device)
        params[f"{2 * k}.bias"] = torch.randn(widths[k + 1], generator=g).to(device)
    return params


def _forward(params: dict, x: torch.Tensor, layers: int) -> torch.Tensor:
    for k in range(layers):
        x = x @ params[f"{2 * k}.weight"].T + params[f"{2 * k}.bias"]
        if k < layers - 1:
            x = torch.relu(x)
    return x


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 5), inp=st.integers(1, 6), out=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_one_hidden_layer_is_the_optimum_over_every_permutation(width, inp, out, seed):
    a, b = _mlp((inp, width, out), seed), _mlp((inp, width, out), seed + 1)
    linears = [0, 2]
    best = max(objective(a, permute(b, linears, [list(p)]), linears)
               for p in itertools.permutations(range(width)))
    moved = align(a, b, linears)
    assert objective(a, moved, linears) == pytest.approx(best, rel=1e-12, abs=1e-12)
    x = torch.randn(7, inp, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(_forward(moved, x, 2), _forward(b, x, 2), atol=1e-5)  # the same function


@pytest.mark.parametrize("seed", range(6))
def test_deeper_mlps_end_at_a_fixed_point_no_better_than_enumeration(seed):
    widths, linears = (5, 4, 4, 3), [0, 2, 4]
    a, b = _mlp(widths, seed), _mlp(widths, seed + 10)
    perms = weight_matching(a, b, linears)
    Wa, Ba = _layers(a, linears)
    Wb, Bb = _layers(b, linears)
    for k in range(len(perms)):  # no single layer's permutation can be improved
        cost = _cost(Wa, Ba, Wb, Bb, perms, k)
        rows = torch.arange(4)
        assert float(cost[rows, _assign(cost)].sum()) <= float(cost[rows, perms[k]].sum()) + 1e-12
    found = objective(a, permute(b, linears, perms), linears)
    best = max(objective(a, permute(b, linears, [list(p), list(q)]), linears)
               for p in itertools.permutations(range(4)) for q in itertools.permutations(range(4)))
    assert objective(a, b, linears) - 1e-12 <= found <= best + 1e-12
    x = torch.randn(6, 5, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(_forward(permute(b, linears, perms), x, 3), _forward(b, x, 3), atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_matching_stays_on_the_parameters_device(device):
    widths, linears = (8, 6, 6, 3), [0, 2, 4]
    a, b = _mlp(widths, 0, device), _mlp(widths, 1, device)
    perms = weight_matching(a, b, linears)
    assert all(p.device.type == device and p.dtype == torch.long for p in perms)
    moved = align(a, b, linears)
    assert all(t.device.type == device for t in moved.values())
    on_cpu = weight_matching({k: v.cpu() for k, v in a.items()}, {k: v.cpu() for k, v in b.items()}, linears)
    assert all(torch.equal(p.cpu(), q) for p, q in zip(perms, on_cpu))
