"""The parser's LALR tables, made once from `grammar/catdsl.lark` and shipped beside it.

Building the tables from the grammar costs 100–250 ms per process; loading them costs about
10 ms. `grammar/catdsl.tables.json` holds what `Lark.memo_serialize` gives, as plain JSON (no
pickle: nothing is unpickled, and JSON cannot run code), under a fingerprint: the SHA-256 of
the grammar's text, the lark version and the options the parser is made with. The parser uses
the file only when its fingerprint is that of the grammar and lark it runs with; otherwise (the
grammar was edited, another lark is installed, the file is missing or unreadable) it builds the
tables from the grammar, as before: slower, never wrong. This module is the encoding, which
the parser reads; `catdsl/syntax/make_tables.py` writes the file. `tests/test_parser_tables.py`
fails while the file is stale and says how to make it again:

    python -m catdsl.syntax.make_tables            # rewrite grammar/catdsl.tables.json
    python -m catdsl.syntax.make_tables --check    # exit 1 if it is stale

docs/architecture.md ("Start-up") says why the tables are shipped rather than cached.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

FILE = "catdsl.tables.json"
FORMAT = 1  # of the encoding below; part of the fingerprint

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


# lark's serialized data has dicts keyed by numbers (states, memo ids) and tuples; JSON has
# neither, so they are written tagged: {"#": [[key, value], …]} and {"(": [items]}. No dict of
# lark's has a key "#" or "(" (encode checks).


def _encode(x: Any) -> Any:
    if type(x) is dict:
        if all(type(k) is str for k in x):
            if "#" in x or "(" in x:
                raise ValueError("a key that the encoding uses as a tag")
            return {k: _encode(v) for k, v in x.items()}
        return {"#": [[k, _encode(v)] for k, v in x.items()]}
    if type(x) is tuple:
        return {"(": [_encode(v) for v in x]}
    if type(x) is list:
        return [_encode(v) for v in x]
    if x is None or type(x) in (str, int, bool, float):
        return x
    raise TypeError(f"cannot write a {type(x).__name__} into the parser tables")


def _decode_object(d: dict) -> Any:
    if len(d) == 1:
        if "(" in d:
            return tuple(d["("])
        if "#" in d:
            return {k: v for k, v in d["#"]}
    return d


def dumps(parser, grammar: str, always_accept: tuple[str, ...]) -> str:
    """The JSON text of a built `Lark` parser's tables."""
    import lark
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = parser.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in _PER_PROCESS}
    payload = {"format": FORMAT, "lark": lark.__version__,
               "fingerprint": fingerprint(grammar, always_accept),
               "data": _encode(data), "memo": _encode(memo)}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True) + "\n"


def loads(text: str, grammar: str, always_accept: tuple[str, ...]) -> tuple[dict, dict] | None:
    """(data, memo) for `Lark._load_from_dict`, or None when `text` is not tables of this
    grammar, lark and options."""
    try:
        payload = json.loads(text, object_hook=_decode_object)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("fingerprint") != fingerprint(grammar, always_accept):
        return None
    return payload["data"], payload["memo"]
