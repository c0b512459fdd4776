"""The executors `process` and `ray`: the same jobs and the same bits as `local`, a killed worker
or driver loses nothing, the driver alone writes the store, and a missing Ray is a clear error.

Workers import the toy job kinds of `executor_toys` by name: this folder goes on `sys.path`,
which the executors hand on to their workers."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import executor_toys  # noqa: E402
from executor_toys import SLOW, plan_of, slow_job  # noqa: E402

from backends.run.executor import ExecutorOptionError, ExecutorUnavailable, make_executor  # noqa: E402
from backends.run.jobs import JOB_KINDS  # noqa: E402
from backends.run.plan import Plan  # noqa: E402
from backends.run.store import Store, StoreError  # noqa: E402

ROOT = HERE.parents[1]
CATDSL = [sys.executable, "-c", "from catdsl.cli import entry; entry()"]  # the console script
HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture
def toys(monkeypatch):
    monkeypatch.setitem(JOB_KINDS, SLOW.name, SLOW)
    return SLOW


def _values(store: Store, plan: Plan) -> dict[str, int]:
    return {j.label: store.get(j.key).metrics["value"] for j in plan.jobs.values()}


def _consistent(store: Store, plan: Plan) -> None:
    """Every job finished, its tensors intact and equal to its value, nothing left half-written."""
    for job in plan.jobs.values():
        assert store.has(job.key), job.label
        assert store.tensors(job.key)["v"].item() == store.get(job.key).metrics["value"]
    assert not list((store.root / "tensors").glob(".tmp.*"))
    assert not store.warnings


# ---- equivalence --------------------------------------------------------------------------------


def _digests(tmp_path: Path, *executor: str) -> dict[str, str]:
    where = tmp_path / "-".join(executor)
    where.mkdir()
    (where / "sweep.cat").write_text((ROOT / "examples" / "sweep.cat").read_text())
    out = subprocess.run([*CATDSL, "run", str(where / "sweep.cat"), "--executor", *executor, "--device", "cpu",
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["counts"]["ran"] == len(report["jobs"])
    return {job["label"]: job["digest"] for job in report["jobs"]}


@pytest.fixture(scope="module")
def local_digests(tmp_path_factory):
    return _digests(tmp_path_factory.mktemp("local"), "local")


def test_a_sweep_on_a_process_pool_has_the_digests_of_a_local_run(tmp_path, local_digests):
    assert any(label.startswith("S[") for label in local_digests)
    assert _digests(tmp_path, "process", "--workers", "2") == local_digests


@pytest.mark.skipif(not HAS_RAY, reason='Ray is not installed (pip install "catdsl[ray]")')
def test_a_sweep_on_a_local_ray_has_the_digests_of_a_local_run(tmp_path, local_digests):
    assert _digests(tmp_path, "ray", "--workers", "2") == local_digests


def test_the_process_pool_runs_independent_jobs_at_once_and_reuses_them(tmp_path, toys):
    pids = tmp_path / "pids"
    pids.mkdir()
    plan = plan_of(4, pids, 0.3)
    top = plan.add(slow_job(9, pids, 0.0, deps=list(plan.jobs)))
    with Store.open(tmp_path / "store") as store:
        executor = make_executor("process", store=store, workers=2)
        try:
            assert executor.run(plan, progress=False) == {"reused": 0, "ran": 5}
            assert store.get(top).metrics["value"] == 81 + 0 + 1 + 4 + 9
            workers = {int(p) for f in pids.iterdir() for p in f.read_text().split()}
            assert len(workers) == 2 and os.getpid() not in workers
            assert executor.run(plan, progress=False) == {"reused": 5, "ran": 0}
        finally:
            executor.close()
        _consistent(store, plan)


# ---- faults -------------------------------------------------------------------------------------


def _pids_of(folder: Path) -> dict[str, list[int]]:
    return {f.name: [int(p) for p in f.read_text().split()] for f in folder.iterdir()}


def test_a_worker_killed_mid_job_loses_nothing(tmp_path, toys):
    pids = tmp_path / "pids"
    pids.mkdir()
    plan = plan_of(4, pids, 1.0)
    outcome: dict = {}

    def drive():
        with Store.open(tmp_path / "store") as store:
            executor = make_executor("process", store=store, workers=2)
            try:
                outcome["counts"] = executor.run(plan, progress=False)
            except BaseException as e:  # noqa: BLE001  (reported by the test)
                outcome["error"] = e
            finally:
                executor.close()

    driver = threading.Thread(target=drive)
    driver.start()
    deadline = time.monotonic() + 60
    while not any(pids.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    victim_label, [victim] = next(iter(_pids_of(pids).items()))
    os.kill(victim, signal.SIGKILL)  # mid-job: it sleeps a second before returning
    driver.join(120)
    assert not driver.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["counts"] == {"reused": 0, "ran": 4}
    assert len(_pids_of(pids)[victim_label]) >= 2  # it ran again, on another worker
    with Store.open(tmp_path / "store") as store:
        _consistent(store, plan)
        assert _values(store, plan) == {f"slow({x})": x * x for x in range(4)}


def test_a_driver_killed_mid_run_resumes_from_the_store(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    store_dir = tmp_path / "store"
    args = [sys.executable, str(HERE / "executor_toys.py"), str(store_dir), str(pids), "6", "0.6", "2"]
    driver = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        finished = 0
        while finished < 2 and time.monotonic() < deadline and driver.poll() is None:
            time.sleep(0.05)
            if (store_dir / "catdsl.sqlite").exists():
                try:
                    with Store.open_readonly(store_dir) as store:
                        finished = sum(store.has(j.key) for j in plan_of(6, pids, 0.6).jobs.values())
                except StoreError:  # the driver made the file but not yet its tables
                    continue
        assert driver.poll() is None, driver.communicate()
        driver.kill()  # the driver alone: SIGKILL, no clean-up
        driver.wait(10)
    finally:
        time.sleep(0.2)
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # its workers, left behind
        except ProcessLookupError:
            pass
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout.strip().splitlines()[-1])
    assert counts["reused"] >= 2 and counts["reused"] + counts["ran"] == 6 and counts["ran"] >= 1
    plan = plan_of(6, pids, 0.6)
    with Store.open(store_dir) as store:
        _consistent(store, plan)
        assert _values(store, plan) == {f"slow({x})": x * x for x in range(6)}


def test_a_failing_job_keeps_the_others_and_its_finished_partners(tmp_path, toys):
    pids = tmp_path / "pids"
    pids.mkdir()
    plan = plan_of(3, pids, 0.0)
    bad = plan.add(slow_job(7, pids, 0.0, fail=True))
    with Store.open(tmp_path / "store") as store:
        executor = make_executor("process", store=store, workers=2)
        try:
            with pytest.raises(ValueError, match=r"slow\(7\) failed on purpose"):
                executor.run(plan, progress=False)
        finally:
            executor.close()
        assert not store.has(bad)
        assert all(store.has(k) for k in plan.jobs if k != bad)


# ---- the store, the options, a missing Ray -----------------------------------------------------


def test_a_workers_store_is_read_only(tmp_path):
    Store.open(tmp_path).close()
    with Store.open_readonly(tmp_path) as store, pytest.raises(StoreError, match="read-only"):
        store.put("k", "toy", {}, None, {}, None)


def test_executor_options_are_checked(tmp_path):
    with Store.open(tmp_path) as store:
        with pytest.raises(ExecutorOptionError, match="--address is for --executor ray"):
            make_executor("process", store=store, address="auto")
        with pytest.raises(ExecutorOptionError, match="at least one worker"):
            make_executor("process", store=store, workers=0)


def test_ray_missing_is_a_clear_diagnostic(tmp_path, monkeypatch, capsys):
    from catdsl.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    with Store.open(tmp_path) as store, pytest.raises(ExecutorUnavailable, match=r'pip install "catdsl\[ray\]"'):
        make_executor("ray", store=store)
    cat = tmp_path / "sweep.cat"
    cat.write_text((ROOT / "examples" / "sweep.cat").read_text())
    assert main(["run", str(cat), "--executor", "ray", "--store", str(tmp_path / "s")]) == 2
    assert 'pip install "catdsl[ray]"' in capsys.readouterr().err


def test_a_ray_cluster_that_does_not_answer_is_a_clear_diagnostic(tmp_path, monkeypatch, capsys):
    """`--address HOST:PORT` where no cluster answers (or one refuses this machine): exit 2 with
    the address and what to do, not an internal error; nothing was computed or stored."""
    from backends.run import ray_executor
    from catdsl.cli import main

    class NoCluster:  # what `import ray` gives, as far as the executor uses it before connecting
        @staticmethod
        def is_initialized():
            return False

        @staticmethod
        def init(address=None, **options):
            raise ConnectionError(f"Failed to connect to Ray cluster at {address}")

    monkeypatch.setattr(ray_executor, "import_ray", lambda: NoCluster)
    cat = tmp_path / "sweep.cat"
    cat.write_text((ROOT / "examples" / "sweep.cat").read_text())
    assert main(["run", str(cat), "--executor", "ray", "--address", "10.9.8.7:6379",
                 "--store", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the Ray cluster at 10.9.8.7:6379" in err and "ray start --head" in err
    assert "internal error" not in err
    with Store.open(tmp_path / "s") as store:
        assert store.runs() == []


def test_the_toys_are_importable_by_name():
    assert SLOW.compute.__module__ == executor_toys.__name__ == "executor_toys"


def test_run_starts_the_process_pools_server_before_it_reads_the_file(tmp_path, monkeypatch, capsys):
    """`catdsl run --executor process` starts the workers' fork server (which imports torch)
    before the file is parsed, so the two overlap; `--executor local` starts none."""
    from backends.run import pool
    from catdsl.cli import main

    started: list[bool] = []
    monkeypatch.setattr(pool, "start_server", lambda: started.append(True))
    bad = tmp_path / "bad.cat"
    bad.write_text("category C {\n  objects a\n  f : a -> \n}\n")
    assert main(["run", str(bad), "--store", str(tmp_path / "s"), "--executor", "local"]) == 2
    assert started == []
    assert main(["run", str(bad), "--store", str(tmp_path / "s"), "--executor", "process"]) == 2
    assert started == [True], "the server starts before the file is read (which fails here)"
    capsys.readouterr()
