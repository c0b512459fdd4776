"""The Python API as a notebook uses it: load, check, run, diagrams, and their rich reprs; the
data equals the commands' JSON; `import catdsl` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import catdsl
from catdsl.cli import main
from catdsl.semantics.module import Module

ROOT = Path(__file__).resolve().parents[1]


def _without_seconds(data):
    if isinstance(data, dict):
        return {k: _without_seconds(v) for k, v in data.items() if k != "seconds"}
    if isinstance(data, list):
        return [_without_seconds(v) for v in data]
    return data


def test_import_catdsl_and_load_and_draw_import_nothing_heavy() -> None:
    probe = ("import sys, catdsl\n"
             "m = catdsl.load('examples/functor.cat')\n"
             "svg = m._repr_svg_(); html = m._repr_html_(); t = [d.tikz() for d in m.diagrams()]\n"
             "print(sorted(k for k in sys.modules if k.split('.')[0] in ('torch', 'sympy', 'hypothesis', 'matplotlib')))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_notebook_session(monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    m = catdsl.load("examples/functor.cat")
    assert isinstance(m, Module) and sorted(m.functors) == ["F", "G"]
    ET.fromstring(m._repr_svg_().encode("utf-8"))
    assert "<svg" in m._repr_html_()
    (src,) = catdsl.diagrams(m, "Src")
    ET.fromstring(src._repr_svg_().encode("utf-8"))
    assert r"\begin{tikzcd}" in src.tikz()

    report = catdsl.check(m)
    assert report.holds and "<table" in report._repr_html_()
    assert main(["check", "--format", "json", "examples/functor.cat"]) == 0
    assert _without_seconds(dict(report)) == _without_seconds(json.loads(capsys.readouterr().out))
    only = catdsl.check("examples/functor.cat", only=["F.respects"])
    assert [o["name"] for o in only["obligations"]] == ["F.respects[twice]"]


def test_errors_raise_with_the_rendered_diagnostics(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    with pytest.raises(catdsl.api.InputError) as err:
        catdsl.load("tests/golden/ill-e203-not-composable.cat")
    assert "error[E203]" in str(err.value) and err.value.diagnostics[0].code == "E203"
    with pytest.raises(catdsl.api.InputError):
        catdsl.check("examples/functor.cat", only=["Nope"])


def test_run_gives_the_data_of_run_format_json(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    store = str(tmp_path / "store")
    results = catdsl.run("examples/training.cat", store=store, device="cpu")
    assert capsys.readouterr().out == ""  # a notebook cell shows the value, not the tables
    assert set(results) == {"file", "jobs", "analyses", "counts"}
    assert results["counts"]["ran"] == 4
    assert main(["run", "examples/training.cat", "--store", store, "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert _without_seconds(results["jobs"]) == _without_seconds(again["jobs"])
    assert "<table" in results._repr_html_()
