"""Many same-architecture runs trained as one: stacked parameters, one batched step for all members.

Member i sees exactly what `train` would show it: its own data order (from its own seed), its
own learning rate and schedule, and the same update code (the optimizer's registered update)
applied to stacked tensors with per-member hyperparameters (those its registry entry lists in
`per_member`; the others must agree). The result equals training one at a time up to
float rounding (batched kernels sum in a different order), not bit for bit.

Two ways to run the batched forward/backward: `vmap` (torch.func.vmap over functional_call and
grad, any vmappable model) and `bmm` (batched matmuls, MLPs only). Models with BatchNorm (in-place
running statistics) or Dropout (masks that would depend on all members' seeds) are refused.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor
from torch.func import functional_call, grad_and_value, vmap

from .data import Dataset
from .models import (GELU, BatchNorm2d, Dropout, Flatten, Layer, Linear, ReLU, Sequential, Tanh, has_layer,
                     infer_shapes)
from .optimizers import optimizer
from .train import (Diverged, OptimizerSpec, TrainingState, Trajectory, _check_fits, epoch_order, loss_function,
                    template)

_MLP_LAYERS = (Linear, ReLU, Tanh, GELU, Flatten)


class NotEnsemblable(ValueError):
    """The members cannot share one batched run (different shapes of work, or layers that do not vmap)."""


def ensemble_method(model_spec: Layer) -> str:
    """The batched method `auto` picks: `bmm` for MLPs (faster on CPU, see bench/bench_ensemble.py), else `vmap`."""
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    return "bmm" if all(isinstance(layer, _MLP_LAYERS) for layer in layers) else "vmap"


def _refuse(model_spec: Layer) -> None:
    if has_layer(model_spec, BatchNorm2d):
        raise NotEnsemblable("BatchNorm2d updates running statistics in place, which a vmapped ensemble cannot do")
    if has_layer(model_spec, Dropout):
        raise NotEnsemblable("Dropout masks in an ensemble would not match single runs; train these one at a time")


def _agree(opt_specs: Sequence[OptimizerSpec], states: Sequence[TrainingState]) -> None:
    for key in ("name", "batch", "epochs", *optimizer(opt_specs[0].name).shared):
        values = {getattr(o, key) if key in ("name", "batch", "epochs") else o.hyper(0)[key] for o in opt_specs}
        if len(values) > 1:
            raise NotEnsemblable(f"ensemble members must share {key}; got {sorted(map(str, values))}")
    if len({(s.step, s.epoch) for s in states}) > 1:
        raise NotEnsemblable("ensemble members must start at the same global step and epoch")
    keys = {(tuple(sorted(s.params)), tuple(sorted(s.buffers)), tuple(sorted(s.opt_state))) for s in states}
    if len(keys) > 1:
        raise NotEnsemblable("ensemble members' states hold different tensors")


def _stack(states: Sequence[TrainingState], group: str, device: torch.device) -> dict[str, Tensor]:
    names = getattr(states[0], group)
    return {k: torch.stack([getattr(s, group)[k] for s in states]).to(device) for k in names}


def _hyper(opt_specs: Sequence[OptimizerSpec], step: int, device: torch.device) -> dict[str, Any]:
    """Per-member hyperparameters at `step` as (members,) tensors (the learning rate and those the
    optimizer lists in `per_member`); shared ones as the first member has them."""
    each = [o.hyper(step) for o in opt_specs]
    column = lambda key: torch.tensor([h[key] for h in each], dtype=torch.float32, device=device)  # noqa: E731
    return {**each[0], **{key: column(key) for key in ("lr", *optimizer(opt_specs[0].name).per_member)},
            "members": len(opt_specs)}


def _member(i: int, stacked: tuple[dict, dict, dict], step: int, epoch: int,
            keep: frozenset[str]) -> TrainingState:
    """Member i's slice of the stacked state (of the optimizer state, the keys in `keep`), copied
    to CPU so it owns its storage."""
    take = lambda ts, wanted=None: {k: v[i].detach().cpu().clone() for k, v in ts.items()  # noqa: E731
                                    if wanted is None or k in wanted}
    return TrainingState(take(stacked[0]), take(stacked[1]), take(stacked[2], keep), step, epoch)


def _bmm_forward(layers: Sequence[Layer], params: dict[str, Tensor], x: Tensor) -> Tensor:
    """Stacked MLP forward: x (members, batch, ...) -> logits (members, batch, classes)."""
    for i, layer in enumerate(layers):
        if isinstance(layer, Linear):
            weight = params[f"{i}.weight"].transpose(1, 2)
            x = torch.baddbmm(params[f"{i}.bias"].unsqueeze(1), x, weight) if layer.bias else torch.bmm(x, weight)
        elif isinstance(layer, Flatten):
            x = x.flatten(2)
        else:
            x = {ReLU: torch.relu, Tanh: torch.tanh, GELU: torch.nn.functional.gelu}[type(layer)](x)
    return x


def train_ensemble(states: TrainingState | Sequence[TrainingState], model_spec: Layer, data: Dataset,
                   opt_specs: Sequence[OptimizerSpec], loss: str = "cross_entropy",
                   checkpoint_every: int | None = None, device: str | torch.device = "cpu",
                   method: str = "auto") -> list[Trajectory | Diverged]:
    """Train member i from `states[i]` with `opt_specs[i]`, all members in one batched run.

    A member whose loss turns NaN/inf gets a `Diverged` (with its last finite state) in its slot;
    the others carry on. `method` is "auto", "vmap" or "bmm".
    """
    device = torch.device(device)
    opt_specs = list(opt_specs)
    if not opt_specs:
        return []
    if isinstance(states, TrainingState):
        states = [states] * len(opt_specs)
    states = list(states)
    if len(states) != len(opt_specs):
        raise NotEnsemblable(f"{len(states)} start states for {len(opt_specs)} optimizer specs")
    _refuse(model_spec)
    _agree(opt_specs, states)
    infer_shapes(model_spec, data.input_shape)
    method = ensemble_method(model_spec) if method == "auto" else method
    if method == "bmm" and ensemble_method(model_spec) != "bmm":
        raise NotEnsemblable("method 'bmm' handles Linear, activations and Flatten only; use 'vmap'")
    if method not in ("bmm", "vmap"):
        raise ValueError(f"unknown ensemble method {method!r}; known: auto, vmap, bmm")

    module = template(model_spec).train()
    _check_fits(states[0], module)
    loss_fn = loss_function(loss)
    update = optimizer(opt_specs[0].name).function()
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    members, first = len(opt_specs), opt_specs[0]
    x, y = data.x_train.to(device), data.y_train.to(device)
    n = len(y)

    def member_loss(p: dict, b: dict, xb: Tensor, yb: Tensor) -> Tensor:
        return loss_fn(functional_call(module, (p, b), (xb,)), yb)

    vmapped = vmap(grad_and_value(member_loss))
    per_member_loss = vmap(loss_fn)

    params, buffers, opt_state = (_stack(states, g, device) for g in ("params", "buffers", "opt_state"))
    # Optimizer state a member would not have made alone (momentum buffers of a momentum-0 member
    # of a momentum sweep) is dropped when its slice is taken.
    keep = {i: frozenset(states[i].opt_state) | optimizer(o.name).state_keys(o, params)
            for i, o in enumerate(opt_specs)}
    step, epoch0 = states[0].step, states[0].epoch
    checkpoints: list[list[TrainingState]] = [[s] for s in states]
    losses: list[Tensor] = []
    failed: dict[int, Diverged] = {}
    previous = (params, buffers, opt_state, step, epoch0)
    for epoch in range(epoch0, epoch0 + first.epochs):
        orders = torch.stack([epoch_order(o.seed, epoch, n) for o in opt_specs]).to(device)
        for begin in range(0, n, first.batch):
            index = orders[:, begin:begin + first.batch]
            xb, yb = x[index], y[index]
            if method == "vmap":
                grads, values = vmapped(params, buffers, xb, yb)
            else:
                leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
                values = per_member_loss(_bmm_forward(layers, leaves, xb), yb)
                grads = dict(zip(leaves, torch.autograd.grad(values.sum(), list(leaves.values()))))
            values = values.detach()
            bad = ~torch.isfinite(values)
            if bad.any():
                for i in bad.nonzero().flatten().tolist():
                    if i not in failed:
                        last = states[i] if previous[3] == states[i].step else _member(i, previous[:3], previous[3],
                                                                                       previous[4], keep[i])
                        failed[i] = Diverged(step, float(values[i]), last)
            losses.append(values)
            previous = (params, buffers, opt_state, step, epoch)
            with torch.no_grad():
                params, opt_state = update(params, grads, opt_state, _hyper(opt_specs, step, device))
            step += 1
            if checkpoint_every and step % checkpoint_every == 0:
                done = epoch + (begin + first.batch >= n)
                for i in range(members):
                    checkpoints[i].append(_member(i, (params, buffers, opt_state), step, done, keep[i]))
    history = torch.stack(losses).cpu().T.tolist() if losses else [[] for _ in range(members)]
    results: list[Trajectory | Diverged] = []
    for i, (start, opt) in enumerate(zip(states, opt_specs)):
        if i in failed:
            results.append(failed[i])
            continue
        if step == start.step:
            end = start
        else:
            end = _member(i, (params, buffers, opt_state), step, epoch0 + first.epochs, keep[i])
            if checkpoints[i][-1].step == step:
                checkpoints[i][-1] = end
            else:
                checkpoints[i].append(end)
        results.append(Trajectory(start, end, tuple(checkpoints[i]), tuple(history[i]), (opt,), loss))
    return results
