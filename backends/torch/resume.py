"""Resumable training segments: the states after a finished epoch of a running `train` job (one
state, or one per member of a sweep's ensemble), kept in the run store so that a job interrupted
mid-segment resumes from its last kept epoch instead of from scratch.

By the resume law (`train.py`), training the remaining epochs from that state is bit for bit the
uninterrupted segment, so a resumed job stores exactly the state it would have stored. An
ensemble resumes the same way: its members' states are sliced from the stacked run and stacked
again, the same values, so the batched steps after them are the same steps
(`tests/torch/test_ensemble.py` compares the digests).

A record is not a job: it is a store's partial record (`Store.put_partial`), named by the key of
the batch's first job, one safetensors file holding each member's state (`0/param/…`,
`1/param/…`, …) and, in its header, the batch's job keys in order, the step and epoch, each
state's digest and the loss of each member's first batch. The job table never lists it, so
`Store.has` (a finished job) and `catdsl runs` never see it. A record is used only when the
same batch runs again (the same job keys in the same order), strictly inside the segment, and
every digest checks out; else it is ignored. It is removed when the job finishes.

Who writes it: the job's body, through `backends.run.jobs.keep_partial`, also in an executor's
worker, whose store is otherwise read-only: `Store.put_partial` says why that one write is safe
(atomic, one writer per job, never read as a result, removed when the driver stores the job).

Keeping a record costs a copy of the states and a file write, so a segment keeps one after its
first epoch and then only once training since the last one has taken at least `KEEP_RATIO`
times what that one cost (about 1/KEEP_RATIO of the time at most goes to records: 3%).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Sequence

# training time between records, as a multiple of the cost of keeping the last one
KEEP_RATIO = 30.0


@dataclass(frozen=True)
class Partial:
    """A member's progress: its state after `state.epoch - start.epoch` epochs of the segment."""

    state: object  # TrainingState
    first_loss: float


def record(keys: Sequence[str], states: Sequence, first_losses: Sequence[float]) -> bytes:
    """The bytes of the record of batch `keys` at `states` (all at one step and epoch)."""
    from safetensors.torch import save

    tensors = {f"{i}/{name}": t.detach().cpu().contiguous()
               for i, state in enumerate(states) for name, t in state.tensors().items()}
    meta = {"jobs": json.dumps(list(keys)), "step": str(states[0].step), "epoch": str(states[0].epoch),
            "digests": json.dumps([s.digest() for s in states]), "first_losses": json.dumps(list(first_losses))}
    return save(tensors, metadata=meta)


def load(store, keys: Sequence[str], starts: Sequence, epochs: int) -> list[Partial] | None:
    """The kept progress of the batch of jobs `keys`, training `epochs` epochs from `starts`:
    one Partial per job when the record is sound and strictly inside the segment, else None."""
    data = store.partial(keys[0])
    if data is None:
        return None
    try:
        from safetensors.torch import load as load_tensors

        from backends.torch.train import TrainingState

        header = _metadata(data)
        if json.loads(header["jobs"]) != list(keys):
            return None  # another batch (or a single run) of the first job: not this one's
        step, epoch = int(header["step"]), int(header["epoch"])
        digests, firsts = json.loads(header["digests"]), json.loads(header["first_losses"])
        tensors = dict(sorted(load_tensors(data).items()))  # in name order, as `Store.tensors` gives them
        kept = []
        for i, start in enumerate(starts):
            prefix = f"{i}/"
            state = TrainingState.from_tensors({k[len(prefix):]: t for k, t in tensors.items() if k.startswith(prefix)},
                                               step, epoch)
            if not (state.digest() == digests[i] and start.epoch < epoch < start.epoch + epochs
                    and step > start.step):
                return None
            kept.append(Partial(state, float(firsts[i])))
        return kept if len(kept) == len(keys) else None
    except Exception:  # damaged or foreign: never trusted, never fatal
        return None


def _metadata(data: bytes) -> dict:
    import struct

    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n])["__metadata__"]


class Keeper:
    """Keeps a batch's records while it trains (`keep` after each epoch), throttled by
    `KEEP_RATIO`; `discard` when it is done."""

    def __init__(self, ctx, keys: Sequence[str]):
        self.ctx, self.keys = ctx, list(keys)
        self.last, self.cost, self.kept = time.perf_counter(), 0.0, False

    def due(self) -> bool:
        return not self.kept or time.perf_counter() - self.last >= KEEP_RATIO * self.cost

    def keep(self, states, first_losses: Sequence[float]) -> None:
        """Keep `states()` (made here, so that making them counts in the cost)."""
        from backends.run.jobs import keep_partial

        began = time.perf_counter()
        keep_partial(self.ctx, self.keys[0], record(self.keys, states(), first_losses))
        self.last = time.perf_counter()
        self.cost, self.kept = self.last - began, True

    def discard(self) -> None:
        from backends.run.jobs import keep_partial

        keep_partial(self.ctx, self.keys[0], None)
