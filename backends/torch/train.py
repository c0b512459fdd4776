"""Param: training states are objects, trajectories are morphisms, resumed training is composition.

Exactness is the contract. Every source of randomness is a function of explicit values: the data
order of epoch e is a function of (optimizer seed, e) only, a dropout mask of (optimizer seed,
global step) only, and the learning rate of (spec, global step) only. The optimizer state is part
of the state and the updates are written over plain tensors (`updates.py`), so on CPU

    train(train(s, k epochs), m epochs)  ==  train(s, k + m epochs)      bit for bit,

which is the law `cool . warm = full` of docs/language.md §8.2. Updates are out of place: a state's
tensors are never mutated after it is made, so states and checkpoints share storage safely.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call

from .data import Dataset
from .models import BatchNorm2d, Dropout, Layer, build, has_layer, infer_shapes
from .optimizers import optimizer
# the segment specs live in a torch-free module; they are re-exported here for existing imports
from .segment import LOSS_NAMES, SCHEDULES, Constant, Cosine, OptimizerSpec, Step  # noqa: F401


def best_device() -> torch.device:
    """CUDA when available, else CPU; callers pass it as `device` (the default everywhere is CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mix(*parts: Any) -> int:
    """A stable 63-bit seed from values (sha256 of their reprs); Python's `hash` is salted per process."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    """The permutation of the n training examples used in epoch `epoch`: a function of (seed, epoch) only."""
    generator = torch.Generator().manual_seed(mix("order", seed, epoch))
    return torch.randperm(n, generator=generator)


# --- training states ---------------------------------------------------------------------------


def _frozen(tensors: Mapping[str, Tensor]) -> Mapping[str, Tensor]:
    return MappingProxyType(dict(tensors))


def _bytes(t: Tensor) -> bytes:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


@dataclass(frozen=True, eq=False)
class TrainingState:
    """An object of Param: parameters, buffers, optimizer state, global step and epoch.

    No RNG state is needed: all randomness is derived from (seed, epoch) or (seed, step).
    Optimizer-state keys are namespaced (`sgd.momentum/0.weight`, `adam.exp_avg/…`, `adam.step`).
    """

    params: Mapping[str, Tensor]
    buffers: Mapping[str, Tensor] = field(default_factory=dict)
    opt_state: Mapping[str, Tensor] = field(default_factory=dict)
    step: int = 0
    epoch: int = 0

    def __post_init__(self) -> None:
        for name in ("params", "buffers", "opt_state"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def groups(self) -> Iterator[tuple[str, Mapping[str, Tensor]]]:
        yield from (("param", self.params), ("buffer", self.buffers), ("opt", self.opt_state))

    @functools.cached_property
    def _digest(self) -> str:
        h = hashlib.sha256(f"step={self.step};epoch={self.epoch}".encode())
        for group, tensors in self.groups():
            for name in sorted(tensors):
                t = tensors[name]
                h.update(f"|{group}/{name}|{t.dtype}|{tuple(t.shape)}|".encode())
                h.update(_bytes(t))
        return h.hexdigest()

    def digest(self) -> str:
        """sha256 over step, epoch and every tensor's name, dtype, shape and bytes."""
        return self._digest

    def tensors(self) -> dict[str, Tensor]:
        """All tensors under flat keys `param/…`, `buffer/…`, `opt/…` (for safetensors)."""
        return {f"{group}/{name}": t for group, ts in self.groups() for name, t in ts.items()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Tensor], step: int, epoch: int) -> "TrainingState":
        """Inverse of `tensors()`."""
        parts: dict[str, dict[str, Tensor]] = {"param": {}, "buffer": {}, "opt": {}}
        for key, t in tensors.items():
            group, _, name = key.partition("/")
            if group not in parts:
                raise ValueError(f"not a training-state tensor key: {key!r}")
            parts[group][name] = t
        return cls(parts["param"], parts["buffer"], parts["opt"], step, epoch)

    def to(self, device: Any) -> "TrainingState":
        move = lambda ts: {k: v.to(device) for k, v in ts.items()}  # noqa: E731
        return TrainingState(move(self.params), move(self.buffers), move(self.opt_state), self.step, self.epoch)

    def __repr__(self) -> str:
        n = sum(t.numel() for t in self.params.values())
        return f"TrainingState(step={self.step}, epoch={self.epoch}, params={n}, digest={self.digest()[:12]})"


def init_state(model_spec: Layer, input_shape: tuple[int, ...], seed: int) -> TrainingState:
    """The state at step 0: PyTorch's default initialization under `torch.manual_seed(seed)`, on CPU."""
    infer_shapes(model_spec, input_shape)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # what torch.manual_seed does to the CPU's RNG (see below)
        module = build(model_spec)
    return TrainingState({k: p.detach().clone() for k, p in module.named_parameters()},
                         {k: b.detach().clone() for k, b in module.named_buffers()})


def states_equal(a: TrainingState, b: TrainingState) -> tuple[bool, float]:
    """(bitwise equal, max |a − b| over all float tensors); differing keys or shapes give (False, inf)."""
    bitwise = a.step == b.step and a.epoch == b.epoch
    worst = 0.0
    for (_, ta), (_, tb) in zip(a.groups(), b.groups()):
        if set(ta) != set(tb):
            return False, math.inf
        for name in ta:
            x, y = ta[name].detach().cpu(), tb[name].detach().cpu()
            if x.shape != y.shape or x.dtype != y.dtype:
                return False, math.inf
            bitwise = bitwise and torch.equal(x.reshape(-1).view(torch.uint8), y.reshape(-1).view(torch.uint8))
            if x.numel():
                diff = (x.double() - y.double()).abs()
                diff = torch.where(x.isnan() & y.isnan(), 0.0, diff.nan_to_num(nan=math.inf))
                worst = max(worst, float(diff.max()))
    return bitwise, worst


# --- trajectories ------------------------------------------------------------------------------


class Diverged(Exception):
    """The loss became NaN or infinite at global step `step`; `state` is the last state with a finite loss."""

    def __init__(self, step: int, loss: float, state: TrainingState):
        super().__init__(f"training diverged at step {step}: the loss is {loss}")
        self.step, self.loss, self.state = step, loss, state
        self.message = str(self)
        self.hint = "lower the learning rate or add a schedule"


class NotComposable(ValueError):
    """`compose(t2, t1)` where t1 does not end where t2 starts."""


@dataclass(frozen=True, eq=False)
class Trajectory:
    """A morphism of Param: from `start` to `end`, with the checkpoints along it.

    `checkpoints` holds the start, every state at a global step divisible by `checkpoint_every`,
    the end, and the junctions of composed segments. `losses[i]` is the training loss of the
    i-th update's batch, before that update. `spec` lists the segments that produced it.
    """

    start: TrainingState
    end: TrainingState
    checkpoints: tuple[TrainingState, ...]
    losses: tuple[float, ...]
    spec: tuple[OptimizerSpec, ...]
    loss: str = "cross_entropy"

    @property
    def steps(self) -> int:
        return self.end.step - self.start.step


def identity(state: TrainingState, loss: str = "cross_entropy") -> Trajectory:
    """The identity morphism on `state`: zero steps."""
    return Trajectory(state, state, (state,), (), (), loss)


def compose(t2: Trajectory, t1: Trajectory) -> Trajectory:
    """t2 after t1: concatenation, defined when t1 ends at the state t2 starts from (equal digests)."""
    if t1.end is not t2.start and t1.end.digest() != t2.start.digest():
        raise NotComposable(f"cannot compose: the first trajectory ends at state {t1.end.digest()[:12]} "
                            f"(step {t1.end.step}) but the second starts at {t2.start.digest()[:12]} "
                            f"(step {t2.start.step})")
    if t1.loss != t2.loss:
        raise NotComposable(f"cannot compose trajectories of different losses ({t1.loss} and {t2.loss})")
    return Trajectory(t1.start, t2.end, t1.checkpoints + t2.checkpoints[1:], t1.losses + t2.losses,
                      t1.spec + t2.spec, t1.loss)


# --- losses ------------------------------------------------------------------------------------


def _cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits, y)


def _mse(logits: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(logits, F.one_hot(y, logits.shape[-1]).to(logits.dtype))


LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"cross_entropy": _cross_entropy, "mse": _mse}
assert tuple(LOSSES) == LOSS_NAMES, "segment.LOSS_NAMES must list the losses implemented here"


def loss_function(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return LOSSES[name]


# --- training ----------------------------------------------------------------------------------


@contextlib.contextmanager
def step_randomness(active: bool, seed: int, step: int, device: torch.device) -> Iterator[None]:
    """Seed torch's RNG from (seed, step) for one forward pass, restoring the caller's RNG after."""
    if not active:
        yield
        return
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        if devices:
            torch.manual_seed(mix("dropout", seed, step))
        else:  # only the CPU's RNG draws: torch.manual_seed would also queue a seed for every
            # accelerator not started yet, formatting a stack trace for each (0.5 ms a call)
            torch.default_generator.manual_seed(mix("dropout", seed, step))
        yield


def template(model_spec: Layer) -> torch.nn.Module:
    """The model's module with storage-free (meta) tensors: functional_call supplies the real ones.

    Building it consumes no randomness, so training leaves the caller's global RNG untouched.
    """
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        return build(model_spec)


def _check_fits(state: TrainingState, module: torch.nn.Module) -> None:
    expected = {k for k, _ in module.named_parameters()} | {k for k, _ in module.named_buffers()}
    got = set(state.params) | set(state.buffers)
    if expected != got:
        missing, extra = sorted(expected - got), sorted(got - expected)
        raise ValueError(f"the state does not fit the model: missing {missing[:3]}, unexpected {extra[:3]}")


def _snapshot(params: Mapping[str, Tensor], buffers: Mapping[str, Tensor], opt_state: Mapping[str, Tensor],
              step: int, epoch: int) -> TrainingState:
    cpu = lambda ts: {k: v.detach().cpu() for k, v in ts.items()}  # noqa: E731
    return TrainingState(cpu(params), cpu(buffers), cpu(opt_state), step, epoch)


@dataclass(frozen=True)
class EpochEnd:
    """What `train` tells its `on_epoch` callback after each epoch of a segment. `state()` is the
    state at that point, made on demand: by the resume law it is bit for bit the end of the same
    segment cut after `done` epochs, so training on from it gives the uninterrupted result."""

    done: int  # epochs of this segment done
    total: int  # epochs of this segment
    step: int  # global step
    loss: float  # mean training loss over the epoch's batches
    first_loss: float  # the training loss of the segment's first batch
    state: Callable[[], TrainingState]


def train(state: TrainingState, model_spec: Layer, data: Dataset, opt_spec: OptimizerSpec,
          loss: str = "cross_entropy", checkpoint_every: int | None = None,
          device: str | torch.device = "cpu",
          on_epoch: Callable[[EpochEnd], None] | None = None) -> Trajectory:
    """Run `opt_spec.epochs` epochs from `state`; the result composes exactly with further training.

    Raises Diverged (with the last state of finite loss) when a loss is NaN or infinite.
    `on_epoch` (progress, resumable segments) is called after each epoch; it changes nothing.
    """
    device = torch.device(device)
    loss_fn = loss_function(loss)
    if checkpoint_every is not None and checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be a positive number of steps, got {checkpoint_every!r}")
    module = template(model_spec).train()
    _check_fits(state, module)
    update = optimizer(opt_spec.name).function()
    stochastic = has_layer(model_spec, Dropout)
    batchnorm = has_layer(model_spec, BatchNorm2d)
    x, y = data.x_train.to(device), data.y_train.to(device)
    n = len(y)

    def one_step(params, buffers, opt_state, step: int, index: Tensor):
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        step_buffers = {k: v.clone() for k, v in buffers.items()} if batchnorm else buffers  # BN writes in place
        with step_randomness(stochastic, opt_spec.seed, step, device):
            value = loss_fn(functional_call(module, (leaves, step_buffers), (x[index],)), y[index])
        grads = dict(zip(leaves, torch.autograd.grad(value, list(leaves.values()))))
        with torch.no_grad():
            params, opt_state = update(params, grads, opt_state, opt_spec.hyper(step))
        return params, step_buffers, opt_state, value.detach()

    params = {k: v.to(device) for k, v in state.params.items()}
    buffers = {k: v.to(device) for k, v in state.buffers.items()}
    opt_state = {k: v.to(device) for k, v in state.opt_state.items()}
    step, epoch = state.step, state.epoch
    checkpoints, losses = [state], []
    previous = (params, buffers, opt_state, step, epoch)  # the point before the last step
    for epoch in range(state.epoch, state.epoch + opt_spec.epochs):
        order = epoch_order(opt_spec.seed, epoch, n).to(device)
        at_start, before = (params, buffers, opt_state, step), previous
        values = []  # the epoch's losses stay on the device: one copy to the host per epoch
        for begin in range(0, n, opt_spec.batch):
            previous = (params, buffers, opt_state, step, epoch)
            params, buffers, opt_state, value = one_step(params, buffers, opt_state, step,
                                                         order[begin:begin + opt_spec.batch])
            values.append(value)
            step += 1
            if checkpoint_every and step % checkpoint_every == 0:
                checkpoints.append(_snapshot(params, buffers, opt_state, step, epoch + (begin + opt_spec.batch >= n)))
        epoch_losses = torch.stack(values).tolist() if values else []
        bad = next((i for i, v in enumerate(epoch_losses) if not math.isfinite(v)), None)
        if bad is not None:
            # the last state whose loss was finite: before this epoch, or replayed to its step
            # (training is a function of the state and the step, so the replay is exact)
            if bad == 0:
                last = before
            else:
                p, b, o, s = at_start
                for i in range(bad - 1):
                    p, b, o, _ = one_step(p, b, o, s + i, order[i * opt_spec.batch:(i + 1) * opt_spec.batch])
                last = (p, b, o, s + bad - 1, epoch)
            raise Diverged(at_start[3] + bad, epoch_losses[bad], state if last[3] == state.step else _snapshot(*last))
        losses.extend(epoch_losses)
        if on_epoch is not None and losses:
            batches = -(-n // opt_spec.batch)
            now = (params, buffers, opt_state, step, epoch + 1)  # never mutated: updates are out of place
            on_epoch(EpochEnd(epoch + 1 - state.epoch, opt_spec.epochs, step, sum(losses[-batches:]) / batches,
                              losses[0], lambda now=now: _snapshot(*now)))
    end = _snapshot(params, buffers, opt_state, step, state.epoch + opt_spec.epochs)
    if checkpoints[-1].step == end.step and len(checkpoints) > 1:
        checkpoints[-1] = end
    elif end.step != state.step:
        checkpoints.append(end)
    else:
        end = state  # zero steps: the identity, the very same object
    return Trajectory(state, end, tuple(checkpoints), tuple(losses), (opt_spec,), loss)


def evaluate(state: TrainingState, model_spec: Layer, data: Dataset, loss: str = "cross_entropy",
             device: str | torch.device = "cpu", batch: int = 1024) -> dict[str, float]:
    """Mean loss and accuracy on the test and training sets, in eval mode (dropout off, BN running stats)."""
    device = torch.device(device)
    loss_fn = loss_function(loss)
    module = template(model_spec).eval()
    _check_fits(state, module)
    tensors = ({k: v.to(device) for k, v in state.params.items()}, {k: v.to(device) for k, v in state.buffers.items()})

    def measure(x: Tensor, y: Tensor) -> tuple[float, float]:
        total, correct = 0.0, 0
        with torch.no_grad():
            for begin in range(0, len(y), batch):
                xb, yb = x[begin:begin + batch].to(device), y[begin:begin + batch].to(device)
                out = functional_call(module, tensors, (xb,))
                total += float(loss_fn(out, yb)) * len(yb)
                correct += int((out.argmax(-1) == yb).sum())
        return total / max(len(y), 1), correct / max(len(y), 1)

    test_loss, test_acc = measure(data.x_test, data.y_test)
    train_loss, train_acc = measure(data.x_train, data.y_train)
    return {"loss": test_loss, "accuracy": test_acc, "train_loss": train_loss, "train_accuracy": train_acc}
