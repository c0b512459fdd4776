"""Execute a plan against the run store, reusing every finished job.

Jobs run in plan order, in-process; a finished job is never recomputed (its key is in the
store), so a second run is near-instant and a killed run resumes where it stopped. Each
training state is stored as safetensors (never pickled) with its step, epoch and digest.

Sweep members (train jobs marked `ensemble`) that are ready at the same time and can share one
batched run — same architecture, data, loss, optimizer kind, batch size, epochs and starting
step — train together as one ensemble (`backends.torch.ensemble.train_ensemble`); each member's
state is stored under its own key exactly like a single job's.

Threads: a job whose step is small (under `THREAD_WORK` multiply-adds, estimated as parameters ×
batch × members × spatial positions) runs on one torch thread, larger ones on every CPU the
process may use. Small steps gain nothing from a second thread and lose badly when another
process holds a core (measured on 2 cores with another process busy: a digits MLP 64-32-10
trained 10-60× slower on 2 threads than on 1, and even a 64-1024-1024-10 MLP at batch 256,
3·10⁸ multiply-adds a step, 10× slower); the threshold is where a second thread should pay off
on an idle machine, a guess. `CATDSL_THREADS=N` overrides the choice.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

from backends.run.plan import Job, Plan


class TrainingDiverged(Exception):
    def __init__(self, job: Job, step: int, loss: float):
        super().__init__(f"{job.label} diverged at step {step} (loss {loss})")
        self.job, self.step, self.loss = job, step, loss


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


def step_work(model_json: dict, input_shape: tuple, batch: int, members: int = 1) -> float:
    """Rough multiply-adds of one step: parameters × batch × members (× spatial positions for
    image inputs, where convolutions reuse their weights at every position)."""
    from backends.torch.models import spec_from_json
    from backends.torch.train import template

    params = sum(p.numel() for p in template(spec_from_json(json.dumps(model_json))).parameters())
    positions = input_shape[1] * input_shape[2] if len(input_shape) == 3 else 1
    return float(params) * batch * members * positions


def device_for(name: str) -> str:
    """The device `--device NAME` means: `auto` is cuda when available, else cpu."""
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class Executor:
    """Runs jobs of one program; keeps states it has loaded or made in memory.

    `device` may be `auto`: it is decided (importing torch) only when a job must run."""

    program: object
    store: object
    device: str = "cpu"

    def __post_init__(self) -> None:
        self._states: dict[str, object] = {}
        self._data: dict[str, object] = {}
        self._plan: Plan | None = None

    # -- values ---------------------------------------------------------------------------------

    def dataset(self, spec):
        from backends.torch.data import load_dataset

        key = spec.to_json()
        if key not in self._data:
            self._data[key] = load_dataset(spec, cache_dir=self.store.root / "data")
        return self._data[key]

    def state(self, key: str):
        """The training state job `key` produced (from memory or the store)."""
        if key not in self._states:
            from backends.torch.train import TrainingState

            stored = self.store.get(key)
            self._states[key] = TrainingState.from_tensors(
                self.store.tensors(key), int(stored.metrics["step"]), int(stored.metrics["epoch"]))
        return self._states[key]

    def checkpoints(self, key: str) -> list:
        """The states (parameters and buffers, no optimizer state) a `checkpoints` job stored."""
        from backends.torch.train import TrainingState

        stored = self.store.get(key)
        tensors = self.store.tensors(key)
        points = []
        for i, (step, epoch) in enumerate(zip(stored.metrics["steps"], stored.metrics["epochs"])):
            prefix = f"{i}/"
            mine = {k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)}
            points.append(TrainingState.from_tensors(mine, int(step), int(epoch)))
        return points

    def feature_path(self, key: str):
        """The RepPath a `features` job stored."""
        from backends.torch.features import RepPath

        stack = self.store.tensors(key)["features"]
        return RepPath(tuple(stack.unbind(0)))

    # -- running --------------------------------------------------------------------------------

    def run(self, plan: Plan, keys=None, progress: bool = True) -> dict[str, int]:
        """Make sure the jobs for `keys` (all jobs by default) are finished; count reused/ran."""
        self._plan = plan
        jobs = plan.ancestors(keys) if keys is not None else list(plan.jobs.values())
        todo = [j for j in jobs if not self.store.has(j.key)]
        counts = {"reused": len(jobs) - len(todo), "ran": 0}
        if not todo:
            return counts
        self.device = device_for(self.device)
        done = {j.key for j in jobs} - {j.key for j in todo}
        bar = None
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                           TimeElapsedColumn(), transient=False)
            bar.start()
            overall = bar.add_task("jobs", total=len(todo))
        try:
            pending = list(todo)
            while pending:
                ready = [j for j in pending if all(d in done for d in j.deps)]
                single = next((j for j in ready if not j.spec.get("ensemble")), None)
                batch = [single] if single is not None else self._ensemble_group(ready)
                title = batch[0].label if len(batch) == 1 else \
                    f"  {batch[0].origin[0] if batch[0].origin else 'ensemble'}: {len(batch)} runs as one ensemble"
                task = bar.add_task(f"  {title}" if len(batch) == 1 else title, total=len(batch)) if bar else None
                try:
                    with torch_threads(threads_for(self._work(batch))):
                        if single is not None:
                            self._run_one(single)
                        else:
                            self._run_ensemble(batch)
                finally:
                    finished = [j for j in batch if self.store.has(j.key)]
                    for j in finished:
                        done.add(j.key)
                        pending.remove(j)
                    counts["ran"] += len(finished)
                    if bar:
                        bar.update(task, completed=len(finished))
                        bar.update(overall, advance=len(finished))
        finally:
            if bar:
                bar.stop()
        return counts

    def _work(self, batch: list[Job]) -> float:
        """Multiply-adds per step of a batch of jobs (for the thread count)."""
        from backends.torch.data import DataSpec

        job = batch[0]
        if job.kind == "init":
            return 0.0
        if job.kind == "features":  # the probe set through the model
            spec, data, size = job.spec, job.spec["probe"]["data"], job.spec["probe"]["size"]
        else:  # a training step (checkpoints re-train their segment)
            spec = job.spec if job.kind == "train" else self.store.get(job.spec["train"]).spec
            data, size = spec["data"], spec["optimizer"]["batch"]
        shape = self.dataset(DataSpec.of(data["name"], **data["options"])).input_shape
        return step_work(spec["model"], tuple(shape), size, len(batch))

    def _ensemble_group(self, ready: list[Job]) -> list[Job]:
        """The ready sweep members that can train as one batched run with the first of them."""
        if not ready:
            raise RuntimeError("plan has a cycle or a missing dependency")

        def signature(job: Job) -> str:
            o = job.spec["optimizer"]
            up = self.store.get(job.deps[0]).metrics
            return json.dumps([job.spec["model"], job.spec["data"], job.spec["loss"], o["name"], o["batch"],
                               o["epochs"], o["nesterov"], o["betas"], o["eps"], up["step"], up["epoch"]],
                              sort_keys=True)

        first = signature(ready[0])
        return [j for j in ready if signature(j) == first]

    def _model_and_data(self, job: Job):
        from backends.torch.data import DataSpec
        from backends.torch.models import spec_from_json

        model = spec_from_json(json.dumps(job.spec["model"]))
        data = self.dataset(DataSpec.of(job.spec["data"]["name"], **job.spec["data"]["options"]))
        return model, data

    def _run_one(self, job: Job) -> None:
        if job.kind == "checkpoints":
            return self._run_checkpoints(job)
        if job.kind == "features":
            return self._run_features(job)
        from backends.torch.train import Diverged, evaluate, init_state, train

        start = time.perf_counter()
        model, data = self._model_and_data(job)
        if job.kind == "init":
            state = init_state(model, data.input_shape, job.spec["seed"])
            metrics = {"step": 0, "epoch": 0}
        elif job.kind == "train":
            opt = optimizer_spec(job.spec["optimizer"])
            upstream = self.state(job.deps[0])
            try:
                traj = train(upstream, model, data, opt, loss=job.spec["loss"], device=self.device)
            except Diverged as e:
                raise TrainingDiverged(job, e.step, e.loss) from None
            state = traj.end
            metrics = {"step": state.step, "epoch": state.epoch,
                       "final_train_loss": traj.losses[-1] if traj.losses else None,
                       **evaluate(state, model, data, loss=job.spec["loss"], device=self.device)}
        else:
            raise ValueError(f"unknown job kind {job.kind!r}")
        self._states[job.key] = state
        self.store.put(job.key, job.kind, {"label": job.label, **job.spec}, state.tensors(), metrics,
                       state.digest(), seconds=time.perf_counter() - start)

    def _run_ensemble(self, jobs: list[Job]) -> None:
        """Train sweep members together; store each finished member, then report a divergence.

        Members that cannot share a batched run (BatchNorm, Dropout, different optimizer state)
        train one at a time: their results are then exactly those of single runs."""
        from backends.torch.ensemble import NotEnsemblable, train_ensemble
        from backends.torch.train import Diverged, evaluate, train

        start = time.perf_counter()
        model, data = self._model_and_data(jobs[0])
        loss = jobs[0].spec["loss"]
        starts = [self.state(j.deps[0]) for j in jobs]
        opts = [optimizer_spec(j.spec["optimizer"]) for j in jobs]
        try:
            results = train_ensemble(starts, model, data, opts, loss=loss, device=self.device)
            together = len(jobs)
        except NotEnsemblable:
            results, together = [], 1
            for s, o in zip(starts, opts):
                try:
                    results.append(train(s, model, data, o, loss=loss, device=self.device))
                except Diverged as e:
                    results.append(e)
        seconds = (time.perf_counter() - start) / len(jobs)
        diverged = None
        for job, result in zip(jobs, results):
            if isinstance(result, Diverged):
                diverged = diverged or TrainingDiverged(job, result.step, result.loss)
                continue
            state = result.end
            metrics = {"step": state.step, "epoch": state.epoch, "members": together,
                       "final_train_loss": result.losses[-1] if result.losses else None,
                       **evaluate(state, model, data, loss=loss, device=self.device)}
            self._states[job.key] = state
            self.store.put(job.key, job.kind, {"label": job.label, **job.spec}, state.tensors(), metrics,
                           state.digest(), seconds=seconds)
        if diverged is not None:
            raise diverged

    def _run_checkpoints(self, job: Job) -> None:
        """Re-run a train job's segment one epoch at a time, keeping the state after each epoch."""
        import dataclasses

        from backends.torch.train import Diverged, states_equal, train

        start = time.perf_counter()
        trained = self.store.get(job.spec["train"])
        model, data = self._model_and_data(trained)
        opt = optimizer_spec(trained.spec["optimizer"])
        state = self.state(trained.spec["upstream"])
        points = [state]
        one = dataclasses.replace(opt, epochs=1)
        try:
            for _ in range(opt.epochs):
                state = train(state, model, data, one, loss=trained.spec["loss"], device=self.device).end
                points.append(state)
        except Diverged as e:
            raise TrainingDiverged(trained, e.step, e.loss) from None
        bitwise, difference = states_equal(state, self.state(trained.key))
        tensors = {f"{i}/{group}/{name}": t for i, p in enumerate(points)
                   for group, ts in (("param", p.params), ("buffer", p.buffers)) for name, t in ts.items()}
        metrics = {"points": len(points), "steps": [p.step for p in points], "epochs": [p.epoch for p in points],
                   "reproduces": bitwise, "difference": difference}
        self.store.put(job.key, job.kind, {"label": job.label, **job.spec}, tensors, metrics, None,
                       seconds=time.perf_counter() - start)

    def _run_features(self, job: Job) -> None:
        """L(γ): the features of every checkpoint on the probe set, stacked (points, probe, width)."""
        import torch

        from backends.torch.features import linear_cka, procrustes_distance, structure_violation_rate
        from backends.torch.models import spec_from_json

        start = time.perf_counter()
        model = spec_from_json(json.dumps(job.spec["model"]))
        probe = self.probe(job.spec["probe"])
        points = self.checkpoints(job.spec["checkpoints"])
        path = along(model, points, job.spec["layer"], probe)
        n = probe.shape[0]
        metrics = {"points": len(path), "probe": n, "width": int(path.start.shape[1]),
                   "cka": linear_cka(path.start, path.end) if n >= 4 else None,
                   "procrustes": procrustes_distance(path.start, path.end),
                   "structure": structure_violation_rate(path, k=min(DEFAULT_K, n - 1)).value,
                   "k": min(DEFAULT_K, n - 1)}
        metrics = {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}
        tensors = {"features": torch.stack(path.points), "steps": torch.tensor([p.step for p in points])}
        self.store.put(job.key, job.kind, {"label": job.label, **job.spec}, tensors, metrics, None,
                       seconds=time.perf_counter() - start)

    def probe(self, spec: dict):
        """The probe inputs: the first `size` points of a split of a data set."""
        from backends.torch.data import DataSpec

        data = self.dataset(DataSpec.of(spec["data"]["name"], **spec["data"]["options"]))
        x = data.x_test if spec["split"] == "test" else data.x_train
        return x[: spec["size"]]


# k of the structure condition (k nearest neighbours under the start features) unless a check
# sets it (`check L.structure with k = …`).
DEFAULT_K = 10


def along(model_spec, points, layer: int, probe):
    """L(γ) for checkpoints `points`: features after `layer` of each state, on `probe`."""
    from backends.torch.features import RepPath, features
    from backends.torch.train import template

    module = template(model_spec)
    return RepPath(tuple(features(module, {**p.params, **p.buffers}, layer, probe) for p in points))


def optimizer_spec(o: dict):
    """The OptimizerSpec a plan's JSON describes."""
    from backends.torch.segment import SCHEDULES, OptimizerSpec

    o = dict(o)
    sched = o.pop("schedule")
    if sched is not None:
        sched = dict(sched)
        kind = sched.pop("kind")
        o["schedule"] = SCHEDULES[kind](**sched)
    o["betas"] = tuple(o["betas"])
    return OptimizerSpec(**o)
