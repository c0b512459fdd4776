"""Executors side by side: 8 independent training runs through `catdsl run`, in process
(`--executor local`) against a process pool of 2 workers (`--executor process --workers 2`) and,
when Ray is installed, a local Ray of 2 CPUs (`--executor ray --workers 2`).

The 8 runs are 8 generators out of one initial state, each its own training segment (not a sweep:
a sweep's members train as one batched job), an MLP 64-256-256-10 on digits, one torch thread
each (the executors' choice for a step this small). Each command runs on a fresh store, timed as
a whole process (start-up, worker start-up and storing included), fastest of `--repeat`; the
digests of the three must be equal. Target: pool / in-process > 1.5× on 2 cores.
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
from pathlib import Path

from summary import emit, row

ROOT = Path(__file__).resolve().parents[1]
CATDSL = [sys.executable, "-c", "import sys; from catdsl.cli import main; sys.exit(main())"]


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
kind, workers, file, store = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
s = Session(_load(file, None)[0], store, executor=kind, device="cpu", workers=int(workers) if workers != "-" else None)
t0 = time.perf_counter()
s.executor.run(s.plan, progress=False)
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "digests": {j.label: s.store.get(j.key).state_digest for j in s.plan.jobs.values()}}))
"""


def executor_time(file: Path, store: Path, kind: str, workers: str) -> tuple[float, dict[str, str]]:
    done = subprocess.run([sys.executable, "-c", ONE, kind, workers, str(file), str(store)], capture_output=True,
                          text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"executor {kind} failed:\n{done.stderr}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], out["digests"]


def command_time(file: Path, store: Path, *executor: str) -> tuple[float, dict[str, str]]:
    t0 = time.perf_counter()
    done = subprocess.run([*CATDSL, "run", str(file), "--store", str(store), "--device", "cpu", "--format", "json",
                           "--executor", *executor], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"catdsl run --executor {' '.join(executor)} failed:\n{done.stderr}")
    report = json.loads(done.stdout)
    return seconds, {j["label"]: j["digest"] for j in report["jobs"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 epochs a run, fastest of 1")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-ray", action="store_true", help="leave Ray out even when it is installed")
    args = parser.parse_args()
    epochs = args.epochs or (12 if args.quick else 30)
    repeat = args.repeat or (1 if args.quick else 2)
    executors = {"local": ("local",), "process": ("process", "--workers", "2")}
    if not args.no_ray and importlib.util.find_spec("ray") is not None:
        executors["ray"] = ("ray", "--workers", "2")
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "runs.cat"
        file.write_text(program(args.runs, epochs))
        best: dict[str, float] = {}
        whole: dict[str, float] = {}
        digests: dict[str, dict] = {}
        loads: list[float] = []
        for i in range(repeat):  # interleaved, so that load from other processes hits all alike
            for name, flags in executors.items():
                workers = flags[2] if len(flags) > 2 else "-"
                seconds, digests[name] = executor_time(file, Path(tmp) / f"{name}-{i}", name, workers)
                best[name] = min(best.get(name, float("inf")), seconds)
                seconds, digests[name + " (command)"] = command_time(file, Path(tmp) / f"{name}-cmd-{i}", *flags)
                whole[name] = min(whole.get(name, float("inf")), seconds)
                loads.append(os.getloadavg()[0])
    same = all(d == digests["local"] for d in digests.values())
    print(f"{args.runs} independent runs (MLP 64-256-256-10, digits, {epochs} epochs), fastest of {repeat}:")
    print(f"  {'executor':<9} {'executor.run':>12} {'x local':>8} {'catdsl run':>11} {'x local':>8}")
    rows = []
    load = f"load {min(loads):.1f}–{max(loads):.1f}"
    for name, seconds in best.items():
        ratio, ratio_whole = best["local"] / seconds, whole["local"] / whole[name]
        print(f"  {name:<9} {seconds:10.2f} s {ratio:7.2f}x {whole[name]:9.2f} s {ratio_whole:7.2f}x")
        if name != "local":
            label = "process pool" if name == "process" else "local Ray"
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
