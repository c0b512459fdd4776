"""The wheel ships the grammar, and an installed catdsl finds it without the repository.

The wheel is built from a copy of the sources in a temporary folder, so the build leaves no
`build/` or egg-info behind in the working tree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "catdsl", "grammar", "backends")


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".catdsl", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-cache-dir", "--disable-pip-version-check", "-q", "-w", str(work / "dist"), str(src)])
    (found,) = (work / "dist").glob("catdsl-*.whl")
    return found


def test_the_wheel_contains_the_grammar(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "catdsl/grammar/catdsl.lark" in names
    assert "catdsl/grammar/catdsl.tables.json" in names  # the parser's tables, so start-up is fast
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "catdsl = catdsl.cli:entry" in text


def test_the_installed_package_finds_its_grammar_outside_the_repository(wheel: Path,
                                                                         tmp_path: Path) -> None:
    target = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
          "--disable-pip-version-check", "-q", "--target", str(target), str(wheel)])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy2(ROOT / "examples" / "functor.cat", elsewhere / "functor.cat")
    probe = (
        "import json, catdsl, catdsl.syntax.parse as parse, catdsl.syntax.make_tables as tables\n"
        "from catdsl.semantics.elaborate import load\n"
        "m = load('functor.cat')\n"
        "tree = parse.parse('category C { objects A; f : A -> A }')\n"
        "print(json.dumps({'file': catdsl.__file__, 'statements': len(tree.statements),\n"
        "                  'functors': sorted(m.functors), 'tables': tables.is_current()}))\n"
    )
    # -S: no site-packages, so neither the editable install of this checkout nor its .pth
    # files are seen; the venv's site-packages comes after the target only to provide lark.
    path = f"{target}{':'}{sysconfig.get_paths()['purelib']}"
    done = _run([sys.executable, "-S", "-c", probe], cwd=elsewhere,
                env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"})
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(found["file"]).resolve().is_relative_to(target.resolve())
    assert found["statements"] == 1
    assert found["functors"] == ["F", "G"]
    assert found["tables"]  # the installed package finds its shipped tables, current for its grammar
