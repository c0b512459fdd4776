"""Plotting from a saved report (`catdsl run FILE --format json > REPORT.json`): the command line
each analysis' plot module offers (`python -m MODULE REPORT.json OUT_DIR [--store DIR]`) and the
run store it reads, opened the same way for all of them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable


def open_store(store_dir: Path | None):
    """The run store at `store_dir`, or None when there is none (plots that need it are skipped)."""
    if store_dir is None or not store_dir.exists():
        return None
    from backends.run.store import Store

    return Store.open(store_dir)


def command(prog: str, plot_report: Callable[[dict, Path, Path | None], list[Path]],
            argv: list[str] | None = None) -> int:
    """Read REPORT.json, draw its plots into OUT_DIR with `plot_report`, print each file's path.
    The store defaults to `.catdsl/` beside the report's `.cat` file."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("report")
    ap.add_argument("out")
    ap.add_argument("--store")
    args = ap.parse_args(argv)
    run = json.loads(Path(args.report).read_text())
    store = Path(args.store) if args.store else Path(run["file"]).resolve().parent / ".catdsl"
    for p in plot_report(run, Path(args.out), store):
        print(p)
    return 0
