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


# Training runs are deterministic: `samples` and `seed` are accepted (they are options of every
# law) and change nothing here.
Param.discharges = {
    MapId: _by_definition,
    MapComp: _by_definition,
    Respects: _respects,
    UniqueState: _unique_state,
    SweepEnsemble: _sweep_ensemble,
    TransferUniversal: decide_universal,  # a transfer's law, decided in its source's Param
}
