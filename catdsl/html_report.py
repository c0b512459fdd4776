"""`catdsl check|run FILE --report DIR`: one offline HTML page of a file's diagrams and results.

`DIR/index.html` with every asset beside it (`style.css`, one SVG per diagram) and nothing
fetched from a network. The page shows the file's diagrams, the obligation table of `check`
(verdicts, witnesses) and, of `run`, the jobs and every analysis of the run's JSON report
(`catdsl run --format json`), each rendered generically from its data, so an analysis kind added
later shows up without a change here: scalars as a table of fields, a list of records or a
mapping of records as a table, a list of numbers also as a small line plot (inline SVG).

The data of a report is kept in `DIR/catdsl-report.json`, which also marks the folder as a
report: a folder that exists, is not empty and has no such file is refused, never overwritten;
a report of the same file is updated, so `check --report DIR` then `run --report DIR` gives one
page with both. The torch backend hands its run data over through `args.on_report` (a callable
the CLI sets; `backends/torch/commands.py`), so this module imports no backend.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from html import escape
from pathlib import Path

MARKER = "catdsl-report.json"
VERDICT_CLASS = {"proved": "holds", "passed": "holds", "refuted": "fails", "failed": "fails",
                 "conditional": "undecided", "unknown": "undecided", "error": "error"}


class ReportFolderError(Exception):
    """The report folder exists and is not a catdsl report (or cannot be written)."""


@dataclass(frozen=True)
class Entry:
    """What one file contributes: its module (for the diagrams), its check and run JSON data."""

    module: object
    check: dict | None = None
    run: dict | None = None


def prepare(directory: str | os.PathLike) -> Path:
    """The report folder, made if missing; refused when it holds anything but a previous report."""
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise ReportFolderError(f"`{root}` exists and is not a folder")
    if root.is_dir() and any(root.iterdir()) and not (root / MARKER).is_file():
        raise ReportFolderError(f"`{root}` exists and is not a catdsl report (no {MARKER}); "
                                "choose a new or empty folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportFolderError(f"cannot make `{root}`: {e.strerror or e}") from None
    return root


def write(directory: str | os.PathLike, entries: list[Entry]) -> Path:
    """Write (or update) the report; returns the path of `index.html`."""
    from catdsl.draw import diagrams

    root = prepare(directory)
    previous = _previous(root)
    before = {f["file"]: f for f in previous.get("files", []) if isinstance(f, dict) and "file" in f}
    files: dict[str, dict] = {}
    pictures: dict[str, list[tuple[str, str]]] = {}
    for entry in entries:
        file = entry.module.file
        kept = before.get(file, {})
        files[file] = {"file": file, "check": entry.check if entry.check is not None else kept.get("check"),
                       "run": entry.run if entry.run is not None else kept.get("run")}
        pictures[file] = [(d.name, d.svg()) for d in diagrams(entry.module)]
    for name in previous.get("assets", []):  # the diagrams of the previous report, if any
        if "/" not in name and name != MARKER:
            (root / name).unlink(missing_ok=True)
    assets, body = ["style.css"], []
    for i, (file, data) in enumerate(files.items()):
        figures = []
        for name, svg in pictures.get(file, []):
            asset = f"diagram-{i}-{_slug(name)}.svg"
            _write_text(root / asset, svg)
            assets.append(asset)
            figures.append((name, asset))
        body.append(_file_section(data, figures))
    _write_text(root / "style.css", STYLE)
    title = ", ".join(files) or "catdsl report"
    _write_text(root / "index.html", PAGE.format(title=escape(title), body="\n".join(body)))
    _write_text(root / MARKER, json.dumps({"catdsl_report": 1, "files": list(files.values()),
                                           "assets": assets + ["index.html"]}, indent=1, ensure_ascii=False))
    return root / "index.html"


def _previous(root: Path) -> dict:
    try:
        data = json.loads((root / MARKER).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _slug(name: str) -> str:
    """A file-name-safe form of a diagram's name (Unicode letters as their code points)."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else f"u{ord(ch):x}" for ch in name)


# ---- the page -----------------------------------------------------------------------------------


def _file_section(data: dict, figures: list[tuple[str, str]]) -> str:
    out = [f"<section class=\"file\"><h1>{escape(data['file'])}</h1>"]
    if figures:
        out.append("<h2>Diagrams</h2><div class=\"diagrams\">")
        out += [f'<figure><img src="{escape(asset)}" alt="diagram {escape(name)}"><figcaption>{escape(name)}'
                f"</figcaption></figure>" for name, asset in figures]
        out.append("</div>")
    if data.get("check"):
        out.append("<h2>Obligations</h2>" + obligations_html(data["check"]))
    if data.get("run"):
        out.append("<h2>Runs</h2>" + jobs_html(data["run"]))
        out.append(analyses_html(data["run"]))
    out.append("</section>")
    return "\n".join(out)


def obligations_html(check: dict) -> str:
    """The obligation table of `check --format json` data: verdicts, where, witnesses."""
    rows = []
    for o in check.get("obligations", []):
        verdict = o.get("verdict", "")
        status = verdict.split()[0] if verdict else ""
        span = o.get("span") or {}
        rows.append(f"<tr><td class=\"name\">{escape(o.get('name', ''))}</td>"
                    f"<td class=\"verdict {VERDICT_CLASS.get(status, '')}\">{escape(verdict)}</td>"
                    f"<td>{escape(str(o.get('via') or ''))}</td><td>{span.get('line', '')}:{span.get('column', '')}</td>"
                    f"<td class=\"witness\">{escape(str(o.get('witness') or ''))}</td>"
                    f"<td class=\"num\">{_number(o.get('seconds'))}</td></tr>")
    summary = check.get("summary", {})
    counts = ", ".join(f"{v} {k}" for k, v in summary.items() if k not in ("obligations", "holds"))
    caption = f"{summary.get('obligations', len(rows))} obligations" + (f": {counts}" if counts else "")
    return ("<table class=\"obligations\"><caption>" + escape(caption) + "</caption><thead><tr><th>obligation</th>"
            "<th>verdict</th><th>via</th><th>where</th><th>witness</th><th>seconds</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def jobs_html(run: dict) -> str:
    """The jobs of `run --format json` data, with their metrics (one column per metric)."""
    jobs = run.get("jobs", [])
    metrics: list[str] = []
    for job in jobs:
        for k, v in (job.get("metrics") or {}).items():
            if k not in metrics and not isinstance(v, (dict, list)):
                metrics.append(k)
    head = "".join(f"<th>{escape(c)}</th>" for c in ("job", "kind", "key", "digest", "seconds", *metrics))
    rows = []
    for job in jobs:
        m = job.get("metrics") or {}
        rows.append("<tr>" + f"<td class=\"name\">{escape(str(job.get('label', '')))}</td>"
                    f"<td>{escape(str(job.get('kind', '')))}</td><td><code>{escape(str(job.get('key') or '')[:12])}</code></td>"
                    f"<td><code>{escape(str(job.get('digest') or '')[:12])}</code></td>"
                    f"<td class=\"num\">{_number(job.get('seconds'))}</td>"
                    + "".join(f"<td class=\"num\">{_scalar(m.get(k))}</td>" for k in metrics) + "</tr>")
    counts = run.get("counts") or {}
    caption = ", ".join(f"{v} {k}" for k, v in counts.items())
    return (f"<table class=\"jobs\"><caption>{len(jobs)} jobs" + (f" ({escape(caption)})" if caption else "")
            + f"</caption><thead><tr>{head}</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def analyses_html(run: dict) -> str:
    """Every analysis of the run (sweeps, classes, persistence, transfer, …), from its data."""
    out = []
    for name, report in (run.get("analyses") or {}).items():
        kind = report.get("kind", "") if isinstance(report, dict) else ""
        out.append(f"<section class=\"analysis\"><h3>{escape(kind)} {escape(name)}</h3>{value_html(report, skip=('kind',))}"
                   "</section>")
    return ("<h2>Analyses</h2>" + "\n".join(out)) if out else ""


def value_html(value, skip: tuple[str, ...] = (), depth: int = 0) -> str:
    """Any JSON value as HTML: a record's scalar fields in one table and its other fields each
    under its name; records (a list, or a mapping of names to records) as a table; numbers as a
    plot too."""
    if isinstance(value, dict):
        records = [v for v in value.values() if isinstance(v, dict)]
        if value and len(records) == len(value) and depth > 0:
            return _records_table(list(value.keys()), records)
        scalars = [(k, v) for k, v in value.items() if k not in skip and not isinstance(v, (dict, list))]
        rest = [(k, v) for k, v in value.items() if k not in skip and isinstance(v, (dict, list))]
        out = []
        if scalars:
            out.append("<table class=\"fields\"><tbody>" + "".join(
                f"<tr><th>{escape(str(k))}</th><td>{_scalar(v)}</td></tr>" for k, v in scalars) + "</tbody></table>")
        for k, v in rest:
            out.append(f"<div class=\"field\"><h4>{escape(str(k))}</h4>{value_html(v, depth=depth + 1)}</div>")
        return "\n".join(out)
    if isinstance(value, list):
        if not value:
            return "<p class=\"empty\">(none)</p>"
        if all(isinstance(v, dict) for v in value):
            return _records_table([str(i) for i in range(len(value))], value)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            text = ", ".join(_scalar(v) for v in value[:40]) + (" …" if len(value) > 40 else "")
            return (_plot(value) if len(value) >= 3 else "") + f"<p class=\"numbers\">{text}</p>"
        if all(not isinstance(v, (dict, list)) for v in value):
            return "<p>" + ", ".join(_scalar(v) for v in value) + "</p>"
        return "<ol>" + "".join(f"<li>{value_html(v, depth=depth + 1)}</li>" for v in value) + "</ol>"
    return f"<p>{_scalar(value)}</p>"


def _records_table(names: list[str], records: list[dict]) -> str:
    columns: list[str] = []
    for r in records:
        columns += [k for k in r if k not in columns]
    head = "<th></th>" + "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    rows = []
    for name, r in zip(names, records):
        cells = []
        for c in columns:
            v = r.get(c)
            cells.append(f"<td>{value_html(v, depth=2)}</td>" if isinstance(v, (dict, list))
                         else f"<td class=\"num\">{_scalar(v)}</td>")
        rows.append(f"<tr><th>{escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table class=\"records\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _plot(values: list, width: int = 320, height: int = 90) -> str:
    """A line plot of numbers against their index, as inline SVG (no script, no asset)."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return ""
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    pad = 8
    step = (width - 2 * pad) / (len(values) - 1)
    points = " ".join(f"{pad + i * step:.1f},{height - pad - (v - lo) / span * (height - 2 * pad):.1f}"
                      for i, v in enumerate(values) if math.isfinite(v))
    return (f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
            f"<title>{len(values)} values from {_scalar(lo)} to {_scalar(hi)}</title>"
            f'<rect width="{width}" height="{height}" fill="#fafafa" stroke="#ddd"/>'
            f'<polyline points="{points}" fill="none" stroke="#2a5db0" stroke-width="1.5"/>'
            f'<text x="{pad}" y="{pad + 4}" font-size="10">{_scalar(hi)}</text>'
            f'<text x="{pad}" y="{height - 2}" font-size="10">{_scalar(lo)}</text></svg>')


def _scalar(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return escape(f"{v:.4g}" if math.isfinite(v) else str(v))
    return escape(str(v))


def _number(v) -> str:
    return "–" if v is None else f"{v:.3f}"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>catdsl report: {title}</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
{body}
<footer>written by <code>catdsl</code>; every file of this page is in its folder.</footer>
<script>
// an asset that failed to load is reported on the console (tests read it in a headless browser)
window.addEventListener("load", function () {{
  document.querySelectorAll("img").forEach(function (img) {{
    if (!img.complete || img.naturalWidth === 0) console.error("catdsl report: missing asset " + img.src);
  }});
}});
</script>
</body>
</html>
"""

STYLE = """body { font-family: 'DejaVu Sans', 'Segoe UI', Arial, sans-serif; margin: 2em; color: #222; max-width: 80em; }
h1 { font-size: 1.4em; border-bottom: 1px solid #ccc; padding-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; }
h3 { font-size: 1em; margin: 1.2em 0 .4em; }
h4 { font-size: .9em; margin: .8em 0 .3em; color: #555; }
.diagrams { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; border: 1px solid #e4e4e4; padding: .5em; background: white; }
figcaption { font-size: .8em; color: #666; text-align: center; }
table { border-collapse: collapse; margin: .4em 0 1em; font-size: .9em; display: block; overflow-x: auto; max-width: 100%; }
caption { text-align: left; color: #555; padding-bottom: .3em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.witness { max-width: 40em; overflow-wrap: anywhere; }
.verdict.holds { color: #176d2c; font-weight: bold; }
.verdict.fails { color: #b3261e; font-weight: bold; }
.verdict.undecided { color: #8a6d00; font-weight: bold; }
.verdict.error { color: #8e24aa; font-weight: bold; }
table.fields th { background: #f8f8f8; font-weight: normal; color: #555; }
.plot { display: block; margin: .3em 0; }
p.numbers { font-size: .8em; color: #555; }
footer { margin-top: 3em; font-size: .8em; color: #888; }
"""
