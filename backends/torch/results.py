"""The values the torch job kinds make, read back from the run store: training states, the
checkpoints along a segment, feature paths; and the data and probe sets they are made on.

Whatever executor ran the jobs, their results are in its store (a job body only reads it: the
executor stores what the body returns); what was read or made in this process is kept in the executor's `context.memo` (under "torch"), so a state just trained is not
read back from disk. Torch is imported only when a value is read.
"""

from __future__ import annotations

import json
from typing import Any

from backends.run.jobs import JobContext
from backends.run.plan import Job


class TrainingDiverged(Exception):
    """Training of `job` reached a NaN or infinite loss at global step `step`."""

    def __init__(self, job: Job, step: int, loss: float):
        super().__init__(f"{job.label} diverged at step {step} (loss {loss})")
        self.job, self.step, self.loss = job, step, loss
        self.partial: list = []  # the results of the jobs of its batch that finished (stored first)

    def __reduce__(self):  # sent back from an executor's worker process
        return (TrainingDiverged, (self.job, self.step, self.loss), {"partial": self.partial})


class Results:
    def __init__(self, context: JobContext):
        self.context = context
        self.store = context.store
        memo = context.memo.setdefault("torch", {"states": {}, "data": {}})
        self._states: dict[str, Any] = memo["states"]
        self._data: dict[str, Any] = memo["data"]

    def state(self, key: str):
        """The training state job `key` produced (from memory or the store)."""
        if key not in self._states:
            from backends.torch.train import TrainingState

            stored = self.store.get(key)
            self._states[key] = TrainingState.from_tensors(
                self.store.tensors(key), int(stored.metrics["step"]), int(stored.metrics["epoch"]))
        return self._states[key]

    def keep(self, key: str, state) -> None:
        """Remember a state a job just made (and stored) under its key."""
        self._states[key] = state

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

    def dataset(self, spec):
        """The data set of a DataSpec, loaded once (and cached in the store's data folder)."""
        from backends.torch.data import load_dataset

        key = spec.to_json()
        if key not in self._data:
            self._data[key] = load_dataset(spec, cache_dir=self.store.root / "data")
        return self._data[key]

    def data_of(self, spec: dict):
        """The data set a job spec's `data` (JSON) names."""
        from backends.torch.data import DataSpec

        return self.dataset(DataSpec.of(spec["name"], **spec["options"]))

    def model_and_data(self, spec: dict):
        """The model spec and data set of a job spec that has `model` and `data`."""
        from backends.torch.models import spec_from_json

        return spec_from_json(json.dumps(spec["model"])), self.data_of(spec["data"])

    def probe(self, spec: dict):
        """The probe inputs: the first `size` points of a split of a data set."""
        data = self.data_of(spec["data"])
        x = data.x_test if spec["split"] == "test" else data.x_train
        return x[: spec["size"]]
