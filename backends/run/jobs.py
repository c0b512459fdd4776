"""The registry of job kinds: what a plan's jobs are, for the executors that run them.

A kind is a small frozen value: its name (hashed into every job key of the kind), the body
that makes its jobs' results, and optionally a batching key (ready jobs with equal keys run as
one call of the body, e.g. sweep members trained as one ensemble) and a work estimate
(multiply-adds per step, from which the executor picks a thread count). A backend registers its
kinds; executors look them up by the name each job carries, so a new kind plugs in without
touching a scheduler.

The body comes in one of two forms, the seam between computing and storing:

- `compute(jobs, ctx) -> list[JobResult]` makes the results and *returns* them; it only reads
  the store (its dependencies' results). The executor stores them (`store_results`): in this
  process for `local`, in the driver for `process` and `ray`, whose workers run `compute` on a
  read-only store. `compute` must be a module-level function (a worker imports it by name).
  A body that fails after finishing some jobs (one diverged member of an ensemble) raises an
  exception whose `partial` attribute lists the results made; the executor stores those first.
- `run(jobs, ctx) -> None` makes the results and writes them to `ctx.store` itself: the older
  form, still accepted; such a kind runs in the driver whatever the executor.
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
    one executor keep in memory (states, data sets), each kind under keys of its own.

    `progress(text, fraction)`, set by the executor around each batch, shows a line beside the
    running batch (None: nobody shows it); use `report`. `batches(list of batches)`, set by an
    executor with workers around a driver-side body, computes batches of jobs the body made
    itself on the workers, in parallel (None: here, one after another); use `compute_batches`."""

    store: "Store"
    device: str = "cpu"
    memo: dict[Any, Any] = field(default_factory=dict)
    progress: Callable[[str, float | None], None] | None = None
    batches: Callable[[list[list["Job"]]], None] | None = None


def compute_batches(ctx: JobContext, batches: Sequence[Sequence["Job"]]) -> None:
    """Finish and store the jobs of `batches` (each a list of jobs of one `compute` kind, run as one
    call of its body), made by a driver-side body at run time, not planned (the adaptive order of
    `classes` makes its barrier jobs round by round). On workers when the executor has them, else
    here; the batches are the same either way, so the results are the same bits."""
    todo = [[j for j in b if not ctx.store.has(j.key)] for b in batches]
    todo = [b for b in todo if b]
    if not todo:
        return
    if ctx.batches is not None:
        ctx.batches(todo)
        return
    for batch in todo:
        job_kind(batch[0].kind).execute(batch, ctx)


def report(ctx: JobContext, text: str, fraction: float | None = None) -> None:
    """Show `text` beside the running batch (epoch, step, loss, time left); `fraction` of the
    batch done moves its bar. Nothing when the executor shows no progress."""
    if ctx.progress is not None:
        ctx.progress(text, fraction)


def keep_partial(ctx: JobContext, name: str, data: bytes | None) -> None:
    """Keep `data` (safetensors bytes) as the partial record `name` of a running job (the state
    after its last epoch), or remove it (`None`): `Store.put_partial`, the one write a worker's
    read-only store allows, says why that is safe. A record is progress, never a result."""
    ctx.store.put_partial(name, data)


@dataclass
class JobResult:
    """What a job made, as `Store.put` records it: the executor's driver writes it to the store."""

    key: str
    kind: str
    spec: dict[str, Any]  # as recorded: the job's spec with its label
    # name -> tensor; or, on its way back from a worker, the safetensors file's bytes (`Store.put`
    # writes them as they are, so the driver need not import torch)
    tensors: dict[str, Any] | bytes | None
    metrics: dict[str, Any]
    digest: str | None = None
    seconds: float | None = None

    @classmethod
    def of(cls, job: "Job", tensors, metrics: dict, digest: str | None = None,
           seconds: float | None = None) -> "JobResult":
        return cls(job.key, job.kind, {"label": job.label, **job.spec}, tensors or None, metrics, digest, seconds)


def each_job(jobs: Sequence["Job"], one: Callable[["Job"], JobResult]) -> list[JobResult]:
    """A `compute` body that makes its jobs one at a time: `one(job)` of each, in order; a
    failure carries the results made before it (`partial`), which the executor stores."""
    made: list[JobResult] = []
    for job in jobs:
        try:
            made.append(one(job))
        except Exception as e:
            e.partial = made
            raise
    return made


def store_results(store: "Store", results: Sequence[JobResult]) -> None:
    """Write `results` to `store` (the driver's half of the seam): their tensor files made
    durable, then their rows in one transaction (`Store.put_many`)."""
    if results:
        store.put_many([(r.key, r.kind, r.spec, r.tensors, r.metrics, r.digest, r.seconds) for r in results])


@dataclass(frozen=True)
class JobKind:
    name: str
    # make the results of these jobs (all of this kind, all dependencies finished) and store each
    # under its key; a job that is not stored counts as not done. None when `compute` is given.
    run: Callable[[Sequence["Job"], JobContext], None] | None = None
    # None: every job runs alone; else jobs ready together whose keys are equal (not None) run
    # as one call of `run`, and a job whose key is None runs alone
    batch_key: Callable[["Job", JobContext], Hashable | None] | None = None
    # multiply-adds per step of running these jobs together, from which the executor sets torch's
    # thread count (None: the kind does not use torch threads; they are left as they are)
    work: Callable[[Sequence["Job"], JobContext], float] | None = None
    # make the results of these jobs and return them, reading the store only (see above); a
    # kind with `compute` runs on any executor's workers, one with `run` only in the driver
    compute: Callable[[Sequence["Job"], JobContext], list[JobResult]] | None = None

    def __post_init__(self) -> None:
        if (self.run is None) == (self.compute is None):
            raise TypeError(f"job kind {self.name!r}: give exactly one of run (stores its results) and "
                            "compute (returns them)")

    def execute(self, jobs: Sequence["Job"], ctx: JobContext) -> None:
        """Run `jobs` here and store their results: `compute` then `store_results`, or `run`."""
        if self.run is not None:
            return self.run(jobs, ctx)
        try:
            made = self.compute(jobs, ctx)
        except Exception as e:
            store_results(ctx.store, getattr(e, "partial", None) or ())
            raise
        store_results(ctx.store, made)


JOB_KINDS: dict[str, JobKind] = {}


class UnknownJobKind(ValueError):
    pass


def register(*kinds: JobKind) -> tuple[JobKind, ...]:
    """Make `kinds` known to every executor (registering a name again replaces it)."""
    for kind in kinds:
        JOB_KINDS[kind.name] = kind
    return kinds


def job_kind(name: str) -> JobKind:
    """The kind `name`: registered in this process, else found through the entry-point group
    `catdsl.job_kinds` (imported on first use, in the driver and in every worker alike)."""
    if name not in JOB_KINDS:
        from catdsl.backend import entry_points_of

        target = entry_points_of("catdsl.job_kinds").get(name)
        if target is not None:
            import importlib

            module, _, attr = target.partition(":")
            register(getattr(importlib.import_module(module), attr))
    if name not in JOB_KINDS:
        raise UnknownJobKind(f"no job kind {name!r} is registered; known: {', '.join(JOB_KINDS) or 'none'} "
                             "(the backend that compiled the plan registers its kinds)")
    return JOB_KINDS[name]
