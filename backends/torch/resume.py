"""Resumable training segments: the state after each finished epoch of a running `train` job,
kept in the run store so that a job interrupted mid-segment resumes from its last epoch.

By the resume law (`train.py`), training the remaining epochs from that state is bit for bit the
uninterrupted segment, so a resumed job stores exactly the state it would have stored.

A partial record is not a job: it lives in the store's `partial/` folder, one safetensors file
per job key holding the state and, in its header, the job key, step, epoch, the state's digest
and the loss of the segment's first batch. The job table never lists it, so `Store.has` (a
finished job) and `catdsl runs` never see it. A record is read only when its job key, epoch range
and digest all check out, else it is ignored and removed; it is removed once the job finishes.
A read-only store (a worker's) keeps no records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PARTIAL = "partial"


@dataclass(frozen=True)
class Partial:
    """A segment's progress: the state after `state.epoch - start.epoch` of its epochs."""

    state: object  # TrainingState
    first_loss: float


def _path(store, key: str) -> Path:
    return Path(store.root) / PARTIAL / f"{key}.safetensors"


def save(store, key: str, state, first_loss: float) -> None:
    """Keep `state` as the progress of job `key` (atomically: a reader sees the old or the new)."""
    if getattr(store, "readonly", False):
        return
    from safetensors.torch import save_file

    path = _path(store, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp.{os.getpid()}.{path.name}")
        meta = {"job": key, "step": str(state.step), "epoch": str(state.epoch), "digest": state.digest(),
                "first_loss": json.dumps(first_loss)}
        save_file({k: v.contiguous() for k, v in state.tensors().items()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError:
        pass  # progress is an optimisation: a store that cannot keep it trains from the start


def load(store, key: str, start, epochs: int) -> Partial | None:
    """The kept progress of job `key`, which trains `epochs` epochs from `start`, when there is
    a sound record strictly inside the segment; else None (a record that is not is removed)."""
    path = _path(store, key)
    if not path.is_file():
        return None
    try:
        from safetensors import safe_open

        from backends.torch.train import TrainingState

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
        state = TrainingState.from_tensors(tensors, int(meta["step"]), int(meta["epoch"]))
        sound = (meta.get("job") == key and state.digest() == meta.get("digest")
                 and start.epoch < state.epoch < start.epoch + epochs and state.step > start.step)
        if sound:
            return Partial(state, float(json.loads(meta["first_loss"])))
    except Exception:  # damaged or foreign: never trusted, never fatal
        pass
    discard(store, key)
    return None


def discard(store, key: str) -> None:
    if getattr(store, "readonly", False):
        return
    try:
        _path(store, key).unlink(missing_ok=True)
    except OSError:
        pass
