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

from typing import Any

from catdsl.laws.catalogue import Law
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free

# The tolerance of `S.ensemble` unless a check statement sets one: batched kernels sum in
# another order than single runs, so members agree with them up to float rounding only.
ENSEMBLE_TOL = 1e-5


def store_dir(module, given: str | None):
    """The run store of a module: `--store DIR`, else `.catdsl/` beside the file."""
    from pathlib import Path

    from backends.run.store import DEFAULT_DIR

    return Path(given) if given else Path(module.file).resolve().parent / DEFAULT_DIR


class _Session:
    """The program, plan, store and executor of one module, made once per process."""

    def __init__(self, module, given: str | None):
        from backends.run.execute import Executor
        from backends.run.plan import compile_program
        from backends.run.store import Store
        from backends.torch.program import read_program

        where = store_dir(module, given)
        self.program = read_program(module, cache_dir=where / "data")
        self.plan = compile_program(self.program)
        self.store = Store.open(where)
        self.executor = Executor(self.program, self.store)

    @classmethod
    def of(cls, module, store_dir=None) -> "_Session":
        key = ("param-session", store_dir)
        if key not in module.memo:
            module.memo[key] = cls(module, store_dir)
        return module.memo[key]


def check_options(module, law_name: str, allowed: tuple[str, ...], within: str = "") -> dict[str, Any]:
    """The options of the `check … with …` statements whose targets select `law_name` (the law
    itself, or a prefix of its name ending at `.` or `[`) and start with `within`; later
    statements win."""
    from backends.torch.program import _Problem, literal
    from catdsl.backend import BackendError
    from catdsl.syntax.printer import expr as text_of

    found: dict[str, Any] = {}
    for chk in module.checks:
        names = [text_of(t) for t in chk.targets]
        if not any((law_name == n or law_name.startswith((n + ".", n + "["))) and n.startswith(within)
                   for n in names):
            continue
        for kw in chk.options:
            if kw.name not in allowed:
                raise BackendError("E313", f"`{kw.name}` is not an option of `{law_name}`", kw.span,
                                   (f"its options are {', '.join(allowed)}",))
            try:
                found[kw.name] = literal(kw.value, f"`{kw.name}`")
            except _Problem as p:
                raise BackendError("E313", p.diagnostic.message, kw.span) from None
    return found


# `samples` and `seed` are accepted for every law (they are generic options of `check … with`)
# and change nothing here: training runs are deterministic and decided on one run.
OPTIONS = ("tol", "samples", "seed")


def tolerance(module, law: Law, default: float, allowed: tuple[str, ...] = OPTIONS) -> float:
    """The `tol` a check statement sets for `law`, else `default`."""
    from catdsl.backend import BackendError

    tol = check_options(module, law.name, allowed).get("tol", default)
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or tol < 0:
        raise BackendError("E313", f"tol must be a non-negative number, not {tol!r}", law.span)
    return float(tol)


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
    def laws(module, functor) -> list[Law]:
        """Extra laws: an object reached by two generators must get one state; a sweep over one
        of the functor's generators trains as an ensemble that agrees with single runs."""
        p = module.presentations[functor.source]
        laws = []
        for obj in p.objects:
            into = [g for g in p.generators if g.cod == obj]
            if len(into) > 1:
                img = functor.arrows.get(into[1].name)
                laws.append(Law(f"{functor.name}.unique_state[{obj}]", "unique_state",
                                img.span if img else functor.span, obj, tuple(g.name for g in into),
                                {"functor": functor.name, "module": module}))
        for decl in module.declarations:
            base = getattr(decl.statement, "base", None)
            if decl.kind == "sweep" and getattr(base, "parts", ())[:1] == (functor.name,):
                laws.append(Law(f"{decl.name}.ensemble", "sweep.ensemble", decl.span, decl.name, None,
                                {"functor": functor.name, "module": module, "sweep": decl.name}))
        return laws

    @staticmethod
    def discharge(law: Law, ref, options) -> Verdict:
        from backends.run.execute import TrainingDiverged
        from backends.torch.train import states_equal

        if law.kind in ("map_id", "map_comp"):
            # identity = zero steps and composition = concatenation, by construction of Param
            return Verdict("proved", "definition")
        module = law.context["module"]
        s = _Session.of(module, getattr(options, "store", None))
        lf = s.program.functors[law.context["functor"]]
        from backends.run.plan import path_job, train_job

        tol = options.tol
        if law.kind == "respects":
            if not isinstance(law.lhs, free.Path):
                return Verdict("unknown", "torch", witness="2-cell equations in Param wait for the homotopy issue")
            sides = [path_job(s.plan, lf, law.lhs), path_job(s.plan, lf, law.rhs)]
            tol = tolerance(module, law, tol)
        elif law.kind == "unique_state":
            start = {g.name: g.dom for g in lf.presentation.generators}
            sides = [train_job(lf, g, path_job(s.plan, lf, free.identity(start[g])))
                     for g in law.rhs if g in lf.segments]
            for j in sides:
                s.plan.add(j)
            tol = tolerance(module, law, tol)
        elif law.kind == "sweep.ensemble":
            return _ensemble_law(s, law, tolerance(module, law, ENSEMBLE_TOL))
        else:
            return Verdict("unknown", "torch", witness=f"{law.kind} is not decided in Param yet")
        try:
            s.executor.run(s.plan, [j.key for j in sides], progress=False)
        except TrainingDiverged as e:
            return Verdict("error", "torch", witness=str(e))
        first = s.executor.state(sides[0].key)
        worst, bitwise = 0.0, True
        for other in sides[1:]:
            same, diff = states_equal(first, s.executor.state(other.key))
            bitwise &= same
            worst = max(worst, diff)
        if bitwise:
            return Verdict("proved", "torch (bitwise)", difference=0.0)
        if worst <= tol:
            return Verdict("passed", "torch", samples=1, difference=worst,
                           witness=f"largest difference {worst:.3g} <= tol {tol:g}")
        return Verdict("refuted", "torch", difference=worst,
                       witness=f"final states differ: largest difference {worst:.6g}")


def _ensemble_law(s: _Session, law: Law, tol: float) -> Verdict:
    """The sweep's members as one ensemble vs the first and last member trained alone."""
    from backends.run.execute import TrainingDiverged
    from backends.run.plan import member_job
    from backends.torch.train import states_equal

    sweep = s.program.sweeps[law.context["sweep"]]
    together = s.plan.sweeps[sweep.name]
    picked = sorted({0, len(sweep.members) - 1})
    alone = [member_job(s.plan, s.program, sweep, sweep.members[i], ensemble=False) for i in picked]
    try:
        s.executor.run(s.plan, together + [j.key for j in alone], progress=False)
    except TrainingDiverged as e:
        return Verdict("error", "torch", witness=str(e))
    worst, bitwise, where = 0.0, True, ""
    for i, single in zip(picked, alone):
        same, diff = states_equal(s.executor.state(together[i]), s.executor.state(single.key))
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
