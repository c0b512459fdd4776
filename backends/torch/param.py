"""`Param(model, data, loss = …)` as a semantic category the checker can use (paper Def 2.1).

Objects are training states, morphisms trajectories; composition is resumed training. An
equation between composites of training segments is discharged by running both sides (through
the run store, so nothing is trained twice) and comparing the final states: bitwise equality
is `proved`, agreement within the tolerance `passed`, anything else `refuted` with the
largest difference.
"""

from __future__ import annotations

from catdsl.laws.catalogue import Law
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free


class _Session:
    """The program, plan, store and executor of one module, made once per process."""

    def __init__(self, module, store_dir: str | None):
        from backends.run.execute import Executor
        from backends.run.plan import compile_program
        from backends.run.store import Store
        from backends.torch.program import read_program

        self.program = read_program(module)
        self.plan = compile_program(self.program)
        self.store = Store.open(store_dir) if store_dir else Store.beside(module.file)
        self.executor = Executor(self.program, self.store)

    @classmethod
    def of(cls, module, store_dir=None) -> "_Session":
        key = ("param-session", store_dir)
        if key not in module.memo:
            module.memo[key] = cls(module, store_dir)
        return module.memo[key]


class Param:
    """The registered factory; the checker calls its class-level hooks."""

    computes_objects = True  # only source objects take a value; the rest are trained into

    @staticmethod
    def validate(module) -> list:
        """Static problems of the learning declarations (E4xx), before anything trains."""
        from backends.torch.program import ProgramError, read_program

        try:
            read_program(module)
        except ProgramError as e:
            return list(e.diagnostics)
        return []

    @staticmethod
    def laws(module, functor) -> list[Law]:
        """Extra laws: an object reached by two generators must get one state."""
        p = module.presentations[functor.source]
        laws = []
        for obj in p.objects:
            into = [g for g in p.generators if g.cod == obj]
            if len(into) > 1:
                img = functor.arrows.get(into[1].name)
                laws.append(Law(f"{functor.name}.unique_state[{obj}]", "unique_state",
                                img.span if img else functor.span, obj, tuple(g.name for g in into),
                                {"functor": functor.name, "module": module}))
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

        if law.kind == "respects":
            if not isinstance(law.lhs, free.Path):
                return Verdict("unknown", "torch", witness="2-cell equations in Param wait for the homotopy issue")
            sides = [path_job(s.plan, lf, law.lhs), path_job(s.plan, lf, law.rhs)]
        elif law.kind == "unique_state":
            start = {g.name: g.dom for g in lf.presentation.generators}
            sides = [train_job(lf, g, path_job(s.plan, lf, free.identity(start[g])))
                     for g in law.rhs if g in lf.segments]
            for j in sides:
                s.plan.add(j)
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
        if worst <= options.tol:
            return Verdict("passed", "torch", samples=1, difference=worst,
                           witness=f"largest difference {worst:.3g} <= tol {options.tol:g}")
        return Verdict("refuted", "torch", difference=worst,
                       witness=f"final states differ: largest difference {worst:.6g}")
