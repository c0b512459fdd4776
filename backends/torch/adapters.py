"""Domain maps and transferred learners in torch: adapters f : X_T → X_S, the pullback
φ_T = φ_S ∘ f with φ_S frozen, the baselines it is compared with, and the numeric check of the
pullback's universal property on a probe set (docs/language.md §8.9).

A learner here is a `Composite`: an optional input adapter, the source's feature map φ_S (its
top-level layers but the last), an optional feature adapter, and a head (the source's last
layer, or a new `Linear` when the target's label set differs). Which parts train is the method:

| method | trains | from |
|---|---|---|
| `pullback` | the adapter (and a new head) | φ_S frozen |
| `linear_probe` | a new head on φ_S | φ_S frozen |
| `fine_tune` | everything (a new head when labels differ) | the source state |
| `scratch` | everything | a fresh initialisation |

Training follows `train.py`'s conventions: the data order of epoch e is `epoch_order(seed, e)`,
updates are the optimizer registry's functional updates, new parameters are initialised from a
seed derived from the optimizer's seed, so every job is a function of its spec. The model runs
in eval mode (dropout off, BatchNorm statistics those of the source): the methods differ only in
what they train.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .models import build
from .optimizers import optimizer
from .train import epoch_order, loss_function, mix

METHODS = ("pullback", "scratch", "linear_probe", "fine_tune")


class Adapter(nn.Module):
    """A learned domain map R^d_in → R^d_out.

    - `linear`: x ↦ W x + b (W starts at the identity when d_in = d_out);
    - `lowrank`: x ↦ x + B A x + b with A of rank r (B starts at zero, so the map starts at the
      identity; without the skip when d_in ≠ d_out);
    - `mlp`: x ↦ x + B relu(A x + a) + b with r hidden units (same skip and start).
    """

    def __init__(self, kind: str, d_in: int, d_out: int, rank: int):
        super().__init__()
        self.kind, self.skip = kind, d_in == d_out
        if kind == "linear":
            self.map = nn.Linear(d_in, d_out)
            if self.skip:
                with torch.no_grad():
                    self.map.weight.copy_(torch.eye(d_in))
                    self.map.bias.zero_()
            return
        self.down = nn.Linear(d_in, rank, bias=kind == "mlp")
        self.up = nn.Linear(rank, d_out)
        if self.skip:
            with torch.no_grad():
                self.up.weight.zero_()
                self.up.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "linear":
            return self.map(x)
        hidden = self.down(x)
        if self.kind == "mlp":
            hidden = torch.relu(hidden)
        out = self.up(hidden)
        return x + out if self.skip else out


class Composite(nn.Module):
    """head ∘ [feature adapter] ∘ φ_S ∘ [input adapter]; `features` is everything but the head."""

    def __init__(self, body: nn.Module, head: nn.Module, source_shape: tuple[int, ...],
                 input_adapter: nn.Module | None = None, feature_adapter: nn.Module | None = None):
        super().__init__()
        self.source_shape = tuple(source_shape)
        self.input_adapter, self.body, self.feature_adapter, self.head = input_adapter, body, feature_adapter, head

    def features(self, x: Tensor) -> Tensor:
        if self.input_adapter is not None:
            x = self.input_adapter(x.reshape(len(x), -1)).reshape(len(x), *self.source_shape)
        z = self.body(x).reshape(len(x), -1)
        return self.feature_adapter(z) if self.feature_adapter is not None else z

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class Made:
    """A trained learner: its module, what trained, and its metrics."""

    model: Composite
    metrics: dict[str, Any]

    def trained_tensors(self) -> dict[str, Tensor]:
        return {n: p.detach().cpu().clone() for n, p in self.model.named_parameters() if p.requires_grad}


def _seeded(seed: int, *parts: Any):
    fork = torch.random.fork_rng(devices=[])
    fork.__enter__()
    torch.manual_seed(mix("transfer", seed, *parts))
    return fork


def composite(spec: Mapping[str, Any], model_spec, source: Mapping[str, Tensor] | None,
              target_shape: tuple[int, ...], target_classes: int) -> Composite:
    """The learner a transfer job's spec describes, with the source state loaded (None: fresh,
    seeded) and its trainable parameters marked."""
    method, seed = spec["method"], int(spec["optimizer"]["seed"])
    source_shape = tuple(spec["source_input"])
    fork = _seeded(seed, method)
    try:
        full = build(model_spec)
        if source is not None:
            full.load_state_dict(dict(source), strict=True)
        body, head = full[:-1], full[-1]
        width = int(spec["width"])
        if spec["head"] == "new":
            head = nn.Linear(width, target_classes)
        d_target, d_source = math.prod(target_shape), math.prod(source_shape)
        adapter = spec.get("adapter") or {}
        input_adapter = feature_adapter = None
        if method == "pullback" and adapter.get("at") == "features":
            feature_adapter = Adapter(adapter["kind"], width, width, int(adapter["rank"]))
        elif method == "pullback":
            input_adapter = Adapter(adapter["kind"], d_target, d_source, int(adapter["rank"]))
        elif tuple(target_shape) != source_shape:  # scratch on another input shape: a linear map in
            input_adapter = Adapter("linear", d_target, d_source, 0)
    finally:
        fork.__exit__(None, None, None)
    model = Composite(body, head, source_shape, input_adapter, feature_adapter)
    for p in model.parameters():
        p.requires_grad_(method in ("scratch", "fine_tune"))
    if method == "pullback":
        for part in (input_adapter, feature_adapter):
            if part is not None:
                part.requires_grad_(True)
    if method in ("pullback", "linear_probe") and spec["head"] == "new" or method == "linear_probe":
        head.requires_grad_(True)
    return model.eval()


def fit(model: Composite, data, opt_spec, loss: str = "cross_entropy") -> tuple[list[float], float]:
    """Train the parameters of `model` that require gradients on `data`'s training split (on the
    device of the data and the model); returns the batch losses and the seconds spent training."""
    start = time.perf_counter()
    loss_fn = loss_function(loss)
    update = optimizer(opt_spec.name).function()
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    x, y, n = data.x_train, data.y_train, len(data.y_train)
    state: dict[str, Tensor] = {}
    losses, step = [], 0
    for epoch in range(opt_spec.epochs):
        order = epoch_order(opt_spec.seed, epoch, n).to(y.device)
        for begin in range(0, n, opt_spec.batch):
            index = order[begin:begin + opt_spec.batch]
            leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
            value = loss_fn(functional_call(model, leaves, (x[index],)), y[index])
            grads = dict(zip(leaves, torch.autograd.grad(value, list(leaves.values()))))
            losses.append(value.detach())  # kept on the device: one transfer at the end, not one a step
            with torch.no_grad():
                params, state = update(params, grads, state, opt_spec.hyper(step))
            step += 1
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in params:
                p.copy_(params[name])
    return (torch.stack(losses).tolist() if losses else []), time.perf_counter() - start


def accuracy(model: nn.Module, x: Tensor, y: Tensor, loss: str = "cross_entropy") -> tuple[float, float]:
    """(mean loss, accuracy) of `model` on (x, y), in eval mode without gradients."""
    loss_fn = loss_function(loss)
    with torch.no_grad():
        out = model.eval()(x)
        return float(loss_fn(out, y)), float((out.argmax(-1) == y).float().mean()) if len(y) else 0.0


def counts(model: Composite) -> tuple[int, int]:
    """(trainable, total) scalars."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


# ---- the universal property, on a probe set ------------------------------------------------------


@dataclass(frozen=True)
class Universal:
    """What the check of T.universal measured: the worst relative residual of a mediating map
    over the compatible cones (existence), the part of φ_T off the probe that the probe does not
    determine (uniqueness), and the residual of a representation that is *not* a cone (the
    control, which must stay large for the check to mean anything)."""

    cones: int
    residual: float
    uniqueness: float
    control: float
    probe: int
    width: int


def universal_property(phi_probe: Tensor, phi_elsewhere: Tensor, samples: int = 8, seed: int = 0) -> Universal:
    """The universal property of the pullback φ_T = φ_S ∘ f, tested on a probe set.

    `phi_probe` is φ_T on the probe (n × d), `phi_elsewhere` on other inputs of the target.
    A compatible cone is a representation ψ of the target that agrees with the source through
    f: here ψ = A φ_T with a random A of full column rank (m = d + 8), and g = A⁺ its map into
    the source's features, so g ψ = φ_S ∘ f. Existence: a mediating map u with u ψ = φ_T on the
    probe (least squares; residual ‖u ψ − φ_T‖ / ‖φ_T‖, worst over the cones). Uniqueness: two
    mediating maps that agree on the probe differ by a map that vanishes on φ_T(probe), so they
    agree on every target input exactly when φ_T there lies in the span the probe sees; the
    measure is the relative norm of φ_T(elsewhere) outside that span. The control is an
    unrelated representation of the same width, which must not factor."""
    F, R = phi_probe.double(), phi_elsewhere.double()
    n, d = F.shape
    generator = torch.Generator().manual_seed(mix("universal", seed))
    scale = F.norm().clamp_min(1e-300)

    from backends.torch.lstsq import solve as fit  # least squares, truncated below 1e-9 of the top singular value

    worst = 0.0
    for _ in range(samples):
        A = torch.randn(d + 8, d, dtype=torch.float64, generator=generator).to(F.device)
        psi = F @ A.T  # (n, m)
        worst = max(worst, float((psi @ fit(psi, F) - F).norm() / scale))
    _, s, vh = torch.linalg.svd(F, full_matrices=False)
    seen = vh[: int((s > 1e-9 * s[0]).sum())] if len(s) and s[0] > 0 else vh[:0]
    outside = R - (R @ seen.T) @ seen
    uniqueness = float(outside.norm() / R.norm().clamp_min(1e-300)) if len(R) else 0.0
    unrelated = torch.randn(n, d, dtype=torch.float64, generator=generator).to(F.device)
    control = float((unrelated @ fit(unrelated, F) - F).norm() / scale)
    return Universal(samples, worst, uniqueness, control, n, d)
