"""Golden tests in the rzk convention: `tests/golden/happy-*.cat` and `tests/golden/ill-*.cat`.

Each file's expected output sits beside it as `NAME.out`:

- happy files: the JSON check report (`catdsl check --format json FILE`) without the
  "seconds" fields, which vary from run to run;
- ill files: the diagnostics exactly as `catdsl check FILE` prints them on stderr.

Paths are given relative to the repository root, as a user in the root would type them.
Regenerate every `.out` with `CATDSL_UPDATE_GOLDEN=1 pytest tests/test_golden.py`, then read
the diff: a golden file is a claim that the output is right.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from catdsl.cli import main
from catdsl.diagnostics import CODES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
UPDATE = os.environ.get("CATDSL_UPDATE_GOLDEN") == "1"

HAPPY = sorted(GOLDEN.glob("happy-*.cat"))
ILL = sorted(GOLDEN.glob("ill-*.cat"))

# Every code in CODES needs an ill golden file named `ill-<code>-….cat`, except the few that a
# `catdsl check FILE` cannot print as a diagnostic (exit 2), whatever the file says. Each entry
# says why and which test covers the code instead. Remove an entry as soon as the code can come
# from a file: `test_no_code_is_both_allowed_and_covered` insists.
NOT_FROM_A_FILE = {
    # Only `catdsl run` turns a diverged training job into a diagnostic; `catdsl check` reports
    # it as an `error` verdict of the law that needed the job (exit 1). Covered by
    # tests/torch/test_param.py::test_a_diverging_run_is_reported_with_its_morphism and
    # tests/torch/test_sweep.py::test_a_diverging_member_is_reported_and_the_others_are_kept.
    "E405": "training diverged",
    # `--device` is a command-line flag: no file names a device. Covered by
    # tests/test_cli_workflow.py::test_an_unknown_device_is_e408_before_any_work and
    # ::test_cuda_without_cuda_is_e408_not_a_silent_cpu_run.
    "E408": "device unknown or not available",
    # A damaged run store is on disk, not in a file's text. Covered by
    # tests/run/test_store_faults.py::test_a_damaged_database_is_e902_naming_the_file_and_is_left_as_it_is,
    # ::test_reading_a_damaged_tensor_file_is_e902_not_a_wrong_value and
    # ::test_catdsl_with_a_damaged_database_exits_2_with_e902.
    "E902": "run store damaged or unreadable",
    # Only `catdsl export FILE STATE` reports these, about its STATE and --to arguments. Covered by
    # tests/test_cli_workflow.py::test_export_of_an_unknown_or_unrun_state_is_e903 and
    # ::test_export_to_a_folder_that_cannot_be_made_is_e904.
    "E903": "no stored state to export",
    "E904": "cannot write file",
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _run(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.chdir(ROOT)
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


def _compare(cat: Path, actual: str) -> None:
    expected_file = cat.with_suffix(".out")
    if UPDATE:
        expected_file.write_text(actual, encoding="utf-8")
        return
    assert expected_file.exists(), (
        f"{_rel(expected_file)} is missing; create it with CATDSL_UPDATE_GOLDEN=1 and read it")
    expected = expected_file.read_text(encoding="utf-8")
    assert actual == expected, f"{_rel(cat)}: output differs from {_rel(expected_file)}"


@pytest.mark.parametrize("cat", HAPPY, ids=lambda p: p.stem)
def test_happy(cat: Path, capsys, monkeypatch) -> None:
    code, out, err = _run(["check", "--format", "json", _rel(cat)], capsys, monkeypatch)
    assert err == ""
    report = _without_seconds(json.loads(out))
    assert report["file"] == _rel(cat)
    # exit status: 0 when every law holds, 1 otherwise (docs/checking.md); never 2 for a happy file
    assert code == (0 if report["summary"]["holds"] else 1)
    _compare(cat, json.dumps(report, indent=2, ensure_ascii=False) + "\n")


@pytest.mark.parametrize("cat", ILL, ids=lambda p: p.stem)
def test_ill(cat: Path, capsys, monkeypatch) -> None:
    code, out, err = _run(["check", _rel(cat)], capsys, monkeypatch)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    named = re.match(r"ill-(e\d{3})-", cat.name)
    if named:  # a file named for a code shows that code
        assert f"error[{named.group(1).upper()}]" in err
    _compare(cat, err)


def _has_ill_file(code: str) -> bool:
    return any(p.name.startswith(f"ill-{code.lower()}-") for p in ILL)


def test_every_code_has_an_ill_file() -> None:
    missing = [code for code in CODES if code not in NOT_FROM_A_FILE and not _has_ill_file(code)]
    assert not missing, f"no tests/golden/ill-<code>-*.cat for {missing}"


def test_no_code_is_both_allowed_and_covered() -> None:
    assert set(NOT_FROM_A_FILE) <= set(CODES), "NOT_FROM_A_FILE names a code CODES does not have"
    both = [code for code in NOT_FROM_A_FILE if _has_ill_file(code)]
    assert not both, f"{both} have an ill golden file now; remove them from NOT_FROM_A_FILE"


def test_every_expected_output_has_its_file() -> None:
    orphans = [_rel(out) for out in GOLDEN.glob("*.out") if not out.with_suffix(".cat").exists()]
    assert not orphans


def test_a_caret_sits_under_its_span(capsys, monkeypatch) -> None:
    """The caret line of the docs/architecture.md "Errors" example underlines exactly `g . h`."""
    _, _, err = _run(["check", "tests/golden/ill-e203-not-composable.cat"], capsys, monkeypatch)
    lines = err.splitlines()
    src, carets = lines[1], lines[2]
    start = carets.index("^")
    assert src[start:start + carets.count("^")] == "g . h"


# ---- decisions the language makes where LANGUAGE.md is silent (see docs/language.md) ----------


def _module(name: str):
    from catdsl.semantics.elaborate import load

    return load(str(GOLDEN / name))


def test_bare_id_is_typed_from_its_neighbours() -> None:
    from catdsl.semantics import free

    c = _module("happy-identity-inferred.cat").presentations["C"]
    eqs = {e.name: e for e in c.equations}
    assert eqs["round_trip"].rhs == free.identity("A")  # from the other side: g . f : A -> A
    assert eqs["left_unit"].lhs == eqs["left_unit"].rhs  # id . f is f
    assert eqs["middle"].lhs == eqs["middle"].rhs  # g . id . f is g . f


def test_diagrammatic_and_applicative_composites_are_one_term() -> None:
    m = _module("happy-diagrammatic.cat")
    two_ways = next(e for e in m.presentations["Chain"].equations if e.name == "two_ways")
    assert two_ways.lhs == two_ways.rhs
    walk = m.functors["Walk"]
    assert walk.arrows["h"].value.word == ("u", "v")  # `u ≫ v` is v after u


def test_unmapped_pullback_goes_to_the_target_s_declared_pullback() -> None:
    F = _module("happy-pullback-unmapped.cat").functors["F"]
    assert F.objects["P"].value == "K"
    assert F.arrows["p"].value.word == ("k1",) and F.arrows["q"].value.word == ("k2",)


def test_a_file_imported_twice_is_read_once() -> None:
    m = _module("happy-import.cat")
    assert set(m.functors) == {"Twice", "Fold"}
