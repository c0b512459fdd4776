"""Executors side by side: 8 independent training runs through `catdsl run`, in process
(`--executor local`) against a process pool of 2 workers (`--executor process --workers 2`) and,
when Ray is installed, Ray with 2 CPUs: a local Ray the command starts itself (`--executor ray
--workers 2`) and a Ray cluster already running (`--executor ray --address HOST:PORT`; this
script starts it with `ray.init(num_cpus = 2)` before measuring and stops it after, as a user's
cluster would be up before the run).

The 8 runs are 8 generators out of one initial state, each its own training segment (not a sweep:
a sweep's members train as one batched job), an MLP 64-256-256-10 on digits, one torch thread
each (the executors' choice for a step this small), 30 epochs (`--epochs`; at 12 epochs a run is
0.3 s and the 1.2 s torch import that every executor pays once dominates the whole command).
Each command runs on a fresh store, timed as a whole process (start-up, worker start-up and
storing included), fastest of `--repeat`; the digests must be equal on every executor. Target:
pool / in-process > 1.5× on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from summary import emit, row

ROOT = Path(__file__).resolve().parents[1]
CATDSL = [sys.executable, "-c", "from catdsl.cli import entry; entry()"]


def program(runs: int, epochs: int) -> str:
    targets = ", ".join(f"a{i}" for i in range(runs))
    arrows = "\n".join(f"  f{i} : init -> a{i}" for i in range(runs))
    images = "\n".join(f"  f{i} |-> sgd(lr = {0.02 + 0.01 * i:.2f}, momentum = 0.9, batch = 64, epochs = {epochs}, "
                       f"seed = {i})" for i in range(runs))
    return f"""data digits = dataset("digits", test = 0.25, seed = 0)
model mlp = Linear(64, 256) >> ReLU >> Linear(256, 256) >> ReLU >> Linear(256, 10)

category Runs {{
  objects init, {targets}
{arrows}
}}

functor Run : Runs -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
{images}
}}
"""


ONE = """
import json, sys, time
from catdsl.cli import _load
from backends.torch.session import Session
kind, workers, address, file, store = sys.argv[1:6]
s = Session(_load(file, None)[0], store, executor=kind, device="cpu", workers=int(workers) if workers != "-" else None,
            address=None if address == "-" else address)
t0 = time.perf_counter()
s.executor.run(s.plan, progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "digests": {j.label: s.store.get(j.key).state_digest for j in s.plan.jobs.values()}}))
"""

# A Ray cluster this script starts (token authentication off: it listens on this machine only,
# for the length of the measurement); the commands join it with --address.
RAY_ENV = {"RAY_AUTH_MODE": "disabled"}


def _option(flags: tuple[str, ...], name: str) -> str:
    return flags[flags.index(name) + 1] if name in flags else "-"


def executor_time(file: Path, store: Path, flags: tuple[str, ...]) -> tuple[float, dict[str, str]]:
    done = subprocess.run([sys.executable, "-c", ONE, flags[0], _option(flags, "--workers"), _option(flags, "--address"),
                           str(file), str(store)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **RAY_ENV})
    if done.returncode != 0:
        raise SystemExit(f"executor {' '.join(flags)} failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], out["digests"]


def command_time(file: Path, store: Path, flags: tuple[str, ...]) -> tuple[float, dict[str, str]]:
    t0 = time.perf_counter()
    done = subprocess.run([*CATDSL, "run", str(file), "--store", str(store), "--device", "cpu", "--format", "json",
                           "--executor", *flags], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **RAY_ENV})
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"catdsl run --executor {' '.join(flags)} failed:\n{done.stderr}")
    report = json.loads(done.stdout)
    return seconds, {j["label"]: j["digest"] for j in report["jobs"]}


@contextmanager
def ray_cluster(cpus: int):
    """A Ray cluster of `cpus` CPUs on this machine for the length of the block: its address."""
    os.environ.update(RAY_ENV)
    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, configure_logging=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


LABELS = {"process": "process pool", "ray": "local Ray", "ray cluster": "Ray cluster already running"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="Ray once, the others fastest of 2 (else all fastest of --repeat, 3)")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-ray", action="store_true", help="leave Ray out even when it is installed")
    args = parser.parse_args()
    epochs = args.epochs
    repeat = args.repeat or (2 if args.quick else 3)
    ray_repeat = 1 if args.quick else repeat  # a local Ray costs 10 s to start: once is enough to see it
    executors: dict[str, tuple[str, ...]] = {"local": ("local",), "process": ("process", "--workers", "2")}
    has_ray = not args.no_ray and importlib.util.find_spec("ray") is not None
    if has_ray:
        executors["ray"] = ("ray", "--workers", "2")
    best: dict[str, float] = {}
    whole: dict[str, float] = {}
    digests: dict[str, dict] = {}
    loads: list[float] = []

    def measure(name: str, flags: tuple[str, ...], file: Path, i: int) -> None:
        seconds, digests[name] = executor_time(file, file.parent / f"{name}-{i}", flags)
        best[name] = min(best.get(name, float("inf")), seconds)
        seconds, digests[name + " (command)"] = command_time(file, file.parent / f"{name}-cmd-{i}", flags)
        whole[name] = min(whole.get(name, float("inf")), seconds)
        loads.append(os.getloadavg()[0])

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "runs.cat"
        file.write_text(program(args.runs, epochs))
        for i in range(repeat):  # interleaved, so that load from other processes hits all alike
            for name, flags in executors.items():
                if flags[0] != "ray" or i < ray_repeat:
                    measure(name, flags, file, i)
        if has_ray:  # up only while it is measured: its idle processes would slow the others
            with ray_cluster(2) as address:
                for i in range(ray_repeat):
                    measure("ray cluster", ("ray", "--address", address), file, i)
    same = all(d == digests["local"] for d in digests.values())
    print(f"{args.runs} independent runs (MLP 64-256-256-10, digits, {epochs} epochs), fastest of {repeat} "
          f"(Ray: of {ray_repeat}):")
    print(f"  {'executor':<12} {'executor.run':>12} {'x local':>8} {'catdsl run':>11} {'x local':>8}")
    rows = []
    load = f"load {min(loads):.1f}–{max(loads):.1f}"
    for name, seconds in best.items():
        ratio, ratio_whole = best["local"] / seconds, whole["local"] / whole[name]
        print(f"  {name:<12} {seconds:10.2f} s {ratio:7.2f}x {whole[name]:9.2f} s {ratio_whole:7.2f}x")
        if name != "local":
            label = LABELS[name]
            rows.append(row(f"{label}, 2 workers vs in-process, {args.runs} runs of {epochs} epochs (executor)",
                            f"{best['local']:.1f} s / {seconds:.1f} s ({load})", ratio, "> 1.5×",
                            ratio > 1.5 and same))
            rows.append(row(f"{label}, 2 workers vs in-process, {args.runs} runs of {epochs} epochs (whole command)",
                            f"{whole['local']:.1f} s / {whole[name]:.1f} s ({load})", ratio_whole, "> 1.5×",
                            ratio_whole > 1.5 and same))
    print(f"digests equal on every executor: {same}; {load} (1-minute load average) while measuring, on "
          f"{os.cpu_count()} CPUs (other processes share them)")
    emit("bench_executors", rows)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
