"""Ensembles: each member equals its one-at-a-time run; members keep their own data order."""

import pytest
import torch

from backends.torch.data import DataSpec, load_dataset
from backends.torch.ensemble import NotEnsemblable, train_ensemble
from backends.torch.models import BatchNorm2d, Conv2d, Dropout, Flatten, GroupNorm, Linear, ReLU
from backends.torch.train import (Diverged, OptimizerSpec, Trajectory, epoch_order, init_state, states_equal,
                                  train)

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


def test_an_ensemble_resumed_from_an_epoch_ends_bit_for_bit_where_it_would_have():
    """The states `on_epoch` hands out, stacked again, continue exactly: the resume law for
    ensembles (with a momentum-0 member of a momentum sweep, whose result keeps no momentum)."""
    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(3)]
    opts = [OptimizerSpec("sgd", lr=0.05, momentum=m, batch=64, epochs=4, seed=i) for i, m in enumerate([0.9, 0.0, 0.5])]
    seen = []
    whole = train_ensemble(starts, MLP, DIGITS, opts, on_epoch=seen.append)
    assert [(e.done, e.total, e.step) for e in seen] == [(k, 4, 22 * k) for k in range(1, 5)]
    assert seen[0].first_losses == tuple(t.losses[0] for t in whole)
    middle = seen[1].states()
    assert all(s.epoch == 2 and s.step == 44 for s in middle)
    keep = [frozenset(s.opt_state) | frozenset(f"sgd.momentum/{n}" for n in s.params if o.momentum) for s, o in
            zip(starts, opts)]
    rest = train_ensemble(middle, MLP, DIGITS, [o.replace(epochs=2) for o in opts], keep=keep,
                          first_losses=seen[0].first_losses)
    for a, b in zip(whole, rest):
        assert a.end.digest() == b.end.digest() and set(a.end.opt_state) == set(b.end.opt_state)
        assert a.losses[44:] == b.losses
    assert not whole[1].end.opt_state  # momentum 0: nothing kept, as alone


def test_divergence_mid_epoch_names_the_step_and_the_last_finite_state():
    """The loss is checked once per epoch; a divergence is found after the epoch and its last
    finite state replayed, the same as checking every step would give."""
    start = init_state(MLP, DIGITS.input_shape, 0)
    opt = OptimizerSpec("sgd", lr=30.0, momentum=0.9, batch=64, epochs=3, seed=1)  # diverges in epoch 2
    with pytest.raises(Diverged) as alone:
        train(start, MLP, DIGITS, opt, loss="mse")
    e = alone.value
    assert 22 < e.step < 44 and e.state.step == e.step - 1 and e.state.epoch == 1  # mid-epoch: replayed
    with pytest.raises(Diverged) as again:
        train(start, MLP, DIGITS, opt, loss="mse")
    assert again.value.state.digest() == e.state.digest() and again.value.step == e.step
    assert all(bool(t.isfinite().all()) for t in e.state.params.values())
    good, bad = train_ensemble([start, start], MLP, DIGITS, [opt.replace(lr=0.05), opt], loss="mse")
    assert isinstance(good, Trajectory) and isinstance(bad, Diverged)
    assert bad.step == e.step and bad.state.step == e.state.step


def test_stacked_cross_entropy_is_vmapped_cross_entropy_bit_for_bit():
    """The `bmm` method's batched loss runs the kernels `vmap(F.cross_entropy)` runs: the same
    values and the same gradients, bit for bit (so the ensembles' digests did not change)."""
    import torch
    from torch.func import vmap

    from backends.torch.ensemble import STACKED_LOSSES
    from backends.torch.train import loss_function

    g = torch.Generator().manual_seed(0)
    for members, batch, classes in ((5, 64, 10), (3, 17, 4), (1, 1, 2)):
        logits = (torch.randn(members, batch, classes, generator=g) * 3).requires_grad_()
        y = torch.randint(0, classes, (members, batch), generator=g)
        mine = STACKED_LOSSES["cross_entropy"](logits, y)
        theirs = vmap(loss_function("cross_entropy"))(logits, y)
        assert mine.shape == (members,) and torch.equal(mine, theirs)
        (g_mine,) = torch.autograd.grad(mine.sum(), logits)
        (g_theirs,) = torch.autograd.grad(theirs.sum(), logits)
        assert torch.equal(g_mine, g_theirs)


def test_bmm_ensemble_with_the_stacked_loss_equals_the_vmapped_loss(monkeypatch):
    from backends.torch import ensemble

    starts = [init_state(MLP, DIGITS.input_shape, seed) for seed in range(3)]
    opts = [OptimizerSpec("sgd", lr=lr, momentum=0.9, batch=50, epochs=1, seed=i)
            for i, lr in enumerate([0.01, 0.05, 0.1])]
    stacked = train_ensemble(starts, MLP, DIGITS, opts, method="bmm")
    monkeypatch.setattr(ensemble, "STACKED_LOSSES", {})
    vmapped = train_ensemble(starts, MLP, DIGITS, opts, method="bmm")
    for a, b in zip(stacked, vmapped):
        assert a.end.digest() == b.end.digest() and a.losses == b.losses


@pytest.mark.parametrize("conv", [False, True])
def test_an_ensemble_step_takes_vmap_of_grad_bit_for_bit(conv):
    """One step of each method from the same stacked states gives exactly the gradients (seen
    through the update: lr 1, no momentum, so new = old - grad) and losses of `vmap(grad(loss))`
    of each member, though the loss and the backward run outside vmap."""
    from torch.func import functional_call, grad_and_value, vmap

    from backends.torch.ensemble import _stack
    from backends.torch.train import loss_function, template

    data = load_dataset(DataSpec.of("digits", limit=64, image=conv))
    model = (Conv2d(1, 4, 3) >> ReLU() >> Flatten() >> Linear(144, 10)) if conv else MLP
    starts = [init_state(model, data.input_shape, s) for s in range(3)]
    opts = [OptimizerSpec("sgd", lr=1.0, batch=64, epochs=1, seed=s) for s in range(3)]
    module, loss_fn = template(model).train(), loss_function("cross_entropy")
    params, buffers = _stack(starts, "params", "cpu"), _stack(starts, "buffers", "cpu")
    order = torch.stack([epoch_order(o.seed, 0, len(data.y_train)) for o in opts])
    xb, yb = data.x_train[order], data.y_train[order]
    grads, values = vmap(grad_and_value(lambda p, b, x, y: loss_fn(functional_call(module, (p, b), (x,)), y)))(
        params, buffers, xb, yb)
    for method in (["vmap"] if conv else ["vmap", "bmm"]):
        members = train_ensemble(starts, model, data, opts, method=method)
        for i, member in enumerate(members):
            assert member.losses == (float(values[i]),)
            for name, p in params.items():
                assert torch.equal(member.end.params[name], p[i] - grads[name][i]), (method, name)
