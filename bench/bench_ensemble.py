"""Ensemble vs one-at-a-time training of digits MLPs (64-32-10), measured side by side in one run.

    python bench/bench_ensemble.py            # 32 and 100 models, 20 epochs
    python bench/bench_ensemble.py --quick    # 8 models, 2 epochs

Prints wall time per method, the speed-up over the loop, the peak resident memory of each phase
(Linux VmHWM, reset between phases via /proc/self/clear_refs; in brackets the rise over the
phase's starting RSS), and the largest parameter
difference between each ensemble member and its one-at-a-time twin.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_mib() -> float:
    """Peak resident memory since the last reset (MiB); falls back to the process-lifetime peak."""
    peak = _status_mib("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _phase_start() -> float:
    """Reset the peak and return the resident memory the phase starts from (MiB)."""
    _reset_peak()
    return _status_mib("VmRSS") or 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 models, 2 epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--methods", default="bmm,vmap", help="ensemble methods to time (comma separated)")
    parser.add_argument("--repeat", type=int, default=1, help="time each phase this many times, keep the fastest")
    args = parser.parse_args()

    import torch

    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.ensemble import train_ensemble
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import OptimizerSpec, init_state, states_equal, train

    if args.threads:
        torch.set_num_threads(args.threads)
    sizes, epochs = ((8,), 2) if args.quick else ((32, 100), 20)
    data = load_dataset(DataSpec.of("digits"))
    model = Linear(64, 32) >> ReLU() >> Linear(32, 10)
    print(f"digits {tuple(data.x_train.shape)}, MLP 64-32-10, SGD momentum 0.9, batch 64, {epochs} epochs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    # Warm-up so that one-time costs (lazy imports, first kernels) land on no phase.
    warm = OptimizerSpec("sgd", lr=0.05, momentum=0.9, epochs=1)
    s = init_state(model, data.input_shape, 0)
    train(s, model, data, warm)
    for method in args.methods.split(","):
        train_ensemble([s, s], model, data, [warm, warm], method=method)

    can_reset = _reset_peak()
    print(f"peak memory per phase: {'VmHWM reset per phase' if can_reset else 'process peak (no reset available)'}")
    for members in sizes:
        lrs = torch.logspace(-2, -1, members).tolist()
        opts = [OptimizerSpec("sgd", lr=lr, momentum=0.9, batch=64, epochs=epochs, seed=i) for i, lr in enumerate(lrs)]
        starts = [init_state(model, data.input_shape, i) for i in range(members)]
        rows: dict = {}
        loop_time, loop_peak, loop = float("inf"), 0.0, []
        for _ in range(args.repeat):  # phases interleaved, so that load from other processes hits all alike
            for method in args.methods.split(","):
                base = _phase_start()
                t0 = time.perf_counter()
                ensemble = train_ensemble(starts, model, data, opts, method=method)
                seconds = time.perf_counter() - t0
                if seconds < rows.get(method, (float("inf"),))[0]:
                    rows[method] = (seconds, _peak_mib(), base, ensemble)
            base = _phase_start()
            t0 = time.perf_counter()
            loop = [train(st, model, data, o) for st, o in zip(starts, opts)]
            if time.perf_counter() - t0 < loop_time:
                loop_time, loop_peak = time.perf_counter() - t0, _peak_mib()
        from summary import emit, row

        print(f"\n{members} models (fastest of {args.repeat}):")
        print(f"  {'loop':<14} {loop_time:8.2f} s   1.00x   peak {loop_peak:7.1f} MiB ({loop_peak - base:+.1f})")
        for method, (seconds, peak, base, ensemble) in rows.items():
            diff = max(states_equal(a.end, b.end)[1] for a, b in zip(loop, ensemble))
            print(f"  {'ensemble ' + method:<14} {seconds:8.2f} s {loop_time / seconds:6.2f}x   "
                  f"peak {peak:7.1f} MiB ({peak - base:+.1f})   max |member - loop| = {diff:.1e}")
        emit("bench_ensemble", [row(f"ensemble ({method}) vs loop, {members} models", f"{loop_time:.2f} s / {seconds:.2f} s",
                                    loop_time / seconds, "≥ 2× (2–5× measured before)", loop_time / seconds >= 2)
                                for method, (seconds, *_) in rows.items()])


if __name__ == "__main__":
    main()
