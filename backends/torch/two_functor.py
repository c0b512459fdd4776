"""The 2-functor check (paper Thm 5.3): for homotopic runs, the representations at each stage
differ by an affine map, φ¹_k ≈ A_k φ⁰_k + b_k.

For a pair of sweep members and each stage k (the start and the end of every epoch, from the
members' per-epoch checkpoints), A_k and b_k are fitted by least squares on half of the probe set
(the even-indexed points) and the **residual** is measured on the other half:

    r_k = ‖φ¹_k − (A_k φ⁰_k + b_k)‖²_F / ‖φ¹_k − mean φ¹_k‖²_F     (held out; 0 = exactly affine, 1 = no better than the mean)

Held out, because with as many fitted points as features plus one any two maps are "affine" in
sample. The fit is ridge-regularized, A_k = argmin ‖φ¹ − Aφ⁰ − b‖² + λ‖A‖², with λ = RIDGE ×
the mean per-feature variance of φ⁰ on the fitted half: a plain least-squares fit divides by the
smallest singular values of φ⁰, and a nearly dead ReLU unit (one active probe point) makes its
held-out residual explode (measured: 114 instead of 0.22 on the digits reproduction); with the
ridge an exactly affine image still has a residual of order RIDGE² (tested). The `classes` analysis of a sweep reports the mean residual of pairs within a class and of
pairs across classes (a few pairs of each, chosen deterministically: `pairs`). The theorem
predicts within ≪ across; the report says what was measured, and nothing is concluded when
there are no pairs of one kind (a single class, or singletons only).
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Sequence

from backends.run.jobs import JobContext, JobKind, JobResult
from backends.run.plan import CODE_VERSION, Job

PAIRS = 12  # at most this many pairs within classes, and as many across
RIDGE = 1e-3  # λ of the affine fit, relative to the mean per-feature variance of φ⁰
CODE = f"{CODE_VERSION}/affine-2"  # affine-2: the ridge-regularized fit


def _residual(phi0, phi1, ridge: float):
    """The held-out relative residual as a 0-d tensor on the features' device (float64 where the
    device has it)."""
    import torch

    dtype = torch.float32 if phi0.device.type == "mps" else torch.float64
    x, y = phi0.to(dtype), phi1.to(dtype)
    fit, held = slice(0, None, 2), slice(1, None, 2)
    mean_x, mean_y = x[fit].mean(0), y[fit].mean(0)  # the intercept b, unpenalized: centre the fitted half
    xc, yc = x[fit] - mean_x, y[fit] - mean_y
    lam = ridge * (xc * xc).sum() / max(x.shape[1], 1)
    gram = xc.T @ xc + lam * torch.eye(x.shape[1], dtype=dtype, device=x.device)
    coef = torch.linalg.pinv(gram, hermitian=True) @ (xc.T @ yc)  # pinv: also when λ = 0 and φ⁰ is rank-deficient
    err = (y[held] - mean_y) - (x[held] - mean_x) @ coef
    spread = y[held] - y[held].mean(0)
    denominator = (spread * spread).sum()
    return torch.where(denominator > 0, (err * err).sum() / denominator.clamp_min(torch.finfo(dtype).tiny),
                       torch.zeros((), dtype=dtype, device=x.device))


def affine_residual(phi0, phi1, ridge: float = RIDGE) -> float:
    """The held-out relative residual of the ridge-regularized affine map φ⁰ ↦ φ¹ (rows: probe points)."""
    return float(_residual(phi0, phi1, ridge))


def stage_residuals(path0: Sequence, path1: Sequence, ridge: float = RIDGE) -> list[float]:
    """r_k for each stage k of two feature paths with the same number of points (computed on
    their device, copied to the host once)."""
    import torch

    return torch.stack([_residual(a, b, ridge) for a, b in zip(path0, path1)]).cpu().tolist()


def pick_pairs(classes: list[list[int]], cap: int = PAIRS) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Up to `cap` pairs within classes and `cap` across them, taken round-robin over the classes
    (over the pairs of classes), so every class is represented before any has two pairs."""
    classes = [sorted(c) for c in classes]
    within = [list(itertools.combinations(c, 2)) for c in classes]
    across = [[tuple(sorted((x, y))) for x in a for y in b] for a, b in itertools.combinations(classes, 2)]
    return _round_robin(within)[:cap], _round_robin(across)[:cap]


def _round_robin(lists: list[list]) -> list:
    return [p for layer in itertools.zip_longest(*lists) for p in layer if p is not None]


def affine_job(classes: Job, checkpoints: list[Job], labels: list[str], model: dict, layer: int, probe: dict,
               label: str) -> Job:
    spec = {"classes": classes.key, "checkpoints": [c.key for c in checkpoints], "labels": labels,
            "model": model, "layer": layer, "probe": probe, "pairs": PAIRS, "ridge": RIDGE, "code": CODE}
    return Job.of("affine_maps", spec, label, (classes.key, *(c.key for c in checkpoints)), classes.origin)


def _summary(values: list[float]) -> dict:
    import statistics

    if not values:
        return {"mean": None, "max": None, "count": 0}
    return {"mean": statistics.mean(values), "max": max(values), "count": len(values)}


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    from backends.torch.jobs import along
    from backends.torch.models import spec_from_json
    from backends.torch.results import Results

    from backends.run.execute import device_for

    results = Results(ctx)
    device = device_for(ctx.device)
    made = []
    for job in jobs:
        start = time.perf_counter()
        spec = job.spec
        classes = ctx.store.get(spec["classes"]).metrics["classes"]
        within, across = pick_pairs(classes, spec["pairs"])
        model = spec_from_json(json.dumps(spec["model"]))
        probe = results.probe(spec["probe"]).to(device)
        paths: dict[int, list] = {}

        def path(i: int):
            if i not in paths:  # the member's features at every stage, on the job's device
                points = [p.to(device) for p in results.checkpoints(spec["checkpoints"][i])]
                paths[i] = list(along(model, points, spec["layer"], probe).points)
            return paths[i]

        labels = spec["labels"]
        rows = []
        for kind, pairs in (("within", within), ("across", across)):
            for i, j in pairs:
                r = stage_residuals(path(i), path(j), spec.get("ridge", 0.0))
                rows.append({"pair": f"{labels[i]} ~ {labels[j]}", "kind": kind, "residuals": r,
                             "mean": sum(r) / len(r)})
        width = int(path(0)[0].shape[1]) if classes else 0
        metrics = {"pairs": rows, "probe": int(probe.shape[0]), "width": width, "layer": spec["layer"],
                   "within": _summary([r["mean"] for r in rows if r["kind"] == "within"]),
                   "across": _summary([r["mean"] for r in rows if r["kind"] == "across"]),
                   "fitted_points": (int(probe.shape[0]) + 1) // 2, "ridge": spec.get("ridge", 0.0),
                   "degenerate": (int(probe.shape[0]) + 1) // 2 <= width + 1}
        made.append(JobResult.of(job, {}, metrics, None, time.perf_counter() - start))
    return made


AFFINE = JobKind("affine_maps", compute=_compute, work=lambda jobs, ctx: 0.0)


def two_functor_job(plan, program, sweep, classes: Job, layer: int | None, probe_size: int | None, label: str) -> Job:
    """The affine-maps job of a sweep's classes: layer and probe of a Rep functor over the sweep's
    functor when there is one, else `layer` (default −2) on the first `probe_size` (default 256)
    test points of the functor's data."""
    from backends.torch.jobs import _model_json
    from backends.torch.plan import checkpoints_job
    from backends.torch.program import Probe

    lf = program.functors[sweep.functor]
    rep = next((r for r in program.reps.values() if r.base == sweep.functor), None)
    if layer is None:
        layer = rep.layer if rep is not None else -2
    if rep is not None and probe_size is None:
        probe = rep.probe
    else:
        probe = Probe(lf.target.data_name, "test", probe_size or 256, lf.target.data)
    members = [plan.jobs[k] for k in plan.index[sweep.name].values()]
    checkpoints = [checkpoints_job(plan, m) for m in members]
    labels = [f"{sweep.name}[{m.index}]" for m in sweep.members]
    job = affine_job(classes, checkpoints, labels, _model_json(lf), layer, probe.to_json(), label)
    plan.add(job)
    return job
