"""Landscapes of trained states (`persistence … by landscape(…)`): filter normalization against
a hand computation, loop = batched evaluation, BatchNorm buffers, Hutchinson's trace against the
exact Hessian, and a sweep end to end in the JSON shape of `catdsl run --format json`."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.torch.landscape import (coordinates, evaluate_plane, filter_normalized, hessian_trace, plane_of,
                                      top_hessian_eigenvalue, _seeded)
from backends.torch.models import BatchNorm2d, Conv2d, Flatten, GlobalAvgPool, Linear, ReLU, Sequential
from backends.torch.train import TrainingState, evaluate, init_state
from catdsl.cli import main


@settings(max_examples=30, deadline=None)
@given(out=st.integers(1, 5), inp=st.integers(1, 6), k=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_filter_normalization_matches_a_hand_computation(out, inp, k, seed):
    g = torch.Generator().manual_seed(seed)
    params = {"a.weight": torch.randn(out, inp, generator=g), "a.bias": torch.randn(out, generator=g),
              "c.weight": torch.randn(out, inp, k, k, generator=g), "n.weight": torch.randn(out, generator=g)}
    d = filter_normalized(params, torch.Generator().manual_seed(7))
    # by hand: the same draws (sorted names, tensors of more than one dimension), filter by filter
    g = torch.Generator().manual_seed(7)
    for name in sorted(params):
        p = params[name]
        if p.dim() == 1:
            assert torch.equal(d[name], torch.zeros_like(p))  # biases and norm scales: no move
            continue
        raw = torch.randn(p.shape, generator=g)
        for i in range(p.shape[0]):
            expected = raw[i] * (p[i].norm() / raw[i].norm())
            assert torch.allclose(d[name][i], expected, rtol=1e-5, atol=1e-6)
            assert d[name][i].norm() == pytest.approx(float(p[i].norm()), rel=1e-5)


def _digits_state(model):
    from backends.torch.data import DataSpec, load_dataset

    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0, image=isinstance(model.layers[0], Conv2d)))
    return data, init_state(model, data.input_shape, 0)


def test_loop_and_batched_evaluation_agree_and_the_centre_is_the_state():
    model = Sequential((Linear(64, 16), ReLU(), Linear(16, 10)))
    data, state = _digits_state(model)
    plane = plane_of("filter", [state], seed=1)
    xs = coordinates("filter", 5, 0.5)
    x, y = data.x_train[:200], data.y_train[:200]
    loop, err_loop, _ = evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", "loop")
    batched, err_batched, _ = evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", "batched")
    assert torch.allclose(loop, batched, atol=1e-5) and torch.allclose(err_loop, err_batched)
    full = evaluate(state, model, data)
    centre, _, _ = evaluate_plane(model, plane, torch.zeros(1, dtype=torch.float64),
                                  torch.zeros(1, dtype=torch.float64), data.x_train, data.y_train, "cross_entropy")
    assert float(centre) == pytest.approx(full["train_loss"], rel=1e-5)


def test_batchnorm_buffers_stay_at_the_centre_and_the_plane_is_evaluated_in_eval_mode():
    model = Sequential((Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), GlobalAvgPool(), Flatten(),
                        Linear(4, 10)))
    data, state = _digits_state(model)
    # running statistics different from the init's, as after training
    buffers = {k: (v + 0.5 if v.is_floating_point() else v) for k, v in state.buffers.items()}
    state = TrainingState(state.params, buffers)
    centre, d1, d2, fixed = plane_of("filter", [state], seed=0)
    assert all(not d1[k].any() and not d2[k].any() for k in buffers if buffers[k].is_floating_point())
    assert set(fixed) == {k for k, v in buffers.items() if not v.is_floating_point()}
    xs = coordinates("filter", 3, 0.3)
    x, y = data.x_test[:100], data.y_test[:100]
    loop, _, _ = evaluate_plane(model, (centre, d1, d2, fixed), xs, xs, x, y, "cross_entropy", "loop")
    batched, _, _ = evaluate_plane(model, (centre, d1, d2, fixed), xs, xs, x, y, "cross_entropy", "batched")
    assert torch.allclose(loop, batched, atol=1e-5)
    sub = type(data)(data.name, data.x_train, data.y_train, x, y, data.input_shape, data.num_classes)
    assert float(loop[1, 1]) == pytest.approx(evaluate(state, model, sub)["loss"], rel=1e-5)


def test_hutchinson_trace_estimates_the_exact_hessian_trace():
    from torch.func import functional_call, hessian

    from backends.torch.train import template

    model = Sequential((Linear(4, 3), ReLU(), Linear(3, 3)))
    state = init_state(model, (4,), 0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 4, generator=g), torch.randint(0, 3, (32,), generator=g)
    module = template(model)
    names = sorted(state.params)
    shapes = [state.params[n].shape for n in names]
    flat = torch.cat([state.params[n].reshape(-1) for n in names]).double()

    def f(v):
        parts = dict(zip(names, (t.view(s) for t, s in zip(torch.split(v, [s.numel() for s in shapes]), shapes))))
        return torch.nn.functional.cross_entropy(functional_call(module, parts, (x.double(),)), y)

    h = hessian(f)(flat)
    exact = float(torch.trace(h))
    params = {k: v.double() for k, v in state.params.items()}
    n = 200
    estimate = hessian_trace(model, params, {}, x.double(), y, "cross_entropy", samples=n)
    # vᵀHv over Rademacher v has mean tr H and variance 2 Σ_{i≠j} H_ij²: within 4 standard errors
    off = h - torch.diag(torch.diag(h))
    se = float((2 * (off ** 2).sum() / n).sqrt())
    assert abs(estimate - exact) <= 4 * se + 1e-9
    # power iteration converges to the eigenvalue of largest magnitude
    eig = torch.linalg.eigvalsh(h)
    dominant = float(eig[eig.abs().argmax()])
    top = top_hessian_eigenvalue(model, params, {}, x.double(), y, "cross_entropy", iterations=500, tol=1e-10)
    assert top == pytest.approx(dominant, rel=1e-4)


def test_directions_are_seeded():
    a, b = _seeded(0, "x"), _seeded(0, "x")
    assert torch.equal(torch.randn(3, generator=a), torch.randn(3, generator=b))


SWEEP = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp   = Linear(64, 8) >> ReLU >> Linear(8, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 64, epochs = 1, seed = 0)
}

sweep S = Run.fit over seed in 0..1, lr in [0.05, 0.2]
persistence P of S by landscape(plane = filter, grid = 5, radius = 0.5, hessian = 2, essential = truncate)
persistence of Run.fit by landscape(plane = pca, grid = 5)
persistence R of S by landscape(plane = runs, grid = 5, radius = 0.1, metric = error)
"""


def test_a_sweep_landscape_reports_diagrams_and_statistics_and_is_reused(tmp_path, capsys):
    path = tmp_path / "s.cat"
    path.write_text(SWEEP)
    store = str(tmp_path / "store")
    assert main(["run", "--format", "json", "--store", store, str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    p = report["analyses"]["P"]
    assert p["kind"] == "persistence" and set(p["runs"]) == {f"S[{i}]" for i in range(4)}
    run = p["runs"]["S[0]"]
    assert set(run["diagram"]) == {"0", "1"} and run["diagram"]["0"][0][1] is None
    assert {"total_persistence", "gap", "l2_norm", "sharpness", "hessian_trace"} <= set(run)
    assert run["total_persistence"] > 0  # the essential class truncated at the grid's maximum
    assert set(p["statistics"]) == {"total_persistence", "l2_norm", "sharpness", "hessian_trace"}
    assert {"r2", "pearson", "spearman", "kendall_tau", "granulated_tau"} <= set(p["statistics"]["l2_norm"])
    pca = report["analyses"][next(k for k in report["analyses"] if k.startswith("persistence@"))]
    assert "diagram" in pca and pca["options"]["plane"] == "pca"
    assert report["analyses"]["R"]["options"]["metric"] == "error"
    kinds = [j["kind"] for j in report["jobs"]]
    assert kinds.count("landscape") == 6
    assert main(["run", "--format", "json", "--store", store, str(path)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["counts"]["ran"] == 0
    assert again["analyses"]["P"]["runs"] == p["runs"]
    assert main(["run", "--store", store, str(path)]) == 0
    out = capsys.readouterr().out
    assert "Kendall" in out and "granulated" in out and "S[3]" in out


@pytest.mark.parametrize("method, code, needle", [
    ("landscape(plane = diagonal)", "E404", "`plane` must be filter or runs or pca"),
    ("landscape(grid = 2000)", "E401", "over the limit"),
    ("landscape(radius = -1)", "E404", "`radius` must be a positive number"),
    ("landscape(metric = accuracy)", "E404", "`metric` must be loss or error"),
    ("landscape(plane = pca)", "E404", "needs a trajectory"),
])
def test_bad_landscape_options_are_diagnostics(tmp_path, capsys, method, code, needle):
    text = SWEEP.split("persistence P")[0] + f"persistence Q of Run.trained by {method}\n"
    path = tmp_path / "s.cat"
    path.write_text(text)
    assert main(["run", "--store", str(tmp_path / "store"), str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err


# ---- the first layer on the plane, progress, the Hessian statistics, devices --------------------


def _direct(model, plane, a: float, b: float, x, y, loss: str) -> tuple[float, float]:
    """Loss and error at centre + a·δ₁ + b·δ₂, by loading those weights into a plain module."""
    from backends.torch.models import build
    from backends.torch.train import loss_function

    centre, d1, d2, fixed = plane
    m = build(model).eval()
    m.load_state_dict({k: centre[k] + a * d1[k] + b * d2[k] for k in centre} | dict(fixed))
    with torch.no_grad():
        out = m(x)
    return float(loss_function(loss)(out, y)), 1.0 - float((out.argmax(-1) == y).float().mean())


@pytest.mark.parametrize("model, loss", [
    (Sequential((Linear(64, 16), ReLU(), Linear(16, 10))), "cross_entropy"),  # first layer affine on the plane
    (Sequential((Linear(64, 16), ReLU(), Linear(16, 10))), "mse"),
    (Sequential((Flatten(), Linear(64, 16), ReLU(), Linear(16, 10))), "cross_entropy"),  # no affine first layer
    (Sequential((Conv2d(1, 3, 3, padding=1), ReLU(), Flatten(), Linear(192, 10))), "cross_entropy"),
    (Sequential((Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), GlobalAvgPool(), Flatten(), Linear(4, 10))),
     "cross_entropy"),
])
def test_every_grid_point_is_the_loss_of_the_weights_there(model, loss):
    data, state = _digits_state(model)
    plane = plane_of("filter", [state], seed=3)
    xs = coordinates("filter", 4, 0.7)
    x, y = data.x_test[:120], data.y_test[:120]
    for method in ("batched", "loop"):
        grid, err, used = evaluate_plane(model, plane, xs, xs, x, y, loss, method)
        assert used == method
        for i, j in ((0, 0), (1, 3), (3, 2)):
            want_loss, want_err = _direct(model, plane, float(xs[i]), float(xs[j]), x, y, loss)
            assert float(grid[i, j]) == pytest.approx(want_loss, rel=1e-4, abs=1e-6)
            assert float(err[i, j]) == pytest.approx(want_err, abs=1e-6)  # one example is 1/120


def test_progress_is_reported_per_chunk_and_per_row_and_changes_nothing():
    from backends.torch.landscape import PROGRESS_STEPS

    model = Sequential((Linear(64, 8), ReLU(), Linear(8, 10)))
    data, state = _digits_state(model)
    plane = plane_of("filter", [state], seed=0)
    xs = coordinates("filter", 9, 0.5)
    x, y = data.x_test[:100], data.y_test[:100]
    for method in ("batched", "loop"):
        seen = []
        quiet, _, _ = evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", method)
        shown, _, _ = evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", method,
                                     progress=lambda done, total: seen.append((done, total)))
        assert torch.equal(quiet, shown)
        done = [d for d, _ in seen]
        assert done == sorted(set(done)) and seen[-1] == (81, 81) and {t for _, t in seen} == {81}
        if method == "loop":
            assert done == list(range(9, 82, 9))  # a row at a time
        else:
            assert len(done) >= PROGRESS_STEPS


ONE = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 200)
model mlp   = Linear(64, 8) >> ReLU >> Linear(8, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 64, epochs = 1, seed = 0)
}

persistence P of Run.trained by landscape(grid = 9, hessian = 0)
"""


def test_the_grid_points_show_as_progress_on_stderr_and_never_in_json(tmp_path, capsys):
    path = tmp_path / "one.cat"
    path.write_text(ONE)
    assert main(["run", "--progress", "--store", str(tmp_path / "a"), str(path)]) == 0
    out, err = capsys.readouterr()
    assert "grid point 81/81" in err and "grid point" not in out
    assert main(["run", "--format", "json", "--store", str(tmp_path / "b"), str(path)]) == 0
    out, err = capsys.readouterr()
    assert "grid point" not in out and "grid point" not in err
    assert json.loads(out)["analyses"]["P"]["kind"] == "persistence"


def _tiny_problem():
    from torch.func import functional_call, hessian

    from backends.torch.train import template

    model = Sequential((Linear(4, 3), ReLU(), Linear(3, 3)))
    state = init_state(model, (4,), 0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 4, generator=g).double(), torch.randint(0, 3, (32,), generator=g)
    params = {k: v.double() for k, v in state.params.items()}
    names = list(params)
    module = template(model)

    def f(v):
        parts = dict(zip(names, (t.view(params[n].shape) for n, t in
                                 zip(names, torch.split(v, [params[n].numel() for n in names])))))
        return torch.nn.functional.cross_entropy(functional_call(module, parts, (x,)), y)

    h = hessian(f)(torch.cat([params[n].reshape(-1) for n in names]))
    return model, params, x, y, names, h


def test_hutchinson_with_given_probes_is_their_exact_mean_quadratic_form():
    model, params, x, y, names, h = _tiny_problem()
    g = torch.Generator().manual_seed(5)
    probes = {k: (torch.randint(0, 2, (7, *t.shape), generator=g) * 2 - 1).double() for k, t in params.items()}
    flat = torch.cat([probes[k].reshape(7, -1) for k in names], 1)
    exact = float(torch.einsum("si,ij,sj->s", flat, h, flat).mean())
    assert hessian_trace(model, params, {}, x, y, "cross_entropy", probes=probes) == pytest.approx(exact, rel=1e-10)
    # drawn probes are seeded: the same seed, the same estimate
    one = hessian_trace(model, params, {}, x, y, "cross_entropy", samples=20, seed=4)
    assert one == hessian_trace(model, params, {}, x, y, "cross_entropy", samples=20, seed=4)
    # and they are the integer ±1 draws of the seeded stream, tensor by tensor in sorted name
    # order, `PROBES` samples at a time
    from backends.torch.landscape import PROBES

    g, drawn = _seeded(4, "hutchinson"), {k: [] for k in names}
    for n in (PROBES, 20 - PROBES):
        for k in sorted(names):
            drawn[k].append(torch.randint(0, 2, (n, *params[k].shape), generator=g) * 2 - 1)
    given = {k: torch.cat(v).double() for k, v in drawn.items()}
    assert one == hessian_trace(model, params, {}, x, y, "cross_entropy", probes=given)


def test_the_products_differentiate_the_same_loss_and_reuse_one_module_per_thread():
    import threading

    import torch.nn.functional as F

    from backends.torch.landscape import _evaluator, _twice_differentiable
    from backends.torch.train import loss_function

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(9, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (9,), generator=g)
    ce = _twice_differentiable("cross_entropy")
    hess = torch.autograd.functional.hessian
    assert float(ce(logits, y)) == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-12)
    assert torch.allclose(hess(lambda z: ce(z, y), logits), hess(lambda z: F.cross_entropy(z, y), logits),
                          rtol=1e-10, atol=1e-12)
    soft = torch.softmax(torch.randn(9, 4, generator=g, dtype=torch.float64), 1)
    assert float(ce(logits, soft)) == float(F.cross_entropy(logits, soft))  # class probabilities: as given
    assert _twice_differentiable("mse") is loss_function("mse")
    model = Sequential((Linear(4, 3), ReLU(), Linear(3, 3)))
    same = Sequential((Linear(4, 3), ReLU(), Linear(3, 3)))
    module = _evaluator(model)
    assert _evaluator(same) is module and not module.training
    other = []
    thread = threading.Thread(target=lambda: other.append(_evaluator(model)))
    thread.start()
    thread.join()
    assert other[0] is not module and _evaluator(Sequential((Linear(4, 2),))) is not module


def test_lanczos_meets_its_tolerance_with_no_more_products_than_the_power_iteration(monkeypatch):
    from backends.torch import landscape

    model, params, x, y, names, h = _tiny_problem()
    eig = torch.linalg.eigvalsh(h)
    dominant = float(eig[eig.abs().argmax()])
    made = landscape.hessian_vector_product
    calls = []

    def counted(*args):
        names_, leaves, hvp = made(*args)
        return names_, leaves, lambda vs, batched=False: calls.append(1) or hvp(vs, batched)

    monkeypatch.setattr(landscape, "hessian_vector_product", counted)
    for seed in range(4):
        g = torch.Generator().manual_seed(seed)
        start = {k: torch.randn(t.shape, generator=g, dtype=t.dtype) for k, t in params.items()}
        calls.clear()
        top = top_hessian_eigenvalue(model, params, {}, x, y, "cross_entropy", tol=1e-3, start=start)
        assert top == pytest.approx(dominant, rel=1e-3)
        # PyHessian's power iteration from the same start, stopping by the same rule
        v = torch.cat([start[k].reshape(-1) for k in names])
        value, steps = None, 0
        while True:
            v = v / v.norm()
            hv = h @ v
            steps += 1
            new = float(hv @ v)
            if value is not None and abs(new - value) / (abs(value) + 1e-6) < 1e-3:
                break
            value, v = new, hv
        assert len(calls) <= steps
        assert abs(top - dominant) <= abs(new - dominant) + 1e-9  # and at least as close


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_grid_and_the_trace_match_the_host_and_stay_on_the_device():
    model = Sequential((Linear(64, 16), ReLU(), Linear(16, 10)))
    data, state = _digits_state(model)
    plane = plane_of("filter", [state], seed=0)
    xs = coordinates("filter", 7, 0.5)
    x, y = data.x_test[:200], data.y_test[:200]
    host, _, _ = evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", "batched")
    on = lambda ts: {k: v.cuda() for k, v in ts.items()}  # noqa: E731
    gpu_plane = tuple(on(p) for p in plane)
    device, _, _ = evaluate_plane(model, gpu_plane, xs, xs, x.cuda(), y.cuda(), "cross_entropy", "batched")
    assert device.is_cuda and torch.allclose(device.cpu(), host, rtol=1e-4)
    t_host = hessian_trace(model, state.params, state.buffers, x, y, "cross_entropy", samples=16)
    t_gpu = hessian_trace(model, on(state.params), on(state.buffers), x.cuda(), y.cuda(), "cross_entropy", samples=16)
    assert t_gpu == pytest.approx(t_host, rel=1e-4)


# ---- a sweep that varies label_noise (a data option) ---------------------------------------------

NOISY = SWEEP.split("sweep S")[0] + """
sweep S = Run.fit over label_noise in [0, 0.2, 0.2, 0.3], lr in [0.1]
sweep T = Run.fit over label_noise in [0.2]
persistence P of S by landscape(grid = 5, hessian = 2)
"""


def test_a_sweep_binds_label_noise_into_the_data_of_its_members(tmp_path, capsys):
    path = tmp_path / "n.cat"
    path.write_text(NOISY)
    assert main(["compile", str(path)]) == 0
    jobs = json.loads(capsys.readouterr().out)["jobs"]
    by_label = {j["label"]: j for j in jobs}
    members = [by_label[f"S[label_noise={v}, lr=0.1]"] for v in ("0", "0.2", "0.3")]
    fit = by_label["Run.fit after Run.init"]
    noise = [m["spec"]["data"]["options"].get("label_noise") for m in members]
    assert noise == [None, 0.2, 0.3]  # 0 is the clean data set: the functor's own spec
    assert members[0]["spec"]["data"] == fit["spec"]["data"]
    # different label noise, different data, different jobs; the same value, the same job
    assert len({m["key"] for m in members}) == 3
    # T's one member is S's second: no job of its own
    assert sum(1 for j in jobs if j["kind"] == "train" and j["spec"].get("ensemble")) == 3
    # the run starts from the functor's initial state, on the functor's data
    assert {tuple(m["deps"]) for m in members} == {tuple(fit["deps"])}
    # each member's landscape is sampled on the data it trained on
    scapes = {j["spec"]["states"][0]: j["spec"]["data"] for j in jobs if j["kind"] == "landscape"}
    assert [scapes[m["key"]] for m in members] == [m["spec"]["data"] for m in members]


@pytest.mark.parametrize("sweep, needle, col", [
    ("S = Run.fit over label_noise in [0.1, 1.5]", "label_noise must be a fraction in [0, 1), not 1.5", 39),
    ("S = Run.fit over noise in [0.1]", "a sweep cannot vary `noise`", 24),
])
def test_bad_label_noise_bindings_are_diagnostics(tmp_path, capsys, sweep, needle, col):
    path = tmp_path / "n.cat"
    path.write_text(SWEEP.split("sweep S")[0] + f"sweep {sweep}\n")
    assert main(["check", "--store", str(tmp_path / "store"), str(path)]) == 2
    err = capsys.readouterr().err
    line = SWEEP.split("sweep S")[0].count("\n") + 1
    assert f"n.cat:{line}:{col}: error[E404]" in err and needle in err and "label_noise" in err
