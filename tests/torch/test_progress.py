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
