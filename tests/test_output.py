"""What `catdsl check` prints for a reader that is a program (issue 12, items 7 and 8): one JSON
document for any number of files, tab-separated lines, and a table that survives a pipe."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
HOLDS = "tests/golden/happy-square.cat"
REFUTED = "tests/golden/happy-knuth-bendix.cat"
ILL = "tests/golden/ill-e203-not-composable.cat"


@pytest.fixture
def catdsl(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ---- one JSON document ------------------------------------------------------------------------


def test_files_with_and_without_errors_are_one_json_document(catdsl) -> None:
    code, out, err = catdsl("check", "--format", "json", HOLDS, ILL, REFUTED)
    assert code == 2 and err == ""
    document = json.loads(out)  # one document: a second one would not parse
    assert [e["file"] for e in document["files"]] == [HOLDS, ILL, REFUTED]  # command-line order
    holds, ill, refuted = document["files"]
    assert set(holds) == {"file", "obligations", "summary"} and holds["summary"]["holds"]
    assert set(ill) == {"file", "diagnostics"}
    assert [d["code"] for d in ill["diagnostics"]] == ["E203"]
    assert refuted["summary"]["refuted"] == 1
    summary = document["summary"]
    assert summary["files"] == 3 and summary["errors"] == 1 and summary["holds"] is False
    assert summary["obligations"] == len(holds["obligations"]) + len(refuted["obligations"])
    assert summary["refuted"] == 1


def test_one_file_keeps_its_shape(catdsl) -> None:
    _, out, _ = catdsl("check", "--format", "json", HOLDS)
    assert set(json.loads(out)) == {"file", "obligations", "summary"}
    code, out, err = catdsl("check", "--format", "json", ILL)
    assert code == 2 and err == ""
    assert set(json.loads(out)) == {"file", "diagnostics"}


def test_an_only_name_that_selects_nothing_is_in_the_document(catdsl) -> None:
    code, out, err = catdsl("check", "--format", "json", "--only", "Nothing", HOLDS, REFUTED)
    assert code == 2 and err == ""
    document = json.loads(out)
    assert [d["code"] for d in document["diagnostics"]] == ["E221"]
    assert not document["summary"]["holds"]
    code, out, _ = catdsl("check", "--format", "json", "--only", "Nothing", HOLDS)
    assert code == 2 and [d["code"] for d in json.loads(out)["diagnostics"]] == ["E221"]


# ---- tab-separated ------------------------------------------------------------------------------


def test_tsv_is_a_header_and_a_line_per_obligation(catdsl) -> None:
    from catdsl.laws.report import TSV_COLUMNS

    code, out, err = catdsl("check", "--format", "tsv", HOLDS, REFUTED, ILL)
    assert code == 2
    assert "error[E203]" in err  # diagnostics stay on stderr
    header, *rows = out.splitlines()
    assert header.split("\t") == list(TSV_COLUMNS)
    cells = [row.split("\t") for row in rows]
    assert all(len(c) == len(TSV_COLUMNS) for c in cells)
    assert {c[0] for c in cells} == {HOLDS, REFUTED}
    refuted = [c for c in cells if c[3] == "refuted"]
    assert [c[1] for c in refuted] == ["F.respects[drop]"] and refuted[0][-1]  # with its witness
    assert all(c == c.strip() for row in cells for c in row)  # nothing padded


# ---- a table that survives a pipe ----------------------------------------------------------------


def test_a_piped_table_is_one_unpadded_line_per_obligation(catdsl) -> None:
    code, out, _ = catdsl("check", REFUTED)  # stdout is captured: not a terminal
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines)
    drop = [line for line in lines if line.startswith("F.respects[drop]")]
    assert len(drop) == 1 and drop[0].endswith("normal forms differ: `q . p` vs `p`")


def test_a_long_witness_is_never_wrapped_when_piped(capsys) -> None:
    from rich.console import Console

    from catdsl.laws.discharge import Result
    from catdsl.laws.report import print_table
    from catdsl.laws.verdict import Verdict

    class Law:
        name, kind = "F.respects[long]", "respects"
        span = type("S", (), {"file": "f.cat", "line": 3, "column": 1})()

    witness = "lhs = [[" + ", ".join(str(i) for i in range(200)) + "]]\nbut rhs = [[0]]"
    result = Result(Law(), Verdict("refuted", "sympy", witness), 0.5)
    print_table("f.cat", [result], Console(highlight=False, width=1_000_000, file=io.StringIO()),
                terminal=False)
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("F.respects[long]")]
    assert len(row) == 1 and row[0].endswith("but rhs = [[0]]") and "199" in row[0]


# ---- sweep tables grouped by the bound values other than the seed -------------------------------


def _sweep(bindings: tuple[str, ...], values: list[tuple]):
    from types import SimpleNamespace

    members = tuple(SimpleNamespace(index=i, values=tuple(zip(bindings, v))) for i, v in enumerate(values))
    return SimpleNamespace(name="S", functor="Run", generator="fit", bindings=bindings, members=members)


def test_sweep_members_are_grouped_by_the_values_other_than_the_seed() -> None:
    from statistics import mean, stdev

    from backends.torch.commands import sweep_groups

    sweep = _sweep(("seed", "lr"), [(s, lr) for s in (0, 1, 2) for lr in (0.05, 0.1)])
    acc = [0.41, 0.73, 0.52, 0.76, 0.31, 0.64]
    metrics = [{"accuracy": a, "loss": 1 - a} for a in acc]
    groups = sweep_groups(sweep, metrics)
    assert [g["values"] for g in groups] == [{"lr": 0.05}, {"lr": 0.1}]
    assert [g["members"] for g in groups] == [[0, 2, 4], [1, 3, 5]]
    assert groups[0]["accuracy"] == pytest.approx((mean(acc[0::2]), stdev(acc[0::2])))
    assert groups[1]["loss"] == pytest.approx((mean(1 - a for a in acc[1::2]), stdev(1 - a for a in acc[1::2])))
    assert [g["best"].index for g in groups] == [2, 3]
    single = sweep_groups(_sweep(("lr",), [(0.1,)]), [{"accuracy": 0.5, "loss": 1.0}])
    assert single[0]["accuracy"] == (0.5, None)  # one run: no sd


def test_the_grouped_sweep_table_shows_mean_sd_and_the_best_member() -> None:
    from rich.console import Console

    from backends.torch.commands import _sweep_groups_table

    sweep = _sweep(("seed", "lr"), [(s, lr) for s in (0, 1) for lr in (0.05, 0.1)])
    metrics = [{"accuracy": a, "loss": 1 - a} for a in (0.4, 0.7, 0.5, 0.8)]
    console = Console(highlight=False, width=1_000_000, file=io.StringIO())
    _sweep_groups_table(sweep, metrics, console)
    out = console.file.getvalue()
    assert "sweep S by lr (2 groups; mean ± sd over seeds)" in out
    assert "0.4500 ± 0.0707" in out and "S[2] 0.5000 (seed=1)" in out
    assert "0.7500 ± 0.0707" in out and "S[3] 0.8000 (seed=1)" in out
    seeds_only = Console(highlight=False, width=1_000_000, file=io.StringIO())
    _sweep_groups_table(_sweep(("seed",), [(0,), (1,)]), metrics[:2], seeds_only)
    assert seeds_only.file.getvalue() == ""  # one group: the summary line says it already
