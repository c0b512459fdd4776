"""Ensemble vs one-at-a-time training of digits MLPs (64-32-10), measured side by side in one run.

    python bench/bench_ensemble.py            # 32 and 100 models, 20 epochs; then end to end
    python bench/bench_ensemble.py --quick    # 8 models, 2 epochs; then end to end
    python bench/bench_ensemble.py --device cuda --members 100 --epochs 20 --no-end-to-end

Prints wall time per method, the speed-up over the loop, the peak resident memory of each phase
(Linux VmHWM, reset between phases via /proc/self/clear_refs; in brackets the rise over the
phase's starting RSS), and the largest parameter
difference between each ensemble member and its one-at-a-time twin.

End to end (on unless `--no-end-to-end`): 100 runs of 20 epochs (`--runs N`) through `catdsl run`, once as a
sweep (`sweep S = Run.fit over seed in 0..N-1`: N initial states and one ensemble job) and once
as N single jobs (N objects, each with its own init seed and segment), each command a whole
process on a fresh store, fastest of `--repeat`, the two interleaved. Target: the sweep ≥ 6×
faster than the single jobs (issue 13, item 6). `--end-to-end-epochs 20,60` adds a row per run
length: both commands pay the same start-up (Python, catdsl, torch's import: about 2.5 s), which
weighs less the longer the runs are; the 20-epoch row is the one `make bench` reports.
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
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the loop and the ensembles run there)")
    parser.add_argument("--members", type=int, default=None, help="ensemble sizes: just this one")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--no-end-to-end", dest="end_to_end", action="store_false",
                        help="leave out the end-to-end comparison through catdsl run")
    parser.add_argument("--runs", type=int, default=100, help="runs of the end-to-end comparison")
    parser.add_argument("--end-to-end-repeat", type=int, default=None,
                        help="fastest of this many end-to-end commands each (default: --repeat)")
    parser.add_argument("--end-to-end-epochs", default="20",
                        help="epochs of each end-to-end run; a comma-separated list gives a row each")
    args = parser.parse_args()

    import torch

    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.ensemble import train_ensemble
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import OptimizerSpec, init_state, states_equal, train

    if args.threads:
        torch.set_num_threads(args.threads)
    sizes, epochs = ((8,), 2) if args.quick else ((32, 100), 20)
    sizes = (args.members,) if args.members else sizes
    epochs = args.epochs or epochs
    device = args.device
    data = load_dataset(DataSpec.of("digits"))
    model = Linear(64, 32) >> ReLU() >> Linear(32, 10)
    print(f"digits {tuple(data.x_train.shape)}, MLP 64-32-10, SGD momentum 0.9, batch 64, {epochs} epochs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    # Warm-up so that one-time costs (lazy imports, first kernels) land on no phase.
    warm = OptimizerSpec("sgd", lr=0.05, momentum=0.9, epochs=1)
    s = init_state(model, data.input_shape, 0)
    train(s, model, data, warm, device=device)
    for method in args.methods.split(","):
        train_ensemble([s, s], model, data, [warm, warm], method=method, device=device)

    rows_out: list = []
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
                ensemble = train_ensemble(starts, model, data, opts, method=method, device=device)
                _sync(device)
                seconds = time.perf_counter() - t0
                if seconds < rows.get(method, (float("inf"),))[0]:
                    rows[method] = (seconds, _peak_mib(), base, ensemble)
            base = _phase_start()
            t0 = time.perf_counter()
            loop = [train(st, model, data, o, device=device) for st, o in zip(starts, opts)]
            _sync(device)
            if time.perf_counter() - t0 < loop_time:
                loop_time, loop_peak = time.perf_counter() - t0, _peak_mib()
        from summary import row

        print(f"\n{members} models (fastest of {args.repeat}):")
        print(f"  {'loop':<14} {loop_time:8.2f} s   1.00x   peak {loop_peak:7.1f} MiB ({loop_peak - base:+.1f})")
        for method, (seconds, peak, base, ensemble) in rows.items():
            diff = max(states_equal(a.end, b.end)[1] for a, b in zip(loop, ensemble))
            print(f"  {'ensemble ' + method:<14} {seconds:8.2f} s {loop_time / seconds:6.2f}x   "
                  f"peak {peak:7.1f} MiB ({peak - base:+.1f})   max |member - loop| = {diff:.1e}")
        rows_out += [row(f"ensemble ({method}) vs loop, {members} models{'' if device == 'cpu' else ', ' + device}",
                         f"{loop_time:.2f} s / {seconds:.2f} s", loop_time / seconds, "≥ 2× (2–5× measured before)",
                         loop_time / seconds >= 2) for method, (seconds, *_) in rows.items()]
    if args.end_to_end:
        for e2e_epochs in (int(e) for e in args.end_to_end_epochs.split(",")):
            rows_out.append(end_to_end(args.runs, e2e_epochs, args.end_to_end_repeat or args.repeat))
    from summary import emit

    emit("bench_ensemble", rows_out)


SWEEP = """data digits = dataset("digits", test = 0.25, seed = 0)
model mlp = Linear(64, 32) >> ReLU >> Linear(32, 10)

category Training {{
  objects init, trained
  fit : init -> trained
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.05, momentum = 0.9, batch = 64, epochs = {epochs}, seed = 0)
}}

sweep S = Run.fit over seed in 0..{last}
"""


def singles(runs: int, epochs: int) -> str:
    """The same runs as the sweep's members, as `runs` single jobs: object a_i starts from
    init(seed = i), its segment has data-order seed i (what `seed` binds in a sweep)."""
    objects = ", ".join(f"a{i}, b{i}" for i in range(runs))
    arrows = "\n".join(f"  f{i} : a{i} -> b{i}" for i in range(runs))
    inits = "\n".join(f"  a{i} |-> init(seed = {i})" for i in range(runs))
    images = "\n".join(f"  f{i} |-> sgd(lr = 0.05, momentum = 0.9, batch = 64, epochs = {epochs}, seed = {i})"
                       for i in range(runs))
    return SWEEP.format(epochs=epochs, last=0).split("category")[0] + (
        f"category Runs {{\n  objects {objects}\n{arrows}\n}}\n\n"
        f"functor Run : Runs -> Param(mlp, digits, loss = cross_entropy) {{\n{inits}\n{images}\n}}\n")


def end_to_end(runs: int, epochs: int, repeat: int) -> dict:
    """`catdsl run` of a `runs`-member sweep against the same runs as single jobs (module docstring)."""
    import json
    import os
    import subprocess
    import tempfile

    from summary import row

    root = Path(__file__).resolve().parents[1]
    catdsl = [sys.executable, "-c", "from catdsl.cli import entry; entry()"]
    best: dict[str, float] = {}
    jobs: dict[str, dict] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {"sweep": Path(tmp) / "sweep.cat", "single jobs": Path(tmp) / "singles.cat"}
        files["sweep"].write_text(SWEEP.format(epochs=epochs, last=runs - 1))
        files["single jobs"].write_text(singles(runs, epochs))
        for i in range(repeat):
            for name, file in files.items():
                t0 = time.perf_counter()
                done = subprocess.run([*catdsl, "run", str(file), "--store", f"{tmp}/{i}-{name}", "--device", "cpu",
                                       "--format", "json", "--max-epochs", str(max(epochs, 50))],
                                      capture_output=True, text=True, cwd=root)
                seconds = time.perf_counter() - t0
                loads.append(os.getloadavg()[0])
                if done.returncode != 0:
                    raise SystemExit(f"catdsl run ({name}) failed:\n{done.stderr}")
                best[name] = min(best.get(name, float("inf")), seconds)
                jobs[name] = json.loads(done.stdout)["jobs"]
    ratio = best["single jobs"] / best["sweep"]
    print(f"\nend to end, {runs} runs of {epochs} epochs through catdsl run (whole process, fresh store, "
          f"fastest of {repeat}):")
    for name, seconds in best.items():
        inside = sum(j["seconds"] or 0 for j in jobs[name])
        print(f"  {name:<12} {seconds:8.2f} s   {len(jobs[name])} jobs, {inside:.2f} s inside them")
    load = f"load {min(loads):.1f}–{max(loads):.1f}"
    print(f"  sweep vs single jobs: {ratio:.2f}x   ({load} after the commands, on {os.cpu_count()} CPUs)")
    return row(f"{runs}-member sweep vs {runs} single jobs, catdsl run end to end ({epochs} epochs)",
               f"{best['single jobs']:.1f} s / {best['sweep']:.1f} s ({load})", ratio, "≥ 6×", ratio >= 6)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
