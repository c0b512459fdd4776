"""The check report: a terminal table (rich), a summary line, and the JSON schema of the issue."""

from __future__ import annotations

import json
from collections import Counter

from catdsl.laws.discharge import Result

VERDICT_STYLE = {"proved": "green", "passed": "green", "refuted": "red", "failed": "red",
                 "conditional": "yellow", "unknown": "yellow", "error": "magenta"}


def exit_code(results: list[Result]) -> int:
    """0 when every law holds, 1 otherwise (docs/checking.md, "Verdicts and exit codes")."""
    return 0 if all(r.verdict.holds for r in results) else 1


def summary(results: list[Result]) -> dict:
    counts = Counter(r.verdict.status for r in results)
    return {"obligations": len(results), **{k: counts[k] for k in sorted(counts)},
            "holds": all(r.verdict.holds for r in results)}


def summary_line(results: list[Result]) -> str:
    counts = Counter(r.verdict.status for r in results)
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    noun = "obligation" if len(results) == 1 else "obligations"
    return f"{len(results)} {noun}" + (f": {parts}" if parts else "")


def to_json(file: str, results: list[Result]) -> dict:
    return {
        "file": file,
        "obligations": [{
            "name": r.law.name, "kind": r.law.kind,
            "span": {"file": r.law.span.file, "line": r.law.span.line, "column": r.law.span.column},
            "verdict": r.verdict.word(), "via": r.verdict.via, "witness": r.verdict.witness,
            "seconds": round(r.seconds, 6),
        } for r in results],
        "summary": summary(results),
    }


def render_json(reports: list[dict]) -> str:
    return json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, ensure_ascii=False)


def print_table(file: str, results: list[Result], console) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(title=file, title_justify="left", show_edge=False, pad_edge=False)
    for col in ("obligation", "verdict", "via", "seconds", "where / witness"):
        table.add_column(col, no_wrap=col != "where / witness", overflow="fold")
    for r in results:
        v = r.verdict
        style = VERDICT_STYLE.get(v.status, "")
        where = f"{r.law.span.line}:{r.law.span.column}"
        table.add_row(Text(r.law.name), Text(v.word(), style=style), Text(v.via),
                      f"{r.seconds:.3f}", Text(where + (f"  {v.witness}" if v.witness else "")))
    console.print(table)
    console.print(summary_line(results))
