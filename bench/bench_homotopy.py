"""Homotopy classes of a sweep and the pieces they are made of, side by side in one run:

- classes: adaptive pair order vs every pair, each from its own copy of the trained store;
- barriers: batched evaluation of many pairs' paths vs one pair at a time;
- weight matching (`backends/torch/align.py`) vs the peer `rebasin` 0.0.47 on pairs of the same
  trained digits MLPs: time per pair and the objective Σ_l ⟨W_l^a, W_l^b⟩ + ⟨b_l^a, b_l^b⟩ after
  matching. With one hidden layer the optimum is one linear assignment (exact); with two hidden
  layers of width 6 it is found by enumerating the first layer's 720 permutations, the second
  solved exactly for each;
- linear CKA (`backends/torch/features.py`, unbiased, feature space) vs the peer `torch-cka`
  0.21 on the hidden representations of the same pairs (450 test points, one batch, both in
  float64): time per pair from the two models to the number, and the largest difference.

    python bench/bench_homotopy.py            # 50 digits MLPs (64-32-10), 10 epochs
    python bench/bench_homotopy.py --quick    # 24 runs, 3 epochs

The peers are the `[bench]` extra (pyproject.toml); without them their rows say "not installed".
Prints the figures, then one `BENCH {json}` line for `bench/table.py`.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TQDM_DISABLE", "1")  # the peers' progress bars

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0)
model mlp = Linear(64, 32) >> ReLU >> Linear(32, 10)

category Training {{
  objects init, trained
  fit : init -> trained
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 32, epochs = {epochs}, seed = 0)
}}

sweep S = Run.fit over seed in 0..{last}, lr in [0.01, 0.1]
{classes}
"""
CLASSES = "classes C of S by homotopy(level = {level}, metric = error, align = true, points = 9)"
RESTARTS = 8  # descents from seeded random permutations, for the deeper MLPs
PEERS = "pip install --no-deps rebasin==0.0.47 torch-cka==0.21 tqdm==4.70.1 torchview==0.2.7 graphviz==0.21"


def _run(argv: list[str]) -> tuple[int, str, float]:
    from catdsl.cli import main

    out = StringIO()
    start = time.perf_counter()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), time.perf_counter() - start


def _trained(store: Path):
    """The final parameters of the sweep's runs (in store order) and the digits data."""
    from backends.run.store import Store
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.train import TrainingState

    s = Store.open(store)
    states = []
    for row in s.runs():
        if row.kind == "train" and s.get(row.key).spec.get("ensemble"):
            states.append(dict(TrainingState.from_tensors(s.tensors(row.key), 0, 0).params))
    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0), cache_dir=store / "data")
    return states, data


def _batched_vs_loop(states, data, pairs: int) -> tuple[float, float]:
    """Seconds to evaluate `pairs` straight-line barriers batched, and one pair at a time."""
    from types import SimpleNamespace

    from backends.torch.barrier import PathSpec, mlp_path_values, path_values
    from backends.torch.models import Linear, ReLU

    spec = Linear(64, 32) >> ReLU() >> Linear(32, 10)
    chosen = [(states[i % len(states)], states[(i * 7 + 1) % len(states)]) for i in range(pairs)]
    path = PathSpec(points=9, metric="error")
    start = time.perf_counter()
    mlp_path_values(spec, data, chosen, path, "cross_entropy")
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for a, b in chosen:
        path_values(spec, data, SimpleNamespace(params=a, buffers={}), SimpleNamespace(params=b, buffers={}),
                    path, "cross_entropy")
    return batched, time.perf_counter() - start


def _module(params: dict, widths: tuple[int, ...]):
    """The nn.Sequential of Linear/ReLU layers with these parameters (for the peers)."""
    from torch import nn

    layers = []
    for k in range(len(widths) - 1):
        layers.append(nn.Linear(widths[k], widths[k + 1]))
        if k < len(widths) - 2:
            layers.append(nn.ReLU())
    module = nn.Sequential(*layers)
    module.load_state_dict(params)
    return module.eval()


def _attains(values: list[float], best: list[float]) -> int:
    return sum(1 for v, b in zip(values, best) if v >= b - 1e-9 * max(1.0, abs(b)))


def _rebasin(a: dict, b: dict, widths, x) -> tuple[float, dict]:
    """rebasin's weight matching of b onto a (its tracing of the model included): seconds, the
    permuted parameters."""
    import torch
    from rebasin import PermutationCoordinateDescent

    model_a, model_b = _module(a, widths), _module(b, widths)
    torch.manual_seed(0)  # it visits the permutations in a torch.randperm order
    start = time.perf_counter()
    PermutationCoordinateDescent(model_a, model_b, x).rebasin()
    return time.perf_counter() - start, {k: v.detach() for k, v in model_b.state_dict().items()}


def _ours(a: dict, b: dict, linears, restarts: int = 1) -> tuple[float, dict]:
    from backends.torch.align import permute, weight_matching

    start = time.perf_counter()
    moved = permute(b, linears, weight_matching(a, b, linears, restarts=restarts))
    return time.perf_counter() - start, moved


def _alignment_rows(states, data, pairs, repeat: int) -> list[dict]:
    from summary import row

    try:
        importlib.import_module("rebasin")  # installed, with its own dependencies?
    except ImportError as e:
        print(f"peers: not installed ({e.name}); {PEERS}")
        return [row("weight matching vs peer rebasin", f"not installed ({PEERS})")]
    import torch

    from backends.torch.align import objective

    x = data.x_test[:1]
    rows = []
    # one hidden layer: the sweep's own runs
    widths, linears = (64, 32, 10), [0, 2]
    ours_t, theirs_t, ours_v, theirs_v, moved_by = 0.0, 0.0, [], [], 0.0

    def logits(params):  # a permutation of hidden units must keep the function
        with torch.no_grad():
            return _module(params, widths)(data.x_test)

    for i, j in pairs:
        a, b = states[i], states[j]
        t, ours = min((_ours(a, b, linears) for _ in range(repeat)), key=lambda r: r[0])
        t2, theirs = min((_rebasin(a, b, widths, x) for _ in range(repeat)), key=lambda r: r[0])
        ours_t, theirs_t = ours_t + t, theirs_t + t2
        ours_v.append(objective(a, ours, linears))
        theirs_v.append(objective(a, theirs, linears))
        moved_by = max(moved_by, *(float((logits(m) - logits(b)).abs().max()) for m in (ours, theirs)))
    assert moved_by < 1e-4, f"a matching changed the function by {moved_by}"
    best = [max(u, v) for u, v in zip(ours_v, theirs_v)]
    n, speed = len(pairs), theirs_t / ours_t
    ours_best, theirs_best = _attains(ours_v, best), _attains(theirs_v, best)
    gap = max(b - v for b, v in zip(best, theirs_v))
    print(f"peer rebasin, weight matching of {n} pairs of digits MLPs 64-32-10: speed-up {speed:.1f}× "
          f"(ours {ours_t / n * 1e3:.3f} ms/pair, theirs {theirs_t / n * 1e3:.2f} ms/pair); best objective "
          f"attained: ours {ours_best}/{n} (one exact assignment), rebasin {theirs_best}/{n} "
          f"(largest shortfall {gap:.4g}); both keep the function (max |Δ logit| {moved_by:.1e})")
    rows.append(row(f"weight matching vs peer rebasin 0.0.47, {n} pairs of digits MLPs 64-32-10",
                    f"ours {ours_t / n * 1e3:.3f} ms/pair, theirs {theirs_t / n * 1e3:.2f} ms/pair; best objective: "
                    f"ours {ours_best}/{n}, rebasin {theirs_best}/{n}", speed,
                    "≥ 20× and the optimum on every pair", speed >= 20 and ours_best == n))
    rows.append(_deep_alignment(data, repeat))
    return rows


def _deep_alignment(data, repeat: int, runs: int = 6, width: int = 6) -> dict:
    """Two hidden layers of `width` units: coordinate descent (ours, rebasin) against the global
    optimum, found by enumerating the first hidden layer's permutations and solving the second
    exactly (one linear assignment) for each."""
    import torch

    from backends.torch.align import _assign, _cost, _layers, objective, permute
    from backends.torch.models import Linear, ReLU, Sequential
    from backends.torch.segment import OptimizerSpec
    from backends.torch.train import init_state, train
    from summary import row

    widths = (64, width, width, 10)
    spec = Sequential((Linear(64, width), ReLU(), Linear(width, width), ReLU(), Linear(width, 10)))
    linears = [0, 2, 4]
    states = []
    for seed in range(runs):
        s = init_state(spec, data.input_shape, seed)
        s = train(s, spec, data, OptimizerSpec("sgd", lr=0.05, momentum=0.9, batch=32, epochs=2, seed=seed)).end
        states.append({k: v.detach() for k, v in s.params.items()})
    pairs = list(itertools.combinations(range(runs), 2))
    x = data.x_test[:1]
    ours_t = theirs_t = more_t = 0.0
    ours_v, more_v, theirs_v, best = [], [], [], []
    for i, j in pairs:
        a, b = states[i], states[j]
        t, moved = min((_ours(a, b, linears) for _ in range(repeat)), key=lambda r: r[0])
        ours_t += t
        ours_v.append(objective(a, moved, linears))
        t, moved = min((_ours(a, b, linears, RESTARTS) for _ in range(repeat)), key=lambda r: r[0])
        more_t += t
        more_v.append(objective(a, moved, linears))
        t, moved = min((_rebasin(a, b, widths, x) for _ in range(repeat)), key=lambda r: r[0])
        theirs_t += t
        theirs_v.append(objective(a, moved, linears))
        Wa, Ba = _layers(a, linears)
        Wb, Bb = _layers(b, linears)
        top = -math.inf
        for p1 in itertools.permutations(range(width)):
            first = torch.tensor(p1)
            second = _assign(_cost(Wa, Ba, Wb, Bb, [first, torch.arange(width)], 1))
            top = max(top, objective(a, permute(b, linears, [first, second]), linears))
        best.append(top)
    n = len(pairs)
    ours_best, more_best, theirs_best = _attains(ours_v, best), _attains(more_v, best), _attains(theirs_v, best)
    speed, more_speed = theirs_t / ours_t, theirs_t / more_t
    print(f"peer rebasin, {n} pairs of MLPs 64-{width}-{width}-10 (2 epochs), global optimum by enumeration: "
          f"attained by ours {ours_best}/{n} (one descent, the default), ours with restarts = {RESTARTS} "
          f"{more_best}/{n}, rebasin {theirs_best}/{n}; speed-up {speed:.1f}× and {more_speed:.1f}× "
          f"(ours {ours_t / n * 1e3:.3f} and {more_t / n * 1e3:.3f} ms/pair, theirs {theirs_t / n * 1e3:.2f} ms/pair)")
    return row(f"weight matching vs peer rebasin, {n} pairs of MLPs 64-{width}-{width}-10 (global optimum by "
               "enumeration)", f"optimum attained: ours {ours_best}/{n}, with restarts = {RESTARTS} {more_best}/{n}, "
               f"rebasin {theirs_best}/{n}; ours {ours_t / n * 1e3:.3f} / {more_t / n * 1e3:.3f} ms/pair, theirs "
               f"{theirs_t / n * 1e3:.2f} ms/pair", more_speed, "", None)


def _cka_rows(states, data, pairs, repeat: int) -> list[dict]:
    from summary import row

    try:
        from torch_cka import CKA
    except ImportError as e:
        print(f"peers: not installed ({e.name}); {PEERS}")
        return [row("linear CKA vs peer torch-cka", f"not installed ({PEERS})")]
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from backends.torch.features import features, linear_cka
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import template

    widths = (64, 32, 10)
    module = template(Linear(64, 32) >> ReLU() >> Linear(32, 10))
    x, y = data.x_test, data.y_test

    def ours(a, b, probe):
        start = time.perf_counter()
        value = linear_cka(features(module, a, 1, probe), features(module, b, 1, probe))
        return time.perf_counter() - start, value

    def theirs(a, b, dtype):
        # its own tensors follow the default dtype: float32 as its users run it, float64 to compare values
        torch.set_default_dtype(dtype)
        try:
            loader = DataLoader(TensorDataset(x.to(dtype), y), batch_size=len(y))  # one batch: all points
            m1, m2 = _module(a, widths), _module(b, widths)
            start = time.perf_counter()
            cka = CKA(m1, m2, model1_name="a", model2_name="b", model1_layers=["1"], model2_layers=["1"])
            cka.compare(loader, loader)
            return time.perf_counter() - start, float(cka.export()["CKA"][0, 0])
        finally:
            torch.set_default_dtype(torch.float32)

    ours_t = theirs_t = worst = worst32 = 0.0
    for i, j in pairs:
        a, b = states[i], states[j]
        t1, v1 = min((ours(a, b, x) for _ in range(repeat)), key=lambda r: r[0])
        t2, v2 = min((theirs(a, b, torch.float32) for _ in range(repeat)), key=lambda r: r[0])
        ours_t, theirs_t, worst32 = ours_t + t1, theirs_t + t2, max(worst32, abs(v1 - v2))
        # the values from the same float64 features: the estimators alone
        a64, b64 = ({k: v.double() for k, v in s.items()} for s in (a, b))
        worst = max(worst, abs(ours(a64, b64, x.double())[1] - theirs(a, b, torch.float64)[1]))
    n, speed = len(pairs), theirs_t / ours_t
    print(f"peer torch-cka, unbiased linear CKA of the hidden layer on {len(y)} test points, {n} pairs: "
          f"speed-up {speed:.1f}× (ours {ours_t / n * 1e3:.3f} ms/pair, theirs {theirs_t / n * 1e3:.2f} ms/pair, "
          f"as each is run by default); max |Δ| {worst:.2e} with both in float64 ({worst32:.2e} as run: theirs "
          "in float32, ours float32 features and float64 CKA)")
    return [row(f"linear CKA vs peer torch-cka 0.21, {n} pairs, {len(y)} probe points",
                f"ours {ours_t / n * 1e3:.3f} ms/pair, theirs {theirs_t / n * 1e3:.2f} ms/pair; max abs Δ {worst:.1e} "
                "(both float64)", speed, "≥ 10×, same value (abs Δ ≤ 1e-10 in float64)", speed >= 10 and worst <= 1e-10)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="24 runs, 3 epochs")
    parser.add_argument("--level", type=float, default=0.02, help="error barrier joining two runs")
    args = parser.parse_args()
    runs, epochs = (24, 3) if args.quick else (50, 10)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        trained = root / "trained"
        file = root / "classes.cat"
        file.write_text(PROGRAM.format(epochs=epochs, last=runs // 2 - 1, classes=""))
        code, _, seconds = _run(["run", "--store", str(trained), str(file)])
        assert code == 0, "training failed"
        print(f"trained {runs} digits MLPs (64-32-10, {epochs} epochs) in {seconds:.1f} s")
        file.write_text(PROGRAM.format(epochs=epochs, last=runs // 2 - 1, classes=CLASSES.format(level=args.level)))
        found = {}
        for method in ("adaptive", "exhaustive"):
            store = root / method
            shutil.copytree(trained, store)
            flags = ["--exhaustive"] if method == "exhaustive" else []
            code, out, seconds = _run(["run", "--format", "json", "--store", str(store), str(file), *flags])
            assert code == 0, out
            report = json.loads(out)["analyses"]["C"]
            found[method] = (report, seconds)
        (ad, t_ad), (ex, t_ex) = found["adaptive"], found["exhaustive"]
        same = {frozenset(c) for c in ad["classes"]} == {frozenset(c) for c in ex["classes"]}
        target = 4 * runs * math.log2(runs)
        sizes = sorted((len(c) for c in ad["classes"]), reverse=True)
        print(f"level {args.level} (error barrier, aligned, 9 points): {len(sizes)} classes, sizes {sizes}")
        print(f"{'method':<11} {'evaluations':>11} {'seconds':>8}")
        print(f"{'adaptive':<11} {ad['evaluations']:>11} {t_ad:>8.2f}")
        print(f"{'exhaustive':<11} {ex['evaluations']:>11} {t_ex:>8.2f}")
        print(f"adaptive/exhaustive: evaluations {ad['evaluations'] / ex['evaluations']:.2f}, "
              f"time {t_ad / t_ex:.2f}; 4·N·log₂N = {target:.0f} "
              f"({'met' if ad['evaluations'] <= target else 'not met'}); same partition: {same}")

        import torch

        torch.set_num_threads(1)
        states, data = _trained(trained)
        count = 20 if args.quick else 100
        batched, loop = _batched_vs_loop(states, data, count)
        print(f"barriers of {count} pairs: batched {batched:.2f} s, one at a time {loop:.2f} s, "
              f"speed-up {loop / batched:.1f}x")
        pairs = list(itertools.combinations(range(8 if args.quick else 16), 2))
        repeat = 2 if args.quick else 3  # best of: the first call of a path pays one-time costs
        peer_rows = _alignment_rows(states, data, pairs, repeat) + _cka_rows(states, data, pairs, repeat)
        from summary import emit, row

        emit("bench_homotopy", [
            row(f"classes: adaptive vs exhaustive evaluations, N = {runs} digits runs{' (quick; 50 in full)' if args.quick else ''}",
                f"{ad['evaluations']} vs {ex['evaluations']} evaluations (4·N·log₂N = {target:.0f}), "
                f"{t_ad:.1f} s vs {t_ex:.1f} s, same partition {same}",
                ad["evaluations"] / ex["evaluations"], "≤ 4·N·log₂N evaluations, same partition",
                ad["evaluations"] <= target and same),
            row(f"barriers batched vs one at a time, {count} pairs",
                f"{loop:.2f} s / {batched:.2f} s", loop / batched, "≥ 1× (not slower than a loop)", loop >= batched),
            *peer_rows])
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
