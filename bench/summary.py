"""The one machine-readable line each bench script ends with, read by `bench/table.py`.

`emit(script, rows)` prints `BENCH {json}` as the script's last line; a row is
`row(benchmark, measured, ratio, target, passed)`: what was compared, the figures in words, the
ratio (a number, or None), the target in words ("> 1.5×", or "" when the project set none) and
whether it was met (None: nothing to meet).
"""

from __future__ import annotations

import json

PREFIX = "BENCH "


def row(benchmark: str, measured: str, ratio: float | None = None, target: str = "",
        passed: bool | None = None) -> dict:
    return {"benchmark": benchmark, "measured": measured,
            "ratio": None if ratio is None else round(float(ratio), 4), "target": target,
            "passed": None if passed is None else bool(passed)}


def emit(script: str, rows: list[dict]) -> None:
    print(PREFIX + json.dumps({"script": script, "rows": rows}, ensure_ascii=False), flush=True)
