"""The `catdsl` command: exit codes (docs/checking.md), JSON schemas, `fmt`, `--only`, `--help`,
and that the language front end starts without importing the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = "tests/golden"
HOLDS = f"{GOLDEN}/happy-square.cat"  # every law proved
REFUTED = f"{GOLDEN}/happy-knuth-bendix.cat"  # one law refuted
ILL = f"{GOLDEN}/ill-e203-not-composable.cat"  # a static error
CONSOLE_SCRIPT = Path(sys.executable).with_name("catdsl")


@pytest.fixture
def catdsl(capsys, monkeypatch):
    """Run the CLI in-process from the repository root: (exit code, stdout, stderr)."""
    monkeypatch.chdir(ROOT)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ---- exit codes ---------------------------------------------------------------------------------


def test_exit_0_when_every_law_holds(catdsl) -> None:
    code, out, err = catdsl("check", HOLDS)
    assert code == 0
    assert "7 obligations: 7 proved" in out
    assert err == ""


def test_exit_1_when_a_law_is_refuted(catdsl) -> None:
    code, out, _ = catdsl("check", REFUTED)
    assert code == 1
    assert "refuted" in out


def test_exit_2_on_a_static_error_with_a_rendered_diagnostic(catdsl) -> None:
    code, out, err = catdsl("check", ILL)
    assert code == 2
    assert out == ""
    assert err.startswith(f"{ILL}:9:14: error[E203]: `g . h` does not compose")
    assert "Traceback" not in err


def test_exit_2_on_a_missing_file_with_e901(catdsl) -> None:
    code, out, err = catdsl("check", "no/such/file.cat")
    assert code == 2
    assert out == ""
    assert err.startswith("no/such/file.cat:1:1: error[E901]: cannot read `no/such/file.cat`")


def test_the_worst_file_decides_the_exit_code(catdsl) -> None:
    assert catdsl("check", "--format", "json", HOLDS, REFUTED)[0] == 1


def test_exit_3_without_a_traceback_when_catdsl_itself_fails(catdsl, monkeypatch) -> None:
    import catdsl.laws.discharge as discharge

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.delenv("CATDSL_DEBUG", raising=False)
    monkeypatch.setattr(discharge, "discharge", broken)
    code, _, err = catdsl("check", HOLDS)
    assert code == 3
    assert "internal error: RuntimeError: a bug" in err
    assert "Traceback" not in err


# ---- JSON ---------------------------------------------------------------------------------------


def test_json_report_schema(catdsl) -> None:
    code, out, err = catdsl("check", "--format", "json", REFUTED)
    assert code == 1 and err == ""
    report = json.loads(out)
    assert set(report) == {"file", "obligations", "summary"}
    assert report["file"] == REFUTED
    assert report["obligations"]
    for o in report["obligations"]:
        assert set(o) == {"name", "kind", "span", "verdict", "via", "witness", "seconds"}
        assert set(o["span"]) == {"file", "line", "column"}
        assert all(isinstance(o["span"][k], int) and o["span"][k] >= 1 for k in ("line", "column"))
        assert isinstance(o["name"], str) and isinstance(o["kind"], str)
        assert isinstance(o["verdict"], str) and isinstance(o["via"], str)
        assert o["witness"] is None or isinstance(o["witness"], str)
        assert isinstance(o["seconds"], (int, float)) and o["seconds"] >= 0
    refuted = [o for o in report["obligations"] if o["verdict"] == "refuted"]
    assert [o["name"] for o in refuted] == ["F.respects[drop]"]
    assert refuted[0]["witness"]  # a refutation carries its witness
    summary = report["summary"]
    assert summary["obligations"] == len(report["obligations"])
    assert summary["holds"] is False
    assert summary["refuted"] == 1


def test_json_reports_of_several_files_form_one_document(catdsl) -> None:
    _, out, _ = catdsl("check", "--format", "json", HOLDS, REFUTED)
    document = json.loads(out)
    assert [r["file"] for r in document["files"]] == [HOLDS, REFUTED]
    assert document["summary"]["files"] == 2 and document["summary"]["holds"] is False


def test_json_diagnostics_schema(catdsl) -> None:
    code, out, err = catdsl("check", "--format", "json", f"{GOLDEN}/ill-many-errors.cat")
    assert code == 2
    document = json.loads(out)
    assert set(document) == {"file", "diagnostics"}
    diagnostics = document["diagnostics"]
    assert len(diagnostics) == 5  # every error of the file, not just the first
    for d in diagnostics:
        assert set(d) == {"file", "line", "column", "end_line", "end_column", "severity", "code",
                          "message", "hints"}
        assert d["file"] == f"{GOLDEN}/ill-many-errors.cat"
        assert d["severity"] == "error"
        assert isinstance(d["hints"], list)
    assert [d["line"] for d in diagnostics] == sorted(d["line"] for d in diagnostics)
    first = diagnostics[0]
    assert (first["code"], first["line"], first["column"], first["end_column"]) == ("E203", 8, 14, 19)
    assert first["hints"] == ["did you mean `g . f`?"]


# ---- --only ------------------------------------------------------------------------------------


def test_only_selects_obligations_by_name_prefix(catdsl) -> None:
    code, out, _ = catdsl("check", "--format", "json", "--only", "F.map_id", REFUTED)
    names = [o["name"] for o in json.loads(out)["obligations"]]
    assert names == ["F.map_id[A]", "F.map_id[B]"]
    assert code == 0  # the refuted law was not selected


def test_only_is_repeatable(catdsl) -> None:
    code, out, _ = catdsl("check", "--format", "json", "--only", "F.map_id", "--only",
                          "F.respects[drop]", REFUTED)
    names = [o["name"] for o in json.loads(out)["obligations"]]
    assert names == ["F.map_id[A]", "F.map_id[B]", "F.respects[drop]"]
    assert code == 1


# ---- fmt ---------------------------------------------------------------------------------------

MESSY = """\
# a presentation
category C {   objects A,B
  f:A->B ;  g : B → A   # two arrows
  eq back : f >> g = id
}
functor F : C -> C { A |-> A; B |-> B; f |-> f; g |-> g }
"""


def test_fmt_prints_the_canonical_form_and_keeps_comments(catdsl, tmp_path) -> None:
    messy = tmp_path / "messy.cat"
    messy.write_text(MESSY, encoding="utf-8")
    code, out, err = catdsl("fmt", str(messy))
    assert code == 0 and err == ""
    assert "# a presentation" in out
    assert "# two arrows" in out
    assert "eq back : g . f = id" in out  # composites are printed applicatively
    assert "g : B -> A" in out  # and arrows in ASCII
    assert "→" not in out and ">>" not in out


def test_fmt_check_exits_1_on_a_non_canonical_file(catdsl, tmp_path) -> None:
    messy = tmp_path / "messy.cat"
    messy.write_text(MESSY, encoding="utf-8")
    code, out, err = catdsl("fmt", "--check", str(messy))
    assert code == 1
    assert out == ""
    assert "not in canonical form" in err
    assert messy.read_text(encoding="utf-8") == MESSY  # --check never writes


def test_fmt_check_exits_0_on_a_canonical_file(catdsl, tmp_path) -> None:
    messy = tmp_path / "messy.cat"
    messy.write_text(MESSY, encoding="utf-8")
    _, canonical, _ = catdsl("fmt", str(messy))
    tidy = tmp_path / "tidy.cat"
    tidy.write_text(canonical, encoding="utf-8")
    assert catdsl("fmt", "--check", str(tidy)) == (0, "", "")


def test_fmt_write_rewrites_in_place(catdsl, tmp_path) -> None:
    messy = tmp_path / "messy.cat"
    messy.write_text(MESSY, encoding="utf-8")
    _, canonical, _ = catdsl("fmt", str(messy))
    assert catdsl("fmt", "--write", str(messy))[0] == 0
    assert messy.read_text(encoding="utf-8") == canonical


def test_fmt_exits_2_on_a_syntax_error(catdsl) -> None:
    code, out, err = catdsl("fmt", f"{GOLDEN}/ill-e101-unexpected-character.cat")
    assert code == 2 and out == ""
    assert "error[E101]" in err


# ---- help and start-up --------------------------------------------------------------------------


def test_help_lists_the_commands(catdsl) -> None:
    with pytest.raises(SystemExit) as exit_:
        catdsl("--help")
    assert exit_.value.code == 0


def test_console_script_help() -> None:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip("the console script is not installed beside this interpreter")
    done = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0
    for command in ("check", "fmt"):
        assert command in done.stdout
    assert "exit codes" in done.stdout


HEAVY = ("torch", "sympy", "hypothesis")


def _modules_loaded_by(code: str) -> list[str]:
    probe = code + f"\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_importing_the_language_loads_no_heavy_library() -> None:
    loaded = _modules_loaded_by(
        "import catdsl, catdsl.cli, catdsl.syntax.parse, catdsl.semantics.elaborate")
    assert loaded == []


def test_fmt_and_elaborating_a_presentation_load_no_heavy_library() -> None:
    loaded = _modules_loaded_by(
        "import contextlib, io\n"
        "from catdsl.cli import main\n"
        "from catdsl.semantics.elaborate import load\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['fmt', 'examples/square.cat'])\n"
        "load('examples/functor.cat')")
    assert loaded == []
