"""A plan: a DAG of jobs keyed by content hashes, indexed by the declarations that asked for them.

A job's key hashes its kind and everything it depends on (its spec: data, model, optimizer,
loss, the keys of its upstream jobs, the code version), so equal work has equal keys (a Merkle
chain: an upstream *key* stands for the upstream result, which it determines exactly).

Generic: what a kind of job means, how it runs and how its spec is made belong to the backend
that registers the kind (`backends.run.jobs`); a backend's compiler fills `Plan.index` with the
job key of each part of each declaration (a functor's objects, a sweep's members, …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from backends.run.store import job_key
from catdsl import __version__

CODE_VERSION = f"catdsl-{__version__}/train-1"


@dataclass(frozen=True)
class Job:
    key: str
    kind: str  # a registered job kind (`backends.run.jobs.JOB_KINDS`): "init", "train", …
    label: str  # what the file calls it: `Run.init`, `Run.warm after Run.init`, `S[seed=0, lr=0.1]`
    spec: dict
    deps: tuple[str, ...] = ()
    origin: tuple[str, str] | None = field(default=None, compare=False)  # (declaration, part), for diagnostics

    @classmethod
    def of(cls, kind: str, spec: dict, label: str, deps: tuple[str, ...] = (),
           origin: tuple[str, str] | None = None) -> "Job":
        """The job of `kind` on `spec`, keyed by their content hash."""
        return cls(job_key(kind, spec), kind, label, spec, deps, origin)


@dataclass
class Plan:
    jobs: dict[str, Job] = field(default_factory=dict)  # insertion order is a topological order
    # declaration name -> part -> job key: for a functor into Param, object -> the job of its
    # state; for a sweep, member index -> its train job; for a Rep functor, generator -> the job of
    # its feature path (in the order of the declaration's parts)
    index: dict[str, dict[str, str]] = field(default_factory=dict)

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
