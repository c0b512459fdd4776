"""Limits and colimits of learners (paper Defs 4.1, 4.4; docs/language.md §8.10): two more
methods of the `transfer` statement.

- `transfer M = fedavg(source = A.final, clients = [A.final, B.final], align = true, data = D)`:
  the colimit of client models as a merge. FedAvg averages the clients' parameters, weighted by
  their training set sizes; its permutation-aligned variant first permutes each client's hidden
  units into the basin of the reference client `source` by weight matching (`align.py`). The
  merge θ_M comes with legs ι_i : θ_i → θ_M (the identity, or the permutation P_i); they form a
  cocone when each client's features carried along its leg are the merge's features,
  ι_i ∘ φ_i = φ_M. The **cocone defect** of client i is ‖ι_i φ_i − φ_M‖ / ‖φ_M‖ on the probe (the
  first `probe` points of D's test split); `fitted` is the same with the best affine leg in place
  of ι_i (whether *some* leg would make the triangle commute). Law `M.cocone`: the worst defect of
  the chosen merge (aligned when `align = true`) is at most `tol` (default COCONE_TOL).
  `rounds = R, train = adam(…)`: R rounds of FedAvg — from the second on, every client trains
  `train` on its own data from the last merge, and the results are merged again (`local_round`).
  Law `M.colimit`: competing cocones under the clients (the feature ensemble, random affine
  images of it, the other merge) that commute within `tol` factor through the merge by a fitted
  mediating map within `tol`, determined on the probe (`colimit_cocones`, `colimit_verdict`).
- `transfer MT = multitask(source = Run.init, data = [D1, D2], train = adam(…))`: the limit of
  task representations as a shared trunk with a head per task (Def 4.1). The trunk is the
  source model but its head, started from the source state; each task gets a new Linear head,
  and the trunk and heads train together on the sum of the task losses (each task's batches in
  its own seeded order, the smaller tasks cycled). The baselines are the single-task learners
  from the same start on the same budget. The shared features φ form a cone over the tasks when
  each task's own representation is a function of them, p_t ∘ φ = φ_t (p_t fitted affine on
  training inputs, residual on the test inputs: `cone`); the product's mediating map u with
  u ∘ ⟨φ_1, …, φ_k⟩ = φ gives `mediating`. Law `MT.limit`: the worst cone residual ≤ `tol`.

Each statement is one job (`merge` or `multitask`) keyed by its spec and its upstream states,
computed on the job's device (`ctx.device`; only the stored tensors come back to the host).
Nothing here imports torch at import time.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

from backends.run.jobs import JobContext, JobKind, JobResult, each_job
from backends.run.plan import CODE_VERSION, Job
from backends.torch.lstsq import ones, solve
from backends.torch.results import Results, TrainingDiverged
from backends.torch.transfer import TransferUniversal, _optimizer, _problem, _probe
from catdsl.laws.verdict import Verdict
from catdsl.syntax import ast as A
from catdsl.syntax.printer import expr as text_of

METHODS = ("fedavg", "multitask")
FEDAVG_OPTIONS = ("source", "clients", "align", "data", "probe", "rounds", "train")
MULTITASK_OPTIONS = ("source", "data", "train", "probe")
COCONE_TOL = 0.3  # relative: a client's features, carried along its leg, within 30 % of the merge's
# `M.colimit`: competing cocones within this of commuting must factor through the merge within it
COLIMIT_TOL = COCONE_TOL
COLIMIT_CONES = 8  # random competing cocones (random affine images of the feature ensemble)
MAX_ROUNDS = 100
DEFAULT_ROUND_TRAIN = "adam(lr = 0.01, batch = 64, epochs = 1, seed = 0)"  # each client's local training per round
LIMIT_TOL = 0.2  # relative: a task's own features predicted from the shared trunk's within 20 %
FIT_POINTS = 1024  # training inputs on which fitted legs and projections are fitted
FEDAVG_USAGE = "write `transfer M = fedavg(source = A.final, clients = [A.final, B.final], align = true, data = D)`"
MULTITASK_USAGE = "write `transfer MT = multitask(source = Run.init, data = [D1, D2], train = adam(lr = 0.01, epochs = 5))`"


@dataclass(frozen=True)
class MergeSpec:
    """`fedavg(…)` read: the clients (object or generator states of functors into Param with one
    model), the reference client, the data the merge is evaluated on."""

    name: str
    functor: str  # the reference client's functor (the law's owner)
    part: str
    clients: tuple[tuple[str, str], ...]  # (functor, part), the reference first
    weights: tuple[int, ...]  # training set sizes
    align: bool
    target_name: str
    target: Any  # DataSpec
    probe: int
    rounds: int = 1  # FedAvg rounds: the first merges the given states
    optimizer: Any = None  # OptimizerSpec of each client's local training in a later round
    client_data: tuple[Any, ...] = ()  # each client's own training data (DataSpec), for later rounds


@dataclass(frozen=True)
class MultitaskSpec:
    name: str
    functor: str
    part: str
    tasks: tuple[str, ...]  # data set names
    specs: tuple[Any, ...]  # DataSpecs
    optimizer: Any
    width: int
    probe: int


def _part(program, e: A.Expr, what: str):
    """(functor, part) of `Run.x`, an object or generator of a functor into Param."""
    if not (isinstance(e, A.QualName) and len(e.parts) == 2 and e.parts[0] in program.functors):
        raise _problem("E404", f"{what} is an object or generator of a functor into Param, not `{text_of(e)}`", e.span)
    f, x = e.parts
    lf = program.functors[f]
    objects = set(lf.presentation.objects)
    if x not in objects and x not in lf.segments:
        raise _problem("E404", f"`{f}` maps no object or generator `{x}`", e.span)
    return f, x


def _options(analysis, allowed: tuple[str, ...]) -> dict:
    for key, value in analysis.arguments:
        if key not in allowed:
            raise _problem("E404", f"`{analysis.method}` has no option `{key}`", value.span,
                           f"its options are {', '.join(allowed)}")
    return dict(analysis.arguments)


def _data(program, e, span, what: str):
    if not isinstance(e, A.Name) or e.id not in program.data:
        raise _problem("E404", f"{what} is a declared data set" + (f", not `{text_of(e)}`" if e is not None else ""),
                       e.span if e is not None else span,
                       *(f"declared data sets: {', '.join(program.data)}",) if program.data else ())
    return e.id


def read(module, program, analysis):
    """The MergeSpec or MultitaskSpec of `analysis`, memoized; raises ProgramError (E4xx)."""
    from backends.torch.program import ProgramError, _Problem

    key = ("torch-merge", analysis.name, analysis.span)
    if key not in module.memo:
        try:
            module.memo[key] = (_read_fedavg if analysis.method == "fedavg" else _read_multitask)(module, program, analysis)
        except _Problem as p:
            module.memo[key] = ProgramError([p.diagnostic])
        except ProgramError as e:
            module.memo[key] = e
    found = module.memo[key]
    if isinstance(found, ProgramError):
        raise found
    return found


def _facts_of(module, program, spec, span):
    from backends.torch.data import DataError
    from backends.torch.program import _facts
    from backends.torch.session import data_dir

    try:
        return _facts(module, spec, data_dir(module))
    except DataError as e:
        raise _problem("E403", e.message, span, e.hint or "")


def _read_fedavg(module, program, analysis) -> MergeSpec:
    from backends.torch.align import mlp_linears
    from backends.torch.models import spec_json

    args = _options(analysis, FEDAVG_OPTIONS)
    reference = _part(program, args["source"], "the reference client `source`")
    given = args.get("clients")
    if not isinstance(given, A.ListExpr) or not given.items:
        raise _problem("E404", "`clients` is a list of client states `[A.final, B.final]`",
                       given.span if given is not None else analysis.span, FEDAVG_USAGE)
    clients = [reference]
    for item in given.items:
        c = _part(program, item, "a client")
        if c not in clients:
            clients.append(c)
    if len(clients) < 2:
        raise _problem("E404", "a merge needs at least two clients", given.span, FEDAVG_USAGE)
    ref = program.functors[reference[0]].target
    for item in given.items:
        t = program.functors[item.parts[0]].target
        if spec_json(t.model) != spec_json(ref.model) or tuple(t.input_shape) != tuple(ref.input_shape):
            raise _problem("E404", f"client `{text_of(item)}` has another model than the reference "
                           f"`{reference[0]}.{reference[1]}` (`{t.model_name}` vs `{ref.model_name}`)", item.span,
                           "the clients of a merge share one architecture and input shape")
    align = args.get("align")
    aligned = False
    if align is not None:
        if not (isinstance(align, A.Name) and align.id in ("true", "false")):
            raise _problem("E404", f"`align` is true or false, not `{text_of(align)}`", align.span)
        aligned = align.id == "true"
        if aligned and mlp_linears(ref.model) is None:
            raise _problem("E404", f"`align = true` permutes hidden units of MLPs, and `{ref.model_name}` is not one",
                           align.span, "weight matching supports chains of Linear layers with biases and "
                           "elementwise activations; write `align = false`")
    target = _data(program, args.get("data"), analysis.span, "the data a merge is evaluated on")
    facts = _facts_of(module, program, program.data[target], args["data"].span)
    if tuple(facts.input_shape) != tuple(ref.input_shape):
        raise _problem("E404", f"`{target}` has inputs of shape {tuple(facts.input_shape)}, the clients read "
                       f"{tuple(ref.input_shape)}", args["data"].span)
    weights = tuple(_facts_of(module, program, program.functors[f].target.data, analysis.span).train_size
                    for f, _ in clients)
    probe = _probe(args.get("probe"), facts.test_size)
    rounds, opt = _rounds(module, analysis, args)
    return MergeSpec(analysis.name, reference[0], reference[1], tuple(clients), weights, aligned, target,
                     program.data[target], probe, rounds, opt,
                     tuple(program.functors[f].target.data for f, _ in clients) if rounds > 1 else ())


def _rounds(module, analysis, args) -> tuple[int, Any]:
    """`rounds = R` (default 1) and `train = …`, the clients' local training in rounds 2..R."""
    from backends.torch.program import limits_of, literal

    given = args.get("rounds")
    rounds = 1 if given is None else literal(given, "rounds")
    if not isinstance(rounds, int) or isinstance(rounds, bool) or not 1 <= rounds <= MAX_ROUNDS:
        raise _problem("E404", f"`rounds` is a whole number of FedAvg rounds from 1 to {MAX_ROUNDS}, "
                       f"not `{text_of(given)}`", given.span)
    train = args.get("train")
    if rounds == 1:
        if train is not None:
            raise _problem("E404", "`train` is the clients' local training between FedAvg rounds, and one round "
                           "has none", train.span, "add `rounds = R` with R ≥ 2, or drop `train`")
        return 1, None
    if train is None:
        from catdsl.syntax.parse import parse

        train = parse(f"data x = {DEFAULT_ROUND_TRAIN}").statements[0].value
    opt = _optimizer(train, analysis.span)
    limits = limits_of(module)
    if opt.epochs * (rounds - 1) > limits.epochs:
        raise _problem("E401", f"`{analysis.name}` trains each client {opt.epochs * (rounds - 1)} epochs over "
                       f"{rounds - 1} rounds, over the limit of {limits.epochs}",
                       (args.get("train") or given).span, "raise it with --max-epochs")
    return rounds, opt


def _read_multitask(module, program, analysis) -> MultitaskSpec:
    from backends.torch.models import _top, infer_shapes
    from backends.torch.program import limits_of

    args = _options(analysis, MULTITASK_OPTIONS)
    f, x = _part(program, args["source"], "the start of a multi-task learner `source`")
    lf = program.functors[f]
    given = args.get("data")
    if not isinstance(given, A.ListExpr) or len(given.items) < 2:
        raise _problem("E404", "`data` of a multi-task learner is a list of at least two data sets, one per task",
                       given.span if given is not None else analysis.span, MULTITASK_USAGE)
    tasks = []
    for item in given.items:
        name = _data(program, item, given.span, "a task")
        facts = _facts_of(module, program, program.data[name], item.span)
        if tuple(facts.input_shape) != tuple(lf.target.input_shape):
            raise _problem("E404", f"task `{name}` has inputs of shape {tuple(facts.input_shape)}, the trunk "
                           f"`{lf.target.model_name}` reads {tuple(lf.target.input_shape)}", item.span,
                           "the tasks of a multi-task learner share their inputs")
        if name in tasks:
            raise _problem("E404", f"task `{name}` is listed twice", item.span)
        tasks.append(name)
    layers = _top(lf.target.model)
    shapes = infer_shapes(lf.target.model, lf.target.input_shape)
    if len(layers) < 2 or len(shapes[-2]) != 1:
        raise _problem("E404", f"`{lf.target.model_name}` has no flat feature layer before its head to share",
                       args["source"].span)
    opt = _optimizer(args.get("train"), analysis.span)
    limits = limits_of(module)
    if opt.epochs > limits.epochs:
        raise _problem("E401", f"`{analysis.name}` asks for {opt.epochs} epochs, over the limit of {limits.epochs}",
                       (args.get("train") or analysis).span, "raise it with --max-epochs")
    smallest = min(_facts_of(module, program, program.data[t], analysis.span).test_size for t in tasks)
    probe = _probe(args.get("probe"), smallest)
    return MultitaskSpec(analysis.name, f, x, tuple(tasks), tuple(program.data[t] for t in tasks), opt,
                         shapes[-2][0], probe)


# ---- jobs ----------------------------------------------------------------------------------------


def _state_job(plan, program, f: str, part: str) -> Job:
    from backends.torch.transfer import source_job

    return source_job(plan, program, _Where(f, part))


@dataclass(frozen=True)
class _Where:
    functor: str
    part: str


def add_jobs(plan, program, spec) -> dict[str, str]:
    from backends.torch.models import spec_json

    if isinstance(spec, MergeSpec):
        states = [_state_job(plan, program, f, x) for f, x in spec.clients]
        ref = program.functors[spec.functor].target
        body = {"method": "fedavg", "clients": [s.key for s in states],
                "names": [f"{f}.{x}" for f, x in spec.clients], "weights": list(spec.weights),
                "model": json.loads(spec_json(ref.model)), "input": list(ref.input_shape),
                "data": json.loads(spec.target.to_json()), "align": spec.align, "probe": spec.probe,
                "loss": ref.loss, "colimit": COLIMIT_CONES, "code": CODE_VERSION}
        if spec.rounds > 1:
            body.update({"rounds": spec.rounds, "optimizer": json.loads(spec.optimizer.to_json()),
                         "client_data": [json.loads(d.to_json()) for d in spec.client_data]})
        rounds = f", {spec.rounds} rounds" if spec.rounds > 1 else ""
        label = f"{spec.name}.fedavg({', '.join(body['names'])} → {spec.target_name}{rounds})"
        job = Job.of("merge", body, label, tuple(s.key for s in states), (spec.name, "fedavg"))
    else:
        lf = program.functors[spec.functor]
        source = _state_job(plan, program, spec.functor, spec.part)
        body = {"method": "multitask", "source": source.key, "model": json.loads(spec_json(lf.target.model)),
                "input": list(lf.target.input_shape), "width": spec.width, "tasks": list(spec.tasks),
                "data": [json.loads(s.to_json()) for s in spec.specs],
                "optimizer": json.loads(spec.optimizer.to_json()), "probe": spec.probe, "loss": lf.target.loss,
                "code": CODE_VERSION}
        label = f"{spec.name}.multitask({spec.functor}.{spec.part}; {', '.join(spec.tasks)})"
        job = Job.of("multitask", body, label, (source.key,), (spec.name, "multitask"))
    key = plan.add(job)
    plan.index[spec.name] = {job.spec["method"]: key}
    return plan.index[spec.name]


# ---- numbers -------------------------------------------------------------------------------------


def relative(a, b) -> float:
    """‖a − b‖ / ‖b‖ in float64."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def fitted_residual(src_fit, dst_fit, src_eval, dst_eval) -> float:
    """The relative residual on (src_eval, dst_eval) of the affine map src → dst fitted by least
    squares on (src_fit, dst_fit): how far dst is from a function of src, out of sample."""
    w = solve(ones(src_fit), dst_fit)
    return relative(ones(src_eval) @ w, dst_eval)


def average(states: Sequence[dict], weights: Sequence[float]) -> dict:
    """The weighted mean of parameter dicts (integer buffers are taken from the first)."""
    total = float(sum(weights))
    out = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            out[name] = sum(w / total * s[name].double() for s, w in zip(states, weights)).to(first.dtype)
        else:
            out[name] = first
    return out


def merge_clients(states: Sequence[dict], weights: Sequence[float], linears: list[int] | None, aligned: bool):
    """(merged state, legs): each client permuted into the reference's (the first's) basin when
    `aligned`; a leg is the permutation of the feature units (None: the identity)."""
    from backends.torch.align import permute, weight_matching

    moved, legs = [states[0]], [None]
    for s in states[1:]:
        if aligned:
            perms = weight_matching(states[0], s, linears)
            moved.append(permute(s, linears, perms))
            legs.append(perms[-1])
        else:
            moved.append(s)
            legs.append(None)
    return average(moved, weights), legs


def _model(model_spec, state: dict):
    """The model with `state` loaded, in eval mode, on the device of the state's tensors."""
    import torch

    from backends.torch.models import build

    device = next(iter(state.values())).device if state else torch.device("cpu")
    model = build(model_spec).to(device)
    with torch.no_grad():
        model.load_state_dict(state, strict=True)
    return model.eval()


def _features(model, x):
    import torch

    with torch.no_grad():
        return model[:-1](x).reshape(len(x), -1), model(x)


def _on(state, device) -> dict:
    return {k: v.to(device) for k, v in state.items()}


def local_round(merged: dict, model_spec, data, opt, round_: int, client: int, loss: str, device) -> dict:
    """One client's local training in FedAvg round `round_` (2, 3, …): from the merged state, with
    a fresh optimizer state, on the client's own training data; its data order is seeded by the
    optimizer's seed, the round and the client."""
    import dataclasses

    from backends.torch.train import TrainingState, mix, template, train

    names = {n for n, _ in template(model_spec).named_parameters()}
    params = {k: v for k, v in merged.items() if k in names}
    buffers = {k: v for k, v in merged.items() if k not in names}
    seeded = dataclasses.replace(opt, seed=mix("fedavg-round", opt.seed, round_, client) % 2**31)
    end = train(TrainingState(params, buffers), model_spec, data, seeded, loss=loss, device=device).end
    return {**end.params, **end.buffers}


def colimit_cocones(phi_m, phi_m_fit, carried, carried_fit, weights, others=(), cones: int = COLIMIT_CONES,
                    seed: int = 0) -> dict:
    """The universal property of the merge M as a colimit, at the level of features.

    A competing cocone under the clients is a representation ψ with legs κ_i, κ_i φ_i = ψ; its
    defect is max_i ‖κ_i φ_i − ψ‖ / ‖ψ‖ on the probe. It factors through M when a mediating map u
    has u φ_M = ψ: u is the affine least-squares fit on the fitting inputs, its `residual` the
    relative error on the probe (out of sample). The competitors: the feature ensemble
    ψ̄ = Σ w_i ι_i φ_i / Σ w_i (legs ι_i, the merge's own), `cones` random affine images A ψ̄ + c
    (legs A ι_i; A Gaussian, (d + 8) × d), and `others` — (name, ψ, ψ_fit, defect), such as
    the other merge of the same clients. `uniqueness`: the part of [φ_M, 1] on the probe
    outside the span it has on the fitting inputs (0: two mediating maps that agree where they
    were fitted agree on the probe too). `control`: the residual of a representation that is no
    cocone (Gaussian, unrelated to the clients), which must not factor."""
    import torch

    from backends.torch.train import mix

    g = torch.Generator().manual_seed(mix("colimit", seed))
    device = phi_m.device
    total = float(sum(weights))
    mean = sum(w / total * c.double() for w, c in zip(weights, carried))
    mean_fit = sum(w / total * c.double() for w, c in zip(weights, carried_fit))
    design, design_fit = ones(phi_m), ones(phi_m_fit)

    def defect(legs_applied, psi) -> float:
        return max(relative(x, psi) for x in legs_applied)

    def mediate(psi, psi_fit) -> float:
        return relative(design @ solve(design_fit, psi_fit), psi)

    found = [{"name": "ensemble", "defect": defect(carried, mean), "residual": mediate(mean, mean_fit)}]
    d = mean.shape[1]
    for i in range(cones):
        a = torch.randn(d, d + 8, generator=g, dtype=torch.float64).to(device)
        c = torch.randn(d + 8, generator=g, dtype=torch.float64).to(device)
        psi, psi_fit = mean @ a + c, mean_fit @ a + c
        found.append({"name": f"random {i + 1}", "defect": defect([x.double() @ a + c for x in carried], psi),
                      "residual": mediate(psi, psi_fit)})
    for name, psi, psi_fit, other_defect in others:
        found.append({"name": name, "defect": other_defect, "residual": mediate(psi.double(), psi_fit.double())})
    _, sv, vh = torch.linalg.svd(design_fit, full_matrices=False)
    rank = int((sv > 1e-9 * sv[0]).sum()) if len(sv) and sv[0] > 0 else 0
    seen = vh[:rank]
    outside = design - (design @ seen.T) @ seen
    noise = torch.randn(len(phi_m) + len(phi_m_fit), d, generator=g, dtype=torch.float64).to(device)
    control = mediate(noise[: len(phi_m)], noise[len(phi_m):])
    return {"cocones": found, "uniqueness": float(outside.norm() / design.norm().clamp_min(1e-300)),
            "control": control, "rank": rank, "width": d, "fit_points": len(phi_m_fit)}


def _run_merge(job: Job, results: Results, device="cpu") -> tuple[dict, dict]:
    import torch

    from backends.torch.adapters import accuracy
    from backends.torch.align import mlp_linears
    from backends.torch.models import spec_from_json
    from backends.torch.segment import OptimizerSpec
    from backends.torch.train import Diverged

    spec = job.spec
    device = torch.device(device)
    model_spec = spec_from_json(json.dumps(spec["model"]))
    data = results.data_of(spec["data"])
    states = []
    for key in spec["clients"]:
        s = results.state(key)
        states.append(_on({**s.params, **s.buffers}, device))
    linears = mlp_linears(model_spec)
    x_test, y_test = data.x_test.to(device), data.y_test.to(device)
    x_probe = x_test[: spec["probe"]]
    x_fit = data.x_train[:FIT_POINTS].to(device)
    loss, weights, names = spec["loss"], spec["weights"], spec["names"]
    clients = [_model(model_spec, s) for s in states]
    methods: dict[str, Any] = {}
    for name, m in zip(names, clients):
        methods[name] = {"accuracy": accuracy(m, x_test, y_test, loss)[1], "role": "client"}
    with torch.no_grad():
        logits = sum(torch.softmax(m(x_test), -1) for m in clients) / len(clients)
    methods["ensemble"] = {"accuracy": float((logits.argmax(-1) == y_test).float().mean()),
                           "role": "reference: the clients' averaged predictions (not one model)"}
    rounds = int(spec.get("rounds", 1))
    opt = OptimizerSpec.from_json(spec["optimizer"]) if rounds > 1 else None
    local = [results.data_of(d).to(device) for d in spec.get("client_data", ())]
    chosen, made = None, {}
    for variant in ("fedavg", "aligned") if linears is not None else ("fedavg",):
        aligned, seconds, curve = variant == "aligned", 0.0, []
        members, merged = states, None
        for r in range(1, rounds + 1):
            start = time.perf_counter()
            if r > 1:
                try:
                    members = [local_round(merged, model_spec, local[i], opt, r, i, loss, device)
                               for i in range(len(states))]
                except Diverged as e:
                    raise TrainingDiverged(job, e.step, e.loss) from None
            merged, legs = merge_clients(members, weights, linears, aligned)
            seconds += time.perf_counter() - start
            curve.append(accuracy(_model(model_spec, merged), x_test, y_test, loss)[1])
        model = _model(model_spec, merged)
        phi_m, out_m = _features(model, x_probe)
        phi_m_fit = _features(model, x_fit)[0]
        per_client, carried, carried_fit = {}, [], []
        for name, s, leg in zip(names, members, legs):
            member = _model(model_spec, s)
            (phi_i, out_i), fit_i = _features(member, x_probe), _features(member, x_fit)[0]
            index = None if leg is None else torch.as_tensor(leg, device=device)
            carried.append(phi_i if index is None else phi_i[:, index])
            carried_fit.append(fit_i if index is None else fit_i[:, index])
            per_client[name] = {
                "defect": relative(carried[-1], phi_m),
                "fitted": fitted_residual(fit_i, phi_m_fit, phi_i, phi_m),
                "disagreement": float((out_i.argmax(-1) != out_m.argmax(-1)).float().mean()),
            }
        cocone = {"defect": max(c["defect"] for c in per_client.values()),
                  "fitted": max(c["fitted"] for c in per_client.values()), "clients": per_client}
        methods[variant] = {"accuracy": curve[-1], "seconds": seconds, "role": "merge", "cocone": cocone}
        if rounds > 1:
            methods[variant]["rounds"] = curve
        made[variant] = (phi_m, phi_m_fit, carried, carried_fit)
        if aligned == bool(spec["align"]):
            chosen = (variant, merged)
    for variant, (phi_m, phi_m_fit, carried, carried_fit) in made.items():
        # the other merge is a competing cocone under the same clients only when both merged the given states
        others = [(v, m[0], m[1], methods[v]["cocone"]["defect"]) for v, m in made.items()
                  if v != variant and rounds == 1]
        methods[variant]["colimit"] = colimit_cocones(phi_m, phi_m_fit, carried, carried_fit, weights, others,
                                                      cones=int(spec.get("colimit", COLIMIT_CONES)))
    variant, merged = chosen
    metrics = {"methods": methods, "order": [*names, *(v for v in ("fedavg", "aligned") if v in methods),
                                             "ensemble"], "merge": variant, "accuracy": methods[variant]["accuracy"],
               "defect": methods[variant]["cocone"]["defect"], "fitted": methods[variant]["cocone"]["fitted"],
               "rounds": rounds}
    return metrics, {k: v.detach().cpu().contiguous().clone() for k, v in merged.items()}


class MultiTask:
    """A trunk (the source model but its head) and one Linear head per task."""

    def __new__(cls, body, heads):
        from torch import nn

        class _MultiTask(nn.Module):
            def __init__(self):
                super().__init__()
                self.body, self.heads = body, nn.ModuleList(heads)

            def features(self, x):
                return self.body(x).reshape(len(x), -1)

            def forward(self, x, task: int = 0):
                return self.heads[task](self.features(x))

        return _MultiTask()


def _learner(spec: dict, source_state: dict, tasks: Sequence[int], classes: Sequence[int], device="cpu"):
    import torch
    from torch import nn

    from backends.torch.models import build, spec_from_json
    from backends.torch.train import mix

    full = build(spec_from_json(json.dumps(spec["model"])))
    full.load_state_dict(source_state, strict=True)
    heads = []
    for t in tasks:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mix("multitask-head", int(spec["optimizer"]["seed"]), t))
            heads.append(nn.Linear(int(spec["width"]), classes[t]))
    return MultiTask(full[:-1], heads).to(device).eval()


def train_jointly(model, datas: Sequence, opt_spec, loss: str = "cross_entropy") -> tuple[list[float], float]:
    """Train every parameter of `model` on the sum of the task losses: in each epoch, step b takes
    batch b of every task's seeded order (a smaller task's batches cycled)."""
    import torch
    from torch.func import functional_call

    from backends.torch.optimizers import optimizer
    from backends.torch.train import epoch_order, loss_function, mix

    start = time.perf_counter()
    loss_fn = loss_function(loss)
    update = optimizer(opt_spec.name).function()
    params = {n: p.detach() for n, p in model.named_parameters()}
    state: dict = {}
    losses, step, batch = [], 0, opt_spec.batch
    for epoch in range(opt_spec.epochs):
        orders = [epoch_order(mix(opt_spec.seed, t), epoch, len(d.y_train)).to(d.y_train.device)
                  for t, d in enumerate(datas)]
        steps = max(math.ceil(len(d.y_train) / batch) for d in datas)
        for b in range(steps):
            leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
            value = 0
            for t, (d, order) in enumerate(zip(datas, orders)):
                n_batches = math.ceil(len(order) / batch)
                index = order[(b % n_batches) * batch:(b % n_batches + 1) * batch]
                value = value + loss_fn(functional_call(model, leaves, (d.x_train[index], t)), d.y_train[index])
            grads = dict(zip(leaves, torch.autograd.grad(value, list(leaves.values()))))
            losses.append(value.detach())  # kept on the device: one transfer at the end, not one a step
            with torch.no_grad():
                params, state = update(params, grads, state, opt_spec.hyper(step))
            step += 1
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name])
    return (torch.stack(losses).tolist() if losses else []), time.perf_counter() - start


def _run_multitask(job: Job, results: Results, device="cpu") -> tuple[dict, dict]:
    import torch

    from backends.torch.data import DataSpec
    from backends.torch.segment import OptimizerSpec

    spec = job.spec
    device = torch.device(device)
    datas = [results.dataset(DataSpec.of(d["name"], **d["options"])).to(device) for d in spec["data"]]
    classes = [d.num_classes for d in datas]
    s = results.state(spec["source"])
    source = {**s.params, **s.buffers}
    opt = OptimizerSpec.from_json(spec["optimizer"])
    tasks = list(range(len(datas)))
    shared = _learner(spec, source, tasks, classes, device)
    losses, seconds = train_jointly(shared, datas, opt, spec["loss"])
    singles = []
    for t in tasks:
        single = _learner(spec, source, [t], classes, device)
        # the single-task learner's head t is the multi-task learner's head t at the start
        _, sec = train_jointly(single, [datas[t]], opt, spec["loss"])
        singles.append((single, sec))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    per_task, cone = {}, {}
    x_eval = torch.cat([d.x_test[: spec["probe"]] for d in datas])
    x_fit = torch.cat([d.x_train[: FIT_POINTS // len(datas)] for d in datas])
    with torch.no_grad():
        phi, phi_fit = shared.features(x_eval), shared.features(x_fit)
        own = [(m.features(x_eval), m.features(x_fit)) for m, _ in singles]
    for t, name in enumerate(spec["tasks"]):
        d = datas[t]
        with torch.no_grad():
            shared_out = shared(d.x_test, t)
            single_out = singles[t][0](d.x_test, 0)
        per_task[name] = {"multitask": float((shared_out.argmax(-1) == d.y_test).float().mean()),
                          "single": float((single_out.argmax(-1) == d.y_test).float().mean()),
                          "single_seconds": singles[t][1]}
        cone[name] = fitted_residual(phi_fit, own[t][1], phi, own[t][0])
    product, product_fit = torch.cat([o[0] for o in own], 1), torch.cat([o[1] for o in own], 1)
    mediating = fitted_residual(product_fit, phi_fit, product, phi)
    methods = {
        "multitask": {"accuracy": sum(p["multitask"] for p in per_task.values()) / len(per_task),
                      "seconds": seconds, "trainable": count(shared),
                      "tasks": {k: v["multitask"] for k, v in per_task.items()}},
        "single": {"accuracy": sum(p["single"] for p in per_task.values()) / len(per_task),
                   "seconds": sum(sec for _, sec in singles), "trainable": sum(count(m) for m, _ in singles),
                   "tasks": {k: v["single"] for k, v in per_task.items()}},
    }
    metrics = {"methods": methods, "tasks": list(spec["tasks"]), "accuracy": methods["multitask"]["accuracy"], "cone": cone,
               "limit": max(cone.values()), "mediating": mediating, "final_train_loss": losses[-1] if losses else None}
    tensors = {n: p.detach().cpu().contiguous().clone() for n, p in shared.named_parameters()}
    return metrics, tensors


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Each job's result, returned for the executor to store (reads the store only, so it runs
    on any executor's workers); a failure carries the results made before it (`partial`)."""
    from backends.torch.transfer import timed_result

    results = Results(ctx)
    run = lambda job: (_run_merge if job.spec["method"] == "fedavg" else _run_multitask)(job, results, ctx.device)  # noqa: E731
    return each_job(jobs, lambda job: timed_result(job, lambda: run(job)))


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    from backends.torch.jobs import step_work

    spec = jobs[0].spec
    return step_work(spec["model"], tuple(spec["input"]), 64, len(jobs))


MERGE = JobKind("merge", compute=_compute, work=_work)
MULTITASK = JobKind("multitask", compute=_compute, work=_work)


# ---- laws ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeCocone(TransferUniversal):
    """`M.cocone`: the merge's legs make the clients' triangles commute within `tol` on the probe."""

    kind = "transfer.cocone"
    template = "{transfer}.cocone"

    def decide(self, ctx) -> Verdict:
        m = _metrics(ctx, self.transfer)
        tol = float(ctx.options.get("tol", COCONE_TOL))
        c = m["methods"][m["merge"]]["cocone"]
        worst_client = max(c["clients"], key=lambda k: c["clients"][k]["defect"])
        what = (f"{m['merge']} merge of {len(c['clients'])} clients: worst cocone defect {c['defect']:.3g} "
                f"({worst_client}), with the best affine legs {c['fitted']:.3g}; merge accuracy {m['accuracy']:.4f}")
        if c["defect"] <= tol:
            return Verdict("passed", "torch", witness=what, samples=len(c["clients"]), difference=c["defect"])
        return Verdict("failed", "torch", witness=f"{what} > tol {tol:g}", samples=len(c["clients"]),
                       difference=c["defect"])


def colimit_verdict(m: dict, merge: str, tol: float) -> Verdict:
    """`M.colimit` from the merge job's metrics: the merge must be a cocone within `tol`, the
    competing cocones that commute within `tol` must factor through it within `tol` by a
    mediating map determined on the probe (uniqueness within `tol`), and the control, which is
    no cocone, must not factor."""
    method = m["methods"][merge]
    c, defect = method["colimit"], method["cocone"]["defect"]
    genuine = [k for k in c["cocones"] if k["defect"] <= tol]
    worst = max(genuine, key=lambda k: k["residual"], default=None)
    what = (f"{merge} merge (cocone defect {defect:.3g}): {len(genuine)} of {len(c['cocones'])} competing cocones "
            f"commute within tol {tol:g}"
            + (f", worst mediating residual {worst['residual']:.3g} ({worst['name']})" if worst else "")
            + f"; uniqueness {c['uniqueness']:.3g}; a representation that is no cocone leaves {c['control']:.3g}")
    if defect > tol:
        return Verdict("failed", "torch", witness=f"the merge is no cocone within tol {tol:g} (defect {defect:.3g}), "
                       f"so no colimit: {what}", samples=0, difference=defect)
    if c["control"] <= tol:
        return Verdict("error", "torch", witness=f"{what}: the check cannot tell cocones that factor from ones "
                       f"that do not at tol {tol:g}")
    if worst is None:
        return Verdict("unknown", "torch", witness=f"{what}: no competing cocone to factor")
    if worst["residual"] > tol:
        return Verdict("refuted", "torch", witness=f"{what} > tol {tol:g}: the cocone `{worst['name']}` "
                       "does not factor through the merge", samples=len(genuine), difference=worst["residual"])
    if c["uniqueness"] > tol:
        return Verdict("failed", "torch", witness=f"{what}: the mediating maps are not determined on the probe",
                       samples=len(genuine), difference=c["uniqueness"])
    return Verdict("passed", "torch", witness=what, samples=len(genuine),
                   difference=max(worst["residual"], c["uniqueness"]))


@dataclass(frozen=True)
class MergeColimit(TransferUniversal):
    """`M.colimit`: the merge is universal among the cocones under the clients — every competing
    cocone that commutes within `tol` factors through it by a mediating map (fitted; residual
    within `tol`, determined on the probe). A measurement with a threshold, never a proof."""

    kind = "transfer.colimit"
    template = "{transfer}.colimit"

    def decide(self, ctx) -> Verdict:
        m = _metrics(ctx, self.transfer)
        return colimit_verdict(m, m["merge"], float(ctx.options.get("tol", COLIMIT_TOL)))


@dataclass(frozen=True)
class LimitCone(TransferUniversal):
    """`MT.limit`: each task's own representation is a function of the shared trunk's within `tol`."""

    kind = "transfer.limit"
    template = "{transfer}.limit"

    def decide(self, ctx) -> Verdict:
        m = _metrics(ctx, self.transfer)
        tol = float(ctx.options.get("tol", LIMIT_TOL))
        worst = max(m["cone"], key=m["cone"].get)
        what = (f"shared trunk of {len(m['cone'])} tasks: worst projection residual {m['limit']:.3g} ({worst}); "
                f"mediating map from the product of the single-task features {m['mediating']:.3g}")
        if m["limit"] <= tol:
            return Verdict("passed", "torch", witness=what, samples=len(m["cone"]), difference=m["limit"])
        return Verdict("failed", "torch", witness=f"{what} > tol {tol:g}", samples=len(m["cone"]),
                       difference=m["limit"])


def laws(module, analysis) -> list:
    subject = analysis.subject
    if analysis.name is None or subject.kind != "part":
        return []
    if analysis.method == "fedavg":
        return [MergeCocone(subject.name, analysis.name, span=analysis.span),
                MergeColimit(subject.name, analysis.name, span=analysis.span)]
    return [LimitCone(subject.name, analysis.name, span=analysis.span)]


def _metrics(ctx, name: str) -> dict:
    from backends.torch.session import Session

    s = Session.of(ctx.module, ctx.options.store)
    key = next(iter(s.plan.index[name].values()))
    s.executor.run(s.plan, [key], progress=False)
    return s.store.get(key).metrics


# ---- report ----------------------------------------------------------------------------------------


def report(analysis, session) -> dict:
    key = next(iter(session.plan.index[analysis.name].values()))
    m = session.store.get(key).metrics
    if analysis.method == "fedavg":
        spec = read(session.program.module, session.program, analysis)
        chosen = m["methods"][m["merge"]]
        v = colimit_verdict(m, m["merge"], COLIMIT_TOL)
        return {"kind": "transfer", "method": "fedavg", "data": spec.target_name, "align": spec.align,
                "rounds": spec.rounds, "merge": m["merge"], "methods": {k: m["methods"][k] for k in m["order"]},
                "cocone": {"defect": chosen["cocone"]["defect"], "fitted": chosen["cocone"]["fitted"], "tol": COCONE_TOL},
                "colimit": {"verdict": v.word(), **chosen["colimit"], "tol": COLIMIT_TOL}}
    return {"kind": "transfer", "method": "multitask", "tasks": m["tasks"], "methods": m["methods"],
            "limit": {"cone": m["cone"], "worst": m["limit"], "mediating": m["mediating"], "tol": LIMIT_TOL}}


def show(analysis, report: dict, console) -> None:
    from rich.table import Table

    if report["method"] == "fedavg":
        rounds = report.get("rounds", 1)
        table = Table(title=f"transfer {analysis.name} = fedavg on {report['data']}"
                            f"{f', {rounds} rounds' if rounds > 1 else ''} (the laws check the "
                            f"{report['merge']} merge)", title_justify="left")
        for col in ("model", "test acc", "cocone defect", "with fitted legs", "disagreement"):
            table.add_column(col, justify="left" if col == "model" else "right")
        for name, m in report["methods"].items():
            c = m.get("cocone")
            if c is None:
                table.add_row(name, f"{m['accuracy']:.4f}", "-", "-", "-")
            else:
                worst = max(v["disagreement"] for v in c["clients"].values())
                table.add_row(name, f"{m['accuracy']:.4f}", f"{c['defect']:.3f}", f"{c['fitted']:.3f}",
                              f"{worst:.1%}")
        console.print(table)
        for name in ("fedavg", "aligned"):
            curve = report["methods"].get(name, {}).get("rounds")
            if curve:
                console.print(f"{analysis.name}: {name} accuracy after each round: "
                              + ", ".join(f"{a:.4f}" for a in curve))
        u = report["colimit"]
        factored = [k for k in u["cocones"] if k["defect"] <= u["tol"]]
        worst = max((k["residual"] for k in factored), default=None)
        console.print(f"{analysis.name}.colimit: {u['verdict']} ({len(factored)} of {len(u['cocones'])} competing "
                      f"cocones commute within {u['tol']:g}; worst mediating residual "
                      f"{'-' if worst is None else f'{worst:.3g}'}, uniqueness {u['uniqueness']:.3g}, non-cocone "
                      f"control {u['control']:.3g})")
        return
    table = Table(title=f"transfer {analysis.name} = multitask over {', '.join(report['tasks'])}",
                  title_justify="left")
    for col in ("task", "multitask acc", "single-task acc", "trunk → task features residual"):
        table.add_column(col, justify="left" if col == "task" else "right")
    mt, single = report["methods"]["multitask"], report["methods"]["single"]
    for t in report["tasks"]:
        table.add_row(t, f"{mt['tasks'][t]:.4f}", f"{single['tasks'][t]:.4f}", f"{report['limit']['cone'][t]:.3f}")
    console.print(table)
    console.print(f"{analysis.name}: multitask {mt['trainable']:,} parameters in {mt['seconds']:.2f} s; single-task "
                  f"learners {single['trainable']:,} in {single['seconds']:.2f} s; mediating map from the product "
                  f"of the single-task features: residual {report['limit']['mediating']:.3f}")
