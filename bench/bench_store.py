"""What the run store costs and what it saves, measured side by side in one run.

    python bench/bench_store.py            # 5 repetitions of each measurement
    python bench/bench_store.py --quick    # 2 repetitions

1. Overhead per job: `Store.put` (safetensors written to a temporary file, fsynced, renamed, then
   the SQLite row) plus `Store.get` + `Store.tensors` (read back, never unpickled) of a real
   training state, against the time of the training job that made it — the job of
   `examples/training.cat` (`full`: digits MLP 64-32-10, 5 epochs) and a wider MLP
   (64-512-512-10, 2 epochs) whose state is ~40× larger.
2. Re-run: `catdsl run examples/training.cat` with an empty store (cold: trains every job) and
   again with the filled store (every job a cache hit), as fresh processes, and the executor's own
   time that `run` prints. Each ratio is fastest-of-N over fastest-of-N.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def store_overhead(repeat: int) -> None:
    import torch

    from backends.run.execute import threads_for
    from backends.run.store import Store, job_key
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import OptimizerSpec, TrainingState, init_state, train

    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0))
    cases = [("training.cat full (64-32-10, 5 epochs)", Linear(64, 32) >> ReLU() >> Linear(32, 10), 5),
             ("wide MLP (64-512-512-10, 2 epochs)",
              Linear(64, 512) >> ReLU() >> Linear(512, 512) >> ReLU() >> Linear(512, 10), 2)]
    print("store overhead per job (put + get of the job's state vs training it):")
    for name, model, epochs in cases:
        opt = OptimizerSpec("sgd", lr=0.1, momentum=0.9, batch=64, epochs=epochs, seed=1)
        start = init_state(model, data.input_shape, 0)
        params = sum(t.numel() for t in start.params.values())
        torch.set_num_threads(threads_for(params * opt.batch))
        train(start, model, data, OptimizerSpec("sgd", lr=0.1, epochs=1))  # warm-up
        train_s, state = float("inf"), None
        for _ in range(repeat):
            t0 = time.perf_counter()
            state = train(start, model, data, opt).end
            train_s = min(train_s, time.perf_counter() - t0)
        put_s = get_s = float("inf")
        with tempfile.TemporaryDirectory() as tmp, Store.open(tmp) as store:
            for i in range(repeat):
                key = job_key("bench", {"i": i, "case": name})
                t0 = time.perf_counter()
                store.put(key, "train", {"label": name}, state.tensors(), {"step": state.step, "epoch": state.epoch},
                          state.digest())
                put_s = min(put_s, time.perf_counter() - t0)
                t0 = time.perf_counter()
                job = store.get(key)
                back = TrainingState.from_tensors(store.tensors(key), job.metrics["step"], job.metrics["epoch"])
                get_s = min(get_s, time.perf_counter() - t0)
                assert back.digest() == state.digest()
            size = (Path(tmp) / "tensors" / f"{key}.safetensors").stat().st_size
        print(f"  {name}: {params:,} parameters, {size / 1024:.0f} KiB state")
        print(f"    train {train_s * 1000:8.1f} ms   put {put_s * 1000:6.2f} ms   get {get_s * 1000:6.2f} ms   "
              f"overhead (put + get) / train = {(put_s + get_s) / train_s:.4f}")


def rerun(repeat: int) -> None:
    example = ROOT / "examples" / "training.cat"
    cmd = [sys.executable, "-m", "catdsl.cli", "run", "--store"]
    seen = re.compile(r"(\d+) job\(s\) ran, (\d+) reused \(([\d.]+) s\)")
    cold_wall = warm_wall = cold_exec = warm_exec = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            for phase in ("cold", "warm"):
                t0 = time.perf_counter()
                done = subprocess.run([*cmd, tmp, str(example)], capture_output=True, text=True, check=True)
                wall = time.perf_counter() - t0
                ran, reused, seconds = seen.search(done.stdout).groups()
                if phase == "cold":
                    assert reused == "0", done.stdout
                    cold_wall, cold_exec = min(cold_wall, wall), min(cold_exec, float(seconds))
                else:
                    assert ran == "0", done.stdout
                    warm_wall, warm_exec = min(warm_wall, wall), min(warm_exec, float(seconds))
    print(f"\n`catdsl run examples/training.cat`, fastest of {repeat}:")
    print(f"  process wall time: cold {cold_wall:6.2f} s   cache hit {warm_wall:6.2f} s   "
          f"ratio {warm_wall / cold_wall:.3f}")
    print(f"  executor time:     cold {cold_exec:6.3f} s   cache hit {warm_exec:6.3f} s   "
          f"ratio {warm_exec / cold_exec:.4f}")
    floor = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import backends.torch.train, sklearn.datasets, rich.table"],
                       check=True, cwd=ROOT)
        floor = min(floor, time.perf_counter() - t0)
    print(f"  start-up floor (python importing torch, scikit-learn, rich): {floor:6.2f} s = "
          f"{floor / warm_wall:.0%} of the cache hit")
    from summary import emit, row

    emit("bench_store", [row("catdsl run training.cat: cache hit vs cold (executor time)",
                             f"{warm_exec:.3f} s / {cold_exec:.3f} s", warm_exec / cold_exec, "", None),
                         row("catdsl run training.cat: cache hit vs cold (whole process)",
                             f"{warm_wall:.2f} s / {cold_wall:.2f} s", warm_wall / cold_wall, "", None)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 repetitions instead of 5")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    import torch

    print(f"torch {torch.__version__}, {repeat} repetitions, fastest kept")
    store_overhead(repeat)
    rerun(repeat)


if __name__ == "__main__":
    main()
