"""Ensembles on the CPU choose their torch threads by timing epochs; threads change no bit.

Also: the batched evaluation of an ensemble's members equals `evaluate` of each, and the
training loop reads nothing back from its tensors per step (on a GPU each read is a wait)."""

import pytest
import torch
from torch.overrides import TorchFunctionMode

from backends.run.execute import MEASURE_WORK, THREAD_WORK, ThreadChoice, thread_choice
from backends.torch.data import DataSpec, load_dataset
from backends.torch.ensemble import evaluate_members, train_ensemble
from backends.torch.models import Conv2d, Flatten, GroupNorm, Linear, ReLU
from backends.torch.train import OptimizerSpec, evaluate, init_state

MLP = Linear(64, 32) >> ReLU() >> Linear(32, 10)
DIGITS = load_dataset(DataSpec.of("digits", test=0.25, seed=0))


def _opts(name: str, members: int, epochs: int, batch: int = 64) -> list[OptimizerSpec]:
    per_member = {"sgd": lambda i: {"momentum": (0.0, 0.9, 0.5)[i % 3], "weight_decay": (1e-3, 0.0)[i % 2]},
                  "adam": lambda i: {"weight_decay": (0.0, 1e-3)[i % 2]}}[name]
    return [OptimizerSpec(name, lr=0.02 * (i + 1), batch=batch, epochs=epochs, seed=i, **per_member(i))
            for i in range(members)]


def _assert_bitwise(a, b) -> None:
    for x, y in zip(a, b):
        assert x.losses == y.losses
        for group in ("params", "buffers", "opt_state"):
            tx, ty = getattr(x.end, group), getattr(y.end, group)
            assert tx.keys() == ty.keys()
            assert all(torch.equal(tx[k], ty[k]) for k in tx), group


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("method, name", [("bmm", "sgd"), ("vmap", "sgd"), ("bmm", "adam")])
def test_threads_change_no_bit(method, name, threads):
    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(3)]
    opts = _opts(name, 3, epochs=3)
    runs = []
    for n in (1, 2):
        torch.set_num_threads(n)
        runs.append(train_ensemble(starts, MLP, DIGITS, opts, method=method))
    _assert_bitwise(runs[0], runs[1])
    # and switching between 1 and 2 threads from epoch to epoch, as a measured choice does
    torch.set_num_threads(1)
    used: list[int] = []
    switching = train_ensemble(starts, MLP, DIGITS, opts, method=method, threads=ThreadChoice((1, 2), every=2),
                               on_epoch=lambda e: used.append(e.threads))
    _assert_bitwise(runs[0], switching)
    assert used[:2] == [1, 2] and torch.get_num_threads() == 1  # each tried; the caller's count restored


def test_a_fixed_choice_leaves_the_threads_alone(threads):
    torch.set_num_threads(2)
    used: list[int] = []
    train_ensemble(init_state(MLP, DIGITS.input_shape, 0), MLP, DIGITS, _opts("sgd", 2, epochs=2),
                   threads=ThreadChoice((1,)), on_epoch=lambda e: used.append((e.threads, torch.get_num_threads())))
    assert used == [(0, 2), (0, 2)]


def test_the_choice_takes_the_faster_and_retries_the_other():
    choice = ThreadChoice((1, 4), every=8)
    assert not choice.fixed and choice.threads(0) == 1
    choice = choice.measured(1, 2.0)
    assert choice.threads(1) == 4  # each count tried once, in order
    choice = choice.measured(4, 1.0)
    assert [choice.threads(e) for e in range(2, 8)] == [4] * 6
    assert choice.threads(8) == 1 and choice.threads(16) == 1  # the slower one, re-tried every 8th epoch
    choice = choice.measured(1, 0.5)  # a core was freed... or taken from the other: now 1 is faster
    assert [choice.threads(e) for e in range(9, 16)] == [1] * 7 and choice.threads(16) == 4
    slow = ThreadChoice((1, 4), every=8).measured(1, 1.0).measured(4, 3.0)
    assert [slow.threads(e) for e in range(2, 17)] == [4 if e % 8 == 0 else 1 for e in range(2, 17)]


def test_a_try_far_slower_than_the_fastest_is_cut_short():
    choice = ThreadChoice((1, 2), patience=2.0).measured(1, 0.01)
    assert choice.fastest == 1 and not choice.too_slow(1, 10.0, 1)  # the fastest runs on
    assert not choice.too_slow(2, 0.039, 2) and choice.too_slow(2, 0.041, 2)
    assert ThreadChoice((1, 2)).fastest is None and not ThreadChoice((1, 2)).too_slow(2, 99.0, 1)
    assert choice.measured(2, 0.001).fastest == 2 and choice.measured(2, 0.01).fastest == 1  # ties: fewer


class CutEveryTry:
    """A choice that starts every epoch on 2 threads and finds it too slow after 3 timed steps."""

    fixed, fastest = False, 1

    def __init__(self):
        self.measured_at: list[tuple[int, int]] = []  # (threads, torch's threads then)
        self.before_epochs: list[int] = []  # torch's threads when an epoch is about to begin

    def threads(self, epoch):
        self.before_epochs.append(torch.get_num_threads())
        return 2

    def too_slow(self, threads, seconds, steps):
        return threads == 2 and steps == 3

    def measured(self, threads, seconds_per_step):
        self.measured_at.append((threads, torch.get_num_threads()))
        return self


def test_a_cut_try_goes_on_with_the_fastest_count_bit_for_bit(threads):
    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(2)]
    opts = _opts("sgd", 2, epochs=2)
    torch.set_num_threads(1)
    alone = train_ensemble(starts, MLP, DIGITS, opts)
    fake = CutEveryTry()
    torch.set_num_threads(3)
    cut = train_ensemble(starts, MLP, DIGITS, opts, threads=fake)
    _assert_bitwise(alone, cut)
    assert fake.measured_at == [(2, 2), (2, 2)]  # each epoch: cut while on 2 threads,
    assert fake.before_epochs == [3, 1]  # then on to the fastest, 1
    assert torch.get_num_threads() == 3


def test_one_allowed_thread_is_a_fixed_choice(monkeypatch):
    import backends.run.execute as execute

    monkeypatch.setattr(execute, "available_cpus", lambda: 4)
    monkeypatch.delenv("CATDSL_THREADS", raising=False)
    middle = (MEASURE_WORK + THREAD_WORK) / 2
    assert thread_choice(middle).options == (1, 4)
    assert thread_choice(MEASURE_WORK / 2) == ThreadChoice((1,))
    assert thread_choice(THREAD_WORK * 2) == ThreadChoice((4,))
    fixed = ThreadChoice((1,))
    assert fixed.fixed and fixed.measured(1, 5.0).threads(8) == 1 and fixed.measured(4, 1.0).threads(9) == 1
    # the workers of the process and Ray executors run with CATDSL_THREADS=1 (pool.set_up_worker)
    monkeypatch.setenv("CATDSL_THREADS", "1")
    assert thread_choice(middle) == ThreadChoice((1,))
    monkeypatch.setenv("CATDSL_THREADS", "3")
    assert thread_choice(middle) == ThreadChoice((3,))
    monkeypatch.delenv("CATDSL_THREADS")
    monkeypatch.setattr(execute, "available_cpus", lambda: 1)
    assert thread_choice(middle) == ThreadChoice((1,))


def test_batched_evaluation_equals_evaluate_of_each_member():
    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(4)]
    ends = [t.end for t in train_ensemble(starts, MLP, DIGITS, _opts("sgd", 4, epochs=1))]
    # chunks of 512 split the 1347 training examples three ways, the test set's 450 not at all
    for batch in (1024, 512):
        assert evaluate_members(ends, MLP, DIGITS, batch=batch) == \
            [evaluate(s, MLP, DIGITS, batch=batch) for s in ends]  # every float, bit for bit
    assert evaluate_members(ends, MLP, DIGITS, loss="mse") == [evaluate(s, MLP, DIGITS, loss="mse") for s in ends]
    image = load_dataset(DataSpec.of("digits", limit=96, image=True))
    conv = Conv2d(1, 2, 3, padding=1) >> GroupNorm(1, 2) >> ReLU() >> Flatten() >> Linear(128, 10)
    states = [init_state(conv, image.input_shape, seed) for seed in range(2)]
    assert evaluate_members(states, conv, image) == [evaluate(s, conv, image) for s in states]
    assert evaluate_members([], MLP, DIGITS) == []


# what reads a tensor's values back to the host (a wait for the device on a GPU)
HOST_READS = frozenset({"__bool__", "item", "tolist", "__int__", "__float__", "__index__", "numpy", "cpu"})


class HostReads(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += getattr(func, "__name__", "") in HOST_READS
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("method", ["bmm", "vmap"])
def test_an_ensemble_reads_nothing_back_per_step(method):
    """SGD with per-member momentum (one member at 0) and weight decay: the update decides which
    terms to compute from the host's values, not by reading the (members,) tensors each step."""
    start = init_state(MLP, DIGITS.input_shape, 0)
    counts = {}
    for batch in (32, 128):  # 43 and 11 steps in the epoch
        opts = _opts("sgd", 3, epochs=1, batch=batch)
        train_ensemble(start, MLP, DIGITS, opts, method=method)  # first-use work (imports, caches) not counted
        with HostReads() as reads:
            train_ensemble(start, MLP, DIGITS, opts, method=method)
        counts[batch] = reads.count
    assert counts[32] == counts[128] > 0  # some per epoch and per member (the end states), none per step


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_updates_never_read_a_device_tensor(name):
    """On the `meta` device a tensor has no values, so any read raises: the updates of an
    ensemble (per-member hyperparameters on the device) run there for three steps. Adam's
    step count lives on the CPU, as torch.optim.Adam keeps its `step`."""
    from backends.torch.ensemble import _hyper_table
    from backends.torch.optimizers import optimizer

    meta = torch.device("meta")
    opts = _opts("adam" if name == "adamw" else name, 3, epochs=1)
    opts = [o.replace(name=name) for o in opts]
    update = optimizer(name).function()
    params = {"w": torch.empty(3, 4, 2, device=meta), "b": torch.empty(3, 4, device=meta)}
    state: dict = {}
    for hyper in _hyper_table(opts, range(3), meta):
        params, state = update(params, {k: torch.empty_like(v) for k, v in params.items()}, state, hyper)
    assert all(v.device == meta for k, v in state.items() if k != "adam.step")
    if name != "sgd":
        assert state["adam.step"].device.type == "cpu" and state["adam.step"].tolist() == [3, 3, 3]
    else:
        assert set(state) == {"sgd.momentum/w", "sgd.momentum/b"}  # one member's momentum is non-zero
