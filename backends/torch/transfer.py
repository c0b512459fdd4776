"""Transfer as a pullback (paper Defs 7.1–7.2): `transfer T = pullback(source = Run.f, along =
adapter(…), data = D)` read into a `TransferSpec`, compiled into `transfer` jobs — the pullback
and the baselines, each on the same budget — and checked against its universal property.

The transferred representation is φ_T = φ_S ∘ f: φ_S is the feature map of the source state
Run(f) (frozen), f : D_T → D_S a learned domain map (`adapters.Adapter`) from the target's inputs
to the source's. Only f trains, and a new head when the target's label set differs from the
source's. The baselines (`scratch`, `linear_probe`, `fine_tune`) train with the same optimizer,
batch size, epochs and data order, in the same run (docs/language.md §8.9).

Nothing here imports torch at import time: reading a program and compiling a plan do not need
it; the job body and the law's discharge import `backends.torch.adapters` when they run.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from backends.run.jobs import JobContext, JobKind, JobResult, each_job
from backends.run.plan import CODE_VERSION, Job
from backends.torch.results import Results
from catdsl.diagnostics import Diagnostic
from catdsl.laws.law import FunctorLaw
from catdsl.laws.verdict import Verdict
from catdsl.syntax import ast as A
from catdsl.syntax.printer import expr as text_of

ADAPTER_KINDS = ("linear", "lowrank", "mlp")
ADAPTER_PLACES = ("input", "features")
BASELINES = ("scratch", "linear_probe", "fine_tune")
OPTIONS = ("source", "along", "data", "train", "baselines", "probe")
DEFAULT_TRAIN = "adam(lr = 0.01, batch = 64, epochs = 20, seed = 0)"
DEFAULT_RANK = {"lowrank": 4, "mlp": 32}
# the tolerance of T.universal unless `check T.universal with tol = …`, relative to the norm of
# φ_T: the existence residual is float64 least squares (~1e-15); what the probe leaves
# undetermined comes from feature units that fire off the probe only (~1e-4 after a short run)
UNIVERSAL_TOL = 1e-3
UNIVERSAL_PROBE = 2048  # at most this many test points: the whole test split of small data sets
ELSEWHERE = 1024  # training inputs of the target on which the mediating map must be determined too
USAGE = "write `transfer T = pullback(source = Run.final, along = adapter(kind = linear, at = input), data = target)`"


@dataclass(frozen=True)
class AdapterSpec:
    """`adapter(kind = linear | lowrank | mlp, rank = r, at = input | features)`."""

    kind: str = "linear"
    rank: int = 0
    at: str = "input"

    def to_obj(self) -> dict:
        return {"kind": self.kind, "rank": self.rank, "at": self.at}


@dataclass(frozen=True)
class TransferSpec:
    """A `transfer` statement, read: the source state (an object or generator of a functor into
    Param), the domain map, the target data set, the training budget and the baselines."""

    name: str
    functor: str
    part: str
    target_name: str
    target: Any  # DataSpec
    target_shape: tuple[int, ...]
    target_classes: int
    adapter: AdapterSpec
    optimizer: Any  # OptimizerSpec
    baselines: tuple[str, ...]
    head: str  # "source": the target has the source's labels; "new": a new head is trained
    width: int  # of φ_S
    probe: int  # points of the target's test split for T.universal


# ---- reading the statement ---------------------------------------------------------------------


def read_transfer(module, program, analysis) -> TransferSpec:
    """The TransferSpec of `analysis`, memoized per module; raises ProgramError (E4xx at the place)."""
    from backends.torch.program import ProgramError

    key = ("torch-transfer", analysis.name, analysis.span)
    if key not in module.memo:
        try:
            module.memo[key] = _read(module, program, analysis)
        except _problem_class() as p:
            module.memo[key] = ProgramError([p.diagnostic])
        except ProgramError as e:
            module.memo[key] = e
    found = module.memo[key]
    if isinstance(found, ProgramError):
        raise found
    return found


def _problem_class():
    from backends.torch.program import _Problem

    return _Problem


def _problem(code: str, message: str, span, *hints: str):
    return _problem_class()(code, message, span, *hints)


def _read(module, program, analysis) -> TransferSpec:
    from backends.torch.data import DataError
    from backends.torch.models import _top, infer_shapes
    from backends.torch.program import _facts, limits_of
    from backends.torch.session import data_dir

    if analysis.method != "pullback":
        raise _problem("E404", f"a transfer is `pullback(…)`, `fedavg(…)` or `multitask(…)`, not `{analysis.method}`",
                       analysis.span, USAGE)
    args = dict(analysis.arguments)
    for key, value in analysis.arguments:
        if key not in OPTIONS:
            raise _problem("E404", f"`pullback` has no option `{key}`", value.span, f"its options are {', '.join(OPTIONS)}")
    subject = analysis.subject
    if subject.kind != "part" or subject.name not in program.functors:
        raise _problem("E404", "the source of a transfer is an object or generator of a functor into Param, "
                       f"not `{text_of(args['source'])}`", subject.span, USAGE)
    lf = program.functors[subject.name]
    generators = {g.name for g in lf.presentation.generators}
    if subject.part in generators and subject.part not in lf.segments:
        raise _problem("E404", f"`{subject.name}` maps no generator `{subject.part}`", subject.span)
    # the target data
    data_expr = args.get("data")
    if not isinstance(data_expr, A.Name) or data_expr.id not in program.data:
        where = data_expr.span if data_expr is not None else analysis.span
        raise _problem("E404", "the target of a transfer is a declared data set"
                       + (f", not `{text_of(data_expr)}`" if data_expr is not None else ": give `data = …`"),
                       where, *(f"declared data sets: {', '.join(program.data)}",) if program.data else ())
    cache = data_dir(module)
    try:
        facts = _facts(module, program.data[data_expr.id], cache)
        source_facts = _facts(module, lf.target.data, cache)
    except DataError as e:
        raise _problem("E403", e.message, data_expr.span, e.hint or "")
    # the source model: φ_S is everything but its last top-level layer, the head
    layers = _top(lf.target.model)
    shapes = infer_shapes(lf.target.model, lf.target.input_shape)
    if len(layers) < 2 or len(shapes[-2]) != 1:
        raise _problem("E404", f"`{lf.target.model_name}` has no flat feature layer before its head to transfer",
                       subject.span, "the model's last layer is its head; the one before must give flat features")
    width = shapes[-2][0]
    source_labels = lf.target.data.get("classes") or tuple(range(source_facts.num_classes))
    target_labels = program.data[data_expr.id].get("classes") or tuple(range(facts.num_classes))
    head = "source" if tuple(source_labels) == tuple(target_labels) else "new"
    if head == "new" and type(layers[-1]).__name__ != "Linear":
        raise _problem("E404", f"the labels of `{data_expr.id}` differ from the source's, and the head of "
                       f"`{lf.target.model_name}` is not a Linear layer that a new head can replace", data_expr.span)
    adapter = _adapter(args.get("along"), analysis.span)
    if adapter.at == "features" and tuple(facts.input_shape) != tuple(lf.target.input_shape):
        raise _problem("E404", f"an adapter at the features cannot map inputs of shape {facts.input_shape} "
                       f"(`{data_expr.id}`) to the {tuple(lf.target.input_shape)} `{lf.target.model_name}` reads",
                       args["along"].span, "put it at the input: `adapter(…, at = input)`")
    opt = _optimizer(args.get("train"), analysis.span)
    limits = limits_of(module)
    if opt.epochs > limits.epochs:
        raise _problem("E401", f"`{analysis.name}` asks for {opt.epochs} epochs, over the limit of {limits.epochs}",
                       (args.get("train") or analysis).span, "raise it with --max-epochs")
    baselines = _baselines(args.get("baselines"))
    if tuple(facts.input_shape) != tuple(lf.target.input_shape):  # φ_S cannot read the target's inputs
        baselines = tuple(b for b in baselines if b == "scratch")
    probe = _probe(args.get("probe"), facts.test_size)
    return TransferSpec(analysis.name, subject.name, subject.part, data_expr.id, program.data[data_expr.id],
                        tuple(facts.input_shape), facts.num_classes, adapter, opt, baselines, head, width, probe)


def _adapter(e, span) -> AdapterSpec:
    from backends.torch.program import literal

    if e is None:
        return AdapterSpec()
    if isinstance(e, A.Name) and e.id == "adapter":
        return AdapterSpec()
    if not (isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id == "adapter") or e.positional:
        raise _problem("E404", f"`along` is a domain map `adapter(kind = …, rank = …, at = …)`, not `{text_of(e)}`",
                       e.span, f"adapter kinds: {', '.join(ADAPTER_KINDS)}; at: {', '.join(ADAPTER_PLACES)}")
    given = e.keywords
    for key, value in given.items():
        if key not in ("kind", "rank", "at"):
            raise _problem("E404", f"`adapter` has no option `{key}`", value.span, "its options are kind, rank, at")
    kind = literal(given["kind"], "kind") if "kind" in given else ("lowrank" if "rank" in given else "linear")
    if kind not in ADAPTER_KINDS:
        raise _problem("E404", f"unknown adapter kind `{kind}`", given["kind"].span,
                       f"adapter kinds: {', '.join(ADAPTER_KINDS)}")
    at = literal(given["at"], "at") if "at" in given else "input"
    if at not in ADAPTER_PLACES:
        raise _problem("E404", f"an adapter sits at the `input` or at the `features`, not at `{at}`", given["at"].span)
    rank = literal(given["rank"], "rank") if "rank" in given else DEFAULT_RANK.get(kind, 0)
    if kind == "linear" and "rank" in given:
        raise _problem("E404", "a linear adapter is a full matrix: it takes no rank", given["rank"].span,
                       "write `adapter(kind = lowrank, rank = 4)` for a rank-4 map")
    if kind != "linear" and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        raise _problem("E404", f"rank must be a positive integer, not `{text_of(given['rank'])}`", given["rank"].span)
    return AdapterSpec(kind, rank if kind != "linear" else 0, at)


def _optimizer(e, span):
    from backends.torch.optimizers import hint
    from backends.torch.program import _call, _known_keywords
    from backends.torch.segment import OptimizerSpec

    if e is None:
        from catdsl.syntax.parse import parse

        e = parse(f"data x = {DEFAULT_TRAIN}").statements[0].value
    name, args, kwargs, _ = _call(e)
    if args:
        raise _problem("E404", f"`{name}` takes keyword arguments only", e.span)
    for key in ("batch", "epochs", "seed"):
        if isinstance(kwargs.get(key), float) and float(kwargs[key]).is_integer():
            kwargs[key] = int(kwargs[key])
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    _known_keywords(name, e)
    try:
        return OptimizerSpec.of(name, **kwargs)
    except (TypeError, ValueError) as err:
        raise _problem("E404", f"`train = {text_of(e)}`: {err}", e.span, hint())


def _baselines(e) -> tuple[str, ...]:
    if e is None:
        return BASELINES
    items = e.items if isinstance(e, A.ListExpr) else (e,)
    names = []
    for item in items:
        if not isinstance(item, A.Name) or item.id not in BASELINES:
            raise _problem("E404", f"`{text_of(item)}` is not a baseline", item.span,
                           f"baselines: {', '.join(BASELINES)} (all by default; `baselines = []` for none)")
        names.append(item.id)
    return tuple(dict.fromkeys(names))


def _probe(e, available: int) -> int:
    from backends.torch.program import literal

    if e is None:
        return min(UNIVERSAL_PROBE, available)
    size = literal(e, "probe")
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= available:
        raise _problem("E404", f"probe must be an integer from 16 to {available} (the target's test split), "
                       f"not `{text_of(e)}`", e.span)
    return size


def validate(module, analysis, read=None) -> list[Diagnostic]:
    """Static problems of a transfer statement (`read` parses it: `read_transfer` by default, the
    merge reader for `fedavg`/`multitask`); [] when the program itself has errors (reported by
    Param's own validation)."""
    from backends.torch.program import ProgramError, read_program
    from backends.torch.session import data_dir

    try:
        program = read_program(module, cache_dir=data_dir(module))
    except ProgramError:  # Param's validation reports the program's own errors
        return []
    try:
        (read or read_transfer)(module, program, analysis)
    except ProgramError as e:
        return list(e.diagnostics)
    return []


# ---- jobs ----------------------------------------------------------------------------------------


def source_job(plan, program, spec: TransferSpec) -> Job:
    """The job whose state is Run(f): an object's state, or the end of a generator's trajectory."""
    from backends.torch.plan import generator_job, path_job
    from backends.torch.program import object_paths

    lf = program.functors[spec.functor]
    if spec.part in lf.segments:
        return generator_job(plan, lf, spec.part)
    return path_job(plan, lf, object_paths(lf)[spec.part])


def transfer_job(source: Job, lf, spec: TransferSpec, method: str) -> Job:
    from backends.torch.models import spec_json

    body = {"method": method, "source": source.key, "model": json.loads(spec_json(lf.target.model)),
            "source_input": list(lf.target.input_shape), "width": spec.width,
            "target": json.loads(spec.target.to_json()), "optimizer": json.loads(spec.optimizer.to_json()),
            "head": "new" if method == "linear_probe" else spec.head, "loss": lf.target.loss,
            "code": CODE_VERSION}
    if method == "pullback":
        body["adapter"] = spec.adapter.to_obj()
    label = f"{spec.name}.{method}({spec.functor}.{spec.part} → {spec.target_name})"
    return Job.of("transfer", body, label, (source.key,), (spec.name, method))


def add_jobs(plan, program, spec: TransferSpec) -> dict[str, str]:
    """The pullback and each baseline as jobs of the plan; method -> job key (`plan.index[T]`)."""
    source = source_job(plan, program, spec)
    lf = program.functors[spec.functor]
    keys = {}
    for method in ("pullback", *spec.baselines):
        keys[method] = plan.add(transfer_job(source, lf, spec, method))
    plan.index[spec.name] = keys
    return keys


def _digest(tensors) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"|{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(-1).numpy().tobytes())
    return h.hexdigest()


def learner(results: Results, spec: dict, trained: dict | None = None):
    """The Composite of a transfer job's spec, with its trained tensors when given; and the target data."""
    from backends.torch.adapters import composite
    from backends.torch.models import spec_from_json

    model_spec = spec_from_json(json.dumps(spec["model"]))
    data = results.data_of(spec["target"])
    source = None
    if spec["method"] != "scratch":
        state = results.state(spec["source"])
        source = {**state.params, **state.buffers}
    model = composite(spec, model_spec, source, data.input_shape, data.num_classes)
    if trained:
        import torch

        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in trained:
                    p.copy_(trained[name])
    return model, data


def _compute(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Each job's result, returned for the executor to store (reads the store only, so it runs
    on any executor's workers); a failure carries the results made before it (`partial`)."""
    results = Results(ctx)
    return each_job(jobs, lambda job: timed_result(job, lambda: _transfer(job, results, ctx.device)))


def timed_result(job: Job, make: Callable[[], tuple[dict, dict]]) -> JobResult:
    """The JobResult of `make()`'s (metrics, tensors), with their digest and the seconds it took."""
    start = time.perf_counter()
    metrics, tensors = make()
    return JobResult.of(job, tensors, metrics, _digest(tensors), seconds=time.perf_counter() - start)


def _transfer(job: Job, results: Results, device) -> tuple[dict, dict]:
    """Train one transfer method's learner on the target data and measure it: (metrics, tensors)."""
    from backends.torch.adapters import accuracy, counts, fit
    from backends.torch.segment import OptimizerSpec

    model, data = learner(results, job.spec)
    # the learner and the data on the job's device, once: nothing moves between them while training
    model, data = model.to(device), data.to(device)
    loss = job.spec["loss"]
    metrics: dict[str, Any] = {}
    if job.spec["method"] == "pullback" and job.spec["head"] == "source" and \
            tuple(data.input_shape) == tuple(job.spec["source_input"]):
        # the source model alone on the target: what the pullback has to recover from
        source_model, _ = learner(results, {**job.spec, "method": "fine_tune"})
        metrics["source_alone"] = accuracy(source_model.to(device), data.x_test, data.y_test, loss)[1]
    losses, seconds = fit(model, data, OptimizerSpec.from_json(job.spec["optimizer"]), loss)
    trainable, total = counts(model)
    test_loss, test_acc = accuracy(model, data.x_test, data.y_test, loss)
    _, train_acc = accuracy(model, data.x_train, data.y_train, loss)
    metrics.update({"accuracy": test_acc, "loss": test_loss, "train_accuracy": train_acc,
                    "seconds": seconds, "trainable": trainable, "parameters": total,
                    "trainable_fraction": trainable / total if total else 0.0,
                    "final_train_loss": losses[-1] if losses else None, "steps": len(losses)})
    metrics = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    tensors = {n: p.detach().cpu().contiguous().clone() for n, p in model.named_parameters() if p.requires_grad}
    return metrics, tensors


def _work(jobs: Sequence[Job], ctx: JobContext) -> float:
    from backends.torch.jobs import step_work

    spec = jobs[0].spec
    return step_work(spec["model"], tuple(spec["source_input"]), spec["optimizer"]["batch"], len(jobs))


TRANSFER = JobKind("transfer", compute=_compute, work=_work)


# ---- the universal property ------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferUniversal(FunctorLaw):
    """`T.universal`: the pullback φ_T = φ_S ∘ f is universal among the compatible cones on the
    probe set — every representation of the target that agrees with the source through f factors
    through φ_T by a mediating map that exists (residual ≤ tol) and is unique (two fits agree
    within tol). `functor` is the source's functor into Param, whose table decides it."""

    transfer: str
    kind = "transfer.universal"
    template = "{transfer}.universal"

    @property
    def owner(self) -> str:
        return self.transfer


def laws(module, analysis) -> list:
    subject = analysis.subject
    if analysis.name is None or subject.kind != "part":
        return []
    return [TransferUniversal(subject.name, analysis.name, span=analysis.span)]


def universal_of(session, analysis_name: str, samples: int = 8, seed: int = 0):
    """Run the pullback (through the store) and measure its universal property on the probe."""
    import torch

    from backends.torch.adapters import universal_property

    key = session.plan.index[analysis_name]["pullback"]
    session.executor.run(session.plan, [key], progress=False)
    job = session.store.get(key)
    model, data = learner(session.results, job.spec, session.store.tensors(key))
    analysis = next(a for a in session.program.module.analyses if a.name == analysis_name)
    spec = read_transfer(session.program.module, session.program, analysis)
    with torch.no_grad():
        probe = model.features(data.x_test[: spec.probe])
        elsewhere = model.features(torch.cat([data.x_test[spec.probe:], data.x_train[:ELSEWHERE]]))
    return universal_property(probe, elsewhere, samples=samples, seed=seed)


def verdict(u, tol: float) -> Verdict:
    what = (f"{u.cones} random cones on {u.probe} probe points (width {u.width}): mediating residual "
            f"{u.residual:.3g}; φ_T off the probe outside what the probe determines {u.uniqueness:.3g}; "
            f"a representation that is not a cone leaves {u.control:.3g}")
    worst = max(u.residual, u.uniqueness)
    if worst <= tol and u.control > tol:
        return Verdict("passed", "torch", witness=what, samples=u.cones, difference=worst)
    if u.control <= tol:
        return Verdict("error", "torch", witness=f"{what}: the check cannot tell cones from non-cones at tol {tol:g}")
    return Verdict("failed", "torch", witness=f"{what} > tol {tol:g}", samples=u.cones, difference=worst)


def decide_universal(law: TransferUniversal, ctx) -> Verdict:
    from backends.torch.results import TrainingDiverged
    from backends.torch.session import Session

    if type(law) is not TransferUniversal:  # the laws of fedavg and multitask (`merge.py`) decide themselves
        try:
            return law.decide(ctx)
        except TrainingDiverged as e:
            return Verdict("error", "torch", witness=str(e))
    s = Session.of(ctx.module, ctx.options.store)
    tol = float(ctx.options.get("tol", UNIVERSAL_TOL))
    try:
        u = universal_of(s, law.transfer, samples=min(int(ctx.options.samples), 64), seed=int(ctx.options.seed))
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    return verdict(u, tol)
