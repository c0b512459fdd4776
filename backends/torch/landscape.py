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

Evaluation is batched with `torch.func.vmap` over chunks of grid points, or a plain loop; a
first Linear or Conv2d layer is evaluated three times for the whole plane, not once per point
(`evaluate_plane`). On CPU the loop wins once one point's forward pass is already
matrix-bound (a wide model on hundreds of points: vmap then only adds a copy of the weights per
point); for small models the per-call overhead dominates and vmap wins. `auto` picks batched
below `BATCH_BELOW` multiply-adds per point (parameters × evaluation points). Measured with
bench/bench_landscape.py --quick (one thread, 2 shared CPU cores, noisy): 51×51 grid of a
2.4k-parameter digits MLP on 450 points, batched 4.3× the loop's speed; 21×21 grid of a
301k-parameter MLP, the loop 2.1× batched's speed.

A job runs on its context's device (`ctx.device`): the evaluation set and the plane are moved
there once, the grid points stay there, and the finished grids are copied back once. While it
runs it reports the grid points done to the executor's progress line. The baselines' Hessian
statistics — Hutchinson's trace (`hessian_trace`) and the top eigenvalue by Lanczos
(`top_hessian_eigenvalue`) — run on the same device. Torch is imported by the bodies only.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from backends.run.jobs import JobContext, JobKind, JobResult
from backends.run.plan import CODE_VERSION, Job
from backends.torch.results import Results

# `auto` evaluates batched below this many multiply-adds per grid point, with a loop above
BATCH_BELOW = 2e7
# grid points per vmapped call: bounds the memory of the stacked weights and activations
CHUNK_FLOATS = 5e7
# a batched evaluation makes at least this many vmapped calls (chunks), each followed by a
# progress report: the overhead of a call is small beside that of a point's forward pass
PROGRESS_STEPS = 8
# Hutchinson probes per batched backward pass
PROBES = 16
# per-thread caches of the Hessian statistics (`_evaluator`)
_THREAD = threading.local()
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


def evaluate_plane(model_spec, plane, xs, ys, x, y, loss: str, method: str = "auto",
                   progress: Callable[[int, int], None] | None = None):
    """Loss and error (1 − accuracy) at θ = centre + a·δ₁ + b·δ₂ for a in xs, b in ys, on (x, y):
    two (len(xs), len(ys)) tensors, and the method used.

    When the model begins with a Linear or Conv2d layer (a map linear in its weight and bias
    together), that layer's output on the plane is affine in (a, b): it is computed three times
    (at the centre and along δ₁, δ₂), not once per grid point, and every point starts from
    h₀ + a·h₁ + b·h₂. With `batched`, the rest of the model runs vmapped over chunks of grid
    points and the loss is taken over a whole chunk's outputs at once.

    Every tensor stays on the device of the plane and the data (`xs` and `ys` are moved there
    once): nothing is copied to the host until the caller reads the grids. `progress(done,
    total)` is called after every chunk of grid points (batched; at least `PROGRESS_STEPS` of
    them) or every row (loop)."""
    import torch
    from torch.func import functional_call, vmap

    from backends.torch.train import loss_function, template

    centre, d1, d2, fixed = plane
    module = template(model_spec).eval()
    loss_fn = loss_function(loss)
    a, b = torch.meshgrid(xs.to(x.device), ys.to(x.device), indexing="ij")
    a, b = a.reshape(-1), b.reshape(-1)
    total = len(a)
    n_params = sum(v.numel() for v in centre.values())
    if method == "auto":
        method = choose_method(n_params, len(y))
    first = _affine_first(module, centre)
    if first is not None:  # h(a, b) = h₀ + a·h₁ + b·h₂ for the first layer's output
        layer, rest, prefix = first
        mine = [k for k in centre if k.startswith(prefix)]
        with torch.no_grad():
            h = [functional_call(layer, ({k[len(prefix):]: part[k] for k in mine},), (x,)) for part in (centre, d1, d2)]
        module = rest
        centre, d1, d2 = ({k: v for k, v in part.items() if k not in mine} for part in (centre, d1, d2))
        fixed = {k: v for k, v in fixed.items() if not k.startswith(prefix)}
    else:
        h = [x]

    def expand(v, c):  # c: (k,) coordinates, v: a tensor of the plane → (k, *v.shape)
        return c.to(v.dtype).view((-1,) + (1,) * v.dim())

    if len(h) == 3:  # [h₁; h₂] as a (2, size) matrix: the inputs of k points are one addmm
        h_centre, h_dirs = h[0].reshape(-1), torch.stack([h[1].reshape(-1), h[2].reshape(-1)])

    def at(i0: int, i1: int) -> tuple[dict, Any]:
        ca, cb = a[i0:i1], b[i0:i1]
        params = {k: centre[k] + expand(v, ca) * d1[k] + expand(v, cb) * d2[k] for k, v in centre.items()}
        if len(h) == 1:
            return params, x  # the same inputs for every point
        coeffs = torch.stack([ca, cb], 1).to(h_centre.dtype)
        return params, torch.addmm(h_centre, coeffs, h_dirs).view(i1 - i0, *h[0].shape)

    def forward(p: dict, inputs):
        return functional_call(module, ({**p, **fixed},), (inputs,))

    losses, accs = [], []
    with torch.no_grad():
        if method == "loop":
            for i in range(total):
                p, inputs = at(i, i + 1)
                out = forward({k: v[0] for k, v in p.items()}, inputs if len(h) == 1 else inputs[0])
                losses.append(loss_fn(out, y).reshape(1))
                accs.append((out.argmax(-1) == y).float().mean().reshape(1))
                if progress is not None and ((i + 1) % len(ys) == 0 or i + 1 == total):
                    progress(i + 1, total)
        elif method == "batched":
            per_point = n_params + len(y) * _widest(model_spec, x)
            chunk = max(1, min(-(-total // PROGRESS_STEPS), int(CHUNK_FLOATS // per_point)))
            batched = vmap(forward, in_dims=(0, None if len(h) == 1 else 0))
            for i0 in range(0, total, chunk):
                i1 = min(i0 + chunk, total)
                out = batched(*at(i0, i1))  # (points, examples, classes)
                lo, ac = _point_metrics(loss, loss_fn, out, y)
                losses.append(lo)
                accs.append(ac)
                if progress is not None:
                    progress(i1, total)
        else:
            raise ValueError(f"unknown method {method!r}")
    shape = (len(xs), len(ys))
    loss_grid = torch.cat(losses).reshape(shape).double()
    error_grid = (1.0 - torch.cat(accs).reshape(shape)).double()
    return loss_grid, error_grid, method


def _affine_first(module, centre: Mapping[str, Any]):
    """(first layer, the rest, the first layer's parameter prefix) when `module` is a Sequential
    that begins with a Linear or Conv2d layer whose parameters all move with the plane; else None."""
    from torch import nn

    if not (isinstance(module, nn.Sequential) and len(module) > 1 and type(module[0]) in (nn.Linear, nn.Conv2d)):
        return None
    prefix = next(iter(module._modules)) + "."
    names = [prefix + k for k, _ in module[0].named_parameters()]
    if not all(k in centre for k in names) or any(True for _ in module[0].buffers()):
        return None
    return module[0], module[1:], prefix


def _point_metrics(loss: str, loss_fn, out, y):
    """(loss, accuracy) of each grid point from the outputs of a chunk, (points, examples,
    classes). Cross-entropy as log Σ exp − the label's logit, shifted by the row maximum (whose
    index is the prediction: the first maximum, as argmax), averaged per point — the same
    numbers as `F.cross_entropy` per point, in a few passes over the chunk (log_softmax over a
    last dimension of 10 classes is several times slower on CPU); other losses vmapped."""
    from torch.func import vmap

    top, predicted = out.max(-1)
    accuracy = (predicted == y).float().mean(-1)
    if loss == "cross_entropy":
        lse = top + (out - top.unsqueeze(-1)).exp().sum(-1).log()
        label = out.gather(-1, y.view(1, -1, 1).expand(out.shape[0], -1, 1)).squeeze(-1)
        return (lse - label).mean(-1), accuracy
    return vmap(lambda o: loss_fn(o, y))(out), accuracy


def _widest(model_spec, x) -> int:
    """The largest activation width of the model on one input (for the chunk size)."""
    from backends.torch.models import infer_shapes

    try:
        shapes = infer_shapes(model_spec, tuple(x.shape[1:]))
        return max(math.prod(s) for s in shapes)
    except Exception:
        return int(x[0].numel())


def _evaluator(model_spec):
    """The model's storage-free module (`train.template`) in eval mode, made once per model and
    thread: `functional_call` swaps the tensors in and back, so a module serves every call of
    its thread. Making it costs about a tenth of a 16-probe trace of a small MLP."""
    from backends.torch.train import template

    cache = _THREAD.__dict__.setdefault("modules", {})
    try:
        module = cache.get(model_spec)
    except TypeError:  # an unhashable specification: not cached
        return template(model_spec).eval()
    if module is None:
        if len(cache) >= 8:
            cache.clear()
        module = cache[model_spec] = template(model_spec).eval()
    return module


def _twice_differentiable(loss: str) -> Callable:
    """The loss function `name` as the Hessian-vector products differentiate it. Cross-entropy
    with class labels is written as logsumexp(logits) − logit of the label, its mean: the same
    function, but its first derivative is made of operators a batched backward pass
    (`is_grads_batched`) vectorizes, while that of `F.cross_entropy` (`log_softmax`'s backward)
    has no batching rule and runs once per probe. Measured on a digits MLP 64-32-10, 450 points,
    16 probes, one thread: the trace 1.2-1.7× faster (values equal within float rounding)."""
    from backends.torch.train import loss_function

    plain = loss_function(loss)
    if loss != "cross_entropy":
        return plain

    def cross_entropy(logits, y):
        import torch

        if y.is_floating_point() or y.dim() != logits.dim() - 1:  # class probabilities: as given
            return plain(logits, y)
        return (torch.logsumexp(logits, 1) - logits.gather(1, y.unsqueeze(1)).squeeze(1)).mean()

    return cross_entropy


def hessian_vector_product(model_spec, params: Mapping[str, Any], buffers: Mapping[str, Any], x, y, loss: str):
    """(names, leaves, hvp): the gradient of the loss at `params` as a graph made once by
    reverse mode (`create_graph`), and `hvp(vs)` = [H v] by differentiating it again against the
    cotangents `vs` (tensors in the order of `names`, sorted; H is symmetric, so the vector-Jacobian
    product of the gradient is Hv). `hvp(vs, batched=True)` takes and gives a leading batch
    dimension. Each product costs one backward pass over the retained graph; the forward pass
    and the first backward pass are not repeated. The loss is `_twice_differentiable(loss)`."""
    import torch
    from torch.func import functional_call

    module = _evaluator(model_spec)
    loss_fn = _twice_differentiable(loss)
    names = sorted(params)
    leaves = [params[k].detach().requires_grad_(True) for k in names]
    with torch.enable_grad():
        out = functional_call(module, ({**dict(zip(names, leaves)), **buffers},), (x,))
        grads = torch.autograd.grad(loss_fn(out, y), leaves, create_graph=True)

    def hvp(vs, batched: bool = False):
        with torch.enable_grad():
            return torch.autograd.grad(grads, leaves, grad_outputs=list(vs), retain_graph=True,
                                       is_grads_batched=batched)

    return names, leaves, hvp


def hessian_trace(model_spec, params: Mapping[str, Any], buffers: Mapping[str, Any], x, y, loss: str,
                  samples: int = 32, seed: int = 0, probes: Mapping[str, Any] | None = None) -> float:
    """tr(∇²L(θ)) by Hutchinson's estimator: the mean of vᵀHv over Rademacher v. The
    Hessian-vector products reuse one gradient graph (`hessian_vector_product`), `PROBES` of them
    in one batched backward pass (`is_grads_batched`). The probes (or `probes`, {name: (samples,
    *shape)} of ±1) are drawn seeded on the host in sorted name order — a state read back from
    the store lists its tensors in another order than one just trained, and the estimate must
    not depend on where the state came from — and moved to the parameters' device once per
    batch; the sum stays on the device until the end. On CPU (digits MLP 64-32-10, 450 points,
    16 probes, one thread, all in one run) this measured 4.3-4.4 ms, against 4.5-5.0 ms for
    `torch.func.vjp` of `grad` vmapped over the probes, 6.2 ms forward-over-reverse (`jvp` of
    `grad`), 7.4 ms a pass per probe and 9.9 ms forward-over-forward (vᵀHv as the second
    derivative along v, vmapped); batches of 8 probes measured no faster than 16."""
    import warnings

    import torch

    names, leaves, hvp = hessian_vector_product(model_spec, params, buffers, x, y, loss)
    device = leaves[0].device
    if probes is not None:
        samples = len(next(iter(probes.values())))
    g = _seeded(seed, "hutchinson")
    total = torch.zeros((), dtype=torch.float64, device=device)
    done = 0
    while done < samples:
        n = min(PROBES, samples - done)
        if probes is None:
            # the same draws as int64 (randint's stream does not depend on the dtype)
            vs = [torch.randint(0, 2, (n, *t.shape), generator=g, dtype=t.dtype).mul_(2).sub_(1) for t in leaves]
        else:
            vs = [probes[k][done:done + n] for k in names]
        vs = [v.to(device=device, dtype=t.dtype) for v, t in zip(vs, leaves)]
        with warnings.catch_warnings():  # an operator without a batching rule is only slower
            warnings.filterwarnings("ignore", message="There is a performance drop")
            products = hvp(vs, batched=True)
        total += sum((h * v).sum(dtype=torch.float64) for h, v in zip(products, vs))
        done += n
    return float(total) / samples


def top_hessian_eigenvalue(model_spec, params: Mapping[str, Any], buffers: Mapping[str, Any], x, y, loss: str,
                           iterations: int = 100, tol: float = 1e-3, seed: int = 0,
                           start: Mapping[str, Any] | None = None) -> float:
    """The Hessian eigenvalue of largest magnitude by the Lanczos iteration with full
    reorthogonalization, from a seeded Gaussian start drawn in sorted name order (or `start`,
    {name: tensor}); it stops when
    two consecutive estimates (the Ritz value of largest magnitude) agree within `tol`
    relative — the rule PyHessian's power iteration stops by. From the same start the Krylov
    space of k products holds the power iteration's k-th vector, so the Ritz value is at least
    as close as the power iteration's estimate and in practice needs fewer products to agree
    within `tol`. Hessian-vector products as in `hessian_vector_product`; the basis stays on the
    parameters' device; only the tridiagonal matrix's entries (two numbers a step) come to the host."""
    import numpy as np
    import torch
    from scipy.linalg import eigvalsh_tridiagonal

    names, leaves, hvp = hessian_vector_product(model_spec, params, buffers, x, y, loss)
    device, dtype = leaves[0].device, leaves[0].dtype
    sizes = [t.numel() for t in leaves]
    n = sum(sizes)
    if start is None:
        g = _seeded(seed, "power")
        start = {k: torch.randn(t.shape, generator=g, dtype=t.dtype) for k, t in zip(names, leaves)}
    q = torch.cat([start[k].reshape(-1).to(device=device, dtype=dtype) for k in names])
    basis = [q / q.norm()]
    alphas: list[float] = []
    betas: list[float] = []
    value = None
    for _ in range(min(iterations, n)):
        parts = [p.view_as(t) for p, t in zip(torch.split(basis[-1], sizes), leaves)]
        w = torch.cat([h.reshape(-1) for h in hvp(parts)])
        alphas.append(float(w @ basis[-1]))
        Q = torch.stack(basis)
        for _ in range(2):  # full reorthogonalization, twice is enough (Kahan)
            w -= Q.T @ (Q @ w)
        ritz = eigvalsh_tridiagonal(np.array(alphas), np.array(betas)) if betas else np.array(alphas)
        new = float(ritz[np.abs(ritz).argmax()])
        beta = float(w.norm())
        if value is not None and abs(new - value) <= tol * (abs(value) + 1e-6) or beta <= 1e-10 * abs(new):
            return new  # agreed within tol, or the Krylov space is invariant: the value is exact
        value = new
        betas.append(beta)
        basis.append(w / beta)
    return float(value)


# ---- the job kind -----------------------------------------------------------------------------


def _split(data, spec: dict):
    x, y = (data.x_train, data.y_train) if spec["split"] == "train" else (data.x_test, data.y_test)
    size = spec.get("size")
    return (x[:size], y[:size]) if size else (x, y)


def _progress(ctx: JobContext):
    """progress(done, total) for `evaluate_plane`: the grid points sampled and the time left,
    beside the running job (`backends.run.jobs.report`), when the executor shows progress —
    never in JSON output; None otherwise."""
    from backends.run.jobs import report
    from backends.torch.jobs import _duration

    if ctx.progress is None:
        return None
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        left = (time.perf_counter() - began) / done * (total - done)
        report(ctx, f"grid point {done}/{total}  ETA {_duration(left)}", done / total)

    return progress


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Sample each job's grid on the job's device (`ctx.device`): the evaluation set and the
    plane are moved there once, and only the finished grids come back to the host."""
    import torch

    from backends.torch.models import spec_from_json

    results = Results(ctx)
    device = torch.device(ctx.device)
    made = []
    for job in jobs:
        start = time.perf_counter()
        spec = job.spec
        model = spec_from_json(json.dumps(spec["model"]))
        data = results.data_of(spec["data"])
        x, y = (t.to(device) for t in _split(data, spec))
        states = [results.state(k) for k in spec["states"]]
        points = results.checkpoints(spec["checkpoints"]) if spec.get("checkpoints") else ()
        plane = tuple({k: v.to(device) for k, v in part.items()}
                      for part in plane_of(spec["plane"], states, spec["seed"], points))
        xs = coordinates(spec["plane"], spec["grid"], spec["radius"])
        sampled = time.perf_counter()
        loss_grid, error_grid, method = evaluate_plane(model, plane, xs, xs, x, y, spec["loss"],
                                                       ctx.memo.get("landscape-method", "auto"), _progress(ctx))
        loss_grid, error_grid = loss_grid.cpu(), error_grid.cpu()  # the one copy to the host
        sampling = time.perf_counter() - sampled
        metrics: dict[str, Any] = {"grid": spec["grid"], "points": spec["grid"] ** 2, "method": method,
                                   "sampling_seconds": sampling, "evaluated_on": len(y)}
        if spec["plane"] != "runs":
            s = states[0] if states else points[-1]
            metrics["l2_norm"] = float(torch.sqrt(sum((p.double() ** 2).sum() for p in s.params.values())))
            if spec.get("hessian"):
                on = lambda ts: {k: v.to(device) for k, v in ts.items()}  # noqa: E731
                metrics["hessian_trace"] = hessian_trace(model, on(s.params), on(s.buffers), x, y, spec["loss"],
                                                         samples=spec["hessian"], seed=spec["seed"])
        tensors = {"loss": loss_grid.contiguous(), "error": error_grid.contiguous(), "axis": xs.contiguous()}
        made.append(JobResult.of(job, tensors, metrics, None, time.perf_counter() - start))
    return made


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    """Multiply-adds of one grid point's forward pass (parameters × evaluation points, as
    `choose_method` counts them), from which the executor sets torch's threads: a small model
    runs on one thread, which on a shared machine is many times faster than two."""
    from backends.torch.jobs import step_work

    spec = jobs[0].spec
    data = Results(ctx).data_of(spec["data"])
    points = len(data.y_train) if spec["split"] == "train" else len(data.y_test)
    return step_work(spec["model"], tuple(data.input_shape), min(points, spec.get("size") or points))


LANDSCAPE = JobKind("landscape", compute=_compute, work=_work)


def grids(store, key: str) -> dict[str, Any]:
    """The stored grids of a landscape job as numpy arrays: loss, error, axis."""
    return {k: v.numpy() for k, v in store.tensors(key).items()}


__all__ = ["LANDSCAPE", "landscape_job", "filter_normalized", "plane_of", "evaluate_plane",
           "hessian_vector_product", "hessian_trace", "top_hessian_eigenvalue", "choose_method", "grids", "PLANES", "METRICS"]
