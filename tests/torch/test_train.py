"""Param: the resume (composition) law bit for bit, identity, refutation, divergence, evaluation."""

import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.torch.data import DataSpec, load_dataset
from backends.torch.models import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU
from backends.torch.train import (Cosine, Diverged, NotComposable, OptimizerSpec, Step, TrainingState, compose,
                                  evaluate, identity, init_state, states_equal, train)

MLP = Linear(64, 32) >> ReLU() >> Linear(32, 10)
DIGITS = load_dataset(DataSpec.of("digits"))
SMALL = load_dataset(DataSpec.of("digits", limit=200))

SGD = OptimizerSpec("sgd", lr=0.05, momentum=0.9, batch=64, seed=1, schedule=Step(every=10, gamma=0.9))
ADAM = OptimizerSpec("adam", lr=3e-3, weight_decay=1e-4, batch=64, seed=2, schedule=Cosine(total=50))


def epochs(spec: OptimizerSpec, n: int) -> OptimizerSpec:
    return dataclasses.replace(spec, epochs=n)


@pytest.fixture(scope="module")
def s0():
    return init_state(MLP, DIGITS.input_shape, seed=0)


@pytest.mark.parametrize("opt", [SGD, ADAM, dataclasses.replace(ADAM, name="adamw")],
                         ids=["sgd-momentum", "adam", "adamw"])
def test_resume_law_is_bitwise(s0, opt):
    full = train(s0, MLP, DIGITS, epochs(opt, 3))
    warm = train(s0, MLP, DIGITS, epochs(opt, 2))
    cool = train(warm.end, MLP, DIGITS, epochs(opt, 1))
    assert states_equal(compose(cool, warm).end, full.end) == (True, 0.0)
    assert compose(cool, warm).end.digest() == full.end.digest()
    assert compose(cool, warm).losses == full.losses
    assert states_equal(warm.end, full.end)[0] is False


def test_resume_through_safetensors_is_bitwise(s0, tmp_path):
    from safetensors.torch import load_file, save_file

    warm = train(s0, MLP, DIGITS, epochs(ADAM, 1))
    save_file(warm.end.tensors(), tmp_path / "state.safetensors")
    stored = TrainingState.from_tensors(load_file(tmp_path / "state.safetensors"), warm.end.step, warm.end.epoch)
    assert stored.digest() == warm.end.digest()
    resumed = train(stored, MLP, DIGITS, epochs(ADAM, 1))
    assert resumed.end.digest() == train(s0, MLP, DIGITS, epochs(ADAM, 2)).end.digest()


@settings(max_examples=6, deadline=None)
@given(first=st.integers(0, 2), second=st.integers(0, 2), name=st.sampled_from(["sgd", "adam"]),
       seed=st.integers(0, 3))
def test_resume_law_property(first, second, name, seed):
    opt = OptimizerSpec(name, lr=0.05 if name == "sgd" else 1e-2, momentum=0.9 if name == "sgd" else 0.0,
                        batch=32, seed=seed)
    start = init_state(MLP, SMALL.input_shape, seed=seed)
    split = compose(train(train(start, MLP, SMALL, epochs(opt, first)).end, MLP, SMALL, epochs(opt, second)),
                    train(start, MLP, SMALL, epochs(opt, first)))
    assert split.end.digest() == train(start, MLP, SMALL, epochs(opt, first + second)).end.digest()


def test_different_learning_rates_refute_the_law(s0):
    a = train(s0, MLP, DIGITS, epochs(SGD, 1))
    b = train(s0, MLP, DIGITS, dataclasses.replace(SGD, epochs=1, lr=0.051))
    bitwise, diff = states_equal(a.end, b.end)
    assert not bitwise and 0 < diff < math.inf


def test_identity_is_zero_epochs(s0):
    zero = train(s0, MLP, DIGITS, epochs(SGD, 0))
    assert zero.end is s0 and zero.losses == () and zero.checkpoints == (s0,)
    t = train(s0, MLP, DIGITS, epochs(SGD, 1))
    assert compose(t, identity(s0)).end.digest() == t.end.digest()
    assert compose(identity(t.end), t).end.digest() == t.end.digest()
    assert compose(zero, identity(s0)).end is s0


def test_compose_requires_matching_endpoints(s0):
    t = train(s0, MLP, DIGITS, epochs(SGD, 1))
    with pytest.raises(NotComposable, match="ends at state"):
        compose(t, t)


def test_checkpoints_sit_at_global_steps(s0):
    t = train(s0, MLP, SMALL, epochs(SGD, 2), checkpoint_every=3)  # 4 steps per epoch
    assert [c.step for c in t.checkpoints] == [0, 3, 6, 8]
    assert [c.epoch for c in t.checkpoints] == [0, 0, 1, 2]
    assert t.checkpoints[-1] is t.end and len(t.losses) == 8


def test_dropout_depends_on_seed_and_step_only():
    model = Linear(64, 32) >> ReLU() >> Dropout(0.3) >> Linear(32, 10)
    start = init_state(model, SMALL.input_shape, seed=0)
    before = torch.random.get_rng_state()
    full = train(start, model, SMALL, epochs(SGD, 2))
    assert torch.equal(torch.random.get_rng_state(), before), "training must not consume the global RNG"
    torch.manual_seed(123)  # the caller's global seed must not matter
    resumed = train(train(start, model, SMALL, epochs(SGD, 1)).end, model, SMALL, epochs(SGD, 1))
    assert resumed.end.digest() == full.end.digest()
    other_seed = train(start, model, SMALL, dataclasses.replace(SGD, epochs=2, seed=9))
    assert other_seed.end.digest() != full.end.digest()


def test_batchnorm_buffers_resume_exactly():
    model = Conv2d(1, 4, 3, padding=1) >> BatchNorm2d(4) >> ReLU() >> Flatten() >> Linear(256, 10)
    data = load_dataset(DataSpec.of("digits", limit=128, image=True))
    start = init_state(model, data.input_shape, seed=0)
    full = train(start, model, data, epochs(SGD, 2))
    half = train(start, model, data, epochs(SGD, 1))
    assert train(half.end, model, data, epochs(SGD, 1)).end.digest() == full.end.digest()
    assert int(full.end.buffers["1.num_batches_tracked"]) == 4
    assert not torch.equal(full.end.buffers["1.running_mean"], start.buffers["1.running_mean"])


def test_huge_learning_rate_diverges_with_last_finite_state(s0):
    with pytest.raises(Diverged) as e:
        train(s0, MLP, DIGITS, OptimizerSpec("sgd", lr=1e12, momentum=0.9, epochs=3))
    assert e.value.step > 0 and not math.isfinite(e.value.loss)
    assert e.value.state.step == e.value.step - 1
    assert all(torch.isfinite(t).all() for t in e.value.state.params.values())


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_updates_match_torch_optim(s0, name):
    """Our tensor-level optimizers follow torch.optim's semantics (to rounding)."""
    from backends.torch.models import build
    from backends.torch.train import epoch_order

    kw = {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3} if name == "sgd" else {"weight_decay": 1e-2}
    opt = OptimizerSpec(name, lr=0.05 if name == "sgd" else 1e-2, batch=64, seed=5, **kw)
    ours = train(s0, MLP, DIGITS, opt).end
    net = build(MLP)
    net.load_state_dict(dict(s0.params))
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    reference = cls(net.parameters(), lr=opt.lr, **kw)
    for index in epoch_order(opt.seed, 0, len(DIGITS.y_train)).split(opt.batch):
        reference.zero_grad()
        torch.nn.functional.cross_entropy(net(DIGITS.x_train[index]), DIGITS.y_train[index]).backward()
        reference.step()
    for key, value in net.named_parameters():
        torch.testing.assert_close(ours.params[key], value.detach(), atol=1e-5, rtol=1e-5)


def test_evaluate_reports_test_and_train_metrics(s0):
    t = train(s0, MLP, DIGITS, OptimizerSpec("sgd", lr=0.1, momentum=0.9, epochs=3))
    metrics = evaluate(t.end, MLP, DIGITS)
    assert set(metrics) == {"loss", "accuracy", "train_loss", "train_accuracy"}
    assert metrics["accuracy"] > 0.85 and metrics["train_accuracy"] > 0.85
    assert evaluate(s0, MLP, DIGITS)["accuracy"] < 0.3


def test_optimizer_spec_json_is_canonical():
    assert SGD.to_json() == dataclasses.replace(SGD).to_json()
    assert '"schedule":{"every":10,"gamma":0.9,"kind":"step"}' in SGD.to_json()
    assert OptimizerSpec("sgd", lr=0.1).to_json() != OptimizerSpec("sgd", lr=0.1, seed=1).to_json()
    with pytest.raises(ValueError, match="unknown optimizer"):
        OptimizerSpec("lbfgs", lr=0.1)
