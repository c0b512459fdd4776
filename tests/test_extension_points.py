"""The seams of the checker, exercised the way docs/architecture.md tells a newcomer to use them:
a law kind is one dataclass plus one line in a category's discharge table; an analysis is one
handler plus one registry entry; options and selections are static errors, never silent."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from catdsl import analysis
from catdsl.diagnostics import Diagnostic
from catdsl.laws.category import MapId
from catdsl.laws.law import FunctorLaw
from catdsl.laws.verdict import Verdict
from checking import check_file

VALLEY = """
category Valley {
  objects A, B
  p, q : A -> B
}

functor V : Valley -> Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2, level = 2) {
  A |-> (-1, 0)
  B |-> (1, 0)
  p |-> t |-> (2*t - 1, 0)
  q |-> t |-> (2*t - 1, 1 - (2*t - 1)^2)
}
"""


# ---- a new law kind: one dataclass, one registry line ------------------------------------------


@dataclass(frozen=True)
class Parallel(FunctorLaw):
    """Toy law: two generators with the same endpoints have images with the same endpoints."""

    f: str
    g: str
    kind = "parallel"

    @property
    def name(self) -> str:
        return f"{self.functor}.parallel[{self.f}, {self.g}]"


def test_a_new_law_kind_is_one_dataclass_and_one_table_entry(tmp_path, capsys, monkeypatch):
    from backends.symbolic import laws as symbolic

    def parallel_laws(module, F):
        return [*symbolic.laws(module, F), Parallel(F.name, "p", "q", span=F.span)]

    def decide(law: Parallel, ctx) -> Verdict:
        I = symbolic.interpretation(ctx.module, law.functor)
        a, b = I.arrows[law.f], I.arrows[law.g]
        same = (a.at(0), a.at(1)) == (b.at(0), b.at(1))
        return Verdict("proved" if same else "refuted", "sympy")

    monkeypatch.setattr(symbolic.Paths, "laws", staticmethod(parallel_laws))
    monkeypatch.setitem(symbolic.Paths.discharges, Parallel, decide)
    code, report, _ = check_file(tmp_path, capsys, VALLEY + "check V.parallel with samples = 5\n")
    (law,) = report["obligations"]
    assert (law["name"], law["kind"], law["verdict"]) == ("V.parallel[p, q]", "parallel", "proved")
    assert code == 0


def test_a_kind_a_category_does_not_decide_is_unknown_not_passed(tmp_path, capsys, monkeypatch):
    from backends.symbolic import laws as symbolic

    monkeypatch.delitem(symbolic.Paths.discharges, symbolic.Endpoints)
    code, report, _ = check_file(tmp_path, capsys, VALLEY + "check V.endpoints\n")
    assert {o["verdict"] for o in report["obligations"]} == {"unknown"}
    assert "endpoints is not decided in Paths yet" in report["obligations"][0]["witness"]
    assert code == 1


# ---- an analysis: a handler and a registry entry ----------------------------------------------


class Count:
    """Toy `classes … by count(expected = n)`: the functor's generators number `expected`."""

    @staticmethod
    def validate(module, a):
        if a.method != "count":
            return [Diagnostic("E222", f"`classes` has no method `{a.method}`", a.statement.method.span)]
        return []

    @staticmethod
    def laws(module, a):
        return [Counted(a.subject.name, a.name, span=a.span)]


@dataclass(frozen=True)
class Counted(FunctorLaw):
    analysis: str
    kind = "classes.count"

    @property
    def owner(self) -> str:
        return self.analysis

    @property
    def name(self) -> str:
        return f"{self.analysis}.count"


def test_an_analysis_plugs_in_through_its_registry(tmp_path, capsys, monkeypatch):
    from backends.symbolic import laws as symbolic

    monkeypatch.setattr(analysis, "registry", lambda: {"classes": "tests:Count"})
    monkeypatch.setattr(analysis, "_load", lambda target: Count)
    monkeypatch.setitem(symbolic.Paths.discharges, Counted,
                        lambda law, ctx: Verdict("proved", "count", witness="2 generators"))
    code, report, err = check_file(tmp_path, capsys, VALLEY + "classes K of V by count(expected = 2)\ncheck K\n")
    assert code == 0, err
    assert [(o["name"], o["verdict"]) for o in report["obligations"]] == [("K.count", "proved")]
    code, _, err = check_file(tmp_path, capsys, VALLEY + "classes K of V by banana(level = 1)\n")
    assert code == 2 and "error[E222]" in err and "no method `banana`" in err


def test_an_analysis_without_a_handler_is_an_error_not_a_silent_success(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(analysis, "registry", lambda: {})
    code, _, err = check_file(tmp_path, capsys, VALLEY + "classes K of V by homotopy(level = 0.5)\n")
    assert code == 2 and "error[E215]" in err and "not supported yet" in err


@pytest.mark.parametrize("statement, code, needle", [
    ("classes K of NoSuchSweep by banana(level = \"x\")", "E201", "`NoSuchSweep` is not declared"),
    ("classes K of Valley by homotopy(level = 0.5)", "E222", "`Valley` is a category"),
    ("persistence of V.r by landscape(grid = 3)", "E201", "`Valley` has no object or generator `r`"),
    ("classes K of V by homotopy(0.5)", "E222", "the options of `homotopy` are named"),
    ("transfer T = pullback(along = 1)", "E222", "names no `source`"),
])
def test_analysis_subjects_are_resolved_at_elaboration(tmp_path, capsys, statement, code, needle):
    status, _, err = check_file(tmp_path, capsys, VALLEY + statement + "\n")
    assert status == 2 and f"error[{code}]" in err and needle in err


# ---- selections and options -----------------------------------------------------------------


def test_a_check_target_selects_by_name_boundary_not_by_prefix(tmp_path, capsys):
    """`check V with samples = 3` must not reach the laws of `VV`."""
    from catdsl.cli import _load
    from catdsl.laws.catalogue import obligations
    from catdsl.laws.options import Options, select

    text = VALLEY + VALLEY.split("category Valley")[0] + "functor VV : Valley -> Paths(2) {\n" \
        "  A |-> (-1, 0)\n  B |-> (1, 0)\n  p |-> t |-> (2*t - 1, 0)\n  q |-> t |-> (2*t - 1, 0)\n}\n" \
        "check V, VV\ncheck V with samples = 3\n"
    path = tmp_path / "two.cat"
    path.write_text(text)
    module, _, err = _load(str(path))
    assert err is None
    selection = select(module, obligations(module), Options(samples=200))
    samples = {law.owner: opts.samples for law, opts in selection.laws}
    assert samples == {"V": 3, "VV": 200}


def test_only_that_selects_nothing_is_an_error(tmp_path, capsys):
    code, _, err = check_file(tmp_path, capsys, VALLEY, "--only", "W")
    assert code == 2 and "error[E221]" in err and "`--only W` selects no obligation" in err


def test_options_are_validated_before_anything_is_discharged(tmp_path, capsys):
    code, _, err = check_file(tmp_path, capsys, VALLEY + "check V with tolerance = 1\ncheck V.low_loss with tol = -1\n")
    assert code == 2
    assert "`tolerance` is not an option of `V`" in err and "`tol` must be a non-negative number" in err


def test_option_values_are_read_from_the_tree():
    from catdsl.laws.options import number
    from catdsl.syntax import ast as A
    from catdsl.syntax.parse import parse

    def value(text):
        (stmt,) = parse(f"check F with x = {text}").statements
        return stmt.options[0].value

    assert number(value("500")) == 500 and isinstance(number(value("500")), int)
    assert number(value("1e-6")) == 1e-6
    assert number(value("10^-3")) == pytest.approx(1e-3)
    assert number(value("-2")) == -2
    assert number(value("1/4")) == 0.25
    with pytest.raises(Exception):
        number(value("x"))
    with pytest.raises(Exception):
        number(A.String("1"))


def test_mapping_a_two_cell_into_a_one_category_is_a_diagnostic(tmp_path, capsys):
    text = ("category Loop {\n  objects A, B\n  p, q : A -> B\n  alpha : p => q\n}\n"
            "functor V : Loop -> Vect {\n  A |-> R^1\n  B |-> R^1\n  p |-> [[1]]\n  q |-> [[2]]\n"
            "  alpha |-> [[1]]\n}\n")
    code, _, err = check_file(tmp_path, capsys, text)
    assert code == 2 and "error[E315]" in err and "`Vect` has no 2-cells" in err


def test_existing_law_kinds_keep_their_report_names():
    from catdsl.span import Span

    law = MapId("F", "X", span=Span("f.cat", 1, 1, 1, 1))
    assert (law.name, law.kind, law.owner) == ("F.map_id[X]", "map_id", "F")
    assert law == MapId("F", "X", span=Span("g.cat", 2, 2, 2, 2))  # spans do not take part in equality
