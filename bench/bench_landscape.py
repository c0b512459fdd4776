"""Landscapes and Hessian statistics, side by side in one run; ratios, not absolute times
(STYLE.md). Every comparison alternates the two sides call by call and keeps each side's
fastest call, so a burst of load on a shared machine hits both alike.

- A 51×51 filter-normalized loss landscape of a digits MLP: batched (vmap) against loop
  evaluation, and gudhi's share of the total (target < 5 %). The same for a wider MLP, where
  `auto` (backends/torch/landscape.py, `choose_method`) picks the loop. Target: the method
  `auto` picks is not slower than the other (≥ 1×).
- Against the peers (`[bench]` extra: loss-landscapes 3.0.6, PyHessian 0.1), the targets the
  issue sets: the same 51×51 plane through the same directions as `loss-landscapes`'
  `planar_interpolation`, ≥ 1.5× faster with the same values; Hutchinson's trace with the same
  16 Rademacher probes as PyHessian's `trace` (its draws replayed from the same seed), ≥ 2×
  faster with the same value; the top Hessian eigenvalue from the same start vector with the
  same stopping rule and tolerance (two estimates within 1e-3 relative) as PyHessian's
  `eigenvalues`, ≥ 1.2× faster and at least as accurate (both against the eigenvalue to 1e-10).
  PyHessian's time includes making its `hessian` object (a forward and a backward pass with
  `create_graph`), as ours includes making its gradient graph.

    python bench/bench_landscape.py [--quick]

Ends with the `BENCH {json}` line bench/table.py reads (bench/summary.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from backends.persistence.sublevel import diagram  # noqa: E402
from backends.torch.data import DataSpec, load_dataset  # noqa: E402
from backends.torch.landscape import choose_method, coordinates, evaluate_plane, plane_of  # noqa: E402
from backends.torch.models import Linear, ReLU, Sequential  # noqa: E402
from backends.torch.segment import OptimizerSpec  # noqa: E402
from backends.torch.train import init_state, train  # noqa: E402
from summary import emit, row  # noqa: E402


def versus(ours, theirs, repeat: int) -> tuple[float, float, object, object]:
    """(our best seconds, their best seconds, our value, their value), the calls alternated."""
    best_o = best_t = float("inf")
    out_o = out_t = None
    for _ in range(repeat):
        start = time.perf_counter()
        out_o = ours()
        best_o = min(best_o, time.perf_counter() - start)
        start = time.perf_counter()
        out_t = theirs()
        best_t = min(best_t, time.perf_counter() - start)
    return best_o, best_t, out_o, out_t


def trained(model, data):
    state = init_state(model, data.input_shape, 0)
    return train(state, model, data, OptimizerSpec("sgd", lr=0.1, momentum=0.9, batch=64, epochs=2, seed=0)).end


def case(name: str, model, data, grid: int, repeat: int) -> list[dict]:
    state = trained(model, data)
    x, y = data.x_test, data.y_test
    plane = plane_of("filter", [state], seed=0)
    xs = coordinates("filter", grid, 1.0)
    run = lambda method: evaluate_plane(model, plane, xs, xs, x, y, "cross_entropy", method)  # noqa: E731
    batched_s, loop_s, (loss_b, _, _), (loss_l, _, _) = versus(lambda: run("batched"), lambda: run("loop"), repeat)
    axis = xs.numpy()
    gudhi_s = min(_timed(lambda: diagram(loss_b.numpy(), (axis, axis))) for _ in range(max(repeat, 3)))
    params = sum(p.numel() for p in state.params.values())
    picked = choose_method(params, len(y))
    other = "loop" if picked == "batched" else "batched"
    speed = (loop_s / batched_s) if picked == "batched" else (batched_s / loop_s)
    best = batched_s if picked == "batched" else loop_s
    share = gudhi_s / (best + gudhi_s)
    delta = float((loss_l - loss_b).abs().max())
    print(f"{name}: {grid}×{grid} grid, {params:,} parameters, {len(y)} evaluation points")
    print(f"  batched {batched_s * 1e3:.0f} ms, loop {loop_s * 1e3:.0f} ms: auto picks {picked}, "
          f"{speed:.2f}× the speed of {other}; max |loop − batched| {delta:.1e}")
    print(f"  gudhi {gudhi_s * 1e3:.1f} ms, {share:.2%} of the total")
    t_picked, t_other = (batched_s, loop_s) if picked == "batched" else (loop_s, batched_s)
    return [row(f"landscape {name} {grid}×{grid}: auto's pick ({picked}) vs {other}",
                f"{picked} {t_picked * 1e3:.0f} ms, {other} {t_other * 1e3:.0f} ms", speed, "≥ 1×", speed >= 1),
            row(f"landscape {name} {grid}×{grid}: gudhi's share of the total", f"{share:.2%} ({gudhi_s * 1e3:.1f} ms)",
                None, "< 5 %", share < 0.05)]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def peers(model, data, grid: int, repeat: int) -> list[dict]:
    """The same plane as `loss-landscapes`, and the Hessian statistics against PyHessian."""
    try:
        import copy

        import loss_landscapes
        from loss_landscapes.metrics import Loss
        from pyhessian import hessian as PyHessian
    except ImportError as e:
        print(f"peers: not installed ({e.name}); pip install --no-deps loss-landscapes==3.0.6 pyhessian==0.1")
        return [row("vs peers loss-landscapes, PyHessian", "not installed (pip install --no-deps "
                    "loss-landscapes==3.0.6 pyhessian==0.1)")]
    import warnings

    from backends.torch.landscape import hessian_trace, top_hessian_eigenvalue
    from backends.torch.models import build

    warnings.filterwarnings("ignore", message="Using backward\\(\\) with create_graph=True")
    rows = []
    state = trained(model, data)
    x, y = data.x_test, data.y_test
    centre, d1, d2, fixed = plane_of("filter", [state], seed=0)
    r, n = 1.0, grid
    xs = coordinates("filter", n, r)

    def module_at(a: float, b: float):
        m = build(model).eval()
        m.load_state_dict({k: centre[k] + a * d1[k] + b * d2[k] for k in centre} | dict(fixed))
        return m

    # loss-landscapes walks the plane from `start` by steps of (one − start)/n and (two − start)/n
    step = 2 * r / (n - 1)
    start, one, two = module_at(-r, -r - step), module_at(-r + step * n, -r - step), module_at(-r, -r - step + step * n)
    metric = Loss(torch.nn.functional.cross_entropy, x, y)
    ours_s, theirs_s, (ours, _, _), theirs = versus(
        lambda: evaluate_plane(model, (centre, d1, d2, fixed), xs, xs, x, y, "cross_entropy"),
        lambda: loss_landscapes.planar_interpolation(copy.deepcopy(start), one, two, metric, steps=n), repeat + 2)
    # it evaluates its even columns at offsets 1..n of the second direction and its odd ones at
    # 0..n-1 (it walks the columns back and forth): the even ones are our grid
    delta = float((torch.as_tensor(theirs)[0::2] - ours[0::2]).abs().max() / ours.abs().max())
    speed = theirs_s / ours_s
    print(f"peer loss-landscapes: same {n}×{n} plane, {speed:.2f}× faster (ours {ours_s * 1e3:.0f} ms, theirs "
          f"{theirs_s * 1e3:.0f} ms), max relative |Δ| {delta:.1e} on its even columns")
    rows.append(row(f"vs peer loss-landscapes: {n}×{n} filter-normalized plane",
                    f"{speed:.2f}× faster, largest relative difference {delta:.1e}", speed,
                    "≥ 1.5×, values within 1e-5",
                    speed >= 1.5 and delta <= 1e-5))

    module = build(model).eval()
    module.load_state_dict(dict(state.params) | dict(state.buffers))
    names = [k for k, _ in module.named_parameters()]
    probes = 16

    def their_draws(seed: int) -> dict:
        """The Rademacher probes PyHessian's `trace` draws after `torch.manual_seed(seed)`."""
        torch.manual_seed(seed)
        drawn = []
        for _ in range(probes):
            v = [torch.randint_like(p, high=2) for p in module.parameters()]
            for t in v:
                t[t == 0] = -1
            drawn.append(v)
        return {k: torch.stack([d[i] for d in drawn]) for i, k in enumerate(names)}

    def their_trace(seed: int) -> float:
        torch.manual_seed(seed)
        ph = PyHessian(module, torch.nn.functional.cross_entropy, data=(x, y), cuda=False)
        return sum(ph.trace(maxIter=probes, tol=0.0)) / probes

    same = their_draws(0)
    ours_s, theirs_s, tr_ours, tr_theirs = versus(
        lambda: hessian_trace(model, state.params, state.buffers, x, y, "cross_entropy", samples=probes),
        lambda: their_trace(0), repeat * 5)
    tr_same = hessian_trace(model, state.params, state.buffers, x, y, "cross_entropy", probes=same)
    delta = abs(tr_same - tr_theirs) / abs(tr_theirs)
    speed = theirs_s / ours_s
    print(f"peer PyHessian trace ({probes} probes): {speed:.2f}× faster (ours {ours_s * 1e3:.1f} ms, theirs "
          f"{theirs_s * 1e3:.1f} ms); with its probes {tr_same:.5f} vs {tr_theirs:.5f} (relative |Δ| {delta:.1e})")
    rows.append(row(f"vs peer PyHessian: Hutchinson trace, {probes} probes",
                    f"{speed:.2f}× faster; with the same probes relative difference {delta:.1e}", speed,
                    "≥ 2×, values within 1e-4",
                    speed >= 2 and delta <= 1e-4))

    def their_start(seed: int) -> dict:
        torch.manual_seed(seed)
        return {k: torch.randn(p.size()) for k, p in zip(names, module.parameters())}

    def their_eig(seed: int) -> float:
        torch.manual_seed(seed)
        ph = PyHessian(module, torch.nn.functional.cross_entropy, data=(x, y), cuda=False)
        return ph.eigenvalues(maxIter=100, tol=1e-3)[0][0]

    reference = top_hessian_eigenvalue(model, state.params, state.buffers, x, y, "cross_entropy", tol=1e-10)
    ours_s = theirs_s = 0.0
    err_ours = err_theirs = 0.0
    seeds = range(3)  # the iteration counts depend on the start: the same three starts for both
    for seed in seeds:
        begin = their_start(seed)
        o_s, t_s, eig_ours, eig_theirs = versus(
            lambda: top_hessian_eigenvalue(model, state.params, state.buffers, x, y, "cross_entropy", tol=1e-3,
                                           start=begin),
            lambda: their_eig(seed), repeat * 3)
        ours_s, theirs_s = ours_s + o_s, theirs_s + t_s
        err_ours = max(err_ours, abs(eig_ours - reference) / abs(reference))
        err_theirs = max(err_theirs, abs(eig_theirs - reference) / abs(reference))
    speed = theirs_s / ours_s
    print(f"peer PyHessian top eigenvalue (tol 1e-3, {len(seeds)} starts): {speed:.2f}× faster (ours "
          f"{ours_s * 1e3:.1f} ms, theirs {theirs_s * 1e3:.1f} ms); relative error against {reference:.6f}: "
          f"ours {err_ours:.1e}, theirs {err_theirs:.1e}")
    rows.append(row("vs peer PyHessian: top Hessian eigenvalue, tol 1e-3, same starts",
                    f"{speed:.2f}× faster; relative error ours {err_ours:.1e}, theirs {err_theirs:.1e}", speed,
                    "≥ 1.2× and at least as accurate", speed >= 1.2 and err_ours <= err_theirs + 1e-6))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a 21×21 grid for the wide MLP, fewer repeats")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: steadier ratios on a "
                    "shared machine; 0 for torch's default, one per core)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    digits = load_dataset(DataSpec.of("digits", test=0.25, seed=0))
    repeat = 3 if args.quick else 5  # best of: the first call of a path pays one-time costs
    small = Sequential((Linear(64, 32), ReLU(), Linear(32, 10)))
    rows = case("digits MLP 64-32-10", small, digits, 51, repeat)
    wide = Sequential((Linear(64, 512), ReLU(), Linear(512, 512), ReLU(), Linear(512, 10)))
    rows += case("digits MLP 64-512-512-10", wide, digits, 21 if args.quick else 51, repeat)
    rows += peers(small, digits, 51, repeat)
    emit("bench_landscape", rows)


if __name__ == "__main__":
    main()
