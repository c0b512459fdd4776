"""The check report: a table (rich; unwrapped and unpadded when piped), tab-separated lines, a
summary line, and one JSON document for all the files of a `catdsl check` (docs/checking.md)."""

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


def diagnostics_entry(file: str, diagnostics) -> dict:
    """The JSON entry of a file with static errors: its diagnostics instead of obligations."""
    from catdsl.diagnostics import sort_key

    return {"file": file, "diagnostics": [d.to_json() for d in sorted(diagnostics, key=sort_key)]}


def document(entries: list[dict], diagnostics=()) -> dict:
    """One JSON document for every file of a check. One file: its entry itself, as it always was
    (`{"file", "obligations", "summary"}` or `{"file", "diagnostics"}`). Several: `{"files":
    [entry, …], "summary"}`, the summary over all of them. `diagnostics` are the command's own
    problems (an `--only` name that selects nothing anywhere), listed once."""
    from catdsl.diagnostics import sort_key

    found = [d.to_json() for d in sorted(diagnostics, key=sort_key)]
    if len(entries) == 1:
        entry = dict(entries[0])
        if found:
            entry.pop("obligations", None)
            entry.pop("summary", None)
            entry["diagnostics"] = entry.get("diagnostics", []) + found
        return entry
    counts: Counter = Counter()
    for entry in entries:
        for key, n in entry.get("summary", {}).items():
            if key not in ("obligations", "holds"):
                counts[key] += n
    errors = sum(len(e.get("diagnostics", ())) for e in entries) + len(found)
    total = {"files": len(entries), "obligations": sum(len(e.get("obligations", ())) for e in entries),
             **{k: counts[k] for k in sorted(counts)}, "errors": errors,
             "holds": errors == 0 and all(e["summary"]["holds"] for e in entries)}
    return {"files": entries, **({"diagnostics": found} if found else {}), "summary": total}


def render_json(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


TSV_COLUMNS = ("file", "obligation", "kind", "verdict", "via", "seconds", "line", "column", "witness")


def tsv_lines(file: str, results: list[Result]) -> list[str]:
    """One tab-separated line per obligation (TSV_COLUMNS; no header): nothing padded, tabs and
    line breaks inside a witness turned into spaces, so every obligation is one line."""
    def cell(value) -> str:
        return "" if value is None else str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")

    return ["\t".join(cell(v) for v in (file, r.law.name, r.law.kind, r.verdict.word(), r.verdict.via,
                                        f"{r.seconds:.6f}", r.law.span.line, r.law.span.column,
                                        r.verdict.witness))
            for r in results]


def print_table(file: str, results: list[Result], console, terminal: bool = True) -> None:
    """The obligations as a table. On a terminal the witness column folds to the width; piped or
    redirected (`terminal=False`) every obligation is one line, its full witness included, and no
    line is padded past its last cell."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=file, title_justify="left", show_edge=False, pad_edge=False)
    for col in ("obligation", "verdict", "via", "seconds", "where / witness"):
        table.add_column(col, no_wrap=col != "where / witness" or not terminal,
                         overflow="fold" if terminal else "ignore")
    for r in results:
        v = r.verdict
        style = VERDICT_STYLE.get(v.status, "")
        where = f"{r.law.span.line}:{r.law.span.column}"
        witness = v.witness if terminal or not v.witness else " ".join(v.witness.split("\n"))
        table.add_row(Text(r.law.name), Text(v.word(), style=style), Text(v.via),
                      f"{r.seconds:.3f}", Text(where + (f"  {witness}" if witness else "")))
    if terminal:
        console.print(table)
    else:
        with console.capture() as captured:
            console.print(table)
        print("\n".join(line.rstrip() for line in captured.get().rstrip("\n").split("\n")))
    console.print(summary_line(results))
