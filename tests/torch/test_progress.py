"""Progress inside a training job and resumable segments (issue 12, item 9): a job killed
mid-segment resumes from its last epoch, and by the resume law ends bit for bit where an
uninterrupted run ends; its progress record is never taken for a finished job."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 600)
model mlp = Linear(64, 32) >> ReLU >> Linear(32, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.05, momentum = 0.9, batch = 4, epochs = EPOCHS, seed = 3)
}
"""
CATDSL = Path(sys.executable).with_name("catdsl")


def _write(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / "long.cat"
    path.write_text(PROGRAM.replace("EPOCHS", str(epochs)), encoding="utf-8")
    return path


def _trained(store: Path):
    """(key, stored job) of the one train job in `store`, or (None, None)."""
    from backends.run.store import Store

    with Store.open(store) as s:
        for row in s.runs():
            job = s.get(row.key)
            if job.kind == "train":
                return row.key, job
    return None, None


def _records(store: Path) -> list[Path]:
    folder = store / "partial"
    return [p for p in folder.glob("*.safetensors") if not p.name.startswith(".")] if folder.is_dir() else []


def test_a_job_killed_mid_segment_resumes_from_its_last_epoch_bit_for_bit(tmp_path, capsys) -> None:
    path = _write(tmp_path, 20)
    whole = tmp_path / "whole"
    assert main(["run", "--store", str(whole), str(path)]) == 0
    key, uninterrupted = _trained(whole)
    assert uninterrupted.metrics["epoch"] == 20 and not _records(whole)  # removed when done

    cut = tmp_path / "cut"
    proc = subprocess.Popen([str(CATDSL), "run", "--store", str(cut), str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not _records(cut) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # mid-segment: no chance to tidy up
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert _records(cut), "the run was killed before its first epoch was kept"
    assert _trained(cut) == (None, None)  # progress is not a finished job
    assert main(["runs", "--store", str(cut), "--kind", "train"]) == 0
    assert "0 finished job(s)" in capsys.readouterr().out

    assert main(["run", "--store", str(cut), str(path)]) == 0
    again_key, resumed = _trained(cut)
    assert again_key == key
    assert 1 <= resumed.metrics["resumed_at_epoch"] < 20  # from a kept epoch, not from scratch
    assert resumed.state_digest == uninterrupted.state_digest  # the resume law, bit for bit
    assert resumed.metrics["step"] == uninterrupted.metrics["step"]
    assert not _records(cut)


def test_a_damaged_progress_record_is_ignored_and_removed(tmp_path, capsys) -> None:
    path = _write(tmp_path, 2)
    first = tmp_path / "first"
    assert main(["run", "--store", str(first), str(path)]) == 0
    key, done = _trained(first)
    second = tmp_path / "second"
    (second / "partial").mkdir(parents=True)
    (second / "partial" / f"{key}.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    assert main(["run", "--store", str(second), str(path)]) == 0
    _, again = _trained(second)
    assert again.state_digest == done.state_digest and "resumed_at_epoch" not in again.metrics
    assert not _records(second)


def test_progress_shows_epoch_step_loss_and_eta_on_stderr_only(tmp_path, capsys) -> None:
    path = _write(tmp_path, 2)
    assert main(["run", "--progress", "--store", str(tmp_path / "s"), str(path)]) == 0
    out, err = capsys.readouterr()
    assert "epoch 2/2" in err and "step " in err and "loss " in err and "ETA " in err
    assert "epoch 2/2" not in out and "ETA" not in out  # results on stdout, the bars on stderr
    assert main(["run", "--store", str(tmp_path / "t"), str(path)]) == 0
    assert "epoch" not in capsys.readouterr().err  # not a terminal and no --progress: quiet


def test_training_reports_each_epoch_and_stays_exact() -> None:
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import OptimizerSpec, init_state, states_equal, train

    data = load_dataset(DataSpec.of("digits", test=0.25, seed=0, limit=200))
    model = Linear(64, 8) >> ReLU() >> Linear(8, 10)
    start = init_state(model, data.input_shape, 0)
    opt = OptimizerSpec("sgd", lr=0.1, batch=16, epochs=3, seed=1)
    seen = []
    watched = train(start, model, data, opt, on_epoch=seen.append)
    plain = train(start, model, data, opt)
    assert states_equal(watched.end, plain.end)[0]
    assert [(e.done, e.total) for e in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1].step == plain.end.step and seen[0].first_loss == plain.losses[0]
    middle = seen[1].state()
    rest = train(middle, model, data, opt.replace(epochs=1))
    assert middle.epoch == 2 and states_equal(rest.end, plain.end)[0]  # the resume law


# ---- ensembles, and the worker executors --------------------------------------------------------

SWEEP = PROGRAM.replace("EPOCHS", "5").replace("batch = 4", "batch = 16") + "\nsweep S = Run.fit over seed in 0..2\n"


def _member_digests(report: dict) -> dict[str, str]:
    return {j["label"]: j["digest"] for j in report["jobs"] if j["label"].startswith("S[")}


def _json_run(capsys, *args: str) -> dict:
    import json

    assert main(["run", "--format", "json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_an_ensemble_interrupted_after_an_epoch_resumes_from_it_bit_for_bit(tmp_path, capsys, monkeypatch):
    import pytest

    from backends.torch import resume
    from backends.torch.jobs import TRAIN
    from backends.torch.session import Session
    from catdsl.cli import _load

    monkeypatch.setattr(resume, "KEEP_RATIO", 0.0)  # keep a record after every epoch
    path = tmp_path / "sweep.cat"
    path.write_text(SWEEP, encoding="utf-8")
    whole = _member_digests(_json_run(capsys, "--store", str(tmp_path / "whole"), str(path)))
    assert len(whole) == 3

    session = Session(_load(str(path))[0], str(tmp_path / "cut"))
    members = [session.plan.jobs[k] for k in session.plan.index["S"].values()]
    session.executor.run(session.plan, keys=[m.deps[0] for m in members], progress=False)  # their initial states
    seen = []

    class Interrupted(Exception):
        pass

    def interrupt(text, fraction):  # the executor's progress line: stop after epoch 3 of 5
        seen.append((text, fraction))
        if text.startswith("epoch 3/5"):
            raise Interrupted

    session.executor.context.progress = interrupt
    with pytest.raises(Interrupted):
        TRAIN.compute(members, session.executor.context)
    assert [t.split()[1] for t, _ in seen] == ["1/5", "2/5", "3/5"] and [f for _, f in seen] == [0.2, 0.4, 0.6]
    assert all("step " in t and "loss " in t and "ETA " in t for t, _ in seen)
    assert not any(session.store.has(m.key) for m in members)
    assert session.store.partial(members[0].key) is not None  # one record for the batch
    session.store.close()

    report = _json_run(capsys, "--store", str(tmp_path / "cut"), str(path))
    assert _member_digests(report) == whole  # bit for bit the uninterrupted ensemble
    resumed = [j["metrics"] for j in report["jobs"] if j["label"].startswith("S[")]
    assert all(m["resumed_at_epoch"] == 3 and m["members"] == 3 for m in resumed)
    assert not _records(tmp_path / "cut")


def test_the_process_executor_shows_progress_and_resumes_from_what_a_local_run_kept(tmp_path, capsys, monkeypatch):
    from backends.torch import resume

    monkeypatch.setattr(resume, "KEEP_RATIO", 0.0)
    path = tmp_path / "sweep.cat"
    path.write_text(SWEEP, encoding="utf-8")
    whole = _member_digests(_json_run(capsys, "--store", str(tmp_path / "whole"), str(path)))
    # a record of the ensemble after epoch 2, as an interrupted local run leaves it
    from backends.torch.session import Session
    from catdsl.cli import _load

    session = Session(_load(str(path))[0], str(tmp_path / "cut"))
    members = [session.plan.jobs[k] for k in session.plan.index["S"].values()]
    session.executor.run(session.plan, keys=[m.deps[0] for m in members], progress=False)
    from backends.torch.jobs import TRAIN

    class Interrupted(Exception):
        pass

    def interrupt(text, fraction):
        if text.startswith("epoch 2/5"):
            raise Interrupted

    session.executor.context.progress = interrupt
    try:
        TRAIN.compute(members, session.executor.context)
    except Interrupted:
        pass
    session.store.close()
    assert main(["run", "--progress", "--executor", "process", "--workers", "2", "--format", "text",
                 "--store", str(tmp_path / "cut"), str(path)]) == 0
    err = capsys.readouterr().err
    assert "epoch 5/5" in err or "epoch 4/5" in err, err  # the workers' lines, shown by the driver
    report = _json_run(capsys, "--store", str(tmp_path / "cut"), str(path))
    assert report["counts"]["ran"] == 0 and _member_digests(report) == whole
    assert all(j["metrics"]["resumed_at_epoch"] == 2 for j in report["jobs"] if j["label"].startswith("S["))
    assert not _records(tmp_path / "cut")


def test_a_worker_keeps_its_epochs_and_a_killed_run_resumes_from_them(tmp_path) -> None:
    """On the process executor the worker keeps the records; the driver (killed here with its
    workers) loses nothing of them, and the next run resumes bit for bit."""
    import json
    import os

    path = _write(tmp_path, 20)
    whole = subprocess.run([str(CATDSL), "run", "--format", "json", "--store", str(tmp_path / "whole"), str(path)],
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    digest = next(j["digest"] for j in json.loads(whole.stdout)["jobs"] if j["kind"] == "train")
    cut = tmp_path / "cut"
    proc = subprocess.Popen([str(CATDSL), "run", "--executor", "process", "--workers", "1", "--store", str(cut),
                             str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 180
    while not _records(cut) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-segment
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    assert _records(cut) and _trained(cut) == (None, None)
    again = subprocess.run([str(CATDSL), "run", "--executor", "process", "--workers", "1", "--format", "json",
                            "--store", str(cut), str(path)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    train = next(j for j in json.loads(again.stdout)["jobs"] if j["kind"] == "train")
    assert train["digest"] == digest and 1 <= train["metrics"]["resumed_at_epoch"] < 20
    assert not _records(cut)
