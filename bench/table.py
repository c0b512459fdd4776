"""`make bench`: run every bench script (quick modes) and print one table of the targets, the
measured ratios and pass or miss; write it to docs/results/bench.md as well.

Each script ends with a machine-readable line (`bench/summary.py`: `BENCH {json}`); a script
without one has its figures read from its printed lines (`FALLBACKS`). A script that fails or
runs past `--timeout` is a row that says so. Ratios are measured side by side in one run on
this machine, whatever else it is running (the load average is printed with the table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from summary import PREFIX, row  # noqa: E402

# script, its arguments (each under two minutes on 2 cores)
SCRIPTS = [
    ("bench_parse.py", ["--quick"]),
    ("bench_symbolic.py", ["--quick"]),
    ("bench_ensemble.py", ["--quick", "--repeat", "3", "--end-to-end-repeat", "2"]),  # phases of 0.1 s: fastest of 3
    ("bench_store.py", ["--quick"]),
    ("bench_transfer.py", ["--quick", "--repeat", "2"]),
    ("bench_homotopy.py", ["--quick"]),
    ("bench_landscape.py", ["--quick"]),
    ("bench_executors.py", ["--quick"]),
]


# script -> a function reading rows from its printed lines, for a script without a BENCH line
# (every script has one now)
FALLBACKS: dict = {}


def run(script: str, args: list[str], timeout: float) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [row(script, f"ran past {timeout:.0f} s", passed=False)], time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    out = done.stdout
    lines = [line for line in out.splitlines() if line.startswith(PREFIX)]
    if lines:
        rows = json.loads(lines[-1][len(PREFIX):])["rows"]
    elif script in FALLBACKS and done.returncode == 0:
        rows = FALLBACKS[script](out)
    else:
        rows = []
    if done.returncode != 0:
        tail = (done.stderr or out).strip().splitlines()[-1:] or ["?"]
        rows.append(row(script, f"exit {done.returncode}: {tail[0][:120]}", passed=False))
    return rows, seconds


def _ratio(value) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _result(passed) -> str:
    return "–" if passed is None else ("pass" if passed else "miss")


def table(results: list[tuple[str, list[dict], float]]) -> str:
    lines = ["| script | benchmark | measured | ratio | target | result |", "|---|---|---|---|---|---|"]
    for script, rows, seconds in results:
        for r in rows:
            lines.append(f"| {script} ({seconds:.0f} s) | {r['benchmark']} | {r['measured']} | {_ratio(r['ratio'])} | "
                         f"{r['target'] or '–'} | {_result(r['passed'])} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="scripts to run, comma separated (bench_parse,bench_executors)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a script may run")
    parser.add_argument("--write", default=str(ROOT / "docs" / "results" / "bench.md"),
                        help="where the table is written ('' for nowhere)")
    args = parser.parse_args()
    only = {f"{name.removesuffix('.py')}.py" for name in args.only.split(",")} if args.only else None
    results = []
    for script, script_args in SCRIPTS:
        if only and script not in only:
            continue
        print(f"running {script} {' '.join(script_args)} …", file=sys.stderr, flush=True)
        rows, seconds = run(script, script_args, args.timeout)
        results.append((script.removesuffix(".py"), rows, seconds))
    text = table(results)
    print(text)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    note = (f"Measured {time.strftime('%Y-%m-%d')} by `make bench` (`python bench/table.py`) on {os.cpu_count()} CPUs, "
            f"load average {load:.1f} at the end (other processes share the machine); quick modes, ratios "
            "side by side in one run. A ratio is the speed-up (> 1: the first named is faster) except where "
            "the benchmark says otherwise; '–': the project set no target, the figure is reported.")
    print(f"\n{note}")
    if args.write:
        Path(args.write).write_text(f"# Benchmarks\n\n{note}\n\n{text}\n")
        print(f"written to {args.write}", file=sys.stderr)
    misses = sum(1 for _, rows, _ in results for r in rows if r["passed"] is False)
    print(f"{misses} target(s) missed", file=sys.stderr)
    return 0  # a miss is a figure to report, not a failure of `make bench`


if __name__ == "__main__":
    sys.exit(main())
