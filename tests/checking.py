"""Shared test helper: run `catdsl check` on a file's text and read its JSON report.

Imported by module name (pyproject's `pythonpath` has `tests`)."""

from __future__ import annotations

import json

from catdsl.cli import main


def check_file(tmp_path, capsys, text: str, *flags: str, name: str = "f.cat"):
    """Exit code, the JSON report (None when the file has static errors, exit 2) and stderr
    (on exit 2: the diagnostics rendered as text by a second run)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main(["check", "--format", "json", *flags, str(path)])
    out, err = capsys.readouterr()
    if code == 2:
        main(["check", *flags, str(path)])
        return code, None, capsys.readouterr().err
    return code, json.loads(out), err


def check_obligations(tmp_path, capsys, text: str, *flags: str, name: str = "f.cat"):
    """As `check_file`, with the report's obligations keyed by name."""
    code, report, err = check_file(tmp_path, capsys, text, *flags, name=name)
    if report is None:
        return code, None, err
    return code, {o["name"]: o for o in report["obligations"]}, err


def command_json(tmp_path, capsys, text: str, *extra: str, command: str = "run", name: str = "t.cat"):
    """Exit code, the JSON document `catdsl COMMAND --format json` printed (None when it printed
    none) and stderr; the run store in `tmp_path/store`."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code = main([command, "--format", "json", "--store", str(tmp_path / "store"), *extra, str(path)])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else None), err
