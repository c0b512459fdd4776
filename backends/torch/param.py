"""`Param(model, data, loss = …)` as a semantic category the checker can use (paper Def 2.1).

Objects are training states, morphisms trajectories; composition is resumed training. An
equation between composites of training segments is discharged by running both sides (through
the run store, so nothing is trained twice) and comparing the final states: bitwise equality
is `proved`, agreement within the tolerance `passed`, anything else `refuted` with the
largest difference.

A sweep over a generator of a functor into Param adds the law `S.ensemble`: its members,
trained together as one batched ensemble, equal the same runs trained one at a time (the first
and the last member are compared) within `tol` (default 1e-5; `check S with tol = …`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from backends.torch.session import Session, data_dir
from backends.torch.transfer import TransferUniversal, decide_universal
from catdsl.laws.category import MapComp, MapId, Respects
from catdsl.laws.two_category import Boundary
from catdsl.laws.law import COMMON_OPTIONS, FunctorLaw
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free

# The tolerance of `S.ensemble` unless a check statement sets one: batched kernels sum in
# another order than single runs, so members agree with them up to float rounding only.
ENSEMBLE_TOL = 1e-5


# ---- the theory of Param beyond a category's: one state per object; sweeps -------------------


@dataclass(frozen=True)
class UniqueState(FunctorLaw):
    """An object reached by several generators gets one training state from all of them."""

    obj: str
    generators: tuple[str, ...]
    kind = "unique_state"
    template = "{functor}.unique_state[{obj}]"


@dataclass(frozen=True)
class SweepEnsemble(FunctorLaw):
    """The members of sweep `sweep` over a generator of `functor`, trained as one batched
    ensemble, equal the same runs trained one at a time within `tol` (default ENSEMBLE_TOL)."""

    sweep: str
    kind = "sweep.ensemble"
    template = "{sweep}.ensemble"

    @property
    def owner(self) -> str:
        return self.sweep


# The options of a 2-cell's image `homotopy(…)` in Param and their defaults (docs/language.md §8.13).
TWO_CELL_PATHS = ("linear", "bezier")
TWO_CELL_DEFAULTS = {"path": "linear", "points": 5, "epochs": 5}


@dataclass(frozen=True)
class TwoCellLowLoss(FunctorLaw):
    """α : f => g sent to `homotopy(path = linear | bezier, points = K)`: on the deformation
    between the trajectories F(f) and F(g), matched by normalized time (checkpoints per epoch,
    linear in between), and on the connector of their end states, the training loss stays <= the
    level (`Param(…, level = τ)` or `check … with level = τ`). K × K points; the worst is the
    witness. With `path = bezier` the connector at the end is the quadratic Bezier curve whose
    control point is trained for `epochs` (the `barrier` job of `classes … path = bezier`), and
    the deformation bends into it as time goes on (`_deformation`). A composite `vertical` law
    checks α ; β : f => h directly (transitivity)."""

    cell: str
    f: tuple[str, ...]
    g: tuple[str, ...]
    points: int = 5
    path: str = "linear"
    epochs: int = 5
    dom: str = ""  # the common domain of f and g (either word may be empty: an identity)
    kind = "param.low_loss"
    template = "{functor}.low_loss[{cell}]"
    options = (*COMMON_OPTIONS, "level")
    own_options = ("level",)  # `check Run.low_loss with level = τ` (not `check Run with …`)

    @classmethod
    def check_option(cls, option: str, value: object) -> str | None:
        if option == "level" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            return f"a 2-cell's `level` is a training loss above zero, not {value!r}"
        return None


class BadTwoCell(Exception):
    """A 2-cell image that is not `homotopy(path = linear | bezier, points = K ≥ 2, epochs = E ≥ 1)`."""

    def __init__(self, message: str, node, *hints: str):
        super().__init__(message)
        self.message, self.node, self.hints = message, node, hints


IMAGE_HINT = "write `alpha |-> homotopy(path = linear, points = 5)` (path: linear or bezier; points ≥ 2)"


def two_cell_image(expr) -> dict:
    """{path, points, epochs} of a 2-cell's image `homotopy(…)` in Param; BadTwoCell otherwise."""
    from catdsl.syntax import ast as A
    from catdsl.syntax.printer import expr as text

    if not (isinstance(expr, A.Call) and isinstance(expr.func, A.Name) and expr.func.id == "homotopy"):
        raise BadTwoCell(f"a 2-cell in Param is sent to `homotopy(…)`, not `{text(expr)}`", expr, IMAGE_HINT)
    if expr.positional:
        raise BadTwoCell("`homotopy` takes named options only", expr.positional[0], IMAGE_HINT)
    got = dict(TWO_CELL_DEFAULTS)
    for kw in expr.args:
        value = kw.value
        if kw.name == "path":
            if not (isinstance(value, A.Name) and value.id in TWO_CELL_PATHS):
                raise BadTwoCell(f"`path` must be linear or bezier, not `{text(value)}`", value,
                                 "linear: the straight segment between the runs at each time; bezier: a "
                                 "trained quadratic Bezier connector of their end states")
            got["path"] = value.id
        elif kw.name in ("points", "epochs"):
            least = 2 if kw.name == "points" else 1
            if not (isinstance(value, A.Number) and value.text.isdigit() and int(value.text) >= least):
                raise BadTwoCell(f"`{kw.name}` must be an integer of at least {least}, not `{text(value)}`", value,
                                 "K points a side: K ≥ 2 takes both ends" if kw.name == "points" else
                                 "the epochs the Bezier connector's control point is trained for (default 5)")
            got[kw.name] = int(value.text)
        else:
            raise BadTwoCell(f"`homotopy` has no option `{kw.name}` in Param", kw,
                             f"its options are {', '.join(TWO_CELL_DEFAULTS)}")
    if "epochs" in expr.keywords and got["path"] != "bezier":
        raise BadTwoCell("`epochs` trains a Bezier connector; this path is linear", expr.keywords["epochs"],
                         "add `path = bezier`, or drop `epochs`")
    return got


def _into_param(module):
    from catdsl.backend import SemanticRef

    return [F for F in module.functors.values() if isinstance(F.target, SemanticRef) and F.target.name == "Param"]


def two_cell_diagnostics(module) -> list:
    """E404 at each 2-cell image of a functor into Param that is not a `homotopy(…)` it can check."""
    from catdsl.diagnostics import Diagnostic

    found = []
    for F in _into_param(module):
        for name, img in F.cells.items():
            try:
                two_cell_image(img.expr)
            except BadTwoCell as e:
                found.append(Diagnostic("E404", f"2-cell `{name}` of `{F.name}`: {e.message}",
                                        getattr(e.node, "span", None) or img.span, hints=e.hints))
    return found


def _two_cell_laws(module, functor) -> list:
    p = module.presentations[functor.source]
    laws, given = [], {}
    for c in p.cells:
        img = functor.cells.get(c.name)
        if img is None:
            continue  # unmapped: E207 at elaboration
        try:
            o = two_cell_image(img.expr)
        except BadTwoCell:
            continue  # E404 from `validate` (two_cell_diagnostics) before any law is decided
        given[(c.source.word, c.target.word)] = (c.name, o)
        laws.append(TwoCellLowLoss(functor.name, c.name, c.source.word, c.target.word, o["points"], o["path"],
                                   o["epochs"], c.source.dom, span=img.span))
    # vertical composition as transitivity: α : f => g and β : g => h give α ; β : f => h, checked
    # directly with the finer grid, and a Bezier connector when either cell has one
    for (f, g), (a, o) in list(given.items()):
        for (g2, h), (b, o2) in list(given.items()):
            if g2 == g and h != f and (f, h) not in given:
                path = "bezier" if "bezier" in (o["path"], o2["path"]) else "linear"
                laws.append(TwoCellLowLoss(functor.name, f"{a} ; {b}", f, h, max(o["points"], o2["points"]), path,
                                           max(o["epochs"], o2["epochs"]), p.cell[a].source.dom,
                                           span=functor.cells[b].span))
    return laws


class Param:
    """The registered factory; the checker calls its class-level hooks."""

    computes_objects = True  # only source objects take a value; the rest are trained into

    @staticmethod
    def validate(module) -> list:
        """Static problems of the learning declarations (E4xx), before anything trains."""
        from backends.torch.program import ProgramError, read_program

        found = two_cell_diagnostics(module)
        try:
            read_program(module, cache_dir=data_dir(module))
        except ProgramError as e:
            return list(e.diagnostics) + found
        return found

    @staticmethod
    def laws(module, functor) -> list[FunctorLaw]:
        """Extra laws: an object reached by two generators must get one state; a sweep over one
        of the functor's generators trains as an ensemble that agrees with single runs."""
        p = module.presentations[functor.source]
        laws: list[FunctorLaw] = []
        for obj in p.objects:
            into = [g for g in p.generators if g.cod == obj]
            if len(into) > 1:
                img = functor.arrows.get(into[1].name)
                laws.append(UniqueState(functor.name, obj, tuple(g.name for g in into),
                                        span=img.span if img else functor.span))
        laws += [SweepEnsemble(functor.name, sweep.name, span=sweep.span)
                 for sweep in module.sweeps.values() if sweep.functor == functor.name]
        laws += _two_cell_laws(module, functor)
        return laws


def _by_definition(law, ctx) -> Verdict:
    # identity = zero steps and composition = concatenation, by construction of Param
    return Verdict("proved", "definition")


def _respects(law: Respects, ctx) -> Verdict:
    from backends.torch.plan import path_job

    eq = law.equation
    if not isinstance(eq.lhs, free.Path):
        return Verdict("unknown", "torch", witness="2-cell equations in Param wait for the homotopy issue")
    s = Session.of(ctx.module, ctx.options.store)
    lf = s.program.functors[law.functor]
    return _same_states(s, [path_job(s.plan, lf, eq.lhs), path_job(s.plan, lf, eq.rhs)], ctx.options.tol)


def _unique_state(law: UniqueState, ctx) -> Verdict:
    from backends.torch.plan import path_job, train_job

    s = Session.of(ctx.module, ctx.options.store)
    lf = s.program.functors[law.functor]
    start = {g.name: g.dom for g in lf.presentation.generators}
    sides = [train_job(lf, g, path_job(s.plan, lf, free.identity(start[g])))
             for g in law.generators if g in lf.segments]
    for j in sides:
        s.plan.add(j)
    return _same_states(s, sides, ctx.options.tol)


def _same_states(s, sides, tol: float) -> Verdict:
    """Train both sides (through the store) and compare their final states."""
    from backends.torch.results import TrainingDiverged
    from backends.torch.train import states_equal

    try:
        s.executor.run(s.plan, [j.key for j in sides], progress=False)
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    first = s.results.state(sides[0].key)
    worst, bitwise = 0.0, True
    for other in sides[1:]:
        same, diff = states_equal(first, s.results.state(other.key))
        bitwise &= same
        worst = max(worst, diff)
    if bitwise:
        return Verdict("proved", "torch (bitwise)", difference=0.0)
    if worst <= tol:
        return Verdict("passed", "torch", samples=1, difference=worst,
                       witness=f"largest difference {worst:.3g} <= tol {tol:g}")
    return Verdict("refuted", "torch", difference=worst,
                   witness=f"final states differ: largest difference {worst:.6g}")


def _sweep_ensemble(law: SweepEnsemble, ctx) -> Verdict:
    s = Session.of(ctx.module, ctx.options.store)
    return _ensemble_law(s, law, float(ctx.options.get("tol", ENSEMBLE_TOL)))


def _ensemble_law(s: Session, law: SweepEnsemble, tol: float) -> Verdict:
    """The sweep's members as one ensemble vs the first and last member trained alone."""
    from backends.torch.plan import member_job
    from backends.torch.results import TrainingDiverged
    from backends.torch.train import states_equal

    sweep = s.program.sweeps[law.sweep]
    together = list(s.plan.index[sweep.name].values())
    picked = sorted({0, len(sweep.members) - 1})
    alone = [member_job(s.plan, s.program, sweep, sweep.members[i], ensemble=False) for i in picked]
    try:
        s.executor.run(s.plan, together + [j.key for j in alone], progress=False)
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    worst, bitwise, where = 0.0, True, ""
    for i, single in zip(picked, alone):
        same, diff = states_equal(s.results.state(together[i]), s.results.state(single.key))
        bitwise &= same
        if diff >= worst:
            worst, where = diff, sweep.members[i].label
    n = len(sweep.members)
    what = f"{n} member{'s' if n != 1 else ''} as one ensemble; {len(picked)} compared with single runs"
    if bitwise:
        return Verdict("proved", "torch (bitwise)", difference=0.0, samples=len(picked), witness=what)
    if worst <= tol:
        return Verdict("passed", "torch", samples=len(picked), difference=worst,
                       witness=f"{what}: largest difference {worst:.3g} ({where}) <= tol {tol:g}")
    return Verdict("refuted", "torch", difference=worst, samples=len(picked),
                   witness=f"{what}: member {where} differs by {worst:.6g} > tol {tol:g}")


def _boundary(law, ctx) -> Verdict:
    # `homotopy(…)` is built from F(f) and F(g) themselves, from the one state of their domain,
    # and closes at their end states with the connector (whose loss `low_loss` checks)
    return Verdict("proved", "definition")


def _trajectory(s: Session, lf, word: tuple[str, ...], dom: str) -> tuple[list, object]:
    """The per-epoch checkpoints of F(word) from the computed state of `dom`, and the job of its
    end state (an empty word: the state of `dom` alone)."""
    from backends.torch.plan import checkpoints_job, path_job, train_job

    job = path_job(s.plan, lf, free.identity(dom))
    if not word:
        s.executor.run(s.plan, [job.key], progress=False)
        return [s.results.state(job.key)], job
    points = []
    for g in word:
        job = train_job(lf, g, job)
        s.plan.add(job)
        ck = checkpoints_job(s.plan, job)
        s.executor.run(s.plan, [ck.key], progress=False)
        here = s.results.checkpoints(ck.key)
        points += here if not points else here[1:]
    return points, job


def _at(points: list, t: float) -> dict:
    """The parameters at normalized time t ∈ [0, 1], linear between checkpoints."""
    if len(points) == 1:
        return dict(points[0].params)
    x = t * (len(points) - 1)
    i = min(int(x), len(points) - 2)
    w = x - i
    a, b = points[i].params, points[i + 1].params
    return {k: a[k] + w * (b[k] - a[k]) for k in a}


def _deformation(a: dict, b: dict, t: float, u: float, bend: dict | None) -> dict:
    """H(t, u) = (1 − u) a + u b + t · 2u(1 − u) · bend, bend = c − (a₁ + b₁)/2 for the Bezier
    control point c of the end states a₁, b₁ (None: the straight segment). At t = 1 this is the
    quadratic Bezier curve (1 − u)² a₁ + 2u(1 − u) c + u² b₁ exactly; at t = 0 (one initial
    state, a = b) the constant path; its sides u = 0, 1 are the two trajectories."""
    theta = {k: a[k] + u * (b[k] - a[k]) for k in a}
    if bend is not None and t > 0 and 0 < u < 1:
        theta = {k: v + (t * 2 * u * (1 - u)) * bend[k] for k, v in theta.items()}
    return theta


def _bezier_bend(s: Session, lf, a_job, b_job, law: TwoCellLowLoss, ends: tuple[dict, dict]) -> dict:
    """c − (a₁ + b₁)/2 for the trained control point c of the Bezier connector of the end states:
    the `barrier` job `classes … path = bezier` makes (stored, so trained once)."""
    from backends.torch.barrier import PathSpec, barrier_job

    spec = PathSpec(path="bezier", points=law.points, metric="loss", split="train", epochs=law.epochs)
    on = {"model": _model_spec(lf), "data": json.loads(lf.target.data.to_json()), "loss": lf.target.loss}
    job = barrier_job(a_job, b_job, spec, f"Bezier connector of {law.functor}.{law.cell}", on=on)
    s.plan.add(job)
    s.executor.run(s.plan, [job.key], progress=False)
    prefix = "control/"
    control = {k[len(prefix):]: v for k, v in s.store.tensors(job.key).items() if k.startswith(prefix)}
    a1, b1 = ends
    return {k: control[k].to(a1[k].device) - (a1[k] + b1[k]) / 2 for k in a1}


def _model_spec(lf) -> dict:
    from backends.torch.jobs import _model_json

    return _model_json(lf)


def _two_cell_low_loss(law: TwoCellLowLoss, ctx) -> Verdict:
    """The training loss on K × K points of the deformation (t: normalized time, s: from F(f) to F(g))."""
    import torch
    from torch.func import functional_call

    from backends.run.execute import device_for
    from backends.torch.results import TrainingDiverged
    from backends.torch.train import loss_function, template

    s = Session.of(ctx.module, ctx.options.store)
    lf = s.program.functors[law.functor]
    level = ctx.options.get("level", lf.target.level)
    if level is None:
        return Verdict("unknown", "torch", witness="a 2-cell in Param needs a level: `Param(…, level = τ)` "
                                                    "or `check … with level = τ`")
    dom = law.dom or lf.presentation.generator[(law.f or law.g)[0]].dom
    try:
        (pf, f_job), (pg, g_job) = _trajectory(s, lf, law.f, dom), _trajectory(s, lf, law.g, dom)
        device = torch.device(device_for(s.executor.context.device))
        pf, pg = [p.to(device) for p in pf], [p.to(device) for p in pg]
        bend = (_bezier_bend(s, lf, f_job, g_job, law, (dict(pf[-1].params), dict(pg[-1].params)))
                if law.path == "bezier" else None)
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    model, data = s.results.model_and_data({"model": _model_spec(lf), "data": json.loads(lf.target.data.to_json())})
    module, loss_fn = template(model).eval(), loss_function(lf.target.loss)
    x, y = data.x_train.to(device), data.y_train.to(device)
    buffers = dict(pf[-1].buffers)
    grid = [i / (law.points - 1) for i in range(law.points)]
    where, values = [], []
    with torch.no_grad():
        for t in grid:
            a, b = _at(pf, t), _at(pg, t)
            for u in grid:
                theta = _deformation(a, b, t, u, bend)
                values.append(loss_fn(functional_call(module, (theta, buffers), (x,)), y))
                where.append((t, u))
    found = torch.stack(values).double().cpu()  # one copy to the host, after every point
    i = int(found.argmax())
    worst, (t, u) = float(found[i]), where[i]
    connector = "the Bezier connector" if law.path == "bezier" else "the straight connector"
    what = (f"worst training loss {worst:.4g} at time {t:.2f}, {u:.2f} of the way from "
            f"{'.'.join(law.f) or 'id'} to {'.'.join(law.g) or 'id'} ({law.points}×{law.points} points, "
            f"{connector} at the end)")
    if worst <= level:
        return Verdict("passed", "torch", samples=law.points ** 2, witness=f"{what} <= level {level:g}")
    return Verdict("refuted", "torch", samples=law.points ** 2, witness=f"{what} > level {level:g}")


# Training runs are deterministic: `samples` and `seed` are accepted (they are options of every
# law) and change nothing here.
Param.discharges = {
    MapId: _by_definition,
    MapComp: _by_definition,
    Respects: _respects,
    UniqueState: _unique_state,
    SweepEnsemble: _sweep_ensemble,
    TransferUniversal: decide_universal,  # a transfer's law, decided in its source's Param
    Boundary: _boundary,
    TwoCellLowLoss: _two_cell_low_loss,
}
