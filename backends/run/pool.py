"""Executors whose jobs run in worker processes: a process pool here, a Ray cluster (`ray_executor`).

What runs where. The driver (the `catdsl run` process) decides everything: which jobs are
finished (the store), which are ready (every dependency finished), which run together (the
kinds' batching keys, as the local executor groups them), and it alone writes the store. A
worker gets a batch of jobs and the *name* of its kind's `compute` body
(`backends.run.jobs`), opens the store read-only (`Store.open_readonly`) to read the
dependencies, and returns the results (tensors as safetensors bytes, metrics, digests); the
driver stores them. A kind that only has a `run` body (it writes the store itself) runs in the
driver, as on the local executor.

Same jobs, same bits. The plan decides the jobs and `WorkerExecutor` forms the same batches the
local executor does: jobs that run alone are dispatched as soon as they are ready (in plan
order, as many at once as there are workers); a batch (sweep members trained as one ensemble)
is formed only when no job that runs alone is ready or running and no other batch is running,
from the first ready job and every ready job of its kind and batching key, which is the batch
the local executor forms at that point. Further batches go out at the same time only when no
unfinished job of their kind is left that could still join them. Every worker runs one torch
thread, as the local executor does for small jobs, so the states are bitwise equal to a local
run (`tests/run/test_executors.py` compares the digests).

Faults. A job is idempotent by its content hash: a batch whose worker died (killed, out of
memory, a lost node) is sent again, up to `RETRIES` times, to a fresh worker; nothing of it was
stored, since only the driver stores and only whole results. A driver killed mid-run loses
only the batches in flight: the next run finds the finished jobs in the store and runs the rest.
Two drivers on one store compute a job once: a batch is dispatched holding its jobs' locks
(`Store.lock`), after checking again which of them are still unfinished.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from backends.run.execute import available_cpus, device_for, threads_for, torch_threads
from backends.run.jobs import JobContext, JobKind, JobResult, job_kind, store_results
from backends.run.plan import Job, Plan
from backends.run.store import Store

# How many times a batch whose worker was lost is sent again before the run fails.
RETRIES = 3


class WorkerLost(RuntimeError):
    """A batch's worker died `RETRIES + 1` times: the run stops (what finished is stored)."""


# ---- the worker's half ------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # in a worker process: its read-only store and context, by store root


def compute_ref(kind: JobKind) -> str:
    """`module:qualname` of a kind's `compute` body: what a worker imports and calls."""
    fn = kind.compute
    return f"{fn.__module__}:{fn.__qualname__}"


def _resolve(ref: str) -> Callable:
    module, _, name = ref.partition(":")
    value: Any = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def set_up_worker(sys_path: Sequence[str], threads: int = 1) -> None:
    """Make a worker import what its driver imports, on `threads` torch threads."""
    for entry in reversed(list(sys_path)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ.setdefault("CATDSL_THREADS", str(threads))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def pack(result: JobResult) -> tuple[JobResult, bytes | None]:
    """A result as it travels back to the driver: its tensors as safetensors bytes (no pickle)."""
    if not result.tensors:
        return result, None
    from safetensors.torch import save

    from backends.run.store import _saveable

    data = save(_saveable(result.tensors))
    return JobResult(result.key, result.kind, result.spec, None, result.metrics, result.digest,
                     result.seconds), data


def unpack(packed: tuple[JobResult, bytes | None]) -> JobResult:
    result, data = packed
    if data is None:
        return result
    from safetensors.torch import load

    result.tensors = load(data)
    return result


def work(ref: str, jobs: Sequence[Job], root: str, device: str, sys_path: Sequence[str] = ()) -> list:
    """Run one batch in a worker: its kind's `compute` on a read-only store; packed results.

    A failure's `partial` results (jobs of the batch that finished) travel packed with it."""
    if sys_path:
        set_up_worker(sys_path)
    context = _WORKER.get(root)
    if context is None or context.device != device:
        context = _WORKER[root] = JobContext(Store.open_readonly(root), device)
    compute = _resolve(ref)
    try:
        made = compute(list(jobs), context)
    except Exception as e:
        partial = getattr(e, "partial", None)
        if partial:
            e.partial = [p if isinstance(p, tuple) else pack(p) for p in partial]
        raise
    return [pack(r) for r in made]


# ---- the driver's half ------------------------------------------------------------------------


@dataclass
class _Flight:
    batch: list[Job]  # the jobs sent (those of the batch still unfinished once locked)
    locks: ExitStack
    alone: bool  # a job that runs alone, not a batch of jobs with one batching key
    attempts: int = 1


@dataclass
class WorkerExecutor:
    """Runs a plan's jobs on workers (subclasses say which: `_submit`, `_wait`, `_restart`,
    `close`); the driver schedules, stores and retries (see the module docstring)."""

    context: JobContext
    workers: int | None = 2  # batches in flight at once (None: the executor finds out in `_prepare`)
    _batching: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- what a kind of worker provides --------------------------------------------------------

    def _prepare(self) -> None:
        """Called once a run has jobs to do (before the first is sent)."""

    def _submit(self, ref: str, jobs: list[Job]) -> Any:  # a handle
        raise NotImplementedError

    def _wait(self, handles: list[Any]) -> list[tuple[Any, str, Any]]:
        """At least one finished handle: (handle, "ok", packed results) | (handle, "lost", why) |
        (handle, "error", exception)."""
        raise NotImplementedError

    def _restart(self, handle: Any) -> None:
        """Make new workers after `handle`'s worker was lost (once per loss, not per handle)."""

    def close(self) -> None:
        """Let the workers go."""

    # -- scheduling ------------------------------------------------------------------------------

    def run(self, plan: Plan, keys=None, progress: bool = True) -> dict[str, int]:
        """Make sure the jobs for `keys` (all jobs by default) are finished; count reused/ran."""
        store = self.context.store
        jobs = plan.ancestors(keys) if keys is not None else list(plan.jobs.values())
        todo = [j for j in jobs if not store.has(j.key)]
        counts = {"reused": len(jobs) - len(todo), "ran": 0}
        if not todo:
            return counts
        self.context.device = device_for(self.context.device)
        self._prepare()
        self._batching.clear()
        done = {j.key for j in jobs} - {j.key for j in todo}
        pending = list(todo)  # in plan order: neither finished nor in flight
        flights: dict[Any, _Flight] = {}
        bar = _Bar(len(todo)) if progress else None
        failure: BaseException | None = None

        def finish(batch: list[Job], sent: list[Job]) -> None:
            finished = [j for j in batch if store.has(j.key)]
            for j in finished:
                done.add(j.key)
            ran = sum(1 for j in finished if j in sent)
            counts["ran"] += ran
            counts["reused"] += len(finished) - ran
            if bar:
                bar.advance(len(finished))
            missing = [j.label for j in sent if j.key not in done]
            if missing and failure is None:
                raise RuntimeError(f"the {batch[0].kind} job body returned no result for {', '.join(missing)}")

        try:
            while pending or flights:
                if failure is None:
                    self._dispatch(plan, pending, done, flights, finish)
                if not flights:
                    if pending and failure is None:
                        raise RuntimeError("plan has a cycle or a missing dependency")
                    break
                for handle, status, value in self._wait(list(flights)):
                    flight = flights.pop(handle)
                    if status == "lost" and failure is None:
                        if flight.attempts > RETRIES:
                            flight.locks.close()
                            failure = WorkerLost(f"the worker running {_title(flight.batch)} was lost "
                                                 f"{flight.attempts} times ({value}); the finished jobs are kept")
                            continue
                        self._restart(handle)
                        again = self._submit(compute_ref(job_kind(flight.batch[0].kind)), flight.batch)
                        flights[again] = _Flight(flight.batch, flight.locks, flight.alone, flight.attempts + 1)
                        continue
                    try:
                        if status == "ok":
                            store_results(store, [unpack(p) for p in value])
                        elif status == "error":
                            store_results(store, [unpack(p) if isinstance(p, tuple) else p
                                                  for p in getattr(value, "partial", None) or ()])
                            failure = failure or value
                    finally:
                        flight.locks.close()
                    finish(flight.batch, flight.batch)
            if failure is not None:
                raise failure
        except BaseException:
            for flight in flights.values():
                flight.locks.close()
            self.close()  # stop the workers of an interrupted or failed run
            raise
        finally:
            if bar:
                bar.stop()
        return counts

    def _key(self, job: Job):
        if job.key not in self._batching:
            batching = job_kind(job.kind).batch_key
            self._batching[job.key] = None if batching is None else batching(job, self.context)
        return self._batching[job.key]

    def _dispatch(self, plan: Plan, pending: list[Job], done: set[str], flights: dict, finish) -> None:
        """Send every job that may go now (see the module docstring); run driver-only kinds here."""
        while True:
            ready = [j for j in pending if all(d in done for d in j.deps)]
            alone = [j for j in ready if self._key(j) is None]
            progressed = False
            for job in alone:
                if job_kind(job.kind).compute is not None and len(flights) >= self.workers:
                    continue
                self._send(plan, [job], pending, flights, finish, alone=True)
                progressed = True
            if progressed:
                continue  # a job run here may have made others ready
            if alone or flights or not ready:  # a batch forms once nothing else runs (module docstring)
                return
            groups: dict[tuple, list[Job]] = {}
            for job in ready:
                groups.setdefault((job.kind, self._key(job)), []).append(job)
            ready_keys = {j.key for j in ready}
            waiting_kinds = {j.kind for j in pending if j.key not in ready_keys}
            first, *rest = groups.values()
            self._send(plan, first, pending, flights, finish, alone=False)
            for group in rest:
                if group[0].kind not in waiting_kinds and len(flights) < self.workers:
                    self._send(plan, group, pending, flights, finish, alone=False)
            if flights:
                return

    def _send(self, plan: Plan, batch: list[Job], pending: list[Job], flights: dict, finish, alone: bool) -> None:
        """Lock `batch`, then run its unfinished jobs: on a worker, or here for a driver-only kind."""
        store = self.context.store
        for j in batch:
            pending.remove(j)
        locks = ExitStack()
        try:
            locks.enter_context(store.lock([j.key for j in batch], waiting=lambda key: _waiting(plan, key)))
            fresh = [j for j in batch if not store.has(j.key)]  # another process may be done
            kind = job_kind(batch[0].kind)
            if fresh and kind.compute is not None:
                if len(fresh) < len(batch):
                    finish([j for j in batch if j not in fresh], [])
                flights[self._submit(compute_ref(kind), fresh)] = _Flight(fresh, locks, alone)
                return
            if fresh:  # a kind that writes the store itself: in the driver
                threads = threads_for(kind.work(fresh, self.context)) if kind.work else None
                with torch_threads(threads) if threads else nullcontext():
                    kind.execute(fresh, self.context)
        except BaseException:
            locks.close()
            raise
        locks.close()
        finish(batch, fresh)


def _title(batch: list[Job]) -> str:
    return batch[0].label if len(batch) == 1 else f"{batch[0].label} and {len(batch) - 1} other job(s)"


def _waiting(plan: Plan, key: str) -> None:
    if sys.stderr.isatty():
        job = plan.jobs.get(key)
        print(f"waiting for another catdsl process computing {job.label if job else key[:12]}", file=sys.stderr)


class _Bar:
    def __init__(self, total: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn())
        self.progress.start()
        self.task = self.progress.add_task("jobs", total=total)

    def advance(self, n: int) -> None:
        self.progress.update(self.task, advance=n)

    def stop(self) -> None:
        self.progress.stop()


# ---- a process pool ---------------------------------------------------------------------------


def _start_method():
    import multiprocessing

    # forkserver: workers fork from a clean server process that has imported torch once (fast to
    # start, none of the driver's torch state); spawn where there is no forkserver
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


@dataclass
class ProcessExecutor(WorkerExecutor):
    """`--executor process --workers N`: N worker processes on this machine, one torch thread each."""

    _pool: Any = field(default=None, repr=False)
    _generation: int = 0
    _handles: dict[Any, int] = field(default_factory=dict, repr=False)
    _exit_registered: bool = False

    def _ensure(self):
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            mp = _start_method()
            if mp.get_start_method() == "forkserver":
                preload = [m for m in ("torch",) if importlib.util.find_spec(m) is not None]
                mp.set_forkserver_preload(preload)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp, initializer=set_up_worker,
                                             initargs=(list(sys.path), 1))
            self._generation += 1
            if not self._exit_registered:
                atexit.register(self.close)
                self._exit_registered = True
        return self._pool

    def _submit(self, ref: str, jobs: list[Job]):
        future = self._ensure().submit(work, ref, jobs, str(self.context.store.root), self.context.device)
        self._handles[future] = self._generation
        return future

    def _wait(self, handles):
        finished, _ = wait(handles, return_when=FIRST_COMPLETED)
        out = []
        for future in finished:
            e = future.exception()
            if isinstance(e, BrokenProcessPool):
                out.append((future, "lost", str(e) or "a worker process died"))
            elif e is not None:
                out.append((future, "error", e))
            else:
                out.append((future, "ok", future.result()))
        return out

    def _restart(self, handle) -> None:
        if self._handles.pop(handle, None) == self._generation and self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for p in list(getattr(pool, "_processes", {}).values()):  # an interrupted run: stop now
                if p.is_alive():
                    p.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        self._handles.clear()

    def worker_pids(self) -> list[int]:
        """The process ids of the current workers (for tests and diagnostics)."""
        pool = self._pool
        return sorted(getattr(pool, "_processes", {}) or {}) if pool is not None else []


def make_process_executor(store: Store, device: str, workers: int | None) -> WorkerExecutor:
    n = workers if workers is not None else available_cpus()
    if n < 1:
        raise ValueError(f"--workers {n}: give at least one worker")
    return ProcessExecutor(JobContext(store, device), n)
