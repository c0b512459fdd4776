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
from dataclasses import dataclass

from backends.run.jobs import JobContext, job_kind
from backends.run.plan import Job, Plan


def available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


# Multiply-adds per training step below which one torch thread is the fastest choice.
THREAD_WORK = 1e8


def threads_for(work: float) -> int:
    """Torch threads for a job doing `work` multiply-adds per step (see the module docstring)."""
    given = os.environ.get("CATDSL_THREADS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return 1 if work < THREAD_WORK else available_cpus()


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
