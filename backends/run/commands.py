"""`catdsl runs`: the finished jobs of a run store, reached by the CLI through the backend
registry. Reads the store only: neither torch nor a program is needed.

Filters: `--file` (jobs a `catdsl run FILE` used), `--kind`, `--label` (a part of the label).
Formats: `text` a table, unwrapped when stdout is not a terminal; `tsv` a header line and one
tab-separated line per job, full keys and plain numbers, nothing padded; `json` one object.
"""

from __future__ import annotations

import json
import sys
import time

from backends.run.store import HYPERPARAMETERS, RunRow, Store

COLUMNS = ("id", "kind", "label", *HYPERPARAMETERS, "loss", "accuracy", "seconds", "when")


def list_runs(args) -> int:
    store = Store.open(args.store)
    rows = store.runs(kind=getattr(args, "kind", None), label=getattr(args, "label", None),
                      source=getattr(args, "file", None))
    fmt = getattr(args, "format", "text")
    if fmt == "json":
        print(json.dumps({"store": str(args.store), "jobs": [_as_json(r) for r in rows]}, indent=2,
                         ensure_ascii=False))
    elif fmt == "tsv":
        print("\t".join(COLUMNS))
        for r in rows:
            print("\t".join(_tsv(v) for v in _values(r, full=True)))
    else:
        _table(args.store, rows)
        print(f"{len(rows)} finished job(s)")
    return 0


def _values(r: RunRow, full: bool) -> tuple:
    """The row's values in COLUMNS order: numbers as numbers (tsv, json) or short (a table)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
    key = r.key if full else r.key[:12]
    hyper = tuple(r.hyperparameters.get(name) for name in HYPERPARAMETERS)
    return (key, r.kind, r.label or "", *hyper, r.loss, r.accuracy, r.seconds, when)


def _tsv(value) -> str:
    if value is None:
        return ""
    text = repr(value) if isinstance(value, float) else str(value)
    return text.replace("\t", " ").replace("\n", " ")


def _as_json(r: RunRow) -> dict:
    return {"key": r.key, "kind": r.kind, "label": r.label, "hyperparameters": r.hyperparameters,
            "loss": r.loss, "accuracy": r.accuracy, "seconds": r.seconds,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.created)),
            "files": list(r.sources), "metrics": r.metrics}


def _table(title, rows: list[RunRow]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    terminal = sys.stdout.isatty()
    table = Table(title=str(title), title_justify="left")
    for col in COLUMNS:
        table.add_column(col, overflow="fold" if terminal else "ignore",
                         justify="right" if col in (*HYPERPARAMETERS, "loss", "accuracy", "seconds") else "left")
    for r in rows:
        key, kind, label, *hyper, loss, accuracy, seconds, when = _values(r, full=False)
        table.add_row(key, kind, Text(label), *(Text("-" if v is None else _short(v)) for v in hyper),
                      _number(loss), _number(accuracy), "-" if seconds is None else f"{seconds:.2f}", when)
    # piped or redirected: one line per job, however long, never wrapped at 80 columns
    Console(highlight=False, width=None if terminal else 1_000_000).print(table)


def _short(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value) -> str:
    return "-" if value is None else f"{value:.4f}"
