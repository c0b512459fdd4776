"""`catdsl draw`: layouts, tikz-cd and SVG of every example and golden happy file, PNG through
matplotlib, and diagnostics (exit 2) for a file with errors."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from catdsl.cli import main
from catdsl.draw import diagrams, layout
from catdsl.semantics.elaborate import load
from catdsl.semantics.free import Generator

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("examples/*.cat"), *ROOT.glob("examples/paper/*.cat"),
                *ROOT.glob("tests/golden/happy-*.cat")])
SVG = "{http://www.w3.org/2000/svg}"


def _texts(svg: str, role: str | None = None) -> list[str]:
    root = ET.fromstring(svg.encode("utf-8"))
    return [t.text for t in root.iter(f"{SVG}text") if role is None or t.get("class") == role]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_draws_as_well_formed_svg_with_every_label(path: Path) -> None:
    module = load(str(path))
    for d in diagrams(module):
        svg = d.svg()
        texts = _texts(svg)
        if d.kind == "presentation":
            p = module.presentations[d.name]
            assert set(p.objects) <= set(_texts(svg, "object")), d.name
            assert {g.name for g in p.generators} <= set(_texts(svg, "arrow")), d.name
            assert {c.name for c in p.cells} <= set(_texts(svg, "cell")), d.name
        else:
            assert any(d.name in (t or "") for t in texts)
        assert d.tikz().count(r"\begin{tikzcd}") == d.tikz().count(r"\end{tikzcd}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_draws_from_the_command_line(path: Path, capsys) -> None:
    assert main(["draw", str(path), "--to", "tikz"]) == 0
    tikz = capsys.readouterr().out
    assert r"\begin{tikzcd}" in tikz
    assert main(["draw", str(path), "--to", "svg"]) == 0
    ET.fromstring(capsys.readouterr().out.encode("utf-8"))


def test_unicode_labels_are_kept_in_svg_and_spelled_in_tex() -> None:
    (gamma, *_), = [[d for d in diagrams(load(str(ROOT / "examples/unicode.cat"))) if d.name == "Γ"]]
    assert {"A", "A'"} <= set(_texts(gamma.svg(), "object"))
    assert {"φ", "ψ", "ψ'"} <= set(_texts(gamma.svg(), "arrow"))
    tikz = gamma.tikz()
    assert r"\varphi" in tikz and r"\psi'" in tikz and "loop" in tikz
    assert r"\arrow[Rightarrow" in tikz  # ϑ : ψ => ψ'
    assert not any(ord(ch) > 127 for line in tikz.splitlines() if not line.startswith("%") for ch in line)


def test_a_functor_is_drawn_as_source_and_target_with_its_mapping() -> None:
    (F,) = [d for d in diagrams(load(str(ROOT / "examples/functor.cat"))) if d.name == "F"]
    svg = F.svg()
    assert {"A", "B", "X", "Y"} <= set(_texts(svg, "object"))
    mapping = _texts(svg, "mapping")
    assert "A ↦ X" in mapping and "f ↦ p" in mapping


def test_parallel_arrows_are_bent_apart_and_loops_are_loops() -> None:
    lay = layout(load(str(ROOT / "examples/two_cells.cat")).presentations["Cells"])
    bends = {a.name: a.bend for a in lay.arrows}
    assert bends["f"] > bends["g"] == 0 > bends["h"]
    assert bends["k"] == -bends["l"] != 0
    loops = layout(load(str(ROOT / "examples/unicode.cat")).presentations["Γ"])
    directions = [a.loop for a in loops.arrows if a.source == a.target]
    assert len(directions) == 2 and len(set(directions)) == 2  # two loops on A', apart


def test_layers_follow_the_arrows_and_squares_are_squares() -> None:
    square = layout(load(str(ROOT / "examples/square.cat")).presentations["Square"])
    assert square.position == {"A": (0, 0), "B": (1, 0), "C": (0, 1), "D": (1, 1)}
    pullback = layout(load(str(ROOT / "examples/pullback.cat")).presentations["Cospan"])
    assert pullback.position["P"] == (0, 0) and pullback.position["C"] == (1, 1)
    assert [c.kind for c in pullback.corners] == ["pullback"]
    tikz = diagrams(load(str(ROOT / "examples/pullback.cat")), ("Cospan",))[0].tikz()
    assert r"\lrcorner" in tikz
    pushout = diagrams(load(str(ROOT / "examples/pushouts.cat")), ("Glue",))[0].tikz()
    assert r"\ulcorner" in pushout


def test_a_small_edit_moves_little() -> None:
    p = load(str(ROOT / "examples/square.cat")).presentations["TwoSquares"]
    before = layout(p).position
    grown = replace(p, objects=(*p.objects, "Z"), generators=(*p.generators, Generator("z", "Z", "Z")))
    after = layout(grown).position
    assert {o: after[o] for o in before} == before
    no_equations = layout(replace(p, equations=())).position
    assert sum(no_equations[o][0] <= before[o][0] + 1 for o in before) == len(before)  # layers kept


def test_draw_to_files_svg_png_and_standalone_tikz(tmp_path: Path, capsys) -> None:
    assert main(["draw", str(ROOT / "examples/square.cat"), "--to", "svg", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "Square.svg").is_file() and (tmp_path / "Paste.svg").is_file()
    assert main(["draw", str(ROOT / "examples/square.cat"), "--to", "png", "--out", str(tmp_path),
                 "--only", "Square"]) == 0
    assert (tmp_path / "Square.png").read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["draw", str(ROOT / "examples/square.cat"), "--standalone"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith(r"\documentclass") and out.rstrip().endswith(r"\end{document}")
    assert main(["draw", str(ROOT / "examples/square.cat"), "--to", "png"]) == 2  # png needs --out
    assert main(["draw", str(ROOT / "examples/square.cat"), "--only", "Nope"]) == 2


def test_draw_of_a_file_with_errors_prints_the_diagnostics_and_exits_2(capsys) -> None:
    ill = ROOT / "tests/golden/ill-e203-not-composable.cat"
    assert main(["draw", str(ill)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "error[E203]" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX installation (pdflatex) on this machine")
def test_the_tikz_of_every_example_compiles_with_pdflatex(tmp_path: Path) -> None:
    from catdsl.draw import document

    snippets = [d.tikz() for path in FILES for d in diagrams(load(str(path)))]
    (tmp_path / "all.tex").write_text(document(snippets), encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 and "tikz-cd.sty' not found" in done.stdout:
        pytest.skip("pdflatex is installed but the tikz-cd package is not")
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "all.pdf").stat().st_size > 0


def test_drawing_a_learning_file_makes_no_run_store_beside_it(tmp_path, capsys) -> None:
    cat = tmp_path / "training.cat"
    cat.write_text((ROOT / "examples" / "training.cat").read_text())
    assert main(["draw", str(cat), "--to", "tikz"]) == 0
    assert r"\begin{tikzcd}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["training.cat"]
    (tmp_path / ".catdsl").mkdir()  # a store that is there keeps the data's facts, as for check and run
    assert main(["draw", str(cat), "--to", "tikz"]) == 0
    assert (tmp_path / ".catdsl" / "data" / "facts.json").is_file()
