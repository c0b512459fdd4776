"""The local executor: a plan's jobs run in this process, in plan order, reusing every finished job.

A finished job is never recomputed (its key is in the store), so a second run is near-instant
and a killed run resumes where it stopped. Each ready job runs through the body its kind
registered (`backends.run.jobs`); ready jobs of one kind with equal batching keys run as one
call (sweep members trained together as one ensemble), the others one at a time, in plan order.

Threads: a job whose step is small (under `THREAD_WORK` multiply-adds, by its kind's work
estimate, e.g. parameters × batch × members × spatial positions) runs on one torch thread,
larger ones on every CPU the process may use. Small steps gain nothing from a second thread and
lose badly when another process holds a core (measured on 2 cores with another process busy: a
digits MLP 64-32-10 trained 10-60× slower on 2 threads than on 1, and even a 64-1024-1024-10 MLP
at batch 256, 3·10⁸ multiply-adds a step, 10× slower); the threshold is where a second thread
should pay off on an idle machine, a guess. `CATDSL_THREADS=N` overrides the choice.

An ensemble's step in between (`MEASURE_WORK` to `THREAD_WORK`: a 100-member sweep of that MLP
is 1.5·10⁷) may gain from a second thread on an idle machine and lose on a busy one, so in a
local run on the CPU it measures instead of guessing (`ThreadChoice`: one epoch on one thread,
one on all CPUs, then the faster, the other re-tried every `RETRY_EVERY` epochs, a try far
slower than the faster cut short). On 2 cores that sweep's ensemble trained in 1.35 s against
2.1 s on one thread when idle, and in 2.4 s against 2.0 s (5.0 s on two fixed threads) with
another process keeping a core busy; end to end (`bench/bench_ensemble.py`, 20 epochs, load
about 1) the sweep ran 6.35–6.4× faster than its 100 single jobs, 4.6–4.9× before. Threads
changed no bit of any ensemble measured on 1 and 2 threads (MLPs up to 64-1024-10 and 100
members, `bmm` and `vmap`, SGD and Adam, a Conv2d-GroupNorm net; the digests of a 100-member
sweep), and `tests/torch/test_ensemble_threads.py` keeps it so.

Two processes running plans on one store compute a job once: a batch runs holding its jobs'
locks (`Store.lock`) and only the jobs still unfinished once the locks are held run; those
another process finished meanwhile count as reused. The device is checked when the first job
must run (`device_for`): an unknown or unavailable one is a `DeviceError`, never a silent CPU run.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

from backends.run.jobs import JobContext, job_kind
from backends.run.plan import Job, Plan


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Multiply-adds per training step below which one torch thread is the fastest choice.
THREAD_WORK = 1e8
# Below this an ensemble's step stays on one thread without measuring (a guess: a second thread
# could save microseconds of such a step, and one try of it under load costs milliseconds).
MEASURE_WORK = 1e6
# Epochs between re-tries of the thread count that measured slower (`ThreadChoice`).
RETRY_EVERY = 8
# A try of a thread count is cut short once it has run this many times longer than the fastest
# known count would have for the same steps (`ThreadChoice.too_slow`).
PATIENCE = 2.0


def _given_threads() -> int | None:
    given = os.environ.get("CATDSL_THREADS", "").strip()
    return int(given) if given.isdigit() and int(given) > 0 else None


def threads_for(work: float) -> int:
    """Torch threads for a job doing `work` multiply-adds per step (see the module docstring)."""
    given = _given_threads()
    if given is not None:
        return given
    return 1 if work < THREAD_WORK else available_cpus()


@dataclass(frozen=True)
class ThreadChoice:
    """Torch threads for each epoch of a training loop on the CPU: fixed (one option), or chosen
    by measurement among `options` (1 and all CPUs). Each is tried once, in order (epoch 0 on
    one thread, epoch 1 on all); then every epoch runs on the one whose last epoch was faster
    per step, and every `every`-th epoch re-tries the other, so that a core another process
    takes or frees later is noticed. A try that runs `patience` times longer than the fastest
    count would have is cut short (`too_slow`): the loop goes back to the fastest for the rest
    of its epoch, which threads allow, since they change no bit. Immutable: `measured` returns
    the choice that knows one more time.

    Why measure: a 100-member sweep of a digits MLP 64-32-10 (1.5·10⁷ multiply-adds a step,
    batch 64, 20 epochs; `catdsl run`, 2 cores) took 3.8 s on two threads and 4.7 s on one on
    an idle machine, but 8.85 s on two and 4.6 s on one while another process kept one core
    busy (OpenMP threads waiting on a shared core); a step of its ensemble, 4–5 ms on one
    thread, took 12–160 ms on two under such load, hence the cut."""

    options: tuple[int, ...]
    every: int = RETRY_EVERY
    patience: float = PATIENCE
    seconds: tuple[float | None, ...] | None = None  # per option: seconds per step, last measured

    @property
    def fixed(self) -> bool:
        return len(self.options) == 1

    @property
    def fastest(self) -> int | None:
        """The option whose last measurement was fastest (ties: fewer threads); None before any."""
        measured = sorted((t, n) for n, t in zip(self.options, self.seconds or ()) if t is not None)
        return measured[0][1] if measured else None

    def threads(self, epoch: int) -> int:
        """The threads epoch `epoch` (counted from 0 in this loop) starts on."""
        times = self.seconds or (None,) * len(self.options)
        untried = [n for n, t in zip(self.options, times) if t is None]
        if untried:
            return untried[0]
        best = self.fastest
        if epoch % self.every == 0 and not self.fixed:
            return next(n for n in self.options if n != best)
        return best

    def too_slow(self, threads: int, seconds: float, steps: int) -> bool:
        """Whether a try of `threads` that took `seconds` for `steps` steps should stop: it has
        run `patience` times longer than the fastest known count needs for as many steps."""
        best = self.fastest
        if best is None or best == threads:
            return False
        return seconds > self.patience * steps * self.seconds[self.options.index(best)]

    def measured(self, threads: int, seconds_per_step: float) -> "ThreadChoice":
        """This choice, knowing that `threads` last took `seconds_per_step` a step."""
        if threads not in self.options:
            return self
        times = list(self.seconds or (None,) * len(self.options))
        times[self.options.index(threads)] = seconds_per_step
        return replace(self, seconds=tuple(times))


def thread_choice(work: float) -> ThreadChoice:
    """How an ensemble doing `work` multiply-adds per step picks its threads on the CPU: measured
    between 1 and all CPUs from `MEASURE_WORK` to `THREAD_WORK`, else `threads_for(work)`.
    `CATDSL_THREADS=N` fixes N; the workers of the process and Ray executors set it to 1
    (`backends.run.pool.set_up_worker`), since several workers already share the cores."""
    given, cpus = _given_threads(), available_cpus()
    if given is not None:
        return ThreadChoice((given,))
    if MEASURE_WORK <= work < THREAD_WORK and cpus > 1:
        return ThreadChoice((1, cpus))
    return ThreadChoice((threads_for(work),))


@contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class DeviceError(ValueError):
    """`--device NAME` names no device, or one this machine does not have."""


# what `--device` accepts: auto, cpu, cuda, cuda:N, mps
_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def check_device_name(name: str) -> str:
    """`name` if it is a device `--device` accepts (checked without torch), else DeviceError."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise DeviceError(f"--device {name}: unknown device; use auto, cpu, cuda, cuda:N or mps")
    return name


def device_for(name: str) -> str:
    """The device `--device NAME` means: `auto` is cuda when available, else cpu; a device this
    machine lacks (cuda without CUDA, cuda:N past the last GPU, mps without Metal) is a DeviceError."""
    check_device_name(name)
    if name == "cpu":
        return name
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError("--device mps: Metal (MPS) is not available on this machine; use --device cpu or auto")
        return name
    if not torch.cuda.is_available():
        why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise DeviceError(f"--device {name}: CUDA is not available on this machine ({why}, torch "
                          f"{torch.__version__}); use --device cpu or auto")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise DeviceError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                          f"numbered from 0; use --device cuda:0 or auto")
    return name


@dataclass
class LocalExecutor:
    """Runs jobs one call at a time in this process; `context.memo` keeps what they made in memory."""

    context: JobContext

    def run(self, plan: Plan, keys=None, progress: bool = True) -> dict[str, int]:
        """Make sure the jobs for `keys` (all jobs by default) are finished; count reused/ran."""
        store = self.context.store
        jobs = plan.ancestors(keys) if keys is not None else list(plan.jobs.values())
        todo = [j for j in jobs if not store.has(j.key)]
        counts = {"reused": len(jobs) - len(todo), "ran": 0}
        if not todo:
            return counts
        self.context.device = device_for(self.context.device)
        done = {j.key for j in jobs} - {j.key for j in todo}
        bars = Bars(len(todo)) if progress else None
        try:
            pending = list(todo)
            while pending:
                batch = self._next(pending, done)
                kind = job_kind(batch[0].kind)
                task = bars.begin(batch) if bars else None
                # a job body reports its own progress (epochs) beside its title: `jobs.report`
                self.context.progress = (lambda text, fraction, t=task: bars.note(t, text, fraction)) if bars else None
                fresh: list[Job] = []
                try:
                    with store.lock([j.key for j in batch], waiting=lambda key: self._waiting(plan, key)):
                        fresh = [j for j in batch if not store.has(j.key)]  # another process may be done
                        if fresh:
                            threads = threads_for(kind.work(fresh, self.context)) if kind.work else None
                            with torch_threads(threads) if threads else nullcontext():
                                kind.execute(fresh, self.context)
                finally:
                    self.context.progress = None
                    finished = [j for j in batch if store.has(j.key)]
                    for j in finished:
                        done.add(j.key)
                        pending.remove(j)
                    ran = sum(1 for j in finished if j in fresh)
                    counts["ran"] += ran
                    counts["reused"] += len(finished) - ran
                    if bars:
                        bars.end(task, len(finished))
        finally:
            if bars:
                bars.stop()
        return counts

    @staticmethod
    def _waiting(plan: Plan, key: str) -> None:
        if sys.stderr.isatty():
            job = plan.jobs.get(key)
            print(f"waiting for another catdsl process computing {job.label if job else key[:12]}",
                  file=sys.stderr)

    def _next(self, pending: list[Job], done: set[str]) -> list[Job]:
        """The jobs to run next: the first ready job that runs alone, else the first ready job
        with every ready job of its kind and batching key."""
        ready = [j for j in pending if all(d in done for d in j.deps)]
        if not ready:
            raise RuntimeError("plan has a cycle or a missing dependency")
        keys: dict[str, object] = {}

        def key(job: Job):
            if job.key not in keys:
                batching = job_kind(job.kind).batch_key
                keys[job.key] = None if batching is None else batching(job, self.context)
            return keys[job.key]

        alone = next((j for j in ready if key(j) is None), None)
        if alone is not None:
            return [alone]
        first = ready[0]
        return [j for j in ready if j.kind == first.kind and key(j) == key(first)]


def batch_title(batch: list[Job]) -> str:
    """What a progress bar calls a batch: its job, or its declaration and size."""
    if len(batch) == 1:
        return f"  {batch[0].label}"
    return f"  {batch[0].origin[0] if batch[0].origin else 'ensemble'}: {len(batch)} runs as one ensemble"


class Bars:
    """The progress display of a run, on stderr (stdout is for results): one bar for all jobs and
    one per running batch, beside which its body's line (`backends.run.jobs.report`) shows; a
    batch's bar moves by the fraction of it done (a sweep's bar by its members' epochs)."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 TextColumn("{task.completed:.0f}/{task.total}"), TimeElapsedColumn(),
                                 transient=False, console=Console(stderr=True))
        self.progress.start()
        self.overall = self.progress.add_task("jobs", total=total)
        self.titles: dict[int, tuple[str, int]] = {}

    def begin(self, batch: list[Job]) -> int:
        task = self.progress.add_task(batch_title(batch), total=len(batch))
        self.titles[task] = (batch_title(batch), len(batch))
        return task

    def note(self, task: int, text: str, fraction: float | None = None) -> None:
        title, size = self.titles.get(task, ("", 1))
        extra = {} if fraction is None else {"completed": max(0.0, min(1.0, fraction)) * size}
        self.progress.update(task, description=f"{title}  {text}", **extra)

    def end(self, task: int, finished: int) -> None:
        self.progress.update(task, completed=finished)
        self.progress.update(self.overall, advance=finished)

    def stop(self) -> None:
        self.progress.stop()
