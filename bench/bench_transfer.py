"""Pullback transfer vs fine-tuning on permuted digits, measured side by side in one run.

    python bench/bench_transfer.py            # 64-wide MLP, 20 epochs each
    python bench/bench_transfer.py --quick    # 5 epochs

Trains the source (digits, 64-wide MLP), then on digits with permuted pixels: the pullback
φ_T = φ_S ∘ f (a linear input adapter, φ_S frozen) and full fine-tuning, on the same budget
(adam, lr 0.01, batch 64, the same epochs and data order). Prints the ratios the paper's claim
is about — accuracy, wall time, trainable parameters (pullback / fine-tuning) — beside the
paper's (97.8 %, 25 %, 0.5 %).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 epochs instead of 20")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (the fastest counts)")
    args = parser.parse_args()
    import torch

    from backends.torch.adapters import accuracy, composite, counts, fit
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import Linear, ReLU, Sequential, spec_json
    from backends.torch.segment import OptimizerSpec
    from backends.torch.train import init_state, train

    torch.set_num_threads(1)
    epochs = 5 if args.quick else 20
    opt = OptimizerSpec.of("adam", lr=0.01, batch=64, epochs=epochs, seed=0)
    model = Sequential.of(Linear(64, 64), ReLU(), Linear(64, 10))
    source_data = load_dataset(DataSpec.of("digits"))
    target = load_dataset(DataSpec.of("digits", transform=(("permute", (("seed", 1),)),)))
    state = train(init_state(model, (64,), 0), model, source_data, opt).end
    source = {**state.params, **state.buffers}
    import json

    base = {"model": json.loads(spec_json(model)), "source_input": [64], "width": 64, "head": "source",
            "optimizer": json.loads(opt.to_json()), "adapter": {"kind": "linear", "rank": 0, "at": "input"}}
    measured = {}
    for method in ("pullback", "fine_tune"):
        best, acc, trainable, total = float("inf"), None, 0, 0
        for _ in range(args.repeat):
            learner = composite({**base, "method": method}, model, source, (64,), 10)
            _, seconds = fit(learner, target, opt)
            best = min(best, seconds)
            acc = accuracy(learner, target.x_test, target.y_test)[1]
            trainable, total = counts(learner)
        measured[method] = (acc, best, trainable, total)
        print(f"{method:10s} accuracy {acc:.4f}  {best:.3f} s  trainable {trainable:,} of {total:,}")
    (pa, ps, pt, _), (fa, fs, ft, _) = measured["pullback"], measured["fine_tune"]
    print(f"pullback / fine-tuning: accuracy {pa / fa:.1%} (paper 97.8%), wall time {ps / fs:.2f}x "
          f"(paper 0.25x), trainable parameters {pt / ft:.1%} (paper 0.5%)")
    from summary import emit, row

    emit("bench_transfer", [row("pullback vs fine-tuning: wall time", f"{ps:.2f} s / {fs:.2f} s (paper 0.25×)", ps / fs,
                                "", None),
                            row("pullback vs fine-tuning: accuracy", f"{pa:.4f} / {fa:.4f} (paper 97.8%)", pa / fa,
                                "", None)])


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
