"""How the `catdsl` console script ends (`catdsl.cli.entry`): a process that imported torch skips
the interpreter's teardown, but its output is all there, its exit handlers ran, its exit code is
`main`'s, and no worker process outlives it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from backends.run.store import Store
from catdsl.cli import EXIT_INPUT

ROOT = Path(__file__).resolve().parents[1]

# the console script, with an exit handler and an object whose finalizer marks a teardown
SCRIPT = """
import atexit, sys
marks = sys.argv.pop(1)
atexit.register(lambda: open(marks + ".handler", "w").write("ran"))
class Teardown:
    def __del__(self, open=open):  # builtins may be gone by then
        open(marks + ".teardown", "w").write("ran")
kept = Teardown()
from catdsl.cli import entry
entry()
"""


def _catdsl(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    marks = tmp_path / "mark"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(marks), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300, env={**os.environ, **(env or {})})
    return done, marks


def _training(tmp_path: Path) -> Path:
    cat = tmp_path / "training.cat"
    cat.write_text((ROOT / "examples" / "training.cat").read_text())
    return cat


def test_a_run_that_imported_torch_ends_without_teardown_but_with_its_output_and_handlers(tmp_path):
    done, marks = _catdsl(tmp_path, "run", str(_training(tmp_path)), "--device", "cpu", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # all of it, flushed
    assert report["counts"]["ran"] == len(report["jobs"]) > 0
    assert Path(str(marks) + ".handler").read_text() == "ran"
    assert not Path(str(marks) + ".teardown").exists()  # the interpreter's teardown was skipped
    with Store.open(tmp_path / ".catdsl") as store:  # what it stored is there, its tensors intact
        assert all(store.has(job["key"]) for job in report["jobs"]) and not store.warnings


def test_a_command_without_torch_ends_as_python_does(tmp_path):
    done, marks = _catdsl(tmp_path, "check", str(ROOT / "examples" / "square.cat"))
    assert done.returncode == 0, done.stderr
    assert Path(str(marks) + ".handler").exists() and Path(str(marks) + ".teardown").exists()


def test_the_exit_code_is_mains_after_torch_was_imported(tmp_path):
    cat = _training(tmp_path)
    cat.write_text(cat.read_text().replace("lr = 0.1", "lr = 1e30", 1))  # diverges: E405
    done, marks = _catdsl(tmp_path, "run", str(cat), "--device", "cpu")
    assert "E405" in done.stderr and done.returncode == EXIT_INPUT, done.stderr
    assert Path(str(marks) + ".handler").exists() and not Path(str(marks) + ".teardown").exists()


def _tagged(tag: str) -> list[int]:
    """Processes whose environment holds `tag`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and tag.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_no_worker_of_the_process_pool_outlives_the_command(tmp_path):
    tag = f"CATDSL_EXIT_TEST={uuid.uuid4().hex}"
    done, _ = _catdsl(tmp_path, "run", str(_training(tmp_path)), "--device", "cpu", "--executor", "process",
                      "--workers", "2", env=dict([tag.split("=")]))
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 10
    while _tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _tagged(tag) == []
