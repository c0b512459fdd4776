"""The generic plan machinery: job kinds plug into the local executor through the registry alone,
batching keys group ready jobs, an unknown executor is a clear error, and `backends.run` never
imports `backends.torch` (the arrow points from torch to run only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backends.run.executor import UnknownExecutor, make_executor
from backends.run.jobs import JOB_KINDS, JobKind, UnknownJobKind, job_kind
from backends.run.plan import Job, Plan
from backends.run.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _square(jobs, ctx):
    """A toy body: the square of a number plus the results of its dependencies; records the
    batch it ran in, so the test sees how the scheduler grouped jobs."""
    ctx.memo.setdefault("batches", []).append([j.label for j in jobs])
    for job in jobs:
        total = job.spec["x"] ** 2 + sum(ctx.store.get(d).metrics["value"] for d in job.deps)
        ctx.store.put(job.key, job.kind, job.spec, None, {"value": total}, None)


def _parity(job, ctx):
    return None if job.spec.get("alone") else job.spec["x"] % 2


SQUARE = JobKind("toy.square", _square, batch_key=_parity, work=lambda jobs, ctx: 0.0)


@pytest.fixture
def square(monkeypatch):
    monkeypatch.setitem(JOB_KINDS, SQUARE.name, SQUARE)  # the one registry line of a new kind
    return SQUARE


def _job(x: int, deps=(), alone=False) -> Job:
    spec = {"x": x, "deps": list(deps), **({"alone": True} if alone else {})}
    return Job.of("toy.square", spec, f"sq({x})", tuple(deps), ("Toy", str(x)))


def test_a_new_job_kind_runs_through_the_local_executor(tmp_path, square):
    plan = Plan()
    a, b, c = (plan.add(_job(x)) for x in (1, 2, 3))
    top = plan.add(_job(4, deps=(a, b, c), alone=True))
    plan.index["Toy"] = {"top": top}
    with Store.open(tmp_path) as store:
        executor = make_executor("local", store=store, device="cpu")
        assert executor.run(plan, progress=False) == {"reused": 0, "ran": 4}
        assert store.get(plan.index["Toy"]["top"]).metrics["value"] == 16 + 1 + 4 + 9
        # ready jobs with equal batching keys ran together (odd: 1 and 3), the rest apart
        assert executor.context.memo["batches"] == [["sq(1)", "sq(3)"], ["sq(2)"], ["sq(4)"]]
        assert executor.run(plan, [top], progress=False) == {"reused": 4, "ran": 0}


def test_a_job_of_an_unregistered_kind_is_a_clear_error(tmp_path):
    with pytest.raises(UnknownJobKind, match="no job kind 'toy.cube'"):
        job_kind("toy.cube")
    plan = Plan()
    plan.add(Job.of("toy.cube", {"x": 1}, "cube"))
    with Store.open(tmp_path) as store, pytest.raises(UnknownJobKind):
        make_executor(store=store).run(plan, progress=False)


def test_an_unknown_executor_is_a_clear_error(tmp_path):
    with Store.open(tmp_path) as store:
        with pytest.raises(UnknownExecutor, match="unknown executor 'spark'; known: local, process, ray"):
            make_executor("spark", store=store)
        with pytest.raises(ValueError, match="workers"):
            make_executor("local", store=store, workers=4)


def test_backends_run_never_imports_backends_torch():
    for path in (ROOT / "backends" / "run").glob("*.py"):
        assert "backends.torch" not in path.read_text(), path
    probe = ("import sys, backends.run.plan, backends.run.jobs, backends.run.executor, backends.run.execute, "
             "backends.run.store, backends.run.commands; import json; "
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('backends.torch') or m == 'torch')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
