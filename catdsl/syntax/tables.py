"""The parser's LALR tables, made once from `grammar/catdsl.lark` and shipped beside it.

Building the tables from the grammar costs 100–250 ms per process; making the parser from the
shipped tables costs a few ms, less than lark's own (pickled) cache. `grammar/catdsl.tables.json`
is plain JSON (no pickle: nothing is unpickled, and JSON cannot run code) under a fingerprint:
the SHA-256 of the grammar's text, the lark version and the options the parser is made with. The
parser uses the file only when its fingerprint is that of the grammar and lark it runs with;
otherwise (the grammar was edited, another lark is installed, the file is missing or unreadable)
it builds the tables from the grammar, as before: slower, never wrong. This module is the
encoding, both ways; `catdsl/syntax/make_tables.py` writes the file. `tests/test_parser_tables.py`
fails while the file is stale and says how to make it again:

    python -m catdsl.syntax.make_tables            # rewrite grammar/catdsl.tables.json
    python -m catdsl.syntax.make_tables --check    # exit 1 if it is stale

The encoding (FORMAT 2) is dense and flat, so that reading it is one `json.loads` and a few list
comprehensions rather than lark's generic `memo_serialize` / `deserialize` walk (which, with a
tagged JSON for its int-keyed dicts, cost twice lark's whole pickle cache):

    options     lark's options, less those of one process (`_PER_PROCESS`)
    terminals   [name, priority, "str" | "re", value, flags, raw, [min, max] width | null]
    symbols     [name, 0 (rule) | 1 (terminal) | 2 (terminal filtered out of the tree)]
    rules       [origin, [symbol, …], order, alias, keep_all_tokens, expand1, priority,
                 template_source, empty_indices], origin and symbols indices into `symbols`
    lexer       LexerConf's ignore, g_regex_flags, use_bytes, lexer_type
    start       the start rules
    table       tokens: the terminal names; states: for each state (0, 1, …) [[token, …],
                [action, …]], an action s < len(states) shifting to state s and len(states) + r
                reducing by rule r; start_states, end_states

`parser` puts lark's objects together as `Lark._load` (lark 1.3) does after its deserialisation;
the fingerprint holds the lark version, so this meets only the lark it was written with, and
tests/test_parser_tables.py checks that the parser made from the file serialises exactly as the
one built from the grammar and parses every example and golden file alike.

docs/architecture.md ("Start-up") says why the tables are shipped rather than cached.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FILE = "catdsl.tables.json"
FORMAT = 2  # of the encoding above; part of the fingerprint

# How the parser is made (catdsl/syntax/parse.py); part of the fingerprint.
OPTIONS: dict[str, Any] = {"parser": "lalr", "lexer": "basic", "maybe_placeholders": False}

# Options that hold objects of one process (the callbacks, the post-lexer): given again when the
# tables are loaded, never written.
_PER_PROCESS = ("postlex", "transformer", "lexer_callbacks", "edit_terminals", "tree_class",
                "_plugins", "import_paths", "source_path")


def fingerprint(grammar: str, always_accept: tuple[str, ...]) -> str:
    """What the tables were made from: the grammar's text, the lark version, the options and the
    terminals the post-lexer needs kept (`always_accept`)."""
    import lark

    made_from = json.dumps([FORMAT, lark.__version__, sorted(OPTIONS.items()), list(always_accept), grammar])
    return hashlib.sha256(made_from.encode("utf-8")).hexdigest()


def encode(parser) -> dict:
    """The tables of a built LALR `Lark` parser, as the JSON-ready dict described above."""
    from lark.parsers.lalr_analysis import Reduce, Shift

    front = parser.parser
    table = front.parser._parse_table
    lexer_conf = front.lexer_conf
    rules = list(parser.rules)
    if [id(r) for r in front.parser_conf.rules] != [id(r) for r in rules]:
        raise ValueError("the parser's rules are not lark's rules")
    n_states = len(table.states)
    if list(table.states) != list(range(n_states)):
        raise ValueError("the parse table's states are not numbered 0, 1, …")

    terminals = []
    for t in parser.terminals:
        p = t.pattern
        width = list(p._width) if p.type == "re" and p._width is not None else None
        terminals.append([t.name, t.priority, p.type, p.value, sorted(p.flags), p.raw, width])

    symbols: list[list] = []
    symbol_index: dict[tuple, int] = {}

    def symbol(s) -> int:
        key = (s.name, 2 if s.is_term and s.filter_out else int(s.is_term))
        if key not in symbol_index:
            symbol_index[key] = len(symbols)
            symbols.append(list(key))
        return symbol_index[key]

    encoded_rules = []
    for r in rules:
        o = r.options
        encoded_rules.append([symbol(r.origin), [symbol(s) for s in r.expansion], r.order, r.alias,
                              o.keep_all_tokens, o.expand1, o.priority, o.template_source,
                              list(o.empty_indices)])

    rule_index = {id(r): i for i, r in enumerate(rules)}
    tokens: list[str] = []
    token_index: dict[str, int] = {}
    states = []
    for actions in table.states.values():
        keys, codes = [], []
        for token, (action, arg) in actions.items():
            if token not in token_index:
                token_index[token] = len(tokens)
                tokens.append(token)
            keys.append(token_index[token])
            if action is Shift:
                codes.append(arg)
            elif action is Reduce:
                codes.append(n_states + rule_index[id(arg)])
            else:
                raise ValueError(f"an action {action!r} of the parse table")
        states.append([keys, codes])

    options = {k: v for k, v in parser.options.options.items() if k not in _PER_PROCESS}
    return {"options": options, "terminals": terminals, "symbols": symbols, "rules": encoded_rules,
            "lexer": {"ignore": list(lexer_conf.ignore), "g_regex_flags": lexer_conf.g_regex_flags,
                      "use_bytes": lexer_conf.use_bytes, "lexer_type": lexer_conf.lexer_type},
            "start": list(front.parser_conf.start),
            "table": {"tokens": tokens, "states": states, "start_states": dict(table.start_states),
                      "end_states": dict(table.end_states)}}


def parser(tables: dict, **per_process):
    """The `Lark` parser of `encode`'s tables, with this process's callbacks and post-lexer
    (`per_process`: transformer, postlex, lexer_callbacks): what `Lark._load` makes of lark's
    own serialisation, made directly from the flat lists."""
    import re

    from lark import Lark
    from lark.common import LexerConf, ParserConf
    from lark.grammar import NonTerminal, Rule, RuleOptions, Terminal
    from lark.lark import LarkOptions
    from lark.lexer import PatternRE, PatternStr, TerminalDef
    from lark.parser_frontends import ParsingFrontend
    from lark.parsers.lalr_analysis import IntParseTable, Reduce, Shift
    from lark.parsers.lalr_parser import LALR_Parser, _Parser

    if set(per_process) - {"transformer", "postlex", "lexer_callbacks"}:
        raise TypeError(f"options of one process: {sorted(per_process)}")
    options = LarkOptions({**tables["options"], **per_process})
    if options.parser != "lalr" or options.lexer != "basic" or options.regex or options._plugins:
        raise ValueError("these tables are for lark's LALR parser with its basic lexer")

    terminals = []
    for name, priority, kind, value, flags, raw, width in tables["terminals"]:
        pattern = PatternStr(value, flags, raw) if kind == "str" else PatternRE(value, flags, raw)
        if width is not None:  # as lark measured it, so that the lexer need not parse the regexp
            pattern._width = width
        terminals.append(TerminalDef(name, pattern, priority))
    symbols = [NonTerminal(name) if kind == 0 else Terminal(name, kind == 2) for name, kind in tables["symbols"]]
    rules = [Rule(symbols[origin], [symbols[s] for s in expansion], order, alias,
                  RuleOptions(keep_all_tokens, expand1, priority, template_source, tuple(empty)))
             for origin, expansion, order, alias, keep_all_tokens, expand1, priority, template_source, empty
             in tables["rules"]]

    self = Lark.__new__(Lark)
    self.options = options
    self.rules = rules
    self.source_path = "<deserialized>"
    lexer = tables["lexer"]
    lexer_conf = LexerConf(terminals, re, lexer["ignore"], options.postlex, options.lexer_callbacks or {},
                           options.g_regex_flags, skip_validation=True, use_bytes=options.use_bytes)
    lexer_conf.lexer_type = lexer["lexer_type"]
    self.lexer_conf = lexer_conf
    self.terminals = terminals
    self._prepare_callbacks()
    self._terminals_dict = {t.name: t for t in terminals}

    table = tables["table"]
    n_states = len(table["states"])
    actions = [(Shift, s) for s in range(n_states)] + [(Reduce, r) for r in rules]
    token_names, action_of = table["tokens"], actions.__getitem__
    states = {i: dict(zip(map(token_names.__getitem__, keys), map(action_of, codes)))
              for i, (keys, codes) in enumerate(table["states"])}
    parse_table = IntParseTable(states, table["start_states"], table["end_states"])
    lalr = LALR_Parser.__new__(LALR_Parser)
    lalr._parse_table = parse_table
    lalr.parser = _Parser(parse_table, self._callbacks, options.debug)
    parser_conf = ParserConf(rules, self._callbacks, tables["start"])
    parser_conf.parser_type = "lalr"
    self.parser = ParsingFrontend(lexer_conf, parser_conf, options, parser=lalr)
    return self


def dumps(parser, grammar: str, always_accept: tuple[str, ...]) -> str:
    """The JSON text of a built `Lark` parser's tables."""
    import lark

    payload = {"format": FORMAT, "lark": lark.__version__,
               "fingerprint": fingerprint(grammar, always_accept), "tables": encode(parser)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True) + "\n"


def loads(text: str, grammar: str, always_accept: tuple[str, ...]) -> dict | None:
    """The tables for `parser`, or None when `text` is not tables of this grammar, lark and
    options."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint(grammar, always_accept):
        return None
    return payload.get("tables")
