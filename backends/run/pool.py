"""Executors whose jobs run in worker processes: a process pool here, a Ray cluster (`ray_executor`).

What runs where. The driver (the `catdsl run` process) decides everything: which jobs are
finished (the store), which are ready (every dependency finished), which run together (the
kinds' batching keys, as the local executor groups them), and it writes the results. A
worker gets a batch of jobs and the *name* of its kind's `compute` body
(`backends.run.jobs`), opens the store read-only (`Store.open_readonly`) to read the
dependencies, and returns the results (tensors as the bytes of their safetensors file, metrics,
digests); the driver stores them as they are, a batch in one transaction, without importing
torch. While a body runs it sends progress lines (`jobs.report`) to the driver, which shows
them, and it may keep a partial record of its job (`jobs.keep_partial`: a training segment's
last epoch), the one write a read-only store allows (`Store.put_partial` says why that is
safe). A kind that only has a `run` body (it writes the store itself) runs in the driver, as on
the local executor.

Start-up. The workers start when a run first has jobs to send, all at once, and serve every
batch until the executor is closed. They fork from a forkserver that imported torch and the
registered job kinds' modules once (`start_server`); `catdsl run --executor process` starts that
server before it parses the `.cat` file (the run command's `start_early` hook), and the torch
backend's session when it is made, so the server's imports overlap the driver's own work.

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
stored, since only the driver stores and only whole results (the retry resumes from the
batch's partial record when the worker kept one). A driver killed mid-run loses
only the batches in flight: the next run finds the finished jobs in the store and runs the rest.
Two drivers on one store compute a job once: a batch is dispatched holding its jobs' locks
(`Store.lock`), after checking again which of them are still unfinished.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import sys
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from backends.run.execute import Bars, available_cpus, device_for, threads_for, torch_threads
from backends.run.jobs import JobContext, JobKind, JobResult, job_kind, store_results
from backends.run.plan import Job, Plan
from backends.run.store import Store

# How many times a batch whose worker was lost is sent again before the run fails.
RETRIES = 3
# A progress line is cut to this many characters: a message must be one atomic pipe write.
MESSAGE_CHARS = 1000


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


def set_up_worker(sys_path: Sequence[str], threads: int = 1, channel: Any = None) -> None:
    """Make a worker import what its driver imports, on `threads` torch threads; `channel` (a
    queue to the driver) carries what its job bodies report while they run."""
    for entry in reversed(list(sys_path)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ.setdefault("CATDSL_THREADS", str(threads))
    if channel is not None:
        _WORKER["channel"] = channel
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(threads)


def warm(modules: Sequence[str]) -> int:
    """A worker's first task: import the job kinds' modules before any job waits for them."""
    for name in modules:
        importlib.import_module(name)
    return os.getpid()


def pack(result: JobResult) -> JobResult:
    """A result as it travels back to the driver: its tensors as the bytes of the tensor file the
    driver writes (`Store.put` takes them as they are: no pickled tensors, and no torch in the
    driver)."""
    if not result.tensors or isinstance(result.tensors, (bytes, bytearray)):
        return result
    from backends.run.store import tensor_file

    return JobResult(result.key, result.kind, result.spec, tensor_file(result.key, result.kind, result.tensors),
                     result.metrics, result.digest, result.seconds)


def work(ref: str, jobs: Sequence[Job], root: str, device: str, sys_path: Sequence[str] = (),
         tag: str | None = None, channel: Any = None) -> list:
    """Run one batch in a worker: its kind's `compute` on a read-only store; packed results.

    Progress lines (`jobs.report`, tagged with `tag`) go to the driver through `channel` (by
    default the one the worker was set up with: `channel.send(message)`), before the results;
    the driver shows them. Partial records (`jobs.keep_partial`) the body writes itself, the one
    write its read-only store allows (`Store.put_partial` says why that is safe). A failure's
    `partial` results (jobs of the batch that finished) travel packed with it."""
    if sys_path:
        set_up_worker(sys_path)
    context = _WORKER.get(root)
    if context is None or context.device != device:
        context = _WORKER[root] = JobContext(Store.open_readonly(root), device)
    channel = channel if channel is not None else _WORKER.get("channel")
    context.progress = None if channel is None or tag is None else \
        (lambda text, fraction=None: channel.send(("progress", tag, text[:MESSAGE_CHARS], fraction)))
    compute = _resolve(ref)
    try:
        made = compute(list(jobs), context)
    except Exception as e:
        partial = getattr(e, "partial", None)
        if partial:
            e.partial = [pack(p) for p in partial]
        raise
    finally:
        context.progress = None
    return [pack(r) for r in made]


# ---- the driver's half ------------------------------------------------------------------------


@dataclass
class _Flight:
    batch: list[Job]  # the jobs sent (those of the batch still unfinished once locked)
    locks: ExitStack
    alone: bool  # a job that runs alone, not a batch of jobs with one batching key
    attempts: int = 1
    task: Any = None  # its progress bar


# how long the driver waits for a batch to finish before it looks at its workers' messages
POLL_S = 0.2


@dataclass
class WorkerExecutor:
    """Runs a plan's jobs on workers (subclasses say which: `_submit`, `_wait`, `_messages`,
    `_restart`, `close`); the driver schedules, stores and retries (see the module docstring)."""

    context: JobContext
    workers: int | None = 2  # batches in flight at once (None: the executor finds out in `_prepare`)
    _batching: dict[str, Any] = field(default_factory=dict, repr=False)
    _modules: tuple[str, ...] = ()  # the modules of the job kinds the run computes on workers
    _progress: bool = True  # whether this run shows its workers' progress lines (`run(progress=…)`)

    # -- what a kind of worker provides --------------------------------------------------------

    def _prepare(self) -> None:
        """Called once a run has jobs to do (before the first is sent): start the workers."""

    def _submit(self, ref: str, jobs: list[Job], tag: str) -> Any:  # a handle
        """Send a batch; its body's progress lines come back tagged `tag`."""
        raise NotImplementedError

    def _wait(self, handles: list[Any], timeout: float) -> list[tuple[Any, str, Any]]:
        """The handles finished within `timeout` seconds (maybe none): (handle, "ok", packed
        results) | (handle, "lost", why) | (handle, "error", exception)."""
        raise NotImplementedError

    def _messages(self) -> list[tuple]:
        """What the workers' job bodies sent since the last call (`work`), in order."""
        return []

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
        kinds = {job_kind(j.kind) for j in todo}
        self._modules = tuple(sorted({compute_ref(k).partition(":")[0] for k in kinds if k.compute is not None}))
        self._progress = progress
        self._prepare()
        self._batching.clear()
        done = {j.key for j in jobs} - {j.key for j in todo}
        pending = list(todo)  # in plan order: neither finished nor in flight
        flights: dict[Any, _Flight] = {}
        bars = Bars(len(todo)) if progress else None
        tasks: dict[str, Any] = {}  # a flight's tag -> its bar
        failure: BaseException | None = None

        def finish(batch: list[Job], sent: list[Job], task: Any = None) -> None:
            finished = [j for j in batch if store.has(j.key)]
            for j in finished:
                done.add(j.key)
            ran = sum(1 for j in finished if j in sent)
            counts["ran"] += ran
            counts["reused"] += len(finished) - ran
            if bars:
                if task is not None:
                    bars.end(task, len(finished))
                else:
                    bars.progress.update(bars.overall, advance=len(finished))
            missing = [j.label for j in sent if j.key not in done]
            if missing and failure is None:
                raise RuntimeError(f"the {batch[0].kind} job body returned no result for {', '.join(missing)}")

        def listen() -> None:
            for message in self._messages():
                self._heard(message, tasks, bars)

        try:
            changed = True
            while pending or flights:
                if failure is None and changed:
                    self._dispatch(plan, pending, done, flights, finish, bars, tasks)
                if not flights:
                    if pending and failure is None:
                        raise RuntimeError("plan has a cycle or a missing dependency")
                    break
                finished = self._wait(list(flights), POLL_S)
                listen()  # a batch's last lines came before its results
                changed = bool(finished)
                for handle, status, value in finished:
                    flight = flights.pop(handle)
                    if status == "lost" and failure is None:
                        if flight.attempts > RETRIES:
                            flight.locks.close()
                            failure = WorkerLost(f"the worker running {_title(flight.batch)} was lost "
                                                 f"{flight.attempts} times ({value}); the finished jobs are kept")
                            continue
                        self._restart(handle)
                        again = self._submit(compute_ref(job_kind(flight.batch[0].kind)), flight.batch,
                                             flight.batch[0].key)
                        flights[again] = _Flight(flight.batch, flight.locks, flight.alone, flight.attempts + 1,
                                                 flight.task)
                        continue
                    try:
                        if status == "ok":
                            store_results(store, value)
                        elif status == "error":
                            store_results(store, getattr(value, "partial", None) or ())
                            failure = failure or value
                    finally:
                        flight.locks.close()
                    finish(flight.batch, flight.batch, flight.task)
            listen()
            if failure is not None:
                raise failure
        except BaseException:
            for flight in flights.values():
                flight.locks.close()
            self.close()  # stop the workers of an interrupted or failed run
            raise
        finally:
            if bars:
                bars.stop()
        return counts

    def _heard(self, message: tuple, tasks: dict[str, Any], bars: Bars | None) -> None:
        """A worker's message: a progress line for a running batch's bar."""
        if message[0] == "progress":
            _, tag, text, fraction = message
            if bars and tag in tasks:
                bars.note(tasks[tag], text, fraction)

    def _key(self, job: Job):
        if job.key not in self._batching:
            batching = job_kind(job.kind).batch_key
            self._batching[job.key] = None if batching is None else batching(job, self.context)
        return self._batching[job.key]

    def _dispatch(self, plan: Plan, pending: list[Job], done: set[str], flights: dict, finish, bars, tasks) -> None:
        """Send every job that may go now (see the module docstring); run driver-only kinds here."""
        send = lambda batch, alone: self._send(plan, batch, pending, flights, finish, alone, bars, tasks)  # noqa: E731
        while True:
            ready = [j for j in pending if all(d in done for d in j.deps)]
            alone = [j for j in ready if self._key(j) is None]
            progressed = False
            for job in alone:
                if job_kind(job.kind).compute is not None and len(flights) >= self.workers:
                    continue
                send([job], True)
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
            send(first, False)
            for group in rest:
                if group[0].kind not in waiting_kinds and len(flights) < self.workers:
                    send(group, False)
            if flights:
                return

    def _send(self, plan: Plan, batch: list[Job], pending: list[Job], flights: dict, finish, alone: bool,
              bars, tasks) -> None:
        """Lock `batch`, then run its unfinished jobs: on a worker, or here for a driver-only kind."""
        store = self.context.store
        for j in batch:
            pending.remove(j)
        locks = ExitStack()
        task = None
        try:
            locks.enter_context(store.lock([j.key for j in batch], waiting=lambda key: _waiting(plan, key)))
            fresh = [j for j in batch if not store.has(j.key)]  # another process may be done
            kind = job_kind(batch[0].kind)
            if fresh and kind.compute is not None:
                if len(fresh) < len(batch):
                    finish([j for j in batch if j not in fresh], [])
                task = bars.begin(fresh) if bars else None
                if task is not None:
                    tasks[fresh[0].key] = task
                flights[self._submit(compute_ref(kind), fresh, fresh[0].key)] = _Flight(fresh, locks, alone, task=task)
                return
            if fresh:  # a kind that writes the store itself: in the driver
                task = bars.begin(fresh) if bars else None
                self.context.progress = (lambda text, fraction, t=task: bars.note(t, text, fraction)) if bars else None
                self.context.batches = self._compute_batches  # jobs the body makes: on the workers
                threads = threads_for(kind.work(fresh, self.context)) if kind.work else None
                try:
                    with torch_threads(threads) if threads else nullcontext():
                        kind.execute(fresh, self.context)
                finally:
                    self.context.progress = None
                    self.context.batches = None
        except BaseException:
            locks.close()
            raise
        locks.close()
        finish(batch, fresh, task)


    def _compute_batches(self, batches: list[list[Job]]) -> None:
        """`JobContext.batches` for a driver-side body: send every batch at once, store each
        result as it comes back, send a lost worker's batch again (up to `RETRIES` times)."""
        store = self.context.store
        handles = {self._submit(compute_ref(job_kind(b[0].kind)), b, b[0].key): (b, 1) for b in batches}
        failure: BaseException | None = None
        while handles:
            for handle, status, value in self._wait(list(handles), POLL_S):
                batch, attempts = handles.pop(handle)
                if status == "ok":
                    store_results(store, value)
                elif status == "lost" and failure is None and attempts <= RETRIES:
                    self._restart(handle)
                    handles[self._submit(compute_ref(job_kind(batch[0].kind)), batch, batch[0].key)] = (batch, attempts + 1)
                elif status == "lost":
                    failure = failure or WorkerLost(f"the worker running {_title(batch)} was lost {attempts} times "
                                                    f"({value}); the finished jobs are kept")
                else:
                    store_results(store, getattr(value, "partial", None) or ())
                    failure = failure or value
            self._messages()  # these batches have no bars of their own: their lines are dropped
        if failure is not None:
            raise failure


def _title(batch: list[Job]) -> str:
    return batch[0].label if len(batch) == 1 else f"{batch[0].label} and {len(batch) - 1} other job(s)"


def _waiting(plan: Plan, key: str) -> None:
    if sys.stderr.isatty():
        job = plan.jobs.get(key)
        print(f"waiting for another catdsl process computing {job.label if job else key[:12]}", file=sys.stderr)


# ---- a process pool ---------------------------------------------------------------------------


def start_server() -> None:
    """Start the process pool's fork server now, in the background: it imports torch and the
    registered job kinds' modules (`catdsl.job_kinds`) while the driver reads its file, so the
    workers that fork from it later start at once. Nothing where there is no forkserver."""
    mp = _start_method()
    if mp.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    from catdsl.backend import entry_points_of

    kinds = sorted({target.partition(":")[0] for target in entry_points_of("catdsl.job_kinds").values()})
    mp.set_forkserver_preload([m for m in ("torch", *kinds) if _findable(m)])
    forkserver.ensure_running()


def _start_method():
    import multiprocessing

    # forkserver: workers fork from a clean server process that has imported torch once (fast to
    # start, none of the driver's torch state); spawn where there is no forkserver
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


@dataclass
class ProcessExecutor(WorkerExecutor):
    """`--executor process --workers N`: N worker processes on this machine, one torch thread each.

    The workers start once, when a run first has jobs to send, all at once (each first imports
    the job kinds' modules), and serve every batch of the executor's runs until `close`; with
    the forkserver start method they fork from a server that imported torch and those modules
    once. Their messages come back on one queue."""

    _pool: Any = field(default=None, repr=False)
    _generation: int = 0
    _handles: dict[Any, int] = field(default_factory=dict, repr=False)
    _exit_registered: bool = False
    _channel: Any = field(default=None, repr=False)

    def _ensure(self):
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            mp = _start_method()
            if mp.get_start_method() == "forkserver":
                preload = [m for m in ("torch", *self._modules) if _findable(m)]
                mp.set_forkserver_preload(preload)
            if self._channel is None:
                # one pipe from every worker: a message is one write of under PIPE_BUF bytes, so
                # writers need no lock (a worker killed holding one would stall the others) and
                # a message is never half there; it is written before the batch's results
                self._channel = mp.Pipe(duplex=False)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=mp, initializer=set_up_worker,
                                             initargs=(list(sys.path), 1, self._channel[1]))
            self._generation += 1
            for _ in range(self.workers):  # start them all now, not one per batch sent
                self._pool.submit(warm, self._modules)
            if not self._exit_registered:
                atexit.register(self.close)
                self._exit_registered = True
        return self._pool

    def _prepare(self) -> None:
        self._ensure()

    def _submit(self, ref: str, jobs: list[Job], tag: str):
        future = self._ensure().submit(work, ref, jobs, str(self.context.store.root), self.context.device, (), tag)
        self._handles[future] = self._generation
        return future

    def _wait(self, handles, timeout):
        finished, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
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

    def _messages(self) -> list[tuple]:
        out = []
        try:
            while self._channel is not None and self._channel[0].poll():
                out.append(self._channel[0].recv())
        except (OSError, ValueError, EOFError):
            pass
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
        if self._channel is not None:
            for end in self._channel:
                end.close()
            self._channel = None

    def worker_pids(self) -> list[int]:
        """The process ids of the current workers (for tests and diagnostics)."""
        pool = self._pool
        return sorted(getattr(pool, "_processes", {}) or {}) if pool is not None else []


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def make_process_executor(store: Store, device: str, workers: int | None) -> WorkerExecutor:
    n = workers if workers is not None else available_cpus()
    if n < 1:
        raise ValueError(f"--workers {n}: give at least one worker")
    return ProcessExecutor(JobContext(store, device), n)
