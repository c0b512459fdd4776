"""Many same-architecture runs trained as one: stacked parameters, one batched step for all members.

Member i sees exactly what `train` would show it: its own data order (from its own seed), its
own learning rate and schedule, and the same update code (the optimizer's registered update)
applied to stacked tensors with per-member hyperparameters (those its registry entry lists in
`per_member`; the others must agree). The result equals training one at a time up to
float rounding (batched kernels sum in a different order), not bit for bit.

Two ways to run the batched forward/backward: `vmap` (torch.func.vmap over functional_call and
grad, any vmappable model) and `bmm` (batched matmuls, MLPs only; its cross-entropy runs on the
stacked logits, `STACKED_LOSSES`, the kernels vmap would run). Models with BatchNorm (in-place
running statistics) or Dropout (masks that would depend on all members' seeds) are refused.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import torch
from torch import Tensor
from torch.func import functional_call, vmap

from .data import Dataset
from .models import (GELU, BatchNorm2d, Dropout, Flatten, Layer, Linear, ReLU, Sequential, Tanh, has_layer,
                     infer_shapes)
from .optimizers import optimizer
from .train import (Diverged, OptimizerSpec, TrainingState, Trajectory, _check_fits, epoch_order, evaluate,
                    loss_function, template)

if TYPE_CHECKING:
    from backends.run.execute import ThreadChoice

_MLP_LAYERS = (Linear, ReLU, Tanh, GELU, Flatten)


class NotEnsemblable(ValueError):
    """The members cannot share one batched run (different shapes of work, or layers that do not vmap)."""


def ensemble_method(model_spec: Layer) -> str:
    """The batched method `auto` picks: `bmm` for MLPs (faster on CPU, see bench/bench_ensemble.py), else `vmap`."""
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    return "bmm" if all(isinstance(layer, _MLP_LAYERS) for layer in layers) else "vmap"


def _refuse(model_spec: Layer) -> None:
    if has_layer(model_spec, BatchNorm2d):
        raise NotEnsemblable("BatchNorm2d updates running statistics in place, which a vmapped ensemble cannot do")
    if has_layer(model_spec, Dropout):
        raise NotEnsemblable("Dropout masks in an ensemble would not match single runs; train these one at a time")


def _agree(opt_specs: Sequence[OptimizerSpec], states: Sequence[TrainingState]) -> None:
    for key in ("name", "batch", "epochs", *optimizer(opt_specs[0].name).shared):
        values = {getattr(o, key) if key in ("name", "batch", "epochs") else o.hyper(0)[key] for o in opt_specs}
        if len(values) > 1:
            raise NotEnsemblable(f"ensemble members must share {key}; got {sorted(map(str, values))}")
    if len({(s.step, s.epoch) for s in states}) > 1:
        raise NotEnsemblable("ensemble members must start at the same global step and epoch")
    keys = {(tuple(sorted(s.params)), tuple(sorted(s.buffers)), tuple(sorted(s.opt_state))) for s in states}
    if len(keys) > 1:
        raise NotEnsemblable("ensemble members' states hold different tensors")


def _stack(states: Sequence[TrainingState], group: str, device: torch.device) -> dict[str, Tensor]:
    names = getattr(states[0], group)
    return {k: torch.stack([getattr(s, group)[k] for s in states]).to(device) for k in names}


def _hyper_table(opt_specs: Sequence[OptimizerSpec], steps: range, device: torch.device) -> list[dict[str, Any]]:
    """Each step's hyperparameters: per member as (members,) tensors (the learning rate and those
    the optimizer lists in `per_member`), shared ones as the first member has them. Only the
    learning rate changes from step to step (its schedule); the per-member values of all
    `steps` go to the device in one copy, not one per step. `nonzero` says of each per-member
    hyperparameter whether some member's is non-zero, decided here on the host so that an update
    never reads a device tensor to know whether a term is needed (`updates._nonzero`)."""
    fixed = [o.hyper(steps.start) for o in opt_specs]
    keys = ("lr", *optimizer(opt_specs[0].name).per_member)
    rows = [[o.lr_at(step) for o in opt_specs] for step in steps]
    if not rows:
        return []
    host = {key: torch.tensor(rows if key == "lr" else [[h[key] for h in fixed]] * len(rows), dtype=torch.float32)
            for key in keys}
    nonzero = {key: host[key].ne(0).any(1).tolist() for key in keys}  # as float32 has them, like a tensor test
    table = {key: t.to(device) for key, t in host.items()}
    return [{**fixed[0], **{key: table[key][i] for key in keys}, "members": len(opt_specs),
             "nonzero": {key: nonzero[key][i] for key in keys}} for i in range(len(rows))]


class _EpochThreads:
    """Runs each epoch's steps on the torch threads `choice` picks and times them for it; a try
    `choice` finds too slow goes back to the fastest count for the rest of the epoch. Without a
    choice the threads are left alone."""

    def __init__(self, choice: ThreadChoice | None):
        self.choice = choice
        self.now, self.steps, self.since, self.timing = 0, 0, 0.0, False

    def begin(self, epoch: int) -> int:
        """Set the threads of the segment's epoch `epoch` (from 0) and start its clock; the
        count (0 without a choice)."""
        if self.choice is None:
            return 0
        self.now, self.steps, self.timing = self.choice.threads(epoch), 0, True
        self._use(self.now)
        self.since = time.perf_counter()
        return self.now

    def stepped(self) -> None:
        if self.timing:
            self.steps += 1
            if self.choice.too_slow(self.now, time.perf_counter() - self.since, self.steps):
                self.end()
                self.now = self.choice.fastest
                self._use(self.now)

    def end(self) -> None:
        if self.timing and self.steps:
            self.choice = self.choice.measured(self.now, (time.perf_counter() - self.since) / self.steps)
        self.timing = False

    @staticmethod
    def _use(n: int) -> None:
        if n != torch.get_num_threads():
            torch.set_num_threads(n)


@contextmanager
def _restoring_threads() -> Iterator[None]:
    """Torch's thread count as it was before, whatever the block set."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _member(i: int, stacked: tuple[dict, dict, dict], step: int, epoch: int,
            keep: frozenset[str] | None = None) -> TrainingState:
    """Member i's slice of the stacked state (of the optimizer state, the keys in `keep`; all
    when None), copied to CPU so it owns its storage."""
    take = lambda ts, wanted=None: {k: v[i].detach().cpu().clone() for k, v in ts.items()  # noqa: E731
                                    if wanted is None or k in wanted}
    return TrainingState(take(stacked[0]), take(stacked[1]), take(stacked[2], keep), step, epoch)


@dataclass(frozen=True)
class EnsembleEpoch:
    """What `train_ensemble` tells its `on_epoch` callback after each epoch: the members' mean
    training losses over the epoch (NaN for a member that diverged) and, on demand, their
    states at that point (`states()`, each with all the stacked optimizer state, so that the
    members can be stacked again to resume: see `keep`)."""

    done: int  # epochs of this segment done
    total: int  # epochs of this segment
    step: int  # global step
    losses: tuple[float, ...]  # per member, mean over the epoch's batches
    first_losses: tuple[float, ...]  # per member, the loss of the segment's first batch
    diverged: frozenset[int]  # members whose loss turned NaN or infinite so far
    states: Callable[[], list[TrainingState]]
    threads: int = 0  # torch threads the epoch started on (0: the caller's, untouched)


def _bmm_forward(layers: Sequence[Layer], params: dict[str, Tensor], x: Tensor) -> Tensor:
    """Stacked MLP forward: x (members, batch, ...) -> logits (members, batch, classes)."""
    for i, layer in enumerate(layers):
        if isinstance(layer, Linear):
            weight = params[f"{i}.weight"].transpose(1, 2)
            x = torch.baddbmm(params[f"{i}.bias"].unsqueeze(1), x, weight) if layer.bias else torch.bmm(x, weight)
        elif isinstance(layer, Flatten):
            x = x.flatten(2)
        else:
            x = {ReLU: torch.relu, Tanh: torch.tanh, GELU: torch.nn.functional.gelu}[type(layer)](x)
    return x


def _stacked_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """Each member's mean cross-entropy, logits (members, batch, classes) and labels (members,
    batch) -> (members,): the very kernels `vmap(F.cross_entropy)` runs (log_softmax over the
    classes, then torch's decomposition of `nll_loss`: gather, negate, sum, divide by the
    count of labels), so the same bits, without vmap's dispatch of that decomposition through
    Python at every step (and its import of sympy, 0.5 s). Labels are never ignored here, so
    the decomposition's masks (`where(target != -100, …)`) select everything and are left out."""
    picked = -torch.gather(torch.log_softmax(logits, 2), 2, y.unsqueeze(2)).squeeze(2)
    return picked.sum(1) / (y != -100).sum(1).to(picked)


# loss name -> its stacked form for the `bmm` method (other losses: `vmap` of the loss)
STACKED_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"cross_entropy": _stacked_cross_entropy}


def train_ensemble(states: TrainingState | Sequence[TrainingState], model_spec: Layer, data: Dataset,
                   opt_specs: Sequence[OptimizerSpec], loss: str = "cross_entropy",
                   checkpoint_every: int | None = None, device: str | torch.device = "cpu",
                   method: str = "auto", on_epoch: Callable[[EnsembleEpoch], None] | None = None,
                   keep: Sequence[frozenset[str]] | None = None,
                   first_losses: Sequence[float] | None = None,
                   threads: ThreadChoice | None = None) -> list[Trajectory | Diverged]:
    """Train member i from `states[i]` with `opt_specs[i]`, all members in one batched run.

    A member whose loss turns NaN/inf gets a `Diverged` (with its last finite state) in its slot;
    the others carry on. `method` is "auto", "vmap" or "bmm". `on_epoch` is called after each
    epoch (progress, resumable segments); it changes nothing.

    Resuming: the optimizer state of member i's result keeps the keys in `keep[i]` (default:
    those of its start state and those its optimizer makes alone; a momentum-0 member of a
    momentum sweep has none); the states `on_epoch` hands out keep all of them, so that a run
    resumed from them (given the original `keep` and the segment's `first_losses`) stacks the
    very tensors the uninterrupted run had and ends bit for bit where it ends.

    `threads` (on the CPU, unless fixed) picks the torch threads of each epoch by timing the
    epochs (`backends.run.execute.ThreadChoice`); the caller's count is restored at the end.
    Threads change no bit of the result (`tests/torch/test_ensemble_threads.py`).
    """
    device = torch.device(device)
    opt_specs = list(opt_specs)
    if not opt_specs:
        return []
    if isinstance(states, TrainingState):
        states = [states] * len(opt_specs)
    states = list(states)
    if len(states) != len(opt_specs):
        raise NotEnsemblable(f"{len(states)} start states for {len(opt_specs)} optimizer specs")
    _refuse(model_spec)
    _agree(opt_specs, states)
    infer_shapes(model_spec, data.input_shape)
    method = ensemble_method(model_spec) if method == "auto" else method
    if method == "bmm" and ensemble_method(model_spec) != "bmm":
        raise NotEnsemblable("method 'bmm' handles Linear, activations and Flatten only; use 'vmap'")
    if method not in ("bmm", "vmap"):
        raise ValueError(f"unknown ensemble method {method!r}; known: auto, vmap, bmm")

    module = template(model_spec).train()
    _check_fits(states[0], module)
    loss_fn = loss_function(loss)
    update = optimizer(opt_specs[0].name).function()
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    members, first = len(opt_specs), opt_specs[0]
    x, y = data.x_train.to(device), data.y_train.to(device)
    n = len(y)

    # The members' forward passes run stacked (batched matmuls, or vmap of the module), their
    # losses on the stacked outputs, and one backward pass of the sum gives each member the
    # gradient of its own loss (members share nothing). Bit for bit what `vmap(grad(loss))`
    # gives, with the loss and the backward outside vmap's per-step dispatch (35 % of a small
    # MLP's step; tests/torch/test_ensemble.py compares both with single runs).
    forward = vmap(lambda p, b, xb: functional_call(module, (p, b), (xb,))) if method == "vmap" else \
        (lambda p, b, xb: _bmm_forward(layers, p, xb))
    per_member_loss = STACKED_LOSSES.get(loss) or vmap(loss_fn)

    def one_step(params, buffers, opt_state, index: Tensor, hyper: dict):
        xb, yb = x[index], y[index]
        leaves = {k: v.detach().requires_grad_() for k, v in params.items()}
        values = per_member_loss(forward(leaves, buffers, xb), yb)
        grads = dict(zip(leaves, torch.autograd.grad(values.sum(), list(leaves.values()))))
        with torch.no_grad():
            params, opt_state = update(params, grads, opt_state, hyper)
        return params, opt_state, values.detach()

    params, buffers, opt_state = (_stack(states, g, device) for g in ("params", "buffers", "opt_state"))
    # Optimizer state a member would not have made alone (momentum buffers of a momentum-0 member
    # of a momentum sweep) is dropped when its result is taken.
    if keep is None:
        keep = [frozenset(states[i].opt_state) | optimizer(o.name).state_keys(o, params)
                for i, o in enumerate(opt_specs)]
    keep = list(keep)
    step, epoch0 = states[0].step, states[0].epoch
    batch, batches = first.batch, -(-n // first.batch)
    checkpoints: list[list[TrainingState]] = [[s] for s in states]
    losses: list[Tensor] = []  # per epoch, (steps, members), on the device until the end
    failed: dict[int, Diverged] = {}
    firsts: list[float] | None = list(first_losses) if first_losses is not None else None
    previous = (params, buffers, opt_state, step, epoch0)  # the point before the last step
    # epochs on the threads `threads` picks by timing them (CPU only: a GPU step does not use them)
    clock = _EpochThreads(threads if threads is not None and device.type == "cpu" and not threads.fixed else None)
    with _restoring_threads():
        for epoch in range(epoch0, epoch0 + first.epochs):
            orders = torch.stack([epoch_order(o.seed, epoch, n) for o in opt_specs]).to(device)
            hypers = _hyper_table(opt_specs, range(step, step + batches), device)
            at_start, before = (params, opt_state, step), previous
            values = []
            used = clock.begin(epoch - epoch0)
            for k, begin in enumerate(range(0, n, batch)):
                previous = (params, buffers, opt_state, step, epoch)
                params, opt_state, value = one_step(params, buffers, opt_state, orders[:, begin:begin + batch],
                                                    hypers[k])
                values.append(value)
                step += 1
                clock.stepped()
                if checkpoint_every and step % checkpoint_every == 0:
                    done = epoch + (begin + batch >= n)
                    for i in range(members):
                        checkpoints[i].append(_member(i, (params, buffers, opt_state), step, done, keep[i]))
            clock.end()
            epoch_values = torch.stack(values) if values else torch.empty(0, members, device=device)
            losses.append(epoch_values)
            finite = torch.isfinite(epoch_values)
            if not bool(finite.all()):  # one copy to the host per epoch, not one per step
                newly = {i: int((~finite[:, i]).nonzero()[0]) for i in range(members)
                         if i not in failed and not bool(finite[:, i].all())}
                # each member's last state of finite loss: before this epoch, or replayed to its step
                # (the batched run is a function of the states and the step, so the replay is exact)
                p, o, s = at_start
                reach = max(newly.values(), default=0)
                for k in range(reach):
                    for i in [i for i, bad in newly.items() if bad == k + 1 and i not in failed]:
                        last = states[i] if s + k == states[i].step else \
                            _member(i, (p, buffers, o), s + k, epoch, keep[i])
                        failed[i] = Diverged(s + k + 1, float(epoch_values[k + 1, i]), last)
                    if k + 1 < reach:
                        p, o, _ = one_step(p, buffers, o, orders[:, k * batch:(k + 1) * batch], hypers[k])
                for i in [i for i, bad in newly.items() if bad == 0]:
                    last = states[i] if before[3] == states[i].step else \
                        _member(i, before[:3], before[3], before[4], keep[i])
                    failed[i] = Diverged(s, float(epoch_values[0, i]), last)
            if on_epoch is not None and values:
                if firsts is None:
                    firsts = losses[0][0].tolist()
                now = (params, buffers, opt_state, step, epoch + 1)  # never mutated: updates are out of place
                on_epoch(EnsembleEpoch(epoch + 1 - epoch0, first.epochs, step, tuple(epoch_values.mean(0).tolist()),
                                       tuple(firsts), frozenset(failed),
                                       lambda now=now: [_member(i, now[:3], now[3], now[4]) for i in range(members)],
                                       used))
    history = torch.cat(losses).cpu().T.tolist() if losses else [[] for _ in range(members)]
    results: list[Trajectory | Diverged] = []
    for i, (start, opt) in enumerate(zip(states, opt_specs)):
        if i in failed:
            results.append(failed[i])
            continue
        if step == start.step:
            end = start
        else:
            end = _member(i, (params, buffers, opt_state), step, epoch0 + first.epochs, keep[i])
            if checkpoints[i][-1].step == step:
                checkpoints[i][-1] = end
            else:
                checkpoints[i].append(end)
        results.append(Trajectory(start, end, tuple(checkpoints[i]), tuple(history[i]), (opt,), loss))
    return results


def evaluate_members(states: Sequence[TrainingState], model_spec: Layer, data: Dataset, loss: str = "cross_entropy",
                     device: str | torch.device = "cpu", batch: int = 1024) -> list[dict[str, float]]:
    """`train.evaluate` of each state, the same numbers bit for bit (tested): for an MLP the
    members' forward passes run stacked (`_bmm_forward`, chunks of `batch` examples as
    `evaluate` takes them), whose logits equal each member's own, and each member's loss is
    `evaluate`'s kernel on its own logits, summed over the chunks as `evaluate` sums; other
    models are evaluated one at a time (a vmapped convolution differs in the last bits).
    For a 100-member sweep of a digits MLP 64-32-10: 0.07 s instead of 0.2 s."""
    if not states:
        return []
    if ensemble_method(model_spec) != "bmm":
        return [evaluate(s, model_spec, data, loss=loss, device=device, batch=batch) for s in states]
    device = torch.device(device)
    loss_fn = loss_function(loss)
    _check_fits(states[0], template(model_spec))
    layers = model_spec.layers if isinstance(model_spec, Sequential) else (model_spec,)
    params, members = _stack(states, "params", device), len(states)

    def measure(x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
        totals, correct = [0.0] * members, torch.zeros(members, dtype=torch.int64, device=device)
        with torch.no_grad():
            for begin in range(0, len(y), batch):
                xb, yb = x[begin:begin + batch].to(device), y[begin:begin + batch].to(device)
                out = _bmm_forward(layers, params, xb.expand(members, *xb.shape))
                means = torch.stack([loss_fn(logits, yb) for logits in out]).tolist()
                totals = [total + mean * len(yb) for total, mean in zip(totals, means)]  # as `evaluate` sums
                correct += (out.argmax(-1) == yb).sum(1)
        n = max(len(y), 1)
        return [total / n for total in totals], [c / n for c in correct.tolist()]

    test_loss, test_acc = measure(data.x_test, data.y_test)
    train_loss, train_acc = measure(data.x_train, data.y_train)
    return [{"loss": a, "accuracy": b, "train_loss": c, "train_accuracy": d}
            for a, b, c, d in zip(test_loss, test_acc, train_loss, train_acc)]
