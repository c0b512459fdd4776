"""The learning functor into Param, end to end through the CLI: check, compile, run, runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from catdsl.cli import main

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 400)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, mid, final
  warm : init -> mid
  cool : mid -> final
  full : init -> final
  eq resume : cool . warm = full
}}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {{
  init |-> init(seed = 0)
  warm |-> {opt}(lr = {lr1}, {extra}batch = 32, epochs = 2, seed = 1)
  cool |-> {opt}(lr = {lr2}, {extra}batch = 32, epochs = 1, seed = 1)
  full |-> {opt}(lr = {lr1}, {extra}batch = 32, epochs = 3, seed = 1)
}}
"""


def write(tmp_path: Path, opt="sgd", lr1=0.1, lr2=None, extra="momentum = 0.9, ", name="t.cat") -> Path:
    path = tmp_path / name
    path.write_text(PROGRAM.format(opt=opt, lr1=lr1, lr2=lr1 if lr2 is None else lr2, extra=extra))
    return path


def check_json(path: Path, capsys, *flags) -> tuple[int, dict]:
    code = main(["check", "--format", "json", *flags, str(path)])
    out = capsys.readouterr().out
    return code, json.loads(out)


def verdicts(report: dict) -> dict[str, str]:
    return {o["name"]: o["verdict"] for o in report["obligations"]}


@pytest.mark.parametrize("opt, extra", [("sgd", "momentum = 0.9, "), ("adam", "")])
def test_resume_law_is_proved_bit_for_bit(tmp_path, capsys, opt, extra):
    path = write(tmp_path, opt=opt, lr1=0.05 if opt == "sgd" else 0.01, extra=extra)
    code, report = check_json(path, capsys)
    v = verdicts(report)
    assert v["Run.respects[resume]"] == "proved"
    assert v["Run.unique_state[final]"] == "proved"
    resume = next(o for o in report["obligations"] if o["name"] == "Run.respects[resume]")
    assert resume["via"] == "torch (bitwise)" and resume["span"]["line"] == 10
    assert code == 0


def test_resume_law_is_refuted_when_learning_rates_differ(tmp_path, capsys):
    path = write(tmp_path, lr1=0.05, lr2=0.02)
    code, report = check_json(path, capsys)
    resume = next(o for o in report["obligations"] if o["name"] == "Run.respects[resume]")
    assert resume["verdict"] == "refuted"
    assert "largest difference" in resume["witness"]
    assert code == 1


def test_compile_prints_a_plan_with_content_hashes(tmp_path, capsys):
    path = write(tmp_path)
    assert main(["compile", str(path)]) == 0
    plan = json.loads(capsys.readouterr().out)
    jobs = {j["label"]: j for j in plan["jobs"]}
    assert set(jobs) == {"Run.init", "Run.warm after Run.init", "Run.full after Run.init",
                         "Run.cool after Run.warm after Run.init"}
    cool = jobs["Run.cool after Run.warm after Run.init"]
    assert cool["deps"] == [jobs["Run.warm after Run.init"]["key"]]
    assert cool["spec"]["optimizer"]["epochs"] == 1
    # the same file compiles to the same keys; a changed hyperparameter changes them
    assert main(["compile", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"] == plan["jobs"]
    other = write(tmp_path, lr1=0.2, name="u.cat")
    assert main(["compile", str(other)]) == 0
    keys = {j["key"] for j in json.loads(capsys.readouterr().out)["jobs"]}
    assert jobs["Run.init"]["key"] in keys and cool["key"] not in keys


def test_second_run_reuses_every_job_and_runs_lists_them(tmp_path, capsys):
    path = write(tmp_path)
    store = tmp_path / "store"
    assert main(["run", "--store", str(store), str(path)]) == 0
    first = capsys.readouterr().out
    assert "1,210 parameters" in first  # 64·16 + 16 + 16·10 + 10
    assert "4 job(s) ran, 0 reused" in first
    assert main(["run", "--store", str(store), str(path)]) == 0
    assert "0 job(s) ran, 4 reused" in capsys.readouterr().out
    assert main(["runs", "--store", str(store)]) == 0
    assert "4 finished job(s)" in capsys.readouterr().out


def test_a_killed_run_resumes_and_loses_nothing(tmp_path):
    path = tmp_path / "long.cat"
    path.write_text(PROGRAM.format(opt="sgd", lr1=0.05, lr2=0.05, extra="").replace(
        "epochs = 2", "epochs = 6").replace("epochs = 3", "epochs = 7").replace("limit = 400", "limit = 1200"))
    store = tmp_path / "store"
    cmd = [sys.executable, "-m", "catdsl.cli", "run", "--store", str(store), str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from backends.run.store import Store

    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if (store / "catdsl.sqlite").exists():
                with Store.open(store) as s:
                    if len(s.runs()) >= 2:  # init and one training job finished
                        break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        killed = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    with Store.open(store) as s:
        done_before = {r.key for r in s.runs()}
    assert len(done_before) >= 2
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    ran = 4 - len(done_before)
    if killed:
        assert f"{ran} job(s) ran, {4 - ran} reused" in out
    with Store.open(store) as s:
        done_after = {r.key: s.get(r.key).state_digest for r in s.runs()}
    assert done_before <= set(done_after) and len(done_after) == 4
    # the resumed result is the one an uninterrupted run gives
    fresh = tmp_path / "fresh"
    subprocess.run([*cmd[:5], str(fresh), str(path)], capture_output=True, check=True)
    with Store.open(fresh) as s:
        assert {r.key: s.get(r.key).state_digest for r in s.runs()} == done_after


@pytest.mark.parametrize("change, code, needle", [
    (("Linear(64, 16)", "Linear(60, 16)"), "E402", "expects 60"),
    (("epochs = 3", "epochs = 500"), "E401", "--max-epochs"),
    (('dataset("digits", test = 0.25, seed = 0, limit = 400)', 'dataset("mnist", root = "nowhere")'),
     "E403", "nowhere"),
    (("init |-> init(seed = 0)", "init |-> init(seed = 0)\n  mid |-> init(seed = 1)"), "E407", "mid"),
    (("sgd(lr = 0.1, momentum", "sgd(lr = -1, momentum"), "E404", "lr"),
])
def test_static_problems_of_learning_declarations(tmp_path, capsys, change, code, needle):
    path = write(tmp_path)
    path.write_text(path.read_text().replace(*change, 1))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err


def test_a_diverging_run_is_reported_with_its_morphism(tmp_path, capsys):
    path = write(tmp_path, lr1=1e30, lr2=1e30, extra="")
    store = tmp_path / "store"
    assert main(["run", "--store", str(store), str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E405]" in err and "diverged" in err and "Run." in err
    from backends.run.store import Store

    with Store.open(store) as s:
        assert [r.kind for r in s.runs()] == ["init"]  # what finished is kept


def test_objects_no_training_reaches_are_a_static_error(tmp_path, capsys):
    path = write(tmp_path)
    text = path.read_text().replace("objects init, mid, final", "objects init, mid, final, z\n  spin : z -> z")
    path.write_text(text.replace("init |-> init(seed = 0)", "init |-> init(seed = 0)\n  spin |-> sgd(lr = 0.1)"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E207]" in err and "no training reaches `z`" in err


def test_a_learning_rate_schedule_follows_the_global_step_so_resuming_is_exact(tmp_path, capsys):
    path = write(tmp_path, extra="momentum = 0.9, schedule = step(every = 10, gamma = 0.5), ")
    code, report = check_json(path, capsys)
    assert verdicts(report)["Run.respects[resume]"] == "proved" and code == 0
    assert main(["compile", str(path)]) == 0
    plan = json.loads(capsys.readouterr().out)
    schedules = {json.dumps(j["spec"]["optimizer"].get("schedule"), sort_keys=True)
                 for j in plan["jobs"] if j["kind"] == "train"}
    assert len(schedules) == 1 and "10" in schedules.pop()


def test_an_unknown_schedule_is_a_diagnostic(tmp_path, capsys):
    path = write(tmp_path, extra="schedule = wiggle(every = 3), ")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E404]" in err and "unknown schedule `wiggle`" in err and "step" in err
