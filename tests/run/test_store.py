"""The run store: round trip, reuse, atomicity, a real SIGKILL, two writers at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from backends.run.store import Store, job_key, tensor_digest
from catdsl.laws.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]

# Writes jobs 0, 1, 2, … (100 KB of tensors each) and prints "i key" once `put` returned, in one
# write (an unbuffered `print(i, key)` writes its parts one by one: a kill between them left
# half a line).
WRITER = """
import sys, torch
from backends.run.store import Store, job_key
store = Store.open(sys.argv[1])
start, count = int(sys.argv[2]), int(sys.argv[3])
for i in range(start, start + count):
    key = job_key("train", {"i": i})
    store.record_metric(key, 0, "loss", 1.0 / (i + 1))
    store.put(key, "train", {"i": i}, {"w": torch.full((25600,), float(i))},
              {"loss": 1.0 / (i + 1)}, None)
    sys.stdout.write(f"{i} {key}\\n")
    sys.stdout.flush()
"""


def writer(store_dir: Path, start: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(store_dir), str(start),
                             str(count)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"0.weight": torch.randn(32, 64, generator=g), "0.bias": torch.zeros(32),
            "step": torch.tensor(7, dtype=torch.int64), "half": torch.ones(3, dtype=torch.bfloat16),
            "mask": torch.tensor([True, False])}


def test_job_key_is_canonical_and_content_addressed() -> None:
    a = job_key("train", {"model": {"width": 32, "depth": 2}, "code": "0.1.0", "lr": 0.1})
    b = job_key("train", {"lr": 0.1, "code": "0.1.0", "model": {"depth": 2, "width": 32}})
    assert a == b and len(a) == 64
    assert a != job_key("train", {"lr": 0.1, "code": "0.1.1", "model": {"depth": 2, "width": 32}})
    assert a != job_key("eval", {"lr": 0.1, "code": "0.1.0", "model": {"depth": 2, "width": 32}})
    with pytest.raises(TypeError):
        job_key("train", {"path": Path("x")})
    with pytest.raises(TypeError):
        job_key("train", {"by_int": {1: "a"}})
    with pytest.raises(ValueError):
        job_key("train", {"lr": float("nan")})


def test_round_trip(tmp_path: Path) -> None:
    tensors = state()
    with Store.open(tmp_path / "s") as store:
        key = job_key("train", {"seed": 0})
        assert not store.has(key)
        store.put(key, "train", {"model": "mlp", "epochs": 3, "opt": {"lr": 0.1}}, tensors,
                  {"loss": 0.25, "accuracy": 0.9}, tensor_digest(tensors), seconds=1.5)
        assert store.has(key)
        job = store.get(key)
        assert job.spec == {"model": "mlp", "epochs": 3, "opt": {"lr": 0.1}}
        assert job.metrics == {"loss": 0.25, "accuracy": 0.9}
        assert job.seconds == 1.5 and job.created <= time.time()
        back = store.tensors(key)
        assert back.keys() == tensors.keys()
        for name, t in tensors.items():
            assert back[name].dtype == t.dtype and torch.equal(back[name], t)
        assert tensor_digest(back) == job.state_digest
        (row,) = store.runs()
        assert (row.key, row.kind, row.loss, row.accuracy) == (key, "train", 0.25, 0.9)
        assert row.summary == "model=mlp epochs=3"

        store.put("nothing", "eval", {}, None, {"accuracy": 1}, None)
        assert store.tensors("nothing") == {}
        with pytest.raises(KeyError):
            store.get(job_key("train", {"seed": 1}))
        with pytest.raises(ValueError):
            store.has("../escape")


def test_tied_tensors_are_saved(tmp_path: Path) -> None:
    w = torch.randn(4, 4)
    with Store.open(tmp_path) as store:
        store.put("tied", "train", {}, {"enc": w, "dec": w, "row": w[1]}, {}, None)
        back = store.tensors("tied")
        assert torch.equal(back["dec"], w) and torch.equal(back["row"], w[1])


def test_reopen_reuses_finished_jobs(tmp_path: Path) -> None:
    key = job_key("train", {"seed": 3})
    with Store.open(tmp_path) as store:
        store.put(key, "train", {"seed": 3}, state(3), {"loss": 0.5}, None)
        store.record_metric(key, 0, "loss", 2.0)
        store.record_metric(key, 10, "loss", 0.5)
        store.record_metric(key, 10, "loss", 0.4)  # a resumed job re-logs its step
        store.put_verdict("a.cat", "Run.map_comp", Verdict("passed", "torch", samples=5,
                                                            difference=0.0), job=key)
    with Store.open(tmp_path) as store:
        assert store.has(key)
        assert torch.equal(store.tensors(key)["0.weight"], state(3)["0.weight"])
        assert store.curve(key, "loss") == [(0, 2.0), (10, 0.4)]
        (v,) = store.verdicts("a.cat")
        assert (v.law, v.status, v.via, v.samples, v.job) == ("Run.map_comp", "passed", "torch",
                                                              5, key)
        assert store.verdicts("b.cat") == []


def test_stray_temp_file_is_no_job_and_is_cleaned(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    from backends.run.store import _host

    key = job_key("train", {"seed": 0})
    stray = tmp_path / "tensors" / f".tmp.{_host()}.{pid}.abc.{key}.safetensors"
    stray.write_bytes(b"half a file")
    live = tmp_path / "tensors" / f".tmp.{_host()}.{os.getpid()}.abc.{key}.safetensors"
    live.write_bytes(b"being written")
    with Store.open(tmp_path) as store:
        assert not stray.exists()  # its writer is dead
        assert live.exists()  # its writer (this process) may still rename it
        assert not store.has(key) and store.runs() == []


def test_row_without_tensor_file_is_unfinished_and_recomputed(tmp_path: Path) -> None:
    key = job_key("train", {"seed": 0})
    with Store.open(tmp_path) as store:
        store.put(key, "train", {}, state(), {"loss": 1.0}, None)
        path = tmp_path / "tensors" / f"{key}.safetensors"
        path.unlink()
        assert not store.has(key) and store.runs() == []
        with pytest.raises(KeyError):
            store.tensors(key)
        store.put(key, "train", {}, state(), {"loss": 1.0}, None)  # recompute
        assert store.has(key)
        path.write_bytes(path.read_bytes()[:-10])  # truncated: unfinished again
        assert not store.has(key)


def test_sigkill_mid_run_loses_nothing_finished(tmp_path: Path) -> None:
    """SIGKILL a writer at a few points; every listed job loads and every reported one is there."""
    store_dir = tmp_path / "s"
    reported: dict[int, str] = {}
    for round_, delay in enumerate((0.0, 0.003, 0.011)):
        proc = writer(store_dir, 1000 * round_, 500)
        assert proc.stdout is not None
        for _ in range(8):
            i, key = proc.stdout.readline().split()
            reported[int(i)] = key
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, "the writer finished before it was killed"
        for line in rest.splitlines():  # lines printed between our read and the kill
            i, key = line.split()
            reported[int(i)] = key

        with Store.open(store_dir) as store:
            listed = {row.key for row in store.runs()}
            assert set(reported.values()) <= listed
            # At most the job being written at the kill finished without being reported.
            assert len(listed - set(reported.values())) <= 1
            for row in store.runs():
                job = store.get(row.key)
                w = store.tensors(row.key)["w"]
                assert w.shape == (25600,)
                assert torch.all(w == w[0]) and row.key == job_key("train", {"i": int(w[0])})
                assert job.metrics["loss"] == pytest.approx(1.0 / (int(w[0]) + 1))
        assert not list((store_dir / "tensors").glob(".tmp.*"))


def test_two_processes_write_one_store(tmp_path: Path) -> None:
    store_dir = tmp_path / "shared"
    procs = [writer(store_dir, 0, 15), writer(store_dir, 100, 15)]
    outs = [p.communicate()[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sum(len(o.splitlines()) for o in outs) == 30
    with Store.open(store_dir) as store:
        rows = store.runs()
        assert len(rows) == 30
        for row in rows:
            assert store.tensors(row.key)["w"].shape == (25600,)
            assert len(store.curve(row.key, "loss")) == 1
