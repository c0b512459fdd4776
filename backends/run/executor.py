"""Executors: what runs a plan's jobs, chosen by name (`catdsl run --executor NAME`).

Every executor satisfies `Executor`: `run(plan, keys, progress)` makes sure the jobs for `keys`
are finished in its `context.store`, reusing every job already there; the results are read back
from the store (`context.memo` may keep some in memory). `make_executor` is the one place an
executor is built:

- `local` runs the jobs in this process (`backends.run.execute`);
- `process --workers N` on N worker processes of this machine (`backends.run.pool`);
- `ray [--address auto | HOST:PORT]` as tasks of a Ray cluster, a local one without an address
  (`backends.run.ray_executor`; the extra `catdsl[ray]`).

All compute the same jobs, batched alike, and their states are bitwise equal; in each, the
driver (this process) writes the results, and a worker writes only its running job's partial
record (`Store.put_partial`). Every executor shows its batches' progress lines.
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
    """An executor that cannot be made as asked (`catdsl run` says why and exits 2)."""


class ExecutorOptionError(UnknownExecutor):
    """Options an executor does not take (`--workers 4` with `local`, `--address` with `process`)."""


class ExecutorUnavailable(UnknownExecutor):
    """A known executor this installation cannot use (its package is missing): says what to install."""


def _local(store: "Store", device: str, workers: int | None, address: str | None) -> Executor:
    from backends.run.execute import LocalExecutor

    if workers not in (None, 1):
        raise ExecutorOptionError(f"the local executor runs one job at a time in this process; workers = {workers} "
                         "needs another executor (--executor process)")
    _no_address("local", address)
    return LocalExecutor(JobContext(store, device))


def _process(store: "Store", device: str, workers: int | None, address: str | None) -> Executor:
    from backends.run.pool import make_process_executor

    _no_address("process", address)
    if workers is not None and workers < 1:
        raise ExecutorOptionError(f"--workers {workers}: give at least one worker")
    return make_process_executor(store, device, workers)


def _ray(store: "Store", device: str, workers: int | None, address: str | None) -> Executor:
    from backends.run.ray_executor import RayMissing, make_ray_executor

    if workers is not None and workers < 1:
        raise ExecutorOptionError(f"--workers {workers}: give at least one worker")
    try:
        return make_ray_executor(store, device, workers, address)
    except RayMissing as e:
        raise ExecutorUnavailable(str(e)) from None


def _no_address(kind: str, address: str | None) -> None:
    if address is not None:
        raise ExecutorOptionError(f"--address {address}: the {kind} executor runs on this machine; --address is for "
                         "--executor ray")


# name -> factory(store, device, workers, address)
EXECUTORS: dict[str, Callable[["Store", str, int | None, str | None], Executor]] = {
    "local": _local, "process": _process, "ray": _ray}


def make_executor(kind: str = "local", *, store: "Store", device: str = "cpu",
                  workers: int | None = None, address: str | None = None) -> Executor:
    """The executor `kind` over `store`; `device` may be `auto` (decided when a job first runs)."""
    if kind not in EXECUTORS:
        raise UnknownExecutor(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}")
    return EXECUTORS[kind](store, device, workers, address)
