"""The updates of the registered optimizers (`optimizers.OPTIMIZERS`), over plain tensors.

Each maps (params, grads, opt_state, hyper) to (params', opt_state') out of place, so states
are never mutated after they are made. Hyperparameters are floats, or for an ensemble tensors
of shape (members,) that broadcast over stacked parameters of shape (members, ...); the same
code serves both. Optimizer-state keys are namespaced by optimizer (`sgd.momentum/0.weight`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor


def broadcast(value: Any, like: Tensor) -> Any:
    """A hyperparameter ready to combine with `like`: a per-member (members,) tensor as
    (members, 1, …), a float as it is."""
    if isinstance(value, Tensor) and value.ndim == 1:
        return value.view((-1,) + (1,) * (like.ndim - 1))
    return value


def _nonzero(hyper: Mapping[str, Any], key: str) -> bool:
    """Whether hyperparameter `key` is non-zero (for some member): a per-member tensor is not read
    (on a GPU that would wait for the device every step) but looked up in `hyper["nonzero"]`,
    which the ensemble's table decides from the host's values (`ensemble._hyper_table`)."""
    value = hyper[key]
    return hyper["nonzero"][key] if isinstance(value, Tensor) else value != 0


def sgd_update(params: Mapping[str, Tensor], grads: Mapping[str, Tensor], opt_state: Mapping[str, Tensor],
               hyper: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """SGD with optional (Nesterov) momentum and L2 weight decay, as torch.optim.SGD (dampening 0)."""
    lr, mom, wd = hyper["lr"], hyper["momentum"], hyper["weight_decay"]
    new_params, new_state = {}, dict(opt_state)
    for name, p in params.items():
        g = grads[name]
        if _nonzero(hyper, "weight_decay"):
            g = g + broadcast(wd, p) * p
        key = f"sgd.momentum/{name}"
        if _nonzero(hyper, "momentum") or key in opt_state:
            buf = opt_state.get(key)
            buf = g if buf is None else broadcast(mom, p) * buf + g
            new_state[key] = buf
            g = g + broadcast(mom, p) * buf if hyper["nesterov"] else buf
        new_params[name] = p - broadcast(lr, p) * g
    return new_params, new_state


def adam_update(params: Mapping[str, Tensor], grads: Mapping[str, Tensor], opt_state: Mapping[str, Tensor],
                hyper: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Adam (L2 decay) or AdamW (decoupled decay), as torch.optim.Adam/AdamW; bias correction counts Adam's own steps.

    The count, `adam.step`, is kept on the CPU (as torch.optim.Adam keeps its `step` unless
    capturable), so reading it costs no wait for a GPU; a state moved to a device whole is read
    from there once, at its first step."""
    lr, wd, (b1, b2), eps = hyper["lr"], hyper["weight_decay"], hyper["betas"], hyper["eps"]
    counter = opt_state.get("adam.step")
    t = (int(counter.reshape(-1)[0]) if counter is not None else 0) + 1
    step_size = lr / (1 - b1**t)
    root2 = math.sqrt(1 - b2**t)
    new_params, new_state = {}, dict(opt_state)
    for name, p in params.items():
        g = grads[name]
        if _nonzero(hyper, "weight_decay"):
            if hyper["decoupled"]:
                p = p * (1 - broadcast(lr, p) * broadcast(wd, p))
            else:
                g = g + broadcast(wd, p) * p
        m = opt_state.get(f"adam.exp_avg/{name}")
        v = opt_state.get(f"adam.exp_avg_sq/{name}")
        m = torch.zeros_like(p) if m is None else m
        v = torch.zeros_like(p) if v is None else v
        m = torch.lerp(m, g, 1 - b1)
        v = v * b2 + (1 - b2) * (g * g)
        new_state[f"adam.exp_avg/{name}"], new_state[f"adam.exp_avg_sq/{name}"] = m, v
        new_params[name] = p - broadcast(step_size, p) * (m / (v.sqrt() / root2 + eps))
    members = hyper.get("members")
    new_state["adam.step"] = torch.full((members,) if members else (), t, dtype=torch.int64)
    return new_params, new_state


def natgrad_update(params: Mapping[str, Tensor], grads: Mapping[str, Tensor], opt_state: Mapping[str, Tensor],
                   hyper: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Natural gradient, p ← p − lr · (F + damping)⁻¹ g, with F a running average (decay β = `ema`)
    of the outer products of the gradients the update sees (the empirical Fisher of the batches;
    exactly the per-example empirical Fisher, averaged over the data order, when batch = 1).

    `kind = diagonal`: F is diagonal, F ← β F + (1 − β) g² (F₀ = g²), step g / (F + damping).
    `kind = kfac`: each weight matrix G (out × in; members × out × in in an ensemble) keeps
    Kronecker factors A ← β A + (1 − β) GᵀG / ‖G‖, S ← β S + (1 − β) GGᵀ / ‖G‖ (A₀, S₀ the first
    step's), for which S ⊗ A = vec G vec Gᵀ exactly when G has rank one (one example of a Linear
    layer: G = δ aᵀ); step (S + √damping I)⁻¹ G (A + √damping I)⁻¹ (factored damping). Other
    parameters (biases, convolution kernels) are treated as `diagonal`.
    """
    lr, damping, beta = hyper["lr"], hyper["damping"], hyper["ema"]
    kfac = hyper["kind"] == "kfac"
    stacked = 1 if hyper.get("members") else 0
    new_params, new_state = {}, dict(opt_state)
    for name, p in params.items():
        g = grads[name]
        if kfac and g.ndim == 2 + stacked:
            norm = torch.linalg.matrix_norm(g).clamp_min(1e-30)[..., None, None]
            a_now, s_now = g.transpose(-1, -2) @ g / norm, g @ g.transpose(-1, -2) / norm
            a, s = opt_state.get(f"natgrad.kfac_a/{name}"), opt_state.get(f"natgrad.kfac_s/{name}")
            b = broadcast(beta, p)
            a = a_now if a is None else b * a + (1 - b) * a_now
            s = s_now if s is None else b * s + (1 - b) * s_now
            new_state[f"natgrad.kfac_a/{name}"], new_state[f"natgrad.kfac_s/{name}"] = a, s
            root = broadcast(damping, p) ** 0.5
            eye_a = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
            eye_s = torch.eye(s.shape[-1], dtype=s.dtype, device=s.device)
            left = torch.linalg.solve(s + root * eye_s, g)  # (S + √λ I)⁻¹ G
            step = torch.linalg.solve(a + root * eye_a, left.transpose(-1, -2)).transpose(-1, -2)  # … (A + √λ I)⁻¹
        else:
            key = f"natgrad.fisher/{name}"
            f = opt_state.get(key)
            f = g * g if f is None else broadcast(beta, p) * f + (1 - broadcast(beta, p)) * (g * g)
            new_state[key] = f
            step = g / (f + broadcast(damping, p))
        new_params[name] = p - broadcast(lr, p) * step
    return new_params, new_state
