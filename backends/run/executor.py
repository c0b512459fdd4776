"""Executors: what runs a plan's jobs, chosen by name (`catdsl run --executor NAME`).

Every executor satisfies `Executor`: `run(plan, keys, progress)` makes sure the jobs for `keys`
are finished in its `context.store`, reusing every job already there; the results are read back
from the store (`context.memo` may keep some in memory). `make_executor` is the one place an
executor is built; `local` runs the jobs in this process (`backends.run.execute`). A process pool
or a Ray cluster plugs in as another entry of `EXECUTORS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from backends.run.jobs import JobContext

if TYPE_CHECKING:
    from backends.run.plan import Plan
    from backends.run.store import Store


class Executor(Protocol):
    context: JobContext

    def run(self, plan: "Plan", keys: Iterable[str] | None = None, progress: bool = True) -> dict[str, int]:
        """Finish the jobs for `keys` (all jobs by default); counts of jobs `reused` and `ran`."""
        ...


class UnknownExecutor(ValueError):
    pass


def _local(store: "Store", device: str, workers: int | None) -> Executor:
    from backends.run.execute import LocalExecutor

    if workers not in (None, 1):
        raise ValueError(f"the local executor runs one job at a time in this process; workers = {workers} "
                         "needs another executor")
    return LocalExecutor(JobContext(store, device))


# name -> factory(store, device, workers)
EXECUTORS: dict[str, Callable[["Store", str, int | None], Executor]] = {"local": _local}


def make_executor(kind: str = "local", *, store: "Store", device: str = "cpu",
                  workers: int | None = None) -> Executor:
    """The executor `kind` over `store`; `device` may be `auto` (decided when a job first runs)."""
    if kind not in EXECUTORS:
        raise UnknownExecutor(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[kind](store, device, workers)
