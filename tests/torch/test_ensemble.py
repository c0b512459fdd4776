"""Ensembles: each member equals its one-at-a-time run; members keep their own data order."""

import pytest

from backends.torch.data import DataSpec, load_dataset
from backends.torch.ensemble import NotEnsemblable, train_ensemble
from backends.torch.models import BatchNorm2d, Conv2d, Dropout, Flatten, GroupNorm, Linear, ReLU
from backends.torch.train import Diverged, OptimizerSpec, Trajectory, init_state, states_equal, train

MLP = Linear(64, 32) >> ReLU() >> Linear(32, 10)
DIGITS = load_dataset(DataSpec.of("digits"))


@pytest.mark.parametrize("method", ["bmm", "vmap"])
def test_ensemble_equals_loop_sgd_momentum(method):
    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(3)]
    opts = [OptimizerSpec("sgd", lr=lr, momentum=0.9, batch=64, epochs=1, seed=10 + i)
            for i, lr in enumerate([0.01, 0.05, 0.1])]
    ensemble = train_ensemble(starts, MLP, DIGITS, opts, method=method)
    for start, opt, member in zip(starts, opts, ensemble):
        alone = train(start, MLP, DIGITS, opt)
        assert states_equal(alone.end, member.end)[1] < 1e-5
        assert member.start is start and member.end.step == alone.end.step == 22
        assert max(abs(a - b) for a, b in zip(alone.losses, member.losses)) < 1e-5
    assert ensemble[0].losses != ensemble[1].losses


def test_ensemble_equals_loop_adam_with_checkpoints():
    start = init_state(MLP, DIGITS.input_shape, 0)
    opts = [OptimizerSpec("adam", lr=lr, batch=128, epochs=1, seed=i) for i, lr in enumerate([1e-3, 1e-2])]
    ensemble = train_ensemble(start, MLP, DIGITS, opts, checkpoint_every=5)
    for opt, member in zip(opts, ensemble):
        alone = train(start, MLP, DIGITS, opt, checkpoint_every=5)
        assert [c.step for c in member.checkpoints] == [c.step for c in alone.checkpoints]
        for a, b in zip(alone.checkpoints, member.checkpoints):
            assert states_equal(a, b)[1] < 1e-5 and set(a.opt_state) == set(b.opt_state)


def test_same_seed_same_members_differ_only_by_seed():
    start = init_state(MLP, DIGITS.input_shape, 0)
    opts = [OptimizerSpec("sgd", lr=0.05, seed=s) for s in (7, 7, 8)]
    a, b, c = train_ensemble(start, MLP, DIGITS, opts)
    assert states_equal(a.end, b.end) == (True, 0.0)
    assert not states_equal(a.end, c.end)[0]


def test_vmap_conv_groupnorm_equals_loop():
    data = load_dataset(DataSpec.of("digits", limit=128, image=True))
    model = Conv2d(1, 4, 3, padding=1) >> GroupNorm(2, 4) >> ReLU() >> Flatten() >> Linear(256, 10)
    starts = [init_state(model, data.input_shape, s) for s in range(2)]
    opts = [OptimizerSpec("sgd", lr=0.05, momentum=0.9, seed=s) for s in range(2)]
    for start, opt, member in zip(starts, opts, train_ensemble(starts, model, data, opts)):
        assert states_equal(train(start, model, data, opt).end, member.end)[1] < 1e-5


def test_a_diverging_member_does_not_stop_the_others():
    start = init_state(MLP, DIGITS.input_shape, 0)
    opts = [OptimizerSpec("sgd", lr=0.05, momentum=0.9, epochs=2), OptimizerSpec("sgd", lr=1e12, momentum=0.9, epochs=2)]
    good, bad = train_ensemble(start, MLP, DIGITS, opts)
    assert isinstance(good, Trajectory) and isinstance(bad, Diverged)
    assert states_equal(good.end, train(start, MLP, DIGITS, opts[0]).end)[1] < 1e-5
    with pytest.raises(Diverged) as alone:
        train(start, MLP, DIGITS, opts[1])
    assert bad.step == alone.value.step and bad.state.step == alone.value.state.step


def test_refuses_what_it_cannot_batch():
    start = init_state(MLP, DIGITS.input_shape, 0)
    with pytest.raises(NotEnsemblable, match="batch"):
        train_ensemble(start, MLP, DIGITS, [OptimizerSpec("sgd", lr=0.1, batch=32), OptimizerSpec("sgd", lr=0.1)])
    bn = Conv2d(1, 2, 3) >> BatchNorm2d(2) >> Flatten() >> Linear(72, 10)
    with pytest.raises(NotEnsemblable, match="BatchNorm2d"):
        train_ensemble(init_state(bn, (1, 8, 8), 0), bn, DIGITS, [OptimizerSpec("sgd", lr=0.1)])
    drop = MLP >> Dropout(0.5)
    with pytest.raises(NotEnsemblable, match="Dropout"):
        train_ensemble(init_state(drop, (64,), 0), drop, DIGITS, [OptimizerSpec("sgd", lr=0.1)])
