"""Make `grammar/catdsl.tables.json`, the parser's LALR tables (their encoding and why they are
shipped: `catdsl/syntax/tables.py`).

    python -m catdsl.syntax.make_tables            # rewrite grammar/catdsl.tables.json
    python -m catdsl.syntax.make_tables --check    # exit 1 if it is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

from catdsl.syntax.parse import _grammar_path, _grammar_text, _Newlines, _ParserHandle, _read_grammar_file
from catdsl.syntax.tables import FILE, dumps, loads


def source_path() -> Path:
    """Where `python -m catdsl.syntax.make_tables` writes: beside the grammar, in the source tree
    or in the installed package."""
    return _grammar_path(FILE)


def build_text() -> str:
    """The tables of the current grammar, built from it."""
    handle = _ParserHandle(tables=False)
    return dumps(handle.lark, _grammar_text(), tuple(_Newlines.always_accept))


def is_current() -> bool:
    text = _read_grammar_file(FILE)
    return text is not None and loads(text, _grammar_text(), tuple(_Newlines.always_accept)) is not None


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Make the parser tables shipped beside the grammar.")
    ap.add_argument("--check", action="store_true", help="exit 1 if the shipped tables are stale")
    args = ap.parse_args(argv)
    path = source_path()
    if args.check:
        current = is_current()
        print(f"{path}: {'up to date' if current else 'stale: run python -m catdsl.syntax.make_tables'}")
        return 0 if current else 1
    path.write_text(build_text(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
