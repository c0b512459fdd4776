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

from dataclasses import dataclass

from backends.torch.session import Session, store_dir
from backends.torch.transfer import TransferUniversal, decide_universal
from catdsl.laws.category import MapComp, MapId, Respects
from catdsl.laws.two_category import Boundary
from catdsl.laws.law import FunctorLaw
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


@dataclass(frozen=True)
class TwoCellLowLoss(FunctorLaw):
    """α : f => g sent to `homotopy(path = linear, points = K)`: on the deformation between the
    trajectories F(f) and F(g), matched by normalized time (checkpoints per epoch, linear in
    between), and on the connector of their end states, the training loss stays <= the level
    (`Param(…, level = τ)` or `check … with level = τ`). K × K points; the worst is the witness.
    A composite `vertical` law checks α ; β : f => h directly (transitivity)."""

    cell: str
    f: tuple[str, ...]
    g: tuple[str, ...]
    points: int = 5
    kind = "param.low_loss"
    template = "{functor}.low_loss[{cell}]"
    own_options = ("level",)


def _homotopy_points(expr) -> int | None:
    """K of a 2-cell image `homotopy(path = linear, points = K)`; None when it is not one."""
    from catdsl.syntax import ast as A

    if not (isinstance(expr, A.Call) and isinstance(expr.func, A.Name) and expr.func.id == "homotopy"):
        return None
    path, points = expr.keywords.get("path"), expr.keywords.get("points")
    if path is not None and not (isinstance(path, A.Name) and path.id == "linear"):
        return None
    if points is None:
        return 5
    if isinstance(points, A.Number) and points.text.isdigit() and int(points.text) >= 2:
        return int(points.text)
    return None


def _two_cell_laws(module, functor) -> list:
    p = module.presentations[functor.source]
    laws, given = [], {}
    for c in p.cells:
        img = functor.cells.get(c.name)
        k = _homotopy_points(img.expr) if img is not None else None
        if k is None:
            continue
        given[(c.source.word, c.target.word)] = (c.name, k)
        laws.append(TwoCellLowLoss(functor.name, c.name, c.source.word, c.target.word, k, span=img.span))
    # vertical composition as transitivity: α : f => g and β : g => h give α ; β : f => h
    for (f, g), (a, k) in list(given.items()):
        for (g2, h), (b, k2) in list(given.items()):
            if g2 == g and h != f and (f, h) not in given:
                laws.append(TwoCellLowLoss(functor.name, f"{a} ; {b}", f, h, max(k, k2),
                                           span=functor.cells[b].span))
    return laws


class Param:
    """The registered factory; the checker calls its class-level hooks."""

    computes_objects = True  # only source objects take a value; the rest are trained into

    @staticmethod
    def validate(module) -> list:
        """Static problems of the learning declarations (E4xx), before anything trains."""
        from backends.torch.program import ProgramError, read_program

        try:
            read_program(module, cache_dir=store_dir(module, module.memo.get("store")) / "data")
        except ProgramError as e:
            return list(e.diagnostics)
        return []

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


def _trajectory(s: Session, lf, word: tuple[str, ...], dom: str) -> list:
    """The per-epoch checkpoints of F(word) from the computed state of `dom`."""
    from backends.torch.plan import checkpoints_job, path_job, train_job

    job = path_job(s.plan, lf, free.identity(dom))
    points = []
    for g in word:
        job = train_job(lf, g, job)
        s.plan.add(job)
        ck = checkpoints_job(s.plan, job)
        s.executor.run(s.plan, [ck.key], progress=False)
        here = s.results.checkpoints(ck.key)
        points += here if not points else here[1:]
    return points


def _at(points: list, t: float) -> dict:
    """The parameters at normalized time t ∈ [0, 1], linear between checkpoints."""
    if len(points) == 1:
        return dict(points[0].params)
    x = t * (len(points) - 1)
    i = min(int(x), len(points) - 2)
    w = x - i
    a, b = points[i].params, points[i + 1].params
    return {k: a[k] + w * (b[k] - a[k]) for k in a}


def _two_cell_low_loss(law: TwoCellLowLoss, ctx) -> Verdict:
    """The training loss on K × K points of the deformation (t: normalized time, s: from F(f) to F(g))."""
    import torch
    from torch.func import functional_call

    from backends.torch.results import TrainingDiverged
    from backends.torch.train import loss_function, template

    s = Session.of(ctx.module, ctx.options.store)
    lf = s.program.functors[law.functor]
    level = ctx.options.get("level", lf.target.level)
    if level is None:
        return Verdict("unknown", "torch", witness="a 2-cell in Param needs a level: `Param(…, level = τ)` "
                                                    "or `check … with level = τ`")
    dom = lf.presentation.generator[law.f[0]].dom
    try:
        pf, pg = _trajectory(s, lf, law.f, dom), _trajectory(s, lf, law.g, dom)
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    import json

    from backends.torch.jobs import _model_json

    model, data = s.results.model_and_data({"model": _model_json(lf), "data": json.loads(lf.target.data.to_json())})
    module, loss_fn = template(model).eval(), loss_function(lf.target.loss)
    buffers = dict(pf[-1].buffers)
    worst, where = -float("inf"), None
    grid = [i / (law.points - 1) for i in range(law.points)]
    with torch.no_grad():
        for t in grid:
            a, b = _at(pf, t), _at(pg, t)
            for u in grid:
                theta = {k: a[k] + u * (b[k] - a[k]) for k in a}
                value = float(loss_fn(functional_call(module, (theta, buffers), (data.x_train,)), data.y_train))
                if value > worst:
                    worst, where = value, (t, u)
    what = (f"worst training loss {worst:.4g} at time {where[0]:.2f}, {where[1]:.2f} of the way from "
            f"{'.'.join(law.f)} to {'.'.join(law.g)} ({law.points}×{law.points} points)")
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
