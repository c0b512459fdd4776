"""Execute a plan against the run store, reusing every finished job.

Jobs run in plan order, in-process; a finished job is never recomputed (its key is in the
store), so a second run is near-instant and a killed run resumes where it stopped. Each
training state is stored as safetensors (never pickled) with its step, epoch and digest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from backends.run.plan import Job, Plan


class TrainingDiverged(Exception):
    def __init__(self, job: Job, step: int, loss: float):
        super().__init__(f"{job.label} diverged at step {step} (loss {loss})")
        self.job, self.step, self.loss = job, step, loss


@dataclass
class Executor:
    """Runs jobs of one program; keeps states it has loaded or made in memory."""

    program: object
    store: object
    device: str = "cpu"

    def __post_init__(self) -> None:
        self._states: dict[str, object] = {}
        self._data: dict[str, object] = {}

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

    def run(self, plan: Plan, keys=None, progress: bool = True) -> dict[str, int]:
        """Make sure the jobs for `keys` (all jobs by default) are finished; count reused/ran."""
        jobs = plan.ancestors(keys) if keys is not None else list(plan.jobs.values())
        todo = [j for j in jobs if not self.store.has(j.key)]
        counts = {"reused": len(jobs) - len(todo), "ran": 0}
        if not todo:
            return counts
        bar = None
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                           TimeElapsedColumn(), transient=False)
            bar.start()
            overall = bar.add_task("jobs", total=len(todo))
        try:
            for job in todo:
                task = bar.add_task(f"  {job.label}", total=1) if bar else None
                self._run_one(job)
                counts["ran"] += 1
                if bar:
                    bar.update(task, completed=1)
                    bar.update(overall, advance=1)
        finally:
            if bar:
                bar.stop()
        return counts

    def _run_one(self, job: Job) -> None:
        from backends.torch.data import DataSpec
        from backends.torch.models import spec_from_json
        from backends.torch.train import Diverged, evaluate, init_state, train
        import json

        start = time.perf_counter()
        model = spec_from_json(json.dumps(job.spec["model"]))
        data = self.dataset(DataSpec.of(job.spec["data"]["name"], **job.spec["data"]["options"]))
        if job.kind == "init":
            state = init_state(model, data.input_shape, job.spec["seed"])
            metrics = {"step": 0, "epoch": 0}
        elif job.kind == "train":
            from backends.torch.train import OptimizerSpec, SCHEDULES

            o = dict(job.spec["optimizer"])
            sched = o.pop("schedule")
            if sched is not None:
                kind = sched.pop("kind")
                o["schedule"] = next(c for c in SCHEDULES.values() if c.__name__.lower() == kind)(**sched)
            opt = OptimizerSpec(**o)
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
