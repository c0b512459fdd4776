"""Homotopy classes of a sweep: adaptive pair order vs every pair, side by side in one run; and
batched barrier evaluation vs one pair at a time.

    python bench/bench_homotopy.py            # 50 digits MLPs (64-32-10), 10 epochs
    python bench/bench_homotopy.py --quick    # 16 runs, 3 epochs

The runs are trained once into a store; each method then computes the classes from its own copy
of that store (no barrier shared). Prints, per method, the evaluations and wall time, their
ratios, the 4·N·log₂N target, and whether the partitions agree.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def _run(argv: list[str]) -> tuple[int, str, float]:
    from catdsl.cli import main

    out = StringIO()
    start = time.perf_counter()
    with redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), time.perf_counter() - start


def _batched_vs_loop(store: Path, pairs: int) -> tuple[float, float]:
    """Seconds to evaluate `pairs` straight-line barriers batched, and one pair at a time."""
    import torch

    from backends.run.store import Store
    from backends.torch.barrier import PathSpec, mlp_path_values, path_values
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import TrainingState

    torch.set_num_threads(1)
    s = Store.open(store)
    states = []
    for row in s.runs():
        if row.kind == "train" and s.get(row.key).spec.get("ensemble"):
            states.append(TrainingState.from_tensors(s.tensors(row.key), 0, 0))
    spec = Linear(64, 32) >> ReLU() >> Linear(32, 10)
    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0), cache_dir=store / "data")
    chosen = [(states[i % len(states)], states[(i * 7 + 1) % len(states)]) for i in range(pairs)]
    path = PathSpec(points=9, metric="error")
    start = time.perf_counter()
    mlp_path_values(spec, data, [(dict(a.params), dict(b.params)) for a, b in chosen], path, "cross_entropy")
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for a, b in chosen:
        path_values(spec, data, a, b, path, "cross_entropy")
    return batched, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 runs, 3 epochs")
    parser.add_argument("--level", type=float, default=0.02, help="error barrier joining two runs")
    args = parser.parse_args()
    runs, epochs = (16, 3) if args.quick else (50, 10)
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
        batched, loop = _batched_vs_loop(trained, 20 if args.quick else 100)
        print(f"barriers of {20 if args.quick else 100} pairs: batched {batched:.2f} s, one at a time {loop:.2f} s, "
              f"speed-up {loop / batched:.1f}x")
        from summary import emit, row

        emit("bench_homotopy", [
            row(f"classes: adaptive vs exhaustive evaluations, N = {runs}",
                f"{ad['evaluations']} vs {ex['evaluations']} (4·N·log₂N = {target:.0f}), same partition {same}",
                ad["evaluations"] / ex["evaluations"], "≤ 4·N·log₂N evaluations", ad["evaluations"] <= target and same),
            row(f"barriers batched vs one at a time, {20 if args.quick else 100} pairs",
                f"{loop:.2f} s / {batched:.2f} s", loop / batched, "", None)])
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
