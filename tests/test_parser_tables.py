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
def grammar_parser():
    """A parser built from the grammar (lark numbers the states of each build its own way)."""
    return P._ParserHandle(tables=False).lark


@pytest.fixture(scope="module")
def built(grammar_parser) -> str:
    """Its tables, as `python -m catdsl.syntax.make_tables` writes them."""
    return T.dumps(grammar_parser, P._grammar_text(), ACCEPT)


@pytest.mark.parametrize("tamper", ["stale fingerprint", "another grammar", "not json", "missing",
                                    "unusable tables"])
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
    elif tamper == "unusable tables":  # the right fingerprint, tables this lark cannot make a parser of
        payload = json.loads(text)
        payload["tables"]["rules"] = []
        text = json.dumps(payload)
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


def _serialised(lark):
    """lark's own serialisation of a parser, less the options that hold this process's objects."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = lark.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in T._PER_PROCESS}
    return data, memo


def _tables_parser(text: str):
    saved = T.loads(text, P._grammar_text(), ACCEPT)
    assert saved is not None
    return T.parser(saved, transformer=P._Builder(), postlex=P._Newlines())


def test_the_parser_made_from_the_tables_is_the_one_they_were_made_from(grammar_parser, built):
    """Every terminal, rule, option and action lark would save of the parser built from the
    grammar, and the order of each state's actions (the order of "expected …" lists)."""
    loaded = _tables_parser(built)
    grammar = grammar_parser
    assert _serialised(loaded) == _serialised(grammar)
    ours, theirs = loaded.parser.parser._parse_table, grammar.parser.parser._parse_table
    assert list(ours.states) == list(theirs.states)
    for state, actions in theirs.states.items():
        assert list(ours.states[state].items()) == list(actions.items()), state
    assert [t.name for t in loaded.parser.lexer.lexer.terminals] == [t.name for t in grammar.parser.lexer.lexer.terminals]
    # one Rule object per rule, shared by the rule list and the reductions, as lark has it
    rules = {id(r) for r in loaded.rules}
    assert loaded.parser.parser_conf.rules is loaded.rules
    assert all(id(arg) in rules for actions in ours.states.values() for action, arg in actions.values()
               if action.name == "Reduce")


def test_the_encoding_reads_back_to_itself(built):
    assert T.dumps(_tables_parser(built), P._grammar_text(), ACCEPT) == built


def test_make_tables_writes_flat_json():
    """No tagged objects, no nesting beyond what the format says: decoded by `json.loads` alone."""
    payload = json.loads(M.build_text())
    assert payload["format"] == T.FORMAT == 2
    tables = payload["tables"]
    assert set(tables) == {"options", "terminals", "symbols", "rules", "lexer", "start", "table"}
    # each regexp's width as lark measured it, so that the lexer need not parse the regexps again
    assert all(width is not None for _, _, kind, _, _, _, width in tables["terminals"] if kind == "re")
    states = tables["table"]["states"]
    n_rules = len(tables["rules"])
    for keys, codes in states:
        assert len(keys) == len(codes) and all(type(k) is int for k in keys)
        assert all(type(c) is int and 0 <= c < len(states) + n_rules for c in codes)


def test_tables_only_for_the_parser_and_options_they_were_made_for(built):
    saved = T.loads(built, P._grammar_text(), ACCEPT)
    with pytest.raises(TypeError):
        T.parser(saved, tree_class=object)
    with pytest.raises(ValueError):
        T.parser({**saved, "options": {**saved["options"], "lexer": "contextual"}})


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
