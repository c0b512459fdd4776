"""Compile a learning program into a plan: a DAG of jobs keyed by content hashes.

A job's key hashes everything it depends on — data spec, model spec, optimizer spec, loss,
its upstream job's key and the code version — so equal work has equal keys (a Merkle chain:
the upstream *key* stands for the upstream state, which it determines exactly).

Kinds of job:

- `init`: the state at step 0 of a source object (`init(seed = …)`);
- `train`: one training segment (a generator's optimizer spec) resumed from its upstream state.
  A sweep member's segment is marked `"ensemble": true`: it is trained together with the other
  members of its sweep, which agrees with training it alone up to float rounding only, so it
  never shares a key (nor a state) with a bitwise-exact single run;
- `checkpoints`: the states (parameters and buffers) at the start and after every epoch of a
  `train` job's segment, made by re-running it one epoch at a time (equal to the stored run bit
  for bit by the resume law; the executor records whether it was);
- `features`: the path of feature maps L(γ) of the learning functor along those checkpoints,
  on a probe set at one layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from backends.run.store import job_key
from catdsl import __version__
from catdsl.semantics import free

CODE_VERSION = f"catdsl-{__version__}/train-1"


@dataclass(frozen=True)
class Job:
    key: str
    kind: str  # "init" | "train" | "checkpoints" | "features"
    label: str  # what the file calls it: `Run.init`, `Run.warm after Run.init`, `S[seed=0, lr=0.1]`
    spec: dict
    deps: tuple[str, ...] = ()
    origin: tuple[str, str] | None = field(default=None, compare=False)  # (functor or sweep, generator)


@dataclass
class Plan:
    jobs: dict[str, Job] = field(default_factory=dict)  # insertion order is a topological order
    # functor name -> object -> job key of that object's state
    objects: dict[str, dict[str, str]] = field(default_factory=dict)
    # sweep name -> the key of each member's train job, in member order
    sweeps: dict[str, list[str]] = field(default_factory=dict)
    # Rep functor name -> generator -> key of the features job of that generator's trajectory
    reps: dict[str, dict[str, str]] = field(default_factory=dict)

    def add(self, job: Job) -> str:
        self.jobs.setdefault(job.key, job)
        return job.key

    def ancestors(self, keys) -> list[Job]:
        """The jobs needed for `keys`, in execution order."""
        needed: set[str] = set()
        stack = list(keys)
        while stack:
            k = stack.pop()
            if k not in needed:
                needed.add(k)
                stack.extend(self.jobs[k].deps)
        return [j for k, j in self.jobs.items() if k in needed]

    def to_json(self) -> str:
        return json.dumps({"code_version": CODE_VERSION, "jobs": [
            {"key": j.key, "kind": j.kind, "label": j.label, "deps": list(j.deps), "spec": j.spec}
            for j in self.jobs.values()]}, indent=2)


def optimizer_json(spec) -> dict:
    """The optimizer spec as plain JSON data: its own canonical form (`OptimizerSpec.to_json`)."""
    return json.loads(spec.to_json())


def _model_json(lf) -> dict:
    from backends.torch.models import spec_json

    return json.loads(spec_json(lf.target.model))


def init_job(lf, obj: str, seed_override: int | None = None) -> Job:
    seed = lf.inits[obj] if seed_override is None else seed_override
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()), "seed": seed,
            "code": CODE_VERSION}
    label = f"{lf.name}.{obj}" if seed_override is None else f"{lf.name}.{obj}(seed={seed})"
    return Job(job_key("init", spec), "init", label, spec, origin=(lf.name, obj))


def train_job(lf, generator: str, upstream: Job, opt=None, ensemble: bool = False,
              label: str | None = None, origin: tuple[str, str] | None = None) -> Job:
    opt = opt or lf.segments[generator]
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()),
            "optimizer": optimizer_json(opt), "loss": lf.target.loss, "upstream": upstream.key,
            "code": CODE_VERSION}
    if ensemble:
        spec["ensemble"] = True
    return Job(job_key("train", spec), "train", label or f"{lf.name}.{generator} after {upstream.label}",
               spec, (upstream.key,), origin or (lf.name, generator))


def path_job(plan: Plan, lf, path: free.Path, start: Job | None = None) -> Job:
    """The job whose result is the state at the end of `path`, starting from the state of its
    domain (its computed state unless `start` is given)."""
    from backends.torch.program import object_paths

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
    trains it, then the generator with the member's optimizer."""
    from backends.torch.program import sweep_source

    lf = program.functors[sweep.functor]
    source, path = sweep_source(lf, sweep.generator)
    start = init_job(lf, source, member.init_seed) if member.init_seed is not None else None
    if start is not None and start.key == init_job(lf, source).key:
        start = None  # the functor's own initial state: keep its label
    upstream = path_job(plan, lf, path, start)
    name = f"{sweep.name}[{member.label}]"
    job = train_job(lf, sweep.generator, upstream, member.optimizer, ensemble=ensemble,
                    label=name if ensemble else f"{name} alone", origin=(sweep.name, sweep.generator))
    plan.add(job)
    return job


def checkpoints_job(plan: Plan, train: Job) -> Job:
    spec = {"train": train.key, "every": "epoch", "code": CODE_VERSION}
    job = Job(job_key("checkpoints", spec), "checkpoints", f"checkpoints of {train.label}", spec,
              (train.key,), train.origin)
    plan.add(job)
    return job


def features_job(plan: Plan, program, rep, train: Job) -> Job:
    """L(γ) for the trajectory γ of `train`: its checkpoints' features on the probe set."""
    ckpt = checkpoints_job(plan, train)
    lf = program.functors[rep.base]
    spec = {"checkpoints": ckpt.key, "model": _model_json(lf), "layer": rep.layer,
            "probe": rep.probe.to_json(), "code": CODE_VERSION}
    generator = train.origin[1] if train.origin else "?"
    job = Job(job_key("features", spec), "features", f"{rep.name}({train.label})", spec, (ckpt.key,),
              (rep.name, generator))
    plan.add(job)
    return job


def compile_program(program) -> Plan:
    """Every object state of every Param functor, each computed once; every sweep member; the
    feature path of every generator under every Rep functor."""
    from backends.torch.program import object_paths

    plan = Plan()
    for lf in program.functors.values():
        states = {}
        for obj, path in object_paths(lf).items():
            states[obj] = path_job(plan, lf, path).key
        # every generator's trajectory, also those into objects reached another way
        for g in lf.presentation.generators:
            if g.name in lf.segments and g.dom in states:
                plan.add(train_job(lf, g.name, plan.jobs[states[g.dom]]))
        plan.objects[lf.name] = states
    for sweep in program.sweeps.values():
        plan.sweeps[sweep.name] = [member_job(plan, program, sweep, m).key for m in sweep.members]
    for rep in program.reps.values():
        lf = program.functors[rep.base]
        plan.reps[rep.name] = {g.name: features_job(plan, program, rep, generator_job(plan, lf, g.name)).key
                               for g in lf.presentation.generators if g.name in lf.segments}
    return plan
