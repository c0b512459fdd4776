"""Two processes running plans on one store compute each job once (a lock per job key): the
second waits for a job the first is computing, then finds it finished and reuses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from backends.run.store import Store

ROOT = Path(__file__).resolve().parents[2]

# Runs a plan of four slow toy jobs (c needs a and b, d needs c) on the store argv[1] and logs
# "pid key" to argv[2] each time a job body computes; prints the executor's counts as JSON.
RUNNER = """
import json, os, sys, time
from backends.run.execute import LocalExecutor
from backends.run.jobs import JobContext, JobKind, register
from backends.run.plan import Job, Plan
from backends.run.store import Store

def slow(jobs, ctx):
    for job in jobs:
        with open(sys.argv[2], "a") as log:
            log.write(f"{os.getpid()} {job.key}\\n")
        time.sleep(0.4)
        ctx.store.put(job.key, job.kind, {"label": job.label, **job.spec}, None, {"value": 1}, None)

register(JobKind("slow", slow))
plan = Plan()
a = plan.add(Job.of("slow", {"name": "a"}, "a"))
b = plan.add(Job.of("slow", {"name": "b"}, "b"))
c = plan.add(Job.of("slow", {"name": "c"}, "c", (a, b)))
plan.add(Job.of("slow", {"name": "d"}, "d", (c,)))
with Store.open(sys.argv[1]) as store:
    print(json.dumps(LocalExecutor(JobContext(store)).run(plan, progress=False)))
"""


def test_two_processes_compute_each_job_once(tmp_path):
    store, log = tmp_path / "store", tmp_path / "log"
    Store.open(store).close()
    procs = [subprocess.Popen([sys.executable, "-c", RUNNER, str(store), str(log)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    counts = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    computed = [line.split()[1] for line in log.read_text().splitlines()]
    assert len(computed) == len(set(computed)) == 4  # each job once, by one of the two
    assert sum(c["ran"] for c in counts) == 4
    assert all(c["ran"] + c["reused"] == 4 for c in counts)


PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {
  objects init, mid, trained
  warm : init -> mid
  cool : mid -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  warm |-> sgd(lr = 0.1, batch = 8, epochs = 3, seed = 0)
  cool |-> sgd(lr = 0.05, batch = 8, epochs = 3, seed = 0)
}
"""


def test_two_catdsl_runs_on_one_store_train_each_job_once(tmp_path):
    path = tmp_path / "t.cat"
    path.write_text(PROGRAM)
    argv = [sys.executable, "-m", "catdsl.cli", "run", "--format", "json", "--store", str(tmp_path / "s"), str(path)]
    procs = [subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    reports = [json.loads(out) for out, _ in outs]
    jobs = len(reports[0]["jobs"])
    assert jobs == 3 and sum(r["counts"]["ran"] for r in reports) == jobs
    assert [j["digest"] for j in reports[0]["jobs"]] == [j["digest"] for j in reports[1]["jobs"]]
