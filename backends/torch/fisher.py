"""Fisher geometry of Param (paper §8): the empirical, diagonal and K-FAC Fisher of a model at a
state, its quadratic form along a displacement, and the Fisher–Rao length of a trajectory.

For per-example losses ℓ_n(θ) on N examples the **empirical Fisher** is

    F_emp(θ) = (1/N) Σ_n ∇ℓ_n ∇ℓ_nᵀ,

its **diagonal** the per-parameter mean of squared per-example gradients, and the **model
Fisher** (the Fisher information of the model's predictive distribution, which for cross-entropy
is the generalized Gauss–Newton matrix) F(θ) = (1/N) Σ_n J_nᵀ (diag p_n − p_n p_nᵀ) J_n, with J_n
the Jacobian of example n's logits. **K-FAC** (Martens & Grosse 2015) approximates the block of
F_emp belonging to a Linear layer (weight W of shape out × in, bias b) by a Kronecker product:
with ā_n = [a_n; 1] the layer's input (1 appended when it has a bias) and δ_n = ∂ℓ_n/∂(W a_n + b),

    F_emp[W|b] = (1/N) Σ_n (δ_n δ_nᵀ) ⊗ (ā_n ā_nᵀ)  ≈  S ⊗ A,   S = (1/N) Σ δ_n δ_nᵀ, A = (1/N) Σ ā_n ā_nᵀ,

(row-major flattening of [W | b], as torch flattens). With one example (N = 1) the two sides are
equal: K-FAC is then exact (tested). Layers other than Linear get their diagonal block.

The matrices are P × P and meant for small models and tests. Lengths never build them:
Δθᵀ F_emp Δθ = (1/N) Σ_n (∇ℓ_n · Δθ)², and Δθᵀ F Δθ from the logits' directional derivative
u_n = J_n Δθ, both one forward-mode pass (`torch.func.jvp`) over the data.

The **Fisher–Rao length** of a trajectory through checkpoints θ_0, …, θ_T (per epoch) is
Σ_t √(Δθ_tᵀ F(θ_t) Δθ_t), Δθ_t = θ_{t+1} − θ_t: the left Riemann sum of ∫ √(γ'ᵀ F(γ) γ') dt at
the checkpoints' resolution. The `fisher_rao` job kind computes it from a `checkpoints` job;
`Param(model, data, fisher = model | empirical)` asks for it for every trajectory of the functor.
"""

from __future__ import annotations

import math
import time
from typing import Mapping, Sequence

from backends.run.jobs import JobContext, JobKind, JobResult
from backends.run.plan import Job

FISHER_KINDS = ("model", "empirical")


# ---- losses per example -------------------------------------------------------------------------


def per_example_loss(name: str, logits, y):
    """The loss of each example (the mean over a batch is `train.loss_function(name)`)."""
    import torch.nn.functional as F

    if name == "cross_entropy":
        return F.cross_entropy(logits, y, reduction="none")
    if name == "mse":
        return F.mse_loss(logits, F.one_hot(y, logits.shape[-1]).to(logits.dtype), reduction="none").mean(-1)
    raise ValueError(f"unknown loss {name!r}")


def _module(model_spec):
    from backends.torch.train import template

    return template(model_spec).eval()


def _flat(tensors: Mapping, names: Sequence[str]):
    import torch

    return torch.cat([tensors[n].reshape(tensors[n].shape[0], -1) for n in names], dim=1)


def per_example_grads(model_spec, params: Mapping, buffers: Mapping, x, y, loss: str = "cross_entropy"):
    """(N, P): row n is ∇ℓ_n, parameters flattened in the state's order (row-major each)."""
    from torch.func import functional_call, grad, vmap

    module = _module(model_spec)

    def one(p, xn, yn):
        return per_example_loss(loss, functional_call(module, (p, dict(buffers)), (xn[None],)), yn[None])[0]

    grads = vmap(grad(one), in_dims=(None, 0, 0))(dict(params), x, y)
    return _flat(grads, list(params))


def empirical_fisher(model_spec, params, buffers, x, y, loss: str = "cross_entropy"):
    """F_emp = (1/N) Σ ∇ℓ_n ∇ℓ_nᵀ, (P, P)."""
    g = per_example_grads(model_spec, params, buffers, x, y, loss)
    return g.T @ g / g.shape[0]


def diagonal_fisher(model_spec, params, buffers, x, y, loss: str = "cross_entropy"):
    """diag F_emp = (1/N) Σ (∇ℓ_n)², (P,)."""
    g = per_example_grads(model_spec, params, buffers, x, y, loss)
    return (g * g).mean(0)


def kfac_factors(model_spec, params, buffers, x, y, loss: str = "cross_entropy") -> dict[str, tuple]:
    """For each Linear layer (by module name): (A, S), A = (1/N) Σ ā āᵀ over its inputs (with 1
    appended when it has a bias), S = (1/N) Σ δ δᵀ over the gradients of ℓ_n at its outputs."""
    import torch
    from torch.func import functional_call

    module = _module(model_spec)
    seen: dict[str, list] = {}
    hooks = []
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear):
            def hook(m, inputs, output, name=name):
                output.retain_grad()
                seen[name] = [inputs[0].detach(), output, m.bias is not None]
            hooks.append(sub.register_forward_hook(hook))
    try:
        leaves = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
        out = functional_call(module, (leaves, dict(buffers)), (x,))
        per_example_loss(loss, out, y).sum().backward()  # row n of an output's grad is δ_n
    finally:
        for h in hooks:
            h.remove()
    factors = {}
    n = x.shape[0]
    for name, (a, output, bias) in seen.items():
        if a.ndim != 2:
            raise ValueError(f"K-FAC here takes Linear layers on (batch, features) inputs; layer {name} "
                             f"sees {tuple(a.shape)}")
        if bias:
            a = torch.cat([a, torch.ones(n, 1, dtype=a.dtype)], dim=1)
        d = output.grad
        factors[name] = (a.T @ a / n, d.T @ d / n)
    return factors


def kfac_fisher(model_spec, params, buffers, x, y, loss: str = "cross_entropy"):
    """The K-FAC approximation of F_emp as a (P, P) matrix: S ⊗ A per Linear layer (weight and
    bias together), the diagonal of F_emp for every other parameter, zero between layers."""
    import torch

    names = list(params)
    sizes = [params[k].numel() for k in names]
    offset = dict(zip(names, [sum(sizes[:i]) for i in range(len(sizes))]))
    total = sum(sizes)
    ref = next(iter(params.values()))
    fisher = torch.zeros(total, total, dtype=ref.dtype)
    covered = set()
    for layer, (a, s) in kfac_factors(model_spec, params, buffers, x, y, loss).items():
        w, b = f"{layer}.weight" if layer else "weight", f"{layer}.bias" if layer else "bias"
        out, inp = params[w].shape
        block = torch.kron(s, a)  # over [W | b] flattened row-major: index (i, j) -> i * (in + 1) + j
        width = a.shape[0]
        index = [offset[w] + i * inp + j for i in range(out) for j in range(inp)]
        where = [i * width + j for i in range(out) for j in range(inp)]
        if width > inp:  # the bias column
            index += [offset[b] + i for i in range(out)]
            where += [i * width + inp for i in range(out)]
            covered.add(b)
        covered.add(w)
        index_t, where_t = torch.tensor(index), torch.tensor(where)
        fisher[index_t[:, None], index_t[None, :]] = block[where_t[:, None], where_t[None, :]]
    rest = [k for k in names if k not in covered]
    if rest:
        diag = diagonal_fisher(model_spec, params, buffers, x, y, loss)
        for k in rest:
            i = torch.arange(offset[k], offset[k] + params[k].numel())
            fisher[i, i] = diag[i]
    return fisher


# ---- quadratic forms and lengths ----------------------------------------------------------------


def fisher_quadratic(model_spec, params, buffers, delta, x, y, loss: str = "cross_entropy",
                     kind: str = "model", batch: int = 1024) -> float:
    """Δθᵀ F(θ) Δθ on (x, y) without building F: `kind` "empirical" (F_emp) or "model" (the
    Fisher of the predictive distribution, the Gauss–Newton matrix: diag p − ppᵀ for
    cross-entropy, (2/C)·I for mse over C outputs)."""
    return float(_fisher_quadratic(model_spec, params, buffers, delta, x, y, loss, kind, batch))


def _fisher_quadratic(model_spec, params, buffers, delta, x, y, loss: str, kind: str, batch: int):
    """Δθᵀ F(θ) Δθ as a 0-d float64 tensor on the parameters' device (summed there, no host copy)."""
    import torch
    from torch.func import functional_call, jvp

    if kind not in FISHER_KINDS:
        raise ValueError(f"unknown Fisher {kind!r}; known: {', '.join(FISHER_KINDS)}")
    module = _module(model_spec)
    params = {k: v for k, v in params.items()}
    device = next(iter(params.values())).device
    tangent = {k: delta[k].to(params[k].dtype) for k in params}
    x, y = x.to(device), y.to(device)
    total = torch.zeros((), dtype=torch.float64, device=device)
    with torch.no_grad():
        for begin in range(0, len(y), batch):
            xb, yb = x[begin:begin + batch], y[begin:begin + batch]
            if kind == "empirical":
                f = lambda p: per_example_loss(loss, functional_call(module, (p, dict(buffers)), (xb,)), yb)  # noqa: E731
                _, d = jvp(f, (params,), (tangent,))
                total += (d.double() ** 2).sum()
            else:
                f = lambda p: functional_call(module, (p, dict(buffers)), (xb,))  # noqa: E731
                logits, u = jvp(f, (params,), (tangent,))
                u = u.double()
                if loss == "cross_entropy":
                    p = torch.softmax(logits.double(), -1)
                    total += ((p * u * u).sum(-1) - (p * u).sum(-1) ** 2).sum()
                else:
                    total += (2.0 / u.shape[-1] * (u * u).sum(-1)).sum()
    return total / max(len(y), 1)


def fisher_rao_length(model_spec, points: Sequence, x, y, loss: str = "cross_entropy",
                      kind: str = "model") -> tuple[float, list[float]]:
    """Σ_t √(Δθ_tᵀ F(θ_t) Δθ_t) over consecutive checkpoints (TrainingStates); also each term.
    Computed on the checkpoints' device; the terms are copied to the host once, at the end."""
    import torch

    quadratics = []
    for here, there in zip(points, points[1:]):
        delta = {k: there.params[k] - here.params[k] for k in here.params}
        quadratics.append(_fisher_quadratic(model_spec, here.params, here.buffers, delta, x, y, loss, kind, 1024))
    steps = [math.sqrt(max(q, 0.0)) for q in torch.stack(quadratics).cpu().tolist()] if quadratics else []
    return sum(steps), steps


# ---- the job kind -------------------------------------------------------------------------------


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    from backends.run.execute import device_for
    from backends.torch.results import Results

    results = Results(ctx)
    device = device_for(ctx.device)  # the checkpoints and the data go there once per job
    made = []
    for job in jobs:
        start = time.perf_counter()
        trained = ctx.store.get(job.spec["train"])
        model, data = results.model_and_data(trained.spec)
        points = [p.to(device) for p in results.checkpoints(job.spec["checkpoints"])]
        data = data.to(device)
        length, steps = fisher_rao_length(model, points, data.x_train, data.y_train, trained.spec["loss"],
                                          job.spec["fisher"])
        metrics = {"fisher_rao": length, "fisher_rao_steps": steps, "fisher": job.spec["fisher"],
                   "points": len(points)}
        made.append(JobResult.of(job, {}, metrics, None, time.perf_counter() - start))
    return made


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    from backends.torch.jobs import step_work

    trained = ctx.store.get(jobs[0].spec["train"])
    from backends.torch.results import Results

    shape = Results(ctx).data_of(trained.spec["data"]).input_shape
    return step_work(trained.spec["model"], tuple(shape), 1024, len(jobs))


FISHER_RAO = JobKind("fisher_rao", compute=_compute, work=_work)
