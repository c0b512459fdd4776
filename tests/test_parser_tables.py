"""The parser tables shipped in grammar/catdsl.tables.json (catdsl/syntax/tables.py): made from
the current grammar, loaded without pickle, giving the parser built from the grammar exactly,
and ignored whenever they were not made from the grammar and lark in use."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from catdsl.diagnostics import DiagnosticError
from catdsl.syntax import parse as P
from catdsl.syntax import make_tables as M
from catdsl.syntax import tables as T

ROOT = Path(__file__).resolve().parents[1]
ACCEPT = tuple(P._Newlines.always_accept)


def test_the_shipped_tables_are_made_from_the_current_grammar():
    assert M.is_current(), (
        "grammar/catdsl.tables.json was not made from the current grammar/catdsl.lark and lark "
        "version (the parser still works, building its tables at start-up, but slowly): make it "
        "again with `.venv/bin/python -m catdsl.syntax.make_tables` and commit the file")


def test_the_parser_of_a_process_loads_the_shipped_tables():
    if not M.is_current():
        pytest.skip("the tables are stale (reported by the test above)")
    assert P._handle().source == "shipped tables"


def test_loading_the_tables_unpickles_nothing(monkeypatch):
    if not M.is_current():
        pytest.skip("the tables are stale")

    def refuse(*args, **kwargs):
        raise AssertionError("the parser tables must not be unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    handle = P._ParserHandle()
    assert handle.source == "shipped tables"
    assert handle.lark.parse("category C { objects A; f : A -> A }").statements


@pytest.fixture(scope="module")
def built() -> str:
    """The tables of the current grammar, as `python -m catdsl.syntax.make_tables` writes them."""
    return M.build_text()


@pytest.mark.parametrize("tamper", ["stale fingerprint", "another grammar", "not json", "missing"])
def test_tables_not_made_from_this_grammar_are_ignored(monkeypatch, built, tamper):
    text = built
    grammar = P._grammar_text()
    if tamper == "stale fingerprint":
        payload = json.loads(text)
        payload["fingerprint"] = "0" * 64
        text = json.dumps(payload)
    elif tamper == "another grammar":
        monkeypatch.setattr(P, "_grammar_text", lambda: grammar + "\n// an edit\n")
    elif tamper == "not json":
        text = text[: len(text) // 2]
    real = P._read_grammar_file
    monkeypatch.setattr(P, "_read_grammar_file",
                        lambda name: (None if tamper == "missing" else text) if name == T.FILE else real(name))
    handle = P._ParserHandle()
    assert handle.source == "grammar"
    assert handle.lark.parse("category C { objects A }").statements


def test_the_tables_follow_the_grammar_and_lark_version(monkeypatch, built):
    text = built
    grammar = P._grammar_text()
    assert T.loads(text, grammar, ACCEPT) is not None
    assert T.loads(text, grammar.replace("category", "categories", 1), ACCEPT) is None
    assert T.loads(text, grammar, ()) is None
    import lark

    monkeypatch.setattr(lark, "__version__", "0.0.0")
    assert T.loads(text, grammar, ACCEPT) is None


def test_the_encoding_keeps_numbered_keys_and_tuples():
    value = {"states": {0: {"A": (0, 1)}, 12: {}}, "list": [(1, "x"), None, True, 1.5], "s": "#"}
    back = json.loads(json.dumps(T._encode(value)), object_hook=T._decode_object)
    assert back == value
    assert type(back["list"][0]) is tuple and list(back["states"]) == [0, 12]
    with pytest.raises(ValueError):
        T._encode({"#": 1})
    with pytest.raises(TypeError):
        T._encode({"x": {1, 2}})


# Files that exercise the grammar (every example and golden file) and inputs that exercise its
# error paths (the expected-token sets come from lark's interactive parser on the tables).
FILES = sorted([*ROOT.glob("examples/**/*.cat"), *ROOT.glob("tests/golden/*.cat")])
BAD = [
    "category C { objets A }", "category C { objects A\n f : A -> }", "functor F : C -> D { A X }",
    "data x = 'a'", "data x = (1, 2", "category C {", "chek F", "data x = 1 +\n", "data = 3",
    "category C { objects A; eq e : f = }", "sweep S = F.g over lr in", 'data s = "\\q"',
]


def _outcome(handle, text: str, file: str):
    real = P._handle
    P._handle = lambda: handle
    try:
        return P.parse_with_comments(text, file)
    except DiagnosticError as e:
        return [(d.code, d.message, d.span, d.hints) for d in e.diagnostics]
    finally:
        P._handle = real


@pytest.fixture(scope="module")
def handles():
    return P._ParserHandle(tables=True), P._ParserHandle(tables=False)


def test_both_parsers_are_made(handles):
    if not M.is_current():
        pytest.skip("the tables are stale")
    assert [h.source for h in handles] == ["shipped tables", "grammar"]


def test_the_tables_parse_every_file_as_the_grammar_does(handles):
    assert len(FILES) > 50
    for path in FILES:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert _outcome(handles[0], text, str(path)) == _outcome(handles[1], text, str(path)), path


@pytest.mark.parametrize("text", BAD)
def test_the_tables_report_syntax_errors_as_the_grammar_does(handles, text):
    shipped, built = (_outcome(h, text, "t.cat") for h in handles)
    assert isinstance(shipped, list) and shipped == built
