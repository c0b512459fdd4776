"""`catdsl run FILE --plots DIR`: each analysis draws itself through its handler's `plots` hook
(persistence here, with no training; the classes of a sweep in tests/torch/test_homotopy_plots.py),
and `python -m backends.persistence.plots REPORT.json OUT` still draws from a saved report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
FILE = """persistence P of Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2 + 0.2 * x) by sublevel(box = [[-2, 2], [-1, 1]], grid = 21)
persistence of Paths(loss = (x, y) |-> (x^2 + y^2 - 1)^2) by sublevel(box = [[-2, 2], [-2, 2]], grid = 21)
"""


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5_000


def test_run_plots_writes_every_analysis_pngs(tmp_path, capsys):
    path = tmp_path / "p.cat"
    path.write_text(FILE)
    plots = tmp_path / "plots"
    code = main(["run", "--format", "json", "--store", str(tmp_path / "store"), "--plots", str(plots), str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    run = json.loads(out)
    assert set(run["analyses"]) == {"P", "persistence@2"}
    written = sorted(line.removeprefix("plot: ") for line in err.splitlines() if line.startswith("plot: "))
    assert written == sorted(str(plots / n) for n in ("P-diagram.png", "persistence_2-diagram.png"))
    for p in written:
        _png(Path(p))

    # the same diagrams from the saved report, by the module's own command line
    (tmp_path / "run.json").write_text(out)
    done = subprocess.run([sys.executable, "-m", "backends.persistence.plots", str(tmp_path / "run.json"),
                           str(tmp_path / "again"), "--store", str(tmp_path / "store")],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(Path(p).name for p in done.stdout.split()) == ["P-diagram.png", "persistence_2-diagram.png"]


def test_without_plots_nothing_is_drawn(tmp_path, capsys):
    path = tmp_path / "p.cat"
    path.write_text(FILE)
    assert main(["run", "--store", str(tmp_path / "store"), str(path)]) == 0
    assert "plot:" not in capsys.readouterr().err
    assert not (tmp_path / "plots").exists()
