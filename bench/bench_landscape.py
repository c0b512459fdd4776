"""A 51×51 filter-normalized loss landscape of a digits MLP: loop against batched (vmap)
evaluation, and gudhi's share of the total, side by side in one run; ratios, not absolute
times (STYLE.md). Also a wider MLP, where the loop is expected to win on CPU
(backends/torch/landscape.py, `choose_method`). With the `[bench]` peers installed
(loss-landscapes 3.0.6, PyHessian 0.1) the same plane and the Hessian statistics are timed
against them in the same run.

    python bench/bench_landscape.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import torch

from backends.persistence.sublevel import diagram
from backends.torch.data import DataSpec, load_dataset
from backends.torch.landscape import choose_method, coordinates, evaluate_plane, plane_of
from backends.torch.models import Linear, ReLU, Sequential
from backends.torch.segment import OptimizerSpec
from backends.torch.train import init_state, train


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def case(name: str, model, data, grid: int, repeat: int, size: int | None = None) -> None:
    state = init_state(model, data.input_shape, 0)
    state = train(state, model, data, OptimizerSpec("sgd", lr=0.1, momentum=0.9, batch=64, epochs=2, seed=0)).end
    x, y = data.x_test[:size], data.y_test[:size]
    plane = plane_of("filter", [state], seed=0)
    xs = coordinates("filter", grid, 1.0)
    loop_s, (loss_loop, _, _) = _best(lambda: evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", "loop"), repeat)
    vmap_s, (loss_vmap, _, _) = _best(lambda: evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", "batched"),
                                      repeat)
    axis = xs.numpy()
    gudhi_s, _ = _best(lambda: diagram(loss_vmap.numpy(), (axis, axis)), max(repeat, 3))
    params = sum(p.numel() for p in state.params.values())
    best = min(loop_s, vmap_s)
    print(f"{name}: {grid}×{grid} grid, {params:,} parameters, {len(y)} evaluation points")
    print(f"  batched/loop time ratio {vmap_s / loop_s:.2f} (loop {loop_s * 1e3:.0f} ms, batched {vmap_s * 1e3:.0f} ms); "
          f"auto picks {choose_method(params, len(y))}")
    print(f"  gudhi share of the faster total {gudhi_s / (best + gudhi_s):.2%} ({gudhi_s * 1e3:.1f} ms)")
    print(f"  max |loop − batched| {float((loss_loop - loss_vmap).abs().max()):.2e}")


def peers(model, data, grid: int, repeat: int) -> None:
    """The same 51×51 plane with `loss-landscapes` (its planar interpolation through the same
    directions), and Hutchinson's trace / the top Hessian eigenvalue against PyHessian, when the
    `[bench]` peers are installed."""
    try:
        import copy

        import loss_landscapes
        from loss_landscapes.metrics import Loss
        from pyhessian import hessian as PyHessian
    except ImportError as e:
        print(f"peers: not installed ({e.name}); pip install loss-landscapes==3.0.6 pyhessian==0.1")
        return
    from backends.torch.landscape import hessian_trace, top_hessian_eigenvalue
    from backends.torch.models import build

    state = init_state(model, data.input_shape, 0)
    state = train(state, model, data, OptimizerSpec("sgd", lr=0.1, momentum=0.9, batch=64, epochs=2, seed=0)).end
    x, y = data.x_test, data.y_test
    centre, d1, d2, fixed = plane_of("filter", [state], seed=0)
    r, n = 1.0, grid
    xs = coordinates("filter", n, r)

    def module_at(a: float, b: float):
        m = build(model).eval()
        m.load_state_dict({k: centre[k] + a * d1[k] + b * d2[k] for k in centre} | dict(fixed))
        return m

    step = 2 * r / (n - 1)
    start, one, two = module_at(-r, -r - step), module_at(-r + step * n, -r - step), module_at(-r, -r - step + step * n)
    metric = Loss(torch.nn.functional.cross_entropy, x, y)
    theirs_s, theirs = _best(lambda: loss_landscapes.planar_interpolation(copy.deepcopy(start), one, two, metric,
                                                                            steps=n), repeat)
    ours_s, (ours, _, _) = _best(lambda: evaluate_plane(model, (centre, d1, d2, fixed), xs, xs, x, y,
                                                        "cross_entropy"), repeat)
    # loss-landscapes evaluates its even columns at offsets 1..n of the second direction and its
    # odd ones at 0..n-1 (it walks the columns back and forth): compare the even ones
    delta = float(abs(torch.as_tensor(theirs)[0::2] - ours[0::2]).max())
    print(f"peer loss-landscapes: same {n}×{n} plane, speed-up {theirs_s / ours_s:.2f}× "
          f"(theirs {theirs_s * 1e3:.0f} ms, ours {ours_s * 1e3:.0f} ms), max |Δ| {delta:.2e} on its even columns")
    module = build(model).eval()
    module.load_state_dict(dict(state.params) | dict(state.buffers))
    ph = PyHessian(module, torch.nn.functional.cross_entropy, data=(x, y), cuda=False)
    probes = 16
    theirs_s, tr_theirs = _best(lambda: float(sum(ph.trace(maxIter=probes, tol=0.0)) / probes), repeat)
    ours_s, tr_ours = _best(lambda: hessian_trace(model, state.params, state.buffers, x, y, "cross_entropy",
                                                  samples=probes), repeat)
    print(f"peer PyHessian trace ({probes} probes): speed-up {theirs_s / ours_s:.2f}× "
          f"(theirs {theirs_s * 1e3:.0f} ms, ours {ours_s * 1e3:.0f} ms); estimates {tr_theirs:.3f} vs {tr_ours:.3f}")
    theirs_s, eig_theirs = _best(lambda: ph.eigenvalues(maxIter=100, tol=1e-3)[0][0], repeat)
    ours_s, eig_ours = _best(lambda: top_hessian_eigenvalue(model, state.params, state.buffers, x, y,
                                                            "cross_entropy"), repeat)
    print(f"peer PyHessian top eigenvalue: speed-up {theirs_s / ours_s:.2f}× "
          f"(theirs {theirs_s * 1e3:.0f} ms, ours {ours_s * 1e3:.0f} ms); {eig_theirs:.4f} vs {eig_ours:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    digits = load_dataset(DataSpec.of("digits", test=0.25, seed=0))
    repeat = 2 if args.quick else 3  # best of: the first call of a path pays one-time costs
    small = Sequential((Linear(64, 32), ReLU(), Linear(32, 10)))
    case("digits MLP 64-32-10", small, digits, 51, repeat)
    wide = Sequential((Linear(64, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10)))
    case("digits MLP 64-512-512-10", wide, digits, 21 if args.quick else 51, repeat)
    peers(small, digits, 51, repeat)


if __name__ == "__main__":
    main()
