"""Compile a learning program into a plan: a DAG of jobs keyed by content hashes.

A job's key hashes everything it depends on — data spec, model spec, optimizer spec, loss,
its upstream job's key and the code version — so equal work has equal keys (a Merkle chain:
the upstream *key* stands for the upstream state, which it determines exactly).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from backends.run.store import job_key
from catdsl import __version__
from catdsl.semantics import free

CODE_VERSION = f"catdsl-{__version__}/train-1"


@dataclass(frozen=True)
class Job:
    key: str
    kind: str  # "init" | "train"
    label: str  # what the file calls it: `Run.init`, `Run.warm after Run.init`
    spec: dict
    deps: tuple[str, ...] = ()


@dataclass
class Plan:
    jobs: dict[str, Job] = field(default_factory=dict)  # insertion order is a topological order
    # functor name -> object -> job key of that object's state
    objects: dict[str, dict[str, str]] = field(default_factory=dict)

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
    d = dataclasses.asdict(spec)
    if spec.schedule is not None:
        d["schedule"] = {"kind": type(spec.schedule).__name__.lower(), **dataclasses.asdict(spec.schedule)}
    d["betas"] = list(d["betas"])
    return d


def _model_json(lf) -> dict:
    from backends.torch.models import spec_json

    return json.loads(spec_json(lf.target.model))


def init_job(lf, obj: str, seed_override: int | None = None) -> Job:
    seed = lf.inits[obj] if seed_override is None else seed_override
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()), "seed": seed,
            "code": CODE_VERSION}
    return Job(job_key("init", spec), "init", f"{lf.name}.{obj}", spec)


def train_job(lf, generator: str, upstream: Job, opt=None) -> Job:
    opt = opt or lf.segments[generator]
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()),
            "optimizer": optimizer_json(opt), "loss": lf.target.loss, "upstream": upstream.key,
            "code": CODE_VERSION}
    return Job(job_key("train", spec), "train", f"{lf.name}.{generator} after {upstream.label}", spec,
               (upstream.key,))


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


def compile_program(program) -> Plan:
    """Every object state of every Param functor, each computed once."""
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
    return plan
