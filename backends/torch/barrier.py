"""Loss barriers between two training runs' final states (Frankle et al. 2020): the metric along
a path θ(t) between them, and its height above the endpoints,

    barrier = max_k m(θ(t_k)) − (m(θ(0)) + m(θ(1))) / 2,     t_k = k / (K − 1),

with m the mean loss or the error rate on one split. Paths:

- `linear`: θ(t) = (1 − t) θ_a + t θ_b;
- `bezier`: the quadratic Bezier curve (1 − t)² θ_a + 2t(1 − t) c + t² θ_b whose control point
  c is trained (from the midpoint) to lower the expected loss at t ~ U(0, 1), on the generic
  model through `torch.func.functional_call` (Garipov et al. 2018; no per-architecture code).

`align` first permutes θ_b's hidden units by weight matching (`align.py`). Models with
BatchNorm get their running statistics recomputed at every point of the path (a pass over the
training split in train mode), since interpolated weights do not fit interpolated statistics.
MLPs on a linear path are evaluated for many pairs and points at once (batched matmuls);
other models one point at a time.

Each evaluation is a `barrier` job (`BARRIER`), stored in the run store like any job and keyed
by the two states' jobs and the path's settings, so a re-run or another level reuses it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Sequence

from backends.run.jobs import JobContext, JobKind, JobResult
from backends.run.plan import CODE_VERSION, Job
from backends.torch.results import Results

CODE = f"{CODE_VERSION}/barrier-1"
PATHS = ("linear", "bezier")
METRICS = ("loss", "error")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class PathSpec:
    """How two states are joined and measured: the path family, its points, alignment, the
    metric and split, and the epochs a Bezier connector is trained for."""

    path: str = "linear"
    points: int = 17
    align: bool = False
    metric: str = "loss"
    split: str = "train"
    epochs: int = 5

    def to_json(self) -> dict:
        return asdict(self)


def barrier_job(a: Job, b: Job, spec: PathSpec, label: str, on: dict | None = None) -> Job:
    """The barrier job between the final states of jobs `a` and `b` (train jobs; any state jobs
    when `on` gives the model, data and loss, as a 2-cell's connector does)."""
    on = on or a.spec
    body = {"a": a.key, "b": b.key, "model": on["model"], "data": on["data"], "loss": on["loss"],
            "path": spec.to_json(), "code": CODE}
    return Job.of("barrier", body, label, (a.key, b.key), a.origin)


def height(values: Sequence[float]) -> float:
    """max along the path minus the mean of the endpoints."""
    return float(max(values) - (values[0] + values[-1]) / 2)


# ---- evaluation -----------------------------------------------------------------------------------


def _split(data, split: str):
    return (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)


def _measure(out, y, metric: str, loss_fn):
    """Per-model metric of logits `out` (models, n, classes) against labels y (n,)."""
    import torch

    if metric == "error":
        return (out.argmax(-1) != y).double().mean(-1)
    return torch.stack([loss_fn(o, y) for o in out]).double()


def mlp_path_values(model_spec, data, pairs, spec: PathSpec, loss: str, chunk: int = 8) -> list[list[float]]:
    """The metric at the K points of the straight lines between each pair (a, b) of parameter
    dicts of an MLP, all at once: (pairs · K) interpolated models as one batched matmul."""
    import torch

    from backends.torch.models import Flatten, Linear, Sequential
    from backends.torch.train import loss_function

    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    x, y = _split(data, spec.split)
    x = x.reshape(len(x), -1).float()
    ts = torch.linspace(0, 1, spec.points, dtype=torch.float64).float().to(x.device)
    loss_fn = loss_function(loss)
    found: list[list[float]] = []
    with torch.no_grad():
        for begin in range(0, len(pairs), chunk):
            group = pairs[begin:begin + chunk]
            h = None
            for i, layer in enumerate(layers):
                if isinstance(layer, Linear):
                    def line(name):
                        a = torch.stack([p[0][f"{i}.{name}"] for p in group])  # (P, …)
                        b = torch.stack([p[1][f"{i}.{name}"] for p in group])
                        shape = (len(group), 1) + tuple(a.shape[1:])
                        t = ts.reshape((1, -1) + (1,) * (a.dim() - 1))
                        return ((1 - t) * a.reshape(shape) + t * b.reshape(shape)).flatten(0, 1)
                    w, bias = line("weight"), line("bias")  # (P·K, out, in), (P·K, out)
                    h = (x @ w.transpose(1, 2) if h is None else torch.bmm(h, w.transpose(1, 2))) + bias[:, None, :]
                elif isinstance(layer, Flatten):
                    continue
                else:
                    h = layer.module()(h)
            values = _measure(h, y, spec.metric, loss_fn).reshape(len(group), spec.points)
            found.extend(v.tolist() for v in values)
    return found


def _bn_ready(module):
    """Make BatchNorm layers average their statistics over a whole pass (momentum None)."""
    import torch

    norms = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.momentum = None
    return norms


def point_value(module, params: dict, buffers: dict, data, spec: PathSpec, loss: str,
                batchnorm: bool, batch: int = 512) -> float:
    """The metric of one parameter point; with BatchNorm, its statistics recomputed first."""
    import torch
    from torch.func import functional_call

    from backends.torch.train import loss_function

    loss_fn = loss_function(loss)
    if batchnorm:
        buffers = {k: (torch.zeros_like(v) if k.endswith(("running_mean", "num_batches_tracked"))
                       else torch.ones_like(v) if k.endswith("running_var") else v.clone())
                   for k, v in buffers.items()}
        module.train()
        with torch.no_grad():
            for begin in range(0, len(data.x_train), batch):
                functional_call(module, (params, buffers), (data.x_train[begin:begin + batch],))
    module.eval()
    x, y = _split(data, spec.split)
    total = torch.zeros((), dtype=torch.float64, device=x.device)  # summed on the device: one copy at the end
    with torch.no_grad():
        for begin in range(0, len(y), batch):
            out = functional_call(module, (params, buffers), (x[begin:begin + batch],))
            yb = y[begin:begin + batch]
            total += (loss_fn(out, yb).double() * len(yb) if spec.metric == "loss"
                      else (out.argmax(-1) != yb).sum().double())
    return float(total) / max(len(y), 1)


def bezier_control(model_spec, data, a: dict, b: dict, spec: PathSpec, loss: str, seed: int = 0,
                   batch: int = 128, lr: float = 0.01) -> dict:
    """The control point c of a quadratic Bezier connector, trained from the midpoint to lower
    E_{t ~ U(0,1)} loss(θ(t)) on the training split (Garipov et al. 2018): one t per batch,
    Adam on c only, the ends fixed. A BatchNorm model trains on batch statistics."""
    import torch
    from torch.func import functional_call

    from backends.torch.models import BatchNorm2d, has_layer
    from backends.torch.train import loss_function, template

    module = template(model_spec).train()
    batchnorm = has_layer(model_spec, BatchNorm2d)
    loss_fn = loss_function(loss)
    c = {k: ((a[k] + b[k]) / 2).clone().requires_grad_() for k in a}
    opt = torch.optim.Adam(list(c.values()), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    for _ in range(spec.epochs):
        order = torch.randperm(n, generator=g)
        for begin in range(0, n, batch):
            index = order[begin:begin + batch]
            t = float(torch.rand((), generator=g))
            theta = {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * c[k] + t ** 2 * b[k] for k in a}
            index = index.to(data.x_train.device)  # the order comes from a CPU generator on every device
            x = data.x_train[index]
            out = _train_mode_forward(module, theta, x) if batchnorm else functional_call(module, theta, (x,))
            value = loss_fn(out, data.y_train[index])
            opt.zero_grad()
            value.backward()
            opt.step()
    return {k: v.detach() for k, v in c.items()}


def _train_mode_forward(module, theta, x):
    """A train-mode forward of a BatchNorm model on batch statistics (throwaway running stats)."""
    import torch
    from torch.func import functional_call

    scratch = {k: torch.zeros(b.shape, device=x.device) if "running_mean" in k or "num_batches" in k
               else torch.ones(b.shape, device=x.device) for k, b in module.named_buffers()}
    scratch = {k: v.to(torch.long) if k.endswith("num_batches_tracked") else v for k, v in scratch.items()}
    return functional_call(module, (theta, scratch), (x,))


def path_values(model_spec, data, a, b, spec: PathSpec, loss: str) -> tuple[list[float], dict]:
    """The metric at the K points of the path between states a and b (TrainingStates), and the
    trained control point (Bezier) as tensors to store."""
    from backends.torch.models import BatchNorm2d, has_layer
    from backends.torch.train import template

    pa, pb = dict(a.params), dict(b.params)
    if spec.align:
        from backends.torch.align import align, mlp_linears

        pb = align(pa, pb, mlp_linears(model_spec))
    device = data.x_train.device
    pa, pb = ({k: v.to(device) for k, v in p.items()} for p in (pa, pb))
    a_buffers, b_buffers = ({k: v.to(device) for k, v in s.buffers.items()} for s in (a, b))
    ts = [k / (spec.points - 1) for k in range(spec.points)]
    control = bezier_control(model_spec, data, pa, pb, spec, loss) if spec.path == "bezier" else None
    module = template(model_spec)
    batchnorm = has_layer(model_spec, BatchNorm2d)
    if batchnorm:
        _bn_ready(module)
    values = []
    for t in ts:
        if control is None:
            theta = {k: (1 - t) * pa[k] + t * pb[k] for k in pa}
        else:
            theta = {k: (1 - t) ** 2 * pa[k] + 2 * t * (1 - t) * control[k] + t ** 2 * pb[k] for k in pa}
        # buffers: BN statistics are recomputed; others (none in the built-in layers) interpolate
        buffers = {k: ((1 - t) * a_buffers[k] + t * b_buffers[k]) if a_buffers[k].is_floating_point()
                   else a_buffers[k] for k in a_buffers}
        values.append(point_value(module, theta, buffers, data, spec, loss, batchnorm))
    tensors = {f"control/{k}": v.cpu().contiguous() for k, v in control.items()} if control is not None else {}
    return values, tensors


def batchable(model_spec, spec: PathSpec) -> bool:
    """Whether pairs can be evaluated together as batched matmuls: MLPs on a straight line."""
    from backends.torch.align import mlp_linears

    return spec.path == "linear" and mlp_linears(model_spec) is not None


# ---- the job kind -------------------------------------------------------------------------------


def _batch_key(job: Job, ctx: JobContext):
    from backends.torch.models import spec_from_json

    spec = PathSpec(**job.spec["path"])
    if not batchable(spec_from_json(json.dumps(job.spec["model"])), spec):
        return None
    return json.dumps([job.spec["model"], job.spec["data"], job.spec["loss"], job.spec["path"]], sort_keys=True)


# most pairs of one adaptive round evaluated in one call: a round of `homotopy.ROUND` pairs is
# this many batches, which an executor with workers evaluates at once
CHUNK = 8


def barrier_batches(jobs: Sequence[Job], ctx: JobContext) -> list[list[Job]]:
    """`jobs` as the batches they are evaluated in (`jobs.compute_batches`): those that batch
    together (`_batch_key`) in chunks of `CHUNK`, in order; every other job alone. The same
    batches on every executor, so the same bits."""
    groups: dict[str, list[Job]] = {}
    alone: list[list[Job]] = []
    for job in jobs:
        key = _batch_key(job, ctx)
        if key is None:
            alone.append([job])
        else:
            groups.setdefault(key, []).append(job)
    chunks = [g[i:i + CHUNK] for g in groups.values() for i in range(0, len(g), CHUNK)]
    return chunks + alone


def compute_barriers(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Evaluate each job's path (batched when the model and path allow it); return the results."""
    from backends.run.execute import device_for

    results = Results(ctx)
    if not jobs:
        return []
    device = device_for(ctx.device)
    model, data = results.model_and_data(jobs[0].spec)
    spec = PathSpec(**jobs[0].spec["path"])
    start = time.perf_counter()
    if len(jobs) > 1 and batchable(model, spec) and all(j.spec["path"] == jobs[0].spec["path"] for j in jobs):
        from backends.torch.align import align, mlp_linears

        pairs = []
        for job in jobs:  # weight matching runs on the host; the path is evaluated on the device
            a, b = dict(results.state(job.spec["a"]).params), dict(results.state(job.spec["b"]).params)
            b = align(a, b, mlp_linears(model)) if spec.align else b
            pairs.append(tuple({k: v.to(device) for k, v in p.items()} for p in (a, b)))
        made = [(v, {}) for v in mlp_path_values(model, data.to(device), pairs, spec, jobs[0].spec["loss"])]
    else:
        made = []
        for job in jobs:
            m, d = results.model_and_data(job.spec)
            made.append(path_values(m, d.to(device), results.state(job.spec["a"]), results.state(job.spec["b"]),
                                    PathSpec(**job.spec["path"]), job.spec["loss"]))
    seconds = (time.perf_counter() - start) / len(jobs)
    out = []
    for job, (values, tensors) in zip(jobs, made):
        worst = max(range(len(values)), key=values.__getitem__)
        metrics = {"barrier": height(values), "values": values, "worst_t": worst / (len(values) - 1)}
        out.append(JobResult.of(job, tensors or None, metrics, None, seconds))
    return out


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    return 0.0  # small MLP forward passes: one torch thread (backends/run/execute.py)


BARRIER = JobKind("barrier", batch_key=_batch_key, work=_work, compute=compute_barriers)
