"""Toy job kinds for the executor tests: importable by name in the workers (the test puts this
folder on `sys.path`, which the executors hand on to their workers).

`toy.slow` returns x² plus its dependencies' values after sleeping `sleep` seconds, and appends
its worker's pid to `PIDS/LABEL` first, so a test can see which process runs which job (and kill
it). Run as a script, it is a driver: `python executor_toys.py STORE PIDS N_JOBS SLEEP WORKERS`
runs N_JOBS independent slow jobs on the process executor and prints the counts as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from backends.run.jobs import JobKind, JobResult
from backends.run.plan import Job, Plan


def slow(jobs, ctx):
    import torch

    made = []
    for job in jobs:
        with open(Path(job.spec["pids"]) / job.label, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(job.spec["sleep"])
        if job.spec.get("fail"):
            error = ValueError(f"{job.label} failed on purpose")
            error.partial = made
            raise error
        value = job.spec["x"] ** 2 + sum(ctx.store.get(d).metrics["value"] for d in job.deps)
        made.append(JobResult.of(job, {"v": torch.tensor([float(value)])}, {"value": value}, f"v{value}"))
    return made


SLOW = JobKind("toy.slow", compute=slow)


def slow_job(x: int, pids, sleep: float, deps=(), **extra) -> Job:
    spec = {"x": x, "pids": str(pids), "sleep": sleep, "deps": list(deps), **extra}
    return Job.of("toy.slow", spec, f"slow({x})", tuple(deps))


def plan_of(n: int, pids, sleep: float) -> Plan:
    plan = Plan()
    for x in range(n):
        plan.add(slow_job(x, pids, sleep))
    return plan


def main(argv) -> int:
    from backends.run.executor import make_executor
    from backends.run.jobs import register
    from backends.run.store import Store

    import executor_toys  # by its name, not as __main__: the workers import it so

    store_dir, pids, n, sleep, workers = argv
    register(executor_toys.SLOW)
    with Store.open(store_dir) as store:
        executor = make_executor("process", store=store, workers=int(workers))
        counts = executor.run(executor_toys.plan_of(int(n), pids, float(sleep)), progress=False)
        executor.close()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main(sys.argv[1:]))
