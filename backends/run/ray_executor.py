"""`--executor ray [--address auto | HOST:PORT]`: a plan's jobs as Ray tasks (extra `catdsl[ray]`).

The scheduling, the batches, the retries and the storing are `backends.run.pool.WorkerExecutor`'s:
the driver alone writes the store; each task runs one batch's `compute` body
(`backends.run.pool.work`) against the store opened read-only and returns its results. So the
store must be readable at the same path on every node that runs tasks (a shared file system);
on one machine it always is.

Without an address, Ray starts on this machine with `--workers` CPUs (default: every CPU this
process may use); `--address auto` joins the cluster this machine belongs to (`ray start
--head` / `ray start --address HEAD:6379` ran before), `--address HOST:PORT` a given head. A task
asks for one CPU, and one GPU when the run's device is CUDA. Ray retries a task whose worker
died (`max_retries`); the executor sends a batch again itself when Ray reports it lost anyway.
The tasks' progress lines reach the driver through a Ray queue (an actor on the driver's
cluster), each put before the task's results; partial records a task writes into the shared
store itself (`Store.put_partial`).
"""

from __future__ import annotations

import atexit
import sys
from dataclasses import dataclass, field
from typing import Any

from backends.run.execute import available_cpus
from backends.run.jobs import JobContext
from backends.run.pool import RETRIES, WorkerExecutor, set_up_worker, warm, work
from backends.run.store import Store

INSTALL = 'pip install "catdsl[ray]"'


class RayMissing(ImportError):
    pass


def import_ray():
    try:
        import ray
    except ImportError as e:
        raise RayMissing(f"--executor ray needs Ray, which is not installed here ({e}); install it with: "
                         f"{INSTALL}") from None
    return ray


class _Sender:
    """A Ray queue as `work` sends on it: `put` returns once the queue's actor has the message,
    so a batch's lines are there before its results."""

    def __init__(self, queue):
        self.queue = queue

    def send(self, message) -> None:
        self.queue.put(message)


def _task(ref, jobs, root, device, sys_path, tag, channel):
    import torch

    torch.set_num_threads(1)
    return work(ref, jobs, root, device, sys_path, tag, _Sender(channel) if channel is not None else None)


def _warm_task(modules, sys_path):
    """A worker's first task: import torch and the job kinds' modules (1.2 s on 2 CPUs), so
    that every worker does it at once, not each when its first batch reaches it."""
    set_up_worker(sys_path, 1)
    return warm(modules)


@dataclass
class RayExecutor(WorkerExecutor):
    address: str | None = None
    _remote: Any = field(default=None, repr=False)
    _started: bool = False
    _channel: Any = field(default=None, repr=False)  # a Ray queue (an actor): the tasks' messages
    _warming: list = field(default_factory=list, repr=False)  # the workers' first tasks (`_warm_task`)

    def _ensure(self):
        ray = import_ray()
        if self._remote is None:
            if not ray.is_initialized():
                options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                           "configure_logging": False}
                if self.address is None:
                    options["num_cpus"] = self.workers or available_cpus()
                    if self.context.device.startswith("cuda"):
                        import torch

                        options["num_gpus"] = torch.cuda.device_count()
                try:
                    ray.init(address=self.address, **options)
                except ConnectionError as e:  # `catdsl run` says this and exits 2; nothing ran yet
                    raise ConnectionError(_unreachable(self.address, e)) from None
                self._started = True
                atexit.register(self.close)  # before Ray's own exit handler, which takes longer
            gpus = 1 if self.context.device.startswith("cuda") else 0
            self._remote = ray.remote(_task).options(num_cpus=1, num_gpus=gpus, max_retries=RETRIES,
                                                     retry_exceptions=False)
        if self._channel is None and self._progress:  # an actor: a process to start, only to be shown
            from ray.util.queue import Queue

            self._channel = Queue(actor_options={"num_cpus": 0})
        return ray

    def _prepare(self) -> None:
        ray = self._ensure()
        if self.workers is None:  # a cluster: as many batches at once as it has CPUs
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if not self._warming:
            warm_remote = ray.remote(_warm_task).options(num_cpus=1)
            self._warming = [warm_remote.remote(self._modules, list(sys.path)) for _ in range(self.workers)]

    def _submit(self, ref, jobs, tag):
        self._ensure()
        return self._remote.remote(ref, jobs, str(self.context.store.root.resolve()), self.context.device,
                                   list(sys.path), tag, self._channel)

    def _wait(self, handles, timeout):
        ray = self._ensure()
        finished, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in finished:
            try:
                out.append((ref, "ok", ray.get(ref)))
            except ray.exceptions.RayTaskError as e:  # the job body raised: its own exception
                cause = getattr(e, "cause", None)
                out.append((ref, "error", cause if isinstance(cause, BaseException) else e))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.ObjectLostError, ray.exceptions.TaskUnschedulableError) as e:
                out.append((ref, "lost", type(e).__name__))
        return out

    def _messages(self) -> list[tuple]:
        if self._channel is None:
            return []
        try:
            waiting = self._channel.qsize()
            return list(self._channel.get_nowait_batch(waiting)) if waiting else []
        except Exception:  # noqa: BLE001  (a queue lost with its node: only progress is lost)
            return []

    def close(self) -> None:
        self._channel = None
        self._warming = []
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        self._remote = None


def _unreachable(address: str | None, error: Exception) -> str:
    where = f"the Ray cluster at {address}" if address else "a local Ray"
    return (f"--executor ray: cannot connect to {where} ({str(error).strip() or type(error).__name__}); "
            "start a head there with `ray start --head` (a cluster with token authentication also needs "
            "its token on this machine: `--address auto` on a node of the cluster finds both), or leave "
            "out --address to start a local Ray")


def make_ray_executor(store: Store, device: str, workers: int | None, address: str | None = None) -> RayExecutor:
    import_ray()  # a clear error before any work when Ray is missing
    if workers is not None and workers < 1:
        raise ValueError(f"--workers {workers}: give at least one worker")
    if workers is None and address is None:
        workers = available_cpus()  # a local Ray of this machine's CPUs
    return RayExecutor(JobContext(store, device), workers, address=address)
