"""The numeric pullback of two representations (docs/language.md §8.14): one more method of the
`transfer` statement.

`transfer P = fibre(source = A.final, other = B.final, data = D, eps = 0.5, layer = -2)` takes
two representations φ₁ : X₁ → Z and φ₂ : X₂ → Z — the activations after `layer` of the two
training states, on the probe (the first `probe` test points of D, so X₁ = X₂ = the probe) —
and computes on the probe sets

- the ε-fibre product P = {(a, b) | ‖φ₁(a) − φ₂(b)‖ ≤ ε} (Euclidean in Z, ε absolute), a set of
  probe pairs, with its projections p₁(a, b) = a and p₂(a, b) = b (P is a pullback of φ₁, φ₂
  in the ε-relaxed sense: φ₁ p₁ and φ₂ p₂ agree within ε);
- model stitching: the least-squares affine map S : Z → Z with S φ₁ ≈ φ₂, fitted on training
  inputs and measured on the probe (relative residual), taken as the mediating map of the
  cones below at the level of features; with `stitched`, the other model's remaining layers
  applied to S φ₁ (accuracy on D's test split);
- the universal property on random sub-cones: a cone (C, c₁, c₂) is compatible when every apex
  point's pair (c₁ c, c₂ c) is within ε; it factors through P by u = ⟨c₁, c₂⟩, which exists
  exactly when every pair lies in P and is unique because p₁, p₂ are jointly injective. Random
  sub-cones (random points of P) must factor; their residual is how far the stitched left leg
  S φ₁ c₁ leaves the ε-ball around φ₂ c₂ (`universal`, 0 when S is the identity);
  the control is a random cone of arbitrary probe pairs, which must not factor (else ε is too
  large to tell cones from non-cones). Law `P.universal`: every sampled sub-cone factors and
  the worst stitching residual on them is at most `tol` (default UNIVERSAL_TOL).

One `fibre` job keyed by its spec and the two upstream states. Nothing here imports torch at
import time.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Sequence

from backends.run.jobs import JobContext, JobKind, JobResult, each_job
from backends.run.plan import CODE_VERSION, Job
from backends.torch.results import Results
from backends.torch.transfer import TransferUniversal, _problem
from catdsl.laws.verdict import Verdict
from catdsl.syntax.printer import expr as text_of

OPTIONS = ("source", "other", "data", "eps", "layer", "probe")
DEFAULT_PROBE = 512  # probe points per side: P is searched among probe² pairs
UNIVERSAL_TOL = 0.25  # relative: the stitching residual on the sampled sub-cones
CONES = 8  # random sub-cones sampled for the universal property
CONE_SIZE = 32  # apex points per sub-cone (with repeats when P is smaller)
FIT_POINTS = 1024  # training inputs on which the stitching map is fitted
USAGE = "write `transfer P = fibre(source = A.final, other = B.final, data = D, eps = 0.5, layer = -2)`"


@dataclass(frozen=True)
class FibreSpec:
    name: str
    functor: str  # the left leg's functor (the law's owner)
    part: str
    other: tuple[str, str]  # (functor, part) of the right leg
    target_name: str
    target: Any  # DataSpec
    eps: float
    layer: int  # as written (Python style: -2 the features before the head)
    layers: tuple[int, int]  # the layer's non-negative index in each leg's model
    width: int  # dim Z
    probe: int


def read(module, program, analysis) -> FibreSpec:
    """The FibreSpec of `analysis`, memoized; raises ProgramError (E4xx)."""
    from backends.torch.program import ProgramError, _Problem

    key = ("torch-fibre", analysis.name, analysis.span)
    if key not in module.memo:
        try:
            module.memo[key] = _read(module, program, analysis)
        except _Problem as p:
            module.memo[key] = ProgramError([p.diagnostic])
        except ProgramError as e:
            module.memo[key] = e
    found = module.memo[key]
    if isinstance(found, ProgramError):
        raise found
    return found


def _layer_of(program, f: str, e, span) -> tuple[int, tuple[int, ...]]:
    """(the layer as a non-negative index, its output shape) in functor f's model."""
    from backends.torch.models import _top, infer_shapes
    from backends.torch.program import literal

    target = program.functors[f].target
    n = len(_top(target.model))
    layer = -2 if e is None else literal(e, "layer")
    if not isinstance(layer, int) or isinstance(layer, bool) or not -n <= layer < n:
        raise _problem("E404", f"`layer` is an index into the {n} layers of `{target.model_name}` "
                       f"(-2: the features before the head), not `{text_of(e)}`", e.span if e is not None else span)
    index = layer + n if layer < 0 else layer
    return index, tuple(infer_shapes(target.model, target.input_shape)[index])


def _read(module, program, analysis) -> FibreSpec:
    from backends.torch.merge import _data, _facts_of, _options, _part
    from backends.torch.program import literal

    args = _options(analysis, OPTIONS)
    left = _part(program, args["source"], "the left leg `source`")
    if args.get("other") is None:
        raise _problem("E404", "a fibre product names its right leg `other`", analysis.span, USAGE)
    right = _part(program, args["other"], "the right leg `other`")
    layer_e = args.get("layer")
    li, lshape = _layer_of(program, left[0], layer_e, analysis.span)
    ri, rshape = _layer_of(program, right[0], layer_e, analysis.span)
    width, rwidth = _numel(lshape), _numel(rshape)
    if width != rwidth:
        raise _problem("E404", f"`{left[0]}.{left[1]}` and `{right[0]}.{right[1]}` have features of width "
                       f"{width} and {rwidth} at this layer; the ε-fibre product compares them in one Z",
                       (layer_e or analysis).span, "pick a `layer` where both models have features of one width")
    eps_e = args.get("eps")
    if eps_e is None:
        raise _problem("E404", "a fibre product needs `eps`, the distance in Z within which two features agree",
                       analysis.span, USAGE)
    eps = literal(eps_e, "eps")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise _problem("E404", f"`eps` is a number ≥ 0, not `{text_of(eps_e)}`", eps_e.span)
    target = _data(program, args.get("data"), analysis.span, "the data whose test points are the probe")
    facts = _facts_of(module, program, program.data[target], args["data"].span)
    for f, x in (left, right):
        shape = tuple(program.functors[f].target.input_shape)
        if tuple(facts.input_shape) != shape:
            raise _problem("E404", f"`{target}` has inputs of shape {tuple(facts.input_shape)}, `{f}.{x}` reads "
                           f"{shape}", args["data"].span)
    probe_e = args.get("probe")
    probe = min(DEFAULT_PROBE, facts.test_size)
    if probe_e is not None:
        probe = literal(probe_e, "probe")
        if not isinstance(probe, int) or isinstance(probe, bool) or not 16 <= probe <= facts.test_size:
            raise _problem("E404", f"probe must be an integer from 16 to {facts.test_size} (the test split), "
                           f"not `{text_of(probe_e)}`", probe_e.span)
    layer = -2 if layer_e is None else literal(layer_e, "layer")
    return FibreSpec(analysis.name, left[0], left[1], right, target, program.data[target], float(eps),
                     layer, (li, ri), width, probe)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


# ---- jobs ----------------------------------------------------------------------------------------


def add_jobs(plan, program, spec: FibreSpec) -> dict[str, str]:
    from backends.torch.merge import _state_job
    from backends.torch.models import spec_json

    legs = [(spec.functor, spec.part), spec.other]
    states = [_state_job(plan, program, f, x) for f, x in legs]
    models = [program.functors[f].target for f, _ in legs]
    body = {"method": "fibre", "states": [s.key for s in states], "names": [f"{f}.{x}" for f, x in legs],
            "models": [json.loads(spec_json(t.model)) for t in models], "input": list(models[0].input_shape),
            "data": json.loads(spec.target.to_json()), "eps": spec.eps, "layer": spec.layer,
            "layers": list(spec.layers), "probe": spec.probe, "loss": models[1].loss, "code": CODE_VERSION}
    label = f"{spec.name}.fibre({', '.join(body['names'])}; ε = {spec.eps:g} on {spec.target_name})"
    job = Job.of("fibre", body, label, tuple(s.key for s in states), (spec.name, "fibre"))
    key = plan.add(job)
    plan.index[spec.name] = {"fibre": key}
    return plan.index[spec.name]


# ---- numbers -------------------------------------------------------------------------------------


def fibre_pairs(f1, f2, eps: float):
    """The ε-fibre product of two feature matrices (n₁ × d, n₂ × d) as an (m, 2) index tensor of
    the pairs (a, b) with ‖f1[a] − f2[b]‖ ≤ eps, and the distance matrix (float64)."""
    import torch

    dist = torch.cdist(f1.double(), f2.double(), compute_mode="donot_use_mm_for_euclid_dist")
    return (dist <= eps).nonzero(), dist


def stitch(src_fit, dst_fit):
    """The least-squares affine map (W, b) with src W + b ≈ dst on the fitting points."""
    from backends.torch.lstsq import ones, solve

    sol = solve(ones(src_fit), dst_fit)
    return sol[:-1], sol[-1]


def universal(pairs, dist, eps: float, s1, f2, cones: int = CONES, size: int = CONE_SIZE, seed: int = 0) -> dict:
    """Random sub-cones of P must factor through it (⟨c₁, c₂⟩ lands in P; unique as p₁, p₂ are
    jointly injective). The residual measures the stitching map S as the mediating map: how far
    the stitched left leg S φ₁ c₁ leaves the ε-ball around φ₂ c₂ that the cone guarantees for
    φ₁ c₁, ‖max(‖S φ₁ c₁ − φ₂ c₂‖ − ε, 0)‖ / ‖φ₂ c₂‖ over the cone's points (0 when S is the
    identity). The control is a cone of random probe pairs, which must not factor."""
    import torch

    from backends.torch.train import mix

    g = torch.Generator().manual_seed(mix("fibre-universal", seed))
    n1, n2 = dist.shape
    factored, residual = 0, 0.0
    if len(pairs):
        for _ in range(cones):
            pick = pairs[torch.randint(len(pairs), (size,), generator=g).to(pairs.device)]
            c1, c2 = pick[:, 0], pick[:, 1]
            factored += int(bool((dist[c1, c2] <= eps).all()))
            excess = ((s1[c1] - f2[c2].double()).norm(dim=1) - eps).clamp_min(0)
            residual = max(residual, float(excess.norm() / f2[c2].double().norm().clamp_min(1e-300)))
    a = torch.randint(n1, (size * cones,), generator=g).to(dist.device)
    b = torch.randint(n2, (size * cones,), generator=g).to(dist.device)
    control = float((dist[a, b] <= eps).double().mean())
    unique = len({(int(p), int(q)) for p, q in pairs.tolist()}) == len(pairs)
    return {"cones": cones if len(pairs) else 0, "size": size, "factored": factored, "unique": unique,
            "residual": residual, "control": control}


def _run_fibre(job: Job, results: Results, device="cpu") -> tuple[dict, dict]:
    import torch

    from backends.torch.features import features
    from backends.torch.merge import _model, _on, relative
    from backends.torch.models import spec_from_json

    spec = job.spec
    data = results.data_of(spec["data"]).to(device)
    models = []
    for key, m in zip(spec["states"], spec["models"]):
        s = results.state(key)
        models.append(_model(spec_from_json(json.dumps(m)), _on({**s.params, **s.buffers}, device)))
    layer, eps = int(spec["layer"]), float(spec["eps"])
    layers = [int(i) for i in spec["layers"]]
    x_probe, x_fit = data.x_test[: spec["probe"]], data.x_train[:FIT_POINTS]
    f1, f2 = (features(m, None, i, x_probe) for m, i in zip(models, layers))
    g1, g2 = (features(m, None, i, x_fit) for m, i in zip(models, layers))
    pairs, dist = fibre_pairs(f1, f2, eps)
    n = len(x_probe)
    diagonal = int((pairs[:, 0] == pairs[:, 1]).sum()) if len(pairs) else 0
    w, b = stitch(g1, g2)
    s1 = f1.double() @ w + b
    stitching = {"residual": relative(s1, f2), "fit": relative(g1.double() @ w + b, g2),
                 "identity": relative(f1, f2), "width": int(f1.shape[1]), "fit_points": len(x_fit)}
    right = models[1]
    with torch.no_grad():
        y = data.y_test
        right_out = right(data.x_test)
        # model stitching: the right model's remaining layers on the stitched left features
        t1 = features(models[0], None, layers[0], data.x_test).double() @ w + b
        unflat = tuple(right[: layers[1] + 1](data.x_test[:1]).shape[1:])
        stitched_out = right[layers[1] + 1:](t1.to(right_out.dtype).reshape(len(t1), *unflat))
        stitching["stitched"] = float((stitched_out.argmax(-1) == y).float().mean())
    stitching["accuracy"] = {spec["names"][0]: float((models[0](data.x_test).argmax(-1) == y).float().mean()),
                             spec["names"][1]: float((right_out.argmax(-1) == y).float().mean())}
    u = universal(pairs, dist, eps, s1, f2)
    metrics = {
        "pairs": len(pairs), "eps": eps, "layer": layer, "probe": n, "diagonal": diagonal,
        "fraction": len(pairs) / float(n * n), "names": list(spec["names"]),
        "distance": {"diagonal_mean": float(dist.diagonal().mean()), "diagonal_max": float(dist.diagonal().max()),
                     "median": float(dist.median())},
        "projections": {"p1": {"leg": spec["names"][0], "image": _image(pairs, 0)},
                        "p2": {"leg": spec["names"][1], "image": _image(pairs, 1)},
                        "defect": float(dist[pairs[:, 0], pairs[:, 1]].max()) if len(pairs) else 0.0},
        "stitching": stitching, "universal": u,
    }
    tensors = {"pairs": pairs.to(torch.int64).cpu().contiguous(), "stitch_weight": w.cpu().contiguous(),
               "stitch_bias": b.cpu().contiguous()}
    return metrics, tensors


def _image(pairs, side: int) -> int:
    """How many probe points a projection of P reaches."""
    return int(pairs[:, side].unique().numel()) if len(pairs) else 0


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Each job's result, returned for the executor to store (reads the store only, so it runs
    on any executor's workers); a failure carries the results made before it (`partial`)."""
    from backends.torch.transfer import timed_result

    results = Results(ctx)
    return each_job(jobs, lambda job: timed_result(job, lambda: _run_fibre(job, results, ctx.device)))


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    from backends.torch.jobs import step_work

    spec = jobs[0].spec
    return step_work(spec["models"][0], tuple(spec["input"]), 64, len(jobs))


FIBRE = JobKind("fibre", compute=_compute, work=_work)


# ---- a declared pullback in a functor into Rep -----------------------------------------------------


def declared_pullback(phi1, phi2, fit1, fit2, eps: float, tol: float = UNIVERSAL_TOL, what: str = "",
                      seed: int = 0) -> tuple[dict, Verdict]:
    """`pullback (P, p, q) of f, g` in a functor L into Rep, computed as the ε-fibre product of the
    representations φ₁ = L(f)'s end and φ₂ = L(g)'s end on the probe (`phi1`, `phi2`: n × d),
    with projections p₁(a, b) = a, p₂(a, b) = b; the stitching map S (φ₁ → φ₂, fitted on `fit1`,
    `fit2`) is the mediating map of `universal`. The declared cone — the apex L(P) over the same
    probe with identity legs, i.e. the diagonal — is reported as how many (x, x) lie in P.
    Returns the measurements and the verdict of `L.pullback[P].universal`."""
    pairs, dist = fibre_pairs(phi1, phi2, eps)
    w, b = stitch(fit1, fit2)
    s1 = phi1.double() @ w + b
    u = universal(pairs, dist, eps, s1, phi2, seed=seed)
    n = len(phi1)
    diagonal = int((pairs[:, 0] == pairs[:, 1]).sum()) if len(pairs) else 0
    m = {"pairs": len(pairs), "eps": eps, "probe": n, "diagonal": diagonal, "fraction": len(pairs) / float(n * n),
         "projections": {"p1": _image(pairs, 0), "p2": _image(pairs, 1),
                         "defect": float(dist[pairs[:, 0], pairs[:, 1]].max()) if len(pairs) else 0.0},
         "universal": u, "pair_list": pairs}
    v = verdict(u, tol, eps, len(pairs))
    where = (f"{what}: " if what else "") + (f"P = ε-fibre product of {len(pairs):,} probe pairs of {n * n:,}, "
                                               f"{diagonal} of the {n} diagonal pairs (the declared cone); ")
    return m, dataclasses.replace(v, witness=where + (v.witness or ""))


# ---- the law -------------------------------------------------------------------------------------


def verdict(u: dict, tol: float, eps: float, pairs: int) -> Verdict:
    what = (f"{u['cones']} random sub-cones of {u['size']} points of P ({pairs} pairs at ε = {eps:g}): "
            f"{u['factored']} factor through P{'' if u['unique'] else ' (not uniquely)'}; stitching residual on "
            f"them {u['residual']:.3g}; a cone of random probe pairs has {u['control']:.1%} of its pairs in P")
    if not pairs:
        return Verdict("error", "torch", witness=f"{what}: P is empty at ε = {eps:g}, there is no cone to factor")
    if u["control"] >= 1.0:
        return Verdict("error", "torch", witness=f"{what}: every pair is in P, ε cannot tell cones from non-cones")
    if u["factored"] == u["cones"] and u["unique"] and u["residual"] <= tol:
        return Verdict("passed", "torch", witness=what, samples=u["cones"], difference=u["residual"])
    return Verdict("failed", "torch", witness=f"{what} > tol {tol:g}" if u["residual"] > tol else what,
                   samples=u["cones"], difference=u["residual"])


@dataclass(frozen=True)
class FibreUniversal(TransferUniversal):
    """`P.universal`: random sub-cones factor through the ε-fibre product, and the stitching map
    mediates them within `tol`."""

    kind = "transfer.fibre"
    template = "{transfer}.universal"

    def decide(self, ctx) -> Verdict:
        m = _metrics(ctx, self.transfer)
        return verdict(m["universal"], float(ctx.options.get("tol", UNIVERSAL_TOL)), m["eps"], m["pairs"])


def laws(module, analysis) -> list:
    subject = analysis.subject
    if analysis.name is None or subject.kind != "part":
        return []
    return [FibreUniversal(subject.name, analysis.name, span=analysis.span)]


def _metrics(ctx, name: str) -> dict:
    from backends.torch.merge import _metrics as merged

    return merged(ctx, name)


# ---- report --------------------------------------------------------------------------------------


def report(analysis, session) -> dict:
    key = session.plan.index[analysis.name]["fibre"]
    m = session.store.get(key).metrics
    u = m["universal"]
    v = verdict(u, UNIVERSAL_TOL, m["eps"], m["pairs"])
    return {"kind": "transfer", "method": "fibre", "legs": m["names"], "pairs": m["pairs"], "eps": m["eps"],
            "layer": m["layer"], "probe": m["probe"], "diagonal": m["diagonal"], "fraction": m["fraction"],
            "distance": m["distance"], "projections": m["projections"], "stitching": m["stitching"],
            "universal": {"verdict": v.word(), **u, "tol": UNIVERSAL_TOL}}


def show(analysis, report: dict, console) -> None:
    a, b = report["legs"]
    s, u = report["stitching"], report["universal"]
    console.print(f"transfer {analysis.name} = fibre of {a} and {b} (layer {report['layer']}, ε = {report['eps']:g}, "
                  f"{report['probe']} probe points a side): {report['pairs']:,} pairs "
                  f"({report['fraction']:.2%} of all, {report['diagonal']} on the diagonal); projections onto "
                  f"{report['projections']['p1']['image']} and {report['projections']['p2']['image']} probe points")
    stitched = "-" if s.get("stitched") is None else f"{s['stitched']:.4f}"
    console.print(f"{analysis.name}: stitching {a} → {b}: residual {s['residual']:.3g} (fit {s['fit']:.3g}, identity "
                  f"{s['identity']:.3g}); stitched accuracy {stitched}")
    console.print(f"{analysis.name}.universal: {u['verdict']} ({u['factored']}/{u['cones']} sub-cones factor, "
                  f"stitching residual {u['residual']:.3g}, control {u['control']:.1%} of random pairs in P)")
