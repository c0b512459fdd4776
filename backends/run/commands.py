"""`catdsl runs`: the finished jobs of a run store, reached by the CLI through the backend
registry. Reads the store only: neither torch nor a program is needed."""

from __future__ import annotations

import time


def list_runs(args) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from backends.run.store import Store

    store = Store.open(args.store)
    rows = store.runs()
    table = Table(title=str(args.store), title_justify="left")
    for col in ("id", "kind", "spec", "loss", "accuracy", "seconds", "when"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.key[:12], r.kind, Text(r.summary), "-" if r.loss is None else f"{r.loss:.4f}",
                      "-" if r.accuracy is None else f"{r.accuracy:.4f}",
                      "-" if r.seconds is None else f"{r.seconds:.2f}",
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created)))
    Console(highlight=False).print(table)
    print(f"{len(rows)} finished job(s)")
    return 0
