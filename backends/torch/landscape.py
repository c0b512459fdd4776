"""Landscapes of trained states: the loss and error on a 2-D plane of parameter space, sampled
on a grid, kept in the run store as `landscape` jobs (docs/architecture.md, "Job kinds").

Planes (`landscape(plane = …)`):

- `filter` — θ + a·δ₁ + b·δ₂ for two random directions filter-normalized as in Li et al. 2018:
  each filter (a row of a Linear weight, an output channel of a Conv2d weight) of a Gaussian
  direction is rescaled to the norm of the same filter of θ; tensors of one dimension (biases,
  the scales and shifts of LayerNorm, GroupNorm and BatchNorm) get direction 0 (Li et al.'s
  `ignore = biasbn`). Buffers (BatchNorm running statistics) stay at θ's values: every grid
  point is evaluated in eval mode with the centre's statistics. a, b ∈ [−r, r].
- `runs` — the plane through three states θ₀, θ₁, θ₂ (a sweep's first three members):
  δ₁ = θ₁ − θ₀, δ₂ = θ₂ − θ₀ (parameters and float buffers alike, so interpolated BatchNorm
  statistics move with the weights); a, b ∈ [−r, 1 + r].
- `pca` — the plane of the two principal directions of a trajectory's checkpoints around its
  end state (Li et al. §7), each scaled to the checkpoints' largest projection (a one-epoch
  trajectory spans one direction; the second is then random, orthogonal, of the same length);
  a, b ∈ [−r, r].

Evaluation is batched with `torch.func.vmap` over chunks of grid points, or a plain loop.
On CPU the loop wins once one point's forward pass is already matrix-bound (a wide model on
hundreds of points: vmap then only adds a copy of the weights per point); for small models
the per-call overhead dominates and vmap wins. `auto` picks batched below `BATCH_BELOW`
multiply-adds per point (parameters × evaluation points). Measured with
bench/bench_landscape.py on 2 shared CPU cores (noisy, up to 2× between runs): 51×51 grid of a
2.4k-parameter digits MLP on 450 points, batched 0.47× the loop's time; 21×21 grid of a
301k-parameter MLP, batched 2.06× the loop's time. Torch is imported by the bodies only.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Mapping, Sequence

from backends.run.jobs import JobContext, JobKind
from backends.run.plan import CODE_VERSION, Job
from backends.torch.results import Results

# `auto` evaluates batched below this many multiply-adds per grid point, with a loop above
BATCH_BELOW = 2e7
# grid points per vmapped call: bounds the memory of the stacked weights and activations
CHUNK_FLOATS = 5e7
# Hutchinson probes per vmapped call
PROBES = 16
PLANES = ("filter", "runs", "pca")
METRICS = ("loss", "error")


def landscape_job(states: Sequence[Job], model: dict, data: dict, loss: str, options: dict,
                  label: str, origin: tuple[str, str] | None, checkpoints: Job | None = None) -> Job:
    """The grid of loss and error on the plane `options["plane"]` through `states` (one state for
    `filter`, three for `runs`) or along `checkpoints` (`pca`)."""
    deps = tuple(j.key for j in states) + ((checkpoints.key,) if checkpoints is not None else ())
    spec = {"states": [j.key for j in states], "checkpoints": checkpoints.key if checkpoints else None,
            "model": model, "data": data, "loss": loss, **options, "code": CODE_VERSION}
    return Job.of("landscape", spec, label, deps, origin)


# ---- directions -------------------------------------------------------------------------------


def filter_normalized(params: Mapping[str, Any], generator) -> dict[str, Any]:
    """A Gaussian direction with every filter rescaled to the norm of θ's filter; 0 on tensors
    of one dimension (biases, norm-layer scales and shifts). Drawn in sorted name order."""
    import torch

    out = {}
    for name in sorted(params):
        p = params[name]
        if p.dim() <= 1:
            out[name] = torch.zeros_like(p)
            continue
        d = torch.randn(p.shape, generator=generator, dtype=p.dtype)
        scale = p.flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1).clamp_min(1e-12)
        out[name] = d * scale.view(-1, *([1] * (p.dim() - 1)))
    return out


def _seeded(seed: int, which: str):
    import torch

    from backends.torch.train import mix

    return torch.Generator().manual_seed(mix("landscape", seed, which))


def _floating(tensors: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tensors.items() if v.is_floating_point()}


def plane_of(option: str, states: Sequence[Any], seed: int, checkpoints: Sequence[Any] = ()):
    """(centre, δ₁, δ₂, fixed): centre and directions over the parameters and float buffers that
    move, `fixed` the tensors every grid point shares (the rest of the buffers)."""
    import torch

    if option == "filter":
        (s,) = states
        centre = {**s.params, **_floating(s.buffers)}
        zero = {k: torch.zeros_like(v) for k, v in _floating(s.buffers).items()}
        d1 = {**filter_normalized(s.params, _seeded(seed, "x")), **zero}
        d2 = {**filter_normalized(s.params, _seeded(seed, "y")), **zero}
        fixed = {k: v for k, v in s.buffers.items() if k not in centre}
        return centre, d1, d2, fixed
    if option == "runs":
        s0, s1, s2 = states
        moving = lambda s: {**s.params, **_floating(s.buffers)}  # noqa: E731
        c, a, b = moving(s0), moving(s1), moving(s2)
        fixed = {k: v for k, v in s0.buffers.items() if k not in c}
        return c, {k: a[k] - c[k] for k in c}, {k: b[k] - c[k] for k in c}, fixed
    if option == "pca":
        end = checkpoints[-1]
        names = sorted(end.params)
        flat = lambda s: torch.cat([s.params[k].reshape(-1) for k in names])  # noqa: E731
        centre_flat = flat(end)
        m = torch.stack([flat(s) - centre_flat for s in checkpoints[:-1]]).double()
        _, _, vh = torch.linalg.svd(m, full_matrices=False)
        dirs = []
        for v in vh[:2]:
            reach = (m @ v).abs().max().clamp_min(1e-12)  # the checkpoints' furthest projection
            dirs.append((v * reach).to(centre_flat.dtype))
        if len(dirs) < 2:  # a one-epoch trajectory spans one direction: add a random orthogonal one
            r = torch.randn(m.shape[1], generator=_seeded(seed, "pca"), dtype=torch.float64)
            r = r - (r @ vh[0]) * vh[0]
            dirs.append((r / r.norm() * dirs[0].double().norm()).to(centre_flat.dtype))
        unflat = lambda v: {k: t.view_as(end.params[k]) for k, t in  # noqa: E731
                            zip(names, torch.split(v, [end.params[k].numel() for k in names]))}
        zero = {k: torch.zeros_like(v) for k, v in _floating(end.buffers).items()}
        centre = {**end.params, **_floating(end.buffers)}
        fixed = {k: v for k, v in end.buffers.items() if k not in centre}
        return centre, {**unflat(dirs[0]), **zero}, {**unflat(dirs[1]), **zero}, fixed
    raise ValueError(f"unknown plane {option!r}")


def coordinates(option: str, grid: int, radius: float) -> Any:
    import torch

    lo, hi = (-radius, 1.0 + radius) if option == "runs" else (-radius, radius)
    return torch.linspace(lo, hi, grid, dtype=torch.float64)


# ---- evaluation -------------------------------------------------------------------------------


def choose_method(parameters: int, points: int) -> str:
    """`batched` (vmap) when one point's forward pass is small, else `loop` (module docstring)."""
    return "batched" if parameters * points < BATCH_BELOW else "loop"


def evaluate_plane(model_spec, plane, xs, ys, x, y, loss: str, method: str = "auto"):
    """Loss and error (1 − accuracy) at θ = centre + a·δ₁ + b·δ₂ for a in xs, b in ys, on (x, y):
    two (len(xs), len(ys)) tensors, and the method used."""
    import torch
    from torch.func import functional_call, vmap

    from backends.torch.train import loss_function, template

    centre, d1, d2, fixed = plane
    module = template(model_spec).eval()
    loss_fn = loss_function(loss)
    a, b = torch.meshgrid(xs, ys, indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    n_params = sum(v.numel() for v in centre.values())
    if method == "auto":
        method = choose_method(n_params, len(y))

    def at(i0: int, i1: int) -> dict:
        ca, cb = a[i0:i1], b[i0:i1]
        shape = lambda v: (-1,) + (1,) * v.dim()  # noqa: E731
        return {k: centre[k] + ca.to(v.dtype).view(shape(v)) * d1[k] + cb.to(v.dtype).view(shape(v)) * d2[k]
                for k, v in centre.items()}

    def one(p: dict):
        out = functional_call(module, ({**p, **fixed},), (x,))
        return loss_fn(out, y), (out.argmax(-1) == y).float().mean()

    losses, accs = [], []
    with torch.no_grad():
        if method == "loop":
            for i in range(len(a)):
                p = {k: v[0] for k, v in at(i, i + 1).items()}
                lo, ac = one(p)
                losses.append(lo.reshape(1))
                accs.append(ac.reshape(1))
        elif method == "batched":
            per_point = n_params + len(y) * _widest(model_spec, x)
            chunk = max(1, min(len(a), int(CHUNK_FLOATS // per_point)))
            batched = vmap(one)
            for i0 in range(0, len(a), chunk):
                lo, ac = batched(at(i0, min(i0 + chunk, len(a))))
                losses.append(lo)
                accs.append(ac)
        else:
            raise ValueError(f"unknown method {method!r}")
    shape = (len(xs), len(ys))
    loss_grid = torch.cat(losses).reshape(shape).double()
    error_grid = (1.0 - torch.cat(accs).reshape(shape)).double()
    return loss_grid, error_grid, method


def _widest(model_spec, x) -> int:
    """The largest activation width of the model on one input (for the chunk size)."""
    from backends.torch.models import infer_shapes

    try:
        shapes = infer_shapes(model_spec, tuple(x.shape[1:]))
        return max(math.prod(s) for s in shapes)
    except Exception:
        return int(x[0].numel())


def hessian_trace(model_spec, params: Mapping[str, Any], buffers: Mapping[str, Any], x, y, loss: str,
                  samples: int = 32, seed: int = 0) -> float:
    """tr(∇²L(θ)) by Hutchinson's estimator: the mean of vᵀHv over Rademacher v, the Hessian-
    vector products by reverse-over-reverse differentiation (`torch.func.vjp` of `grad`,
    linearized once, vmapped over the probes). Forward-over-reverse (`jvp` of `grad`) gives the
    same numbers but its first call costs seconds on CPU."""
    import torch
    from torch.func import functional_call, grad, vjp, vmap

    from backends.torch.train import loss_function, template

    module = template(model_spec).eval()
    loss_fn = loss_function(loss)
    f = lambda p: loss_fn(functional_call(module, ({**p, **buffers},), (x,)), y)  # noqa: E731
    g = _seeded(seed, "hutchinson")
    params = dict(params)
    _, hvp = vjp(grad(f), params)  # H is symmetric: the vjp of the gradient is Hv
    quad = lambda v: sum((h * v[k]).sum() for k, h in hvp(v)[0].items())  # noqa: E731
    total, done = 0.0, 0
    while done < samples:  # probes in vmapped batches of up to PROBES
        n = min(PROBES, samples - done)
        v = {k: (torch.randint(0, 2, (n, *t.shape), generator=g) * 2 - 1).to(t.dtype) for k, t in params.items()}
        total += float(vmap(quad)(v).sum())
        done += n
    return total / samples


def top_hessian_eigenvalue(model_spec, params: Mapping[str, Any], buffers: Mapping[str, Any], x, y, loss: str,
                           iterations: int = 100, tol: float = 1e-3, seed: int = 0) -> float:
    """The largest Hessian eigenvalue by power iteration on Hessian-vector products (`torch.func`
    reverse-over-reverse, linearized once), stopping when two estimates agree within `tol`."""
    import torch
    from torch.func import functional_call, grad, vjp

    from backends.torch.train import loss_function, template

    module = template(model_spec).eval()
    loss_fn = loss_function(loss)
    params = dict(params)
    f = lambda p: loss_fn(functional_call(module, ({**p, **buffers},), (x,)), y)  # noqa: E731
    g = _seeded(seed, "power")
    v = {k: torch.randn(t.shape, generator=g, dtype=t.dtype) for k, t in params.items()}
    _, hvp = vjp(grad(f), params)
    value = None
    for _ in range(iterations):
        norm = torch.sqrt(sum((t * t).sum() for t in v.values()))
        v = {k: t / norm for k, t in v.items()}
        hv = hvp(v)[0]
        new = float(sum((hv[k] * v[k]).sum() for k in params))
        if value is not None and abs(new - value) <= tol * (abs(value) + 1e-6):
            return new
        value, v = new, hv
    return float(value)


# ---- the job kind -----------------------------------------------------------------------------


def _split(data, spec: dict):
    x, y = (data.x_train, data.y_train) if spec["split"] == "train" else (data.x_test, data.y_test)
    size = spec.get("size")
    return (x[:size], y[:size]) if size else (x, y)


def _run(jobs: Sequence[Job], ctx: JobContext) -> None:
    import torch

    from backends.torch.models import spec_from_json

    results = Results(ctx)
    for job in jobs:
        start = time.perf_counter()
        spec = job.spec
        model = spec_from_json(json.dumps(spec["model"]))
        data = results.data_of(spec["data"])
        x, y = _split(data, spec)
        states = [results.state(k) for k in spec["states"]]
        points = results.checkpoints(spec["checkpoints"]) if spec.get("checkpoints") else ()
        plane = plane_of(spec["plane"], states, spec["seed"], points)
        xs = coordinates(spec["plane"], spec["grid"], spec["radius"])
        sampled = time.perf_counter()
        loss_grid, error_grid, method = evaluate_plane(model, plane, xs, xs, x, y, spec["loss"],
                                                       ctx.memo.get("landscape-method", "auto"))
        sampling = time.perf_counter() - sampled
        metrics: dict[str, Any] = {"grid": spec["grid"], "points": spec["grid"] ** 2, "method": method,
                                   "sampling_seconds": sampling, "evaluated_on": len(y)}
        if spec["plane"] != "runs":
            s = states[0] if states else points[-1]
            metrics["l2_norm"] = float(torch.sqrt(sum((p.double() ** 2).sum() for p in s.params.values())))
            if spec.get("hessian"):
                metrics["hessian_trace"] = hessian_trace(model, s.params, s.buffers, x, y, spec["loss"],
                                                         samples=spec["hessian"], seed=spec["seed"])
        tensors = {"loss": loss_grid.contiguous(), "error": error_grid.contiguous(), "axis": xs.contiguous()}
        ctx.store.put(job.key, job.kind, {"label": job.label, **spec}, tensors, metrics, None,
                      seconds=time.perf_counter() - start)


LANDSCAPE = JobKind("landscape", _run)


def grids(store, key: str) -> dict[str, Any]:
    """The stored grids of a landscape job as numpy arrays: loss, error, axis."""
    return {k: v.numpy() for k, v in store.tensors(key).items()}


__all__ = ["LANDSCAPE", "landscape_job", "filter_normalized", "plane_of", "evaluate_plane",
           "hessian_trace", "top_hessian_eigenvalue", "choose_method", "grids", "PLANES", "METRICS"]
