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

    rows = [row("pullback vs fine-tuning: wall time", f"{ps:.2f} s / {fs:.2f} s (paper 0.25×)", ps / fs, "", None),
            row("pullback vs fine-tuning: accuracy", f"{pa:.4f} / {fa:.4f} (paper 97.8%)", pa / fa, "", None),
            row("pullback vs fine-tuning: trainable parameters", f"{pt:,} / {ft:,} (paper 0.5%)", pt / ft, "", None)]
    emit("bench_transfer", rows + federated(rounds=3 if args.quick else 5))


def federated(rounds: int) -> list[dict]:
    """FedAvg, aligned FedAvg and R rounds of FedAvg vs each client alone and vs the union."""
    import torch

    from backends.torch.adapters import accuracy
    from backends.torch.align import mlp_linears
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.merge import _features, _model, local_round, merge_clients, relative
    from backends.torch.models import Linear, ReLU, Sequential
    from backends.torch.segment import OptimizerSpec
    from backends.torch.train import init_state, train
    from summary import row

    model = Sequential.of(Linear(64, 64), ReLU(), Linear(64, 10))
    opt = OptimizerSpec.of("adam", lr=0.01, batch=64, epochs=3, seed=0)
    local = OptimizerSpec.of("adam", lr=0.01, batch=64, epochs=1, seed=0)
    union = load_dataset(DataSpec.of("digits"))
    parts = [load_dataset(DataSpec.of("digits", shard=(i, 2))) for i in range(2)]
    x, y = union.x_test, union.y_test

    def trained(data, seed):
        start = time.perf_counter()
        end = train(init_state(model, (64,), seed), model, data, opt).end
        return {**end.params, **end.buffers}, time.perf_counter() - start

    def features(state, leg=None):
        phi = _features(_model(model, state), x)[0]
        return phi if leg is None else phi[:, torch.as_tensor(leg)]

    clients = [trained(d, seed) for d, seed in zip(parts, (0, 1))]
    states, weights = [c[0] for c in clients], [len(d.y_train) for d in parts]
    client_seconds = max(c[1] for c in clients)  # the clients train in parallel
    whole, union_seconds = trained(union, 0)
    acc = lambda state: accuracy(_model(model, state), x, y)[1]  # noqa: E731
    union_acc, alone = acc(whole), [acc(s) for s in states]
    linears = mlp_linears(model)
    measured = {}
    for name, aligned, r in (("FedAvg", False, 1), ("aligned FedAvg", True, 1),
                             (f"FedAvg {rounds} rounds", False, rounds)):
        start = time.perf_counter()
        members = states
        merged, legs = merge_clients(members, weights, linears, aligned)
        for k in range(2, r + 1):
            members = [local_round(merged, model, parts[i], local, k, i, "cross_entropy", "cpu") for i in range(2)]
            merged, legs = merge_clients(members, weights, linears, aligned)
        seconds = time.perf_counter() - start + client_seconds
        phi_m = features(merged)
        defect = max(relative(features(s, leg), phi_m) for s, leg in zip(members, legs))
        measured[name] = (acc(merged), seconds, defect)
        print(f"{name:18s} accuracy {measured[name][0]:.4f}  {seconds:.3f} s  cocone defect {defect:.3f}")
    print(f"{'clients alone':18s} accuracy {alone[0]:.4f} / {alone[1]:.4f}  {client_seconds:.3f} s")
    print(f"{'union':18s} accuracy {union_acc:.4f}  {union_seconds:.3f} s")
    rows = []
    for name, (a, seconds, defect) in measured.items():
        rows.append(row(f"{name} vs training on the union: accuracy",
                        f"{a:.4f} / {union_acc:.4f}; best client alone {max(alone):.4f}; cocone defect {defect:.3f}",
                        a / union_acc, "", None))
        rows.append(row(f"{name} vs training on the union: wall time",
                        f"{seconds:.2f} s / {union_seconds:.2f} s (clients in parallel)", seconds / union_seconds,
                        "", None))
    return rows

if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.1f} s)", file=sys.stderr)
