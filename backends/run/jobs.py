"""The registry of job kinds: what a plan's jobs are, for the executors that run them.

A kind is a small frozen value: its name (hashed into every job key of the kind), the body
that makes and stores its jobs' results, and optionally a batching key (ready jobs with equal
keys run as one call of the body, e.g. sweep members trained as one ensemble) and a work
estimate (multiply-adds per step, from which the executor picks a thread count). A backend
registers its kinds; executors look them up by the name each job carries, so a new kind plugs
in without touching a scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Hashable, Sequence

if TYPE_CHECKING:
    from backends.run.plan import Job
    from backends.run.store import Store


@dataclass
class JobContext:
    """What a job body runs against: the store its inputs are read from and its results written
    to, the device (decided by the executor before the first job runs), and values the jobs of
    one executor keep in memory (states, data sets), each kind under keys of its own."""

    store: "Store"
    device: str = "cpu"
    memo: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobKind:
    name: str
    # make the results of these jobs (all of this kind, all dependencies finished) and store each
    # under its key; a job that is not stored counts as not done
    run: Callable[[Sequence["Job"], JobContext], None]
    # None: every job runs alone; else jobs ready together whose keys are equal (not None) run
    # as one call of `run`, and a job whose key is None runs alone
    batch_key: Callable[["Job", JobContext], Hashable | None] | None = None
    # multiply-adds per step of running these jobs together, from which the executor sets torch's
    # thread count (None: the kind does not use torch threads; they are left as they are)
    work: Callable[[Sequence["Job"], JobContext], float] | None = None


JOB_KINDS: dict[str, JobKind] = {}


class UnknownJobKind(ValueError):
    pass


def register(*kinds: JobKind) -> tuple[JobKind, ...]:
    """Make `kinds` known to every executor (registering a name again replaces it)."""
    for kind in kinds:
        JOB_KINDS[kind.name] = kind
    return kinds


def job_kind(name: str) -> JobKind:
    if name not in JOB_KINDS:
        raise UnknownJobKind(f"no job kind {name!r} is registered; known: {', '.join(JOB_KINDS) or 'none'} "
                             "(the backend that compiled the plan registers its kinds)")
    return JOB_KINDS[name]
