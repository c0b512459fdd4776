"""Least squares on whatever device the tensors are on: the affine maps fitted between
representations (merges, fibre products, adapters' closed forms) all solve through here."""

from __future__ import annotations


def solve(a, b):
    """The least-squares solution x of a x ≈ b (float64), truncated below 1e-9 of the largest
    singular value: LAPACK's gelsd on the CPU, the same pseudo-inverse by SVD elsewhere (CUDA's
    lstsq has no rank-revealing driver)."""
    import torch

    a, b = a.double(), b.double()
    if a.device.type == "cpu":
        return torch.linalg.lstsq(a, b, rcond=1e-9, driver="gelsd").solution
    return torch.linalg.pinv(a, rtol=1e-9) @ b


def ones(x):
    """x with a column of ones appended (float64): the design matrix of an affine map."""
    import torch

    x = x.double()
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype, device=x.device)], 1)
