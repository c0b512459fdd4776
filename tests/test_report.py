"""`catdsl check|run FILE --report DIR`: an offline HTML page of diagrams, obligations, jobs and
analyses; a folder that is not a report is refused; the page loads in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from catdsl import html_report
from catdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Links(HTMLParser):
    """Every src/href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def _assets_are_local(index: Path) -> None:
    parser = _Links()
    parser.feed(index.read_text(encoding="utf-8"))
    assert parser.links
    for link in parser.links:
        assert "://" not in link and not link.startswith("//"), link  # no CDN, no network
        assert (index.parent / link).is_file(), link


def test_check_report_has_diagrams_and_the_obligation_table(tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["check", str(ROOT / "tests/golden/happy-knuth-bendix.cat"), "--report", str(out)]) == 1
    page = (out / "index.html").read_text(encoding="utf-8")
    _assets_are_local(out / "index.html")
    assert "refuted" in page and "F.respects" in page
    assert (out / html_report.MARKER).is_file()
    assert len(list(out.glob("diagram-*.svg"))) == 3


def test_a_folder_that_is_not_a_report_is_refused_not_overwritten(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["check", str(ROOT / "examples/functor.cat"), "--report", str(mine)]) == 2
    assert "not a catdsl report" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    # a previous report is updated in place
    report = tmp_path / "report"
    assert main(["check", str(ROOT / "examples/functor.cat"), "--report", str(report)]) == 0
    assert main(["check", str(ROOT / "examples/square.cat"), "--report", str(report)]) == 0
    page = (report / "index.html").read_text(encoding="utf-8")
    assert "examples/square.cat" in page and "Paste.respects" in page and "examples/functor.cat" not in page
    assert not list(report.glob("diagram-*-Src.svg"))  # the old diagrams are gone


def test_analyses_are_rendered_generically_from_their_json() -> None:
    run = {"file": "x.cat", "jobs": [], "counts": {"ran": 0, "reused": 0},
           "analyses": {"H": {"kind": "homology", "level": 0.5, "betti": [1, 0, 2, 5],
                              "bars": [{"birth": 0.1, "death": 0.4}, {"birth": 0.2, "death": None}],
                              "members": {"S[0]": {"loss": 0.3}, "S[1]": {"loss": 0.2}}}}}
    page = html_report.analyses_html(run)
    assert "homology H" in page and "betti" in page and "<svg" in page  # a kind no code knows
    assert page.count("<tr>") >= 5 and "S[1]" in page


@pytest.fixture(scope="module")
def run_report(tmp_path_factory) -> Path:
    """`run --report` then `check --report` of the sweep example into one folder."""
    work = tmp_path_factory.mktemp("sweep")
    out, store = work / "report", str(work / "store")
    assert main(["run", str(ROOT / "examples/sweep.cat"), "--store", store, "--device", "cpu", "--report", str(out)]) == 0
    assert main(["check", str(ROOT / "examples/sweep.cat"), "--store", store, "--report", str(out)]) == 0
    return out


def test_run_report_has_jobs_analyses_and_obligations(run_report: Path) -> None:
    page = (run_report / "index.html").read_text(encoding="utf-8")
    _assets_are_local(run_report / "index.html")
    data = json.loads((run_report / html_report.MARKER).read_text(encoding="utf-8"))
    (entry,) = data["files"]
    assert entry["run"]["analyses"]["S"]["kind"] == "sweep"
    assert "sweep S" in page and "S[7]" in page and "Run.init" in page
    assert "S.ensemble" in page and "proved" in page  # the check kept the run's sections


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; "
                                             ".ci/run installs it when apt-get can)")
def test_the_report_loads_in_headless_chromium_without_console_errors(run_report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=1280,2000",
                           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                           (run_report / "index.html").resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if re.search(r":CONSOLE[(:]", line)]
    assert console == [], "\n".join(console)
    assert shot.is_file() and shot.read_bytes().startswith(b"\x89PNG")
    print(f"screenshot: {shot}")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_sees_a_missing_asset_as_a_console_error(run_report: Path, tmp_path: Path) -> None:
    """The check above can fail: a report with a diagram removed logs an error."""
    broken = tmp_path / "broken"
    shutil.copytree(run_report, broken)
    next(broken.glob("diagram-*.svg")).unlink()
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           (broken / "index.html").resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert "missing asset" in done.stderr
