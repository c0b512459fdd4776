"""Compile a learning program into a plan: every object state of every functor into Param, every
sweep member, the feature path of every generator under every Rep functor — each job once.

The plan's index (`Plan.index`) maps each declaration to the job keys of its parts: a functor
into Param its objects, a sweep its members (by index, in order), a Rep functor its generators.
"""

from __future__ import annotations

from backends.run.plan import CODE_VERSION, Job, Plan
from backends.torch.jobs import checkpoints_of, features_of, init_job, train_job
from backends.torch.program import object_paths, sweep_source
from catdsl import analysis
from catdsl.semantics import free

# The job kinds a plan names are found by name through the entry-point group
# `catdsl.job_kinds` (pyproject.toml), so this module imports none of their bodies.


def path_job(plan: Plan, lf, path: free.Path, start: Job | None = None) -> Job:
    """The job whose result is the state at the end of `path`, starting from the state of its
    domain (its computed state unless `start` is given)."""
    if start is None:
        if path.dom in lf.inits:
            start = init_job(lf, path.dom)
        else:
            start = path_job(plan, lf, object_paths(lf)[path.dom])
    plan.add(start)
    job = start
    for g in path.word:
        job = train_job(lf, g, job)
        plan.add(job)
    return job


def generator_job(plan: Plan, lf, generator: str) -> Job:
    """The train job of `generator` from the computed state of its domain."""
    dom = lf.presentation.generator[generator].dom
    job = train_job(lf, generator, path_job(plan, lf, free.identity(dom)))
    plan.add(job)
    return job


def member_job(plan: Plan, program, sweep, member, ensemble: bool = True) -> Job:
    """A sweep member's train job (and the jobs before it): its source object initialised with
    the member's seed when `seed` is bound, the path to the generator's domain as the functor
    trains it, then the generator with the member's optimizer (on the member's data set when it
    binds a data option, `label_noise`)."""
    import dataclasses

    lf = program.functors[sweep.functor]
    source, path = sweep_source(lf, sweep.generator)
    start = init_job(lf, source, member.init_seed) if member.init_seed is not None else None
    if start is not None and start.key == init_job(lf, source).key:
        start = None  # the functor's own initial state: keep its label
    upstream = path_job(plan, lf, path, start)
    name = f"{sweep.name}[{member.label}]"
    if member.data is not None:  # only the swept segment trains on it
        lf = dataclasses.replace(lf, target=dataclasses.replace(lf.target, data=member.data))
    job = train_job(lf, sweep.generator, upstream, member.optimizer, ensemble=ensemble,
                    label=name if ensemble else f"{name} alone", origin=(sweep.name, sweep.generator))
    plan.add(job)
    return job


def checkpoints_job(plan: Plan, train: Job) -> Job:
    job = checkpoints_of(train)
    plan.add(job)
    return job


def features_job(plan: Plan, program, rep, train: Job) -> Job:
    """L(γ) for the trajectory γ of `train`: its checkpoints' features on the probe set."""
    job = features_of(checkpoints_job(plan, train), program.functors[rep.base], rep, train)
    plan.add(job)
    return job


def compile_program(program) -> Plan:
    """Every object state of every Param functor, each computed once; every sweep member; the
    feature path of every generator under every Rep functor; then the jobs each analysis's
    handler adds (`catdsl.analysis`, docs/architecture.md "Analyses")."""
    plan = Plan()
    for lf in program.functors.values():
        states = {}
        for obj, path in object_paths(lf).items():
            states[obj] = path_job(plan, lf, path).key
        # every generator's trajectory, also those into objects reached another way
        for g in lf.presentation.generators:
            if g.name in lf.segments and g.dom in states:
                plan.add(train_job(lf, g.name, plan.jobs[states[g.dom]]))
        plan.index[lf.name] = states
        if lf.target.fisher:
            plan.index[fisher_index(lf.name)] = fisher_jobs(plan, lf, lf.target.fisher)
    for sweep in program.sweeps.values():
        plan.index[sweep.name] = {str(m.index): member_job(plan, program, sweep, m).key for m in sweep.members}
        kind = program.functors[sweep.functor].target.fisher
        if kind:  # `Param(…, fisher = …)`: each member's Fisher–Rao length too ({index: key})
            plan.index[fisher_index(sweep.name)] = {
                i: _added(plan, fisher_rao_of(checkpoints_job(plan, plan.jobs[key]), plan.jobs[key], kind)).key
                for i, key in plan.index[sweep.name].items()}
    for rep in program.reps.values():
        lf = program.functors[rep.base]
        plan.index[rep.name] = {g.name: features_job(plan, program, rep, generator_job(plan, lf, g.name)).key
                                for g in lf.presentation.generators if g.name in lf.segments}
    for a in program.module.analyses:
        handler = analysis.handler(a.kind)
        if handler is not None:
            handler.jobs(plan, program, a)
    return plan


def fisher_index(functor: str) -> str:
    """Where the plan's index keeps a functor's Fisher–Rao jobs ({generator: key}), or a sweep's
    ({member index: key})."""
    return f"{functor}#fisher_rao"


def _added(plan: Plan, job: Job) -> Job:
    plan.add(job)
    return job


def fisher_rao_of(checkpoints: Job, train: Job, kind: str) -> Job:
    """The Fisher–Rao length of `train`'s trajectory, from its per-epoch checkpoints."""
    spec = {"checkpoints": checkpoints.key, "train": train.key, "fisher": kind, "code": CODE_VERSION}
    return Job.of("fisher_rao", spec, f"Fisher–Rao length of {train.label}", (checkpoints.key,), train.origin)


def fisher_jobs(plan: Plan, lf, kind: str) -> dict[str, str]:
    """A `fisher_rao` job for the trajectory of every generator of `lf` as the plan trains it from
    its domain's state; {generator: job key}. The length of a state's row is the sum over the
    generators of the path that reaches it."""
    keys = {}
    for g in lf.presentation.generators:
        if g.name in lf.segments:
            train = generator_job(plan, lf, g.name)
            job = fisher_rao_of(checkpoints_job(plan, train), train, kind)
            plan.add(job)
            keys[g.name] = job.key
    return keys
