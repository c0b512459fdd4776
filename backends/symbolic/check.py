"""Options of a property check and the hypothesis searches behind `passed N` and `failed`.

Every search is reproducible for a given `Check.seed` (explicit seed, no example database),
and a counterexample is the one hypothesis shrank to, not the first one it stumbled on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from random import Random
from typing import Any

from catdsl.backend import BackendError
from catdsl.syntax import ast as A

# The options `check NAME with …` may set, with their types.
_OPTIONS = {"samples": int, "tol": float, "seed": int}


@dataclass(frozen=True)
class Check:
    """How hard to look: property-test samples, relative tolerance, and the random seed."""

    samples: int = 200
    tol: float = 1e-9
    seed: int = 0

    @staticmethod
    def from_options(options: Iterable[A.Keyword], base: "Check | None" = None) -> "Check":
        """The options of `check NAME with samples = 500, tol = 1e-9, seed = 1`."""
        from backends.symbolic.build import Env, to_sympy

        values = dict(vars(base or Check()))
        for kw in options:
            if kw.name not in _OPTIONS:
                raise BackendError("E313", f"unknown check option `{kw.name}`", kw.span,
                                   hints=(f"the options are {', '.join(_OPTIONS)}",))
            value = to_sympy(kw.value, Env())
            kind = _OPTIONS[kw.name]
            ok = getattr(value, "is_real", False) and (kind is float or value.is_Integer)
            if not ok or value < 0 or (kw.name == "samples" and value < 1):
                raise BackendError("E313", f"`{kw.name}` must be a non-negative "
                                   f"{'integer' if kind is int else 'number'}", kw.value.span)
            values[kw.name] = kind(value)
        return Check(**values)


def close(x: float, y: float, tol: float) -> bool:
    """`x ≈ y` within relative tolerance `tol` (absolute near zero); nan is never close."""
    return abs(x - y) <= tol * max(1.0, abs(x), abs(y))


@dataclass(frozen=True)
class Search:
    """The outcome of a property search: the shrunk counterexample, if any, and the tries."""

    counterexample: Any | None
    tried: int

    @property
    def found(self) -> bool:
        return self.counterexample is not None


def search(strategy: Any, fails: Callable[[Any], bool], how: Check) -> Search:
    """Draw up to `how.samples` values; return the shrunk one on which `fails` holds."""
    from hypothesis import find
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    tried = 0
    first: list[Any] = []

    def condition(value: Any) -> bool:
        nonlocal tried
        if not first:
            tried += 1
        bad = bool(fails(value))
        if bad and not first:
            first.append(value)
        return bad

    try:
        return Search(find(strategy, condition, settings=_settings(how), random=Random(how.seed)),
                      tried)
    except (NoSuchExample, Unsatisfiable):
        return Search(None, tried)


def maximize(strategy: Any, value: Callable[[Any], float], how: Check) -> tuple[Any, float, int]:
    """Search for a large `value` (guided by `hypothesis.target`): (argmax, max, tries).

    Non-finite values (outside the function's domain) are rejected, not maximized.
    """
    from hypothesis import find, reject, target
    from hypothesis.errors import NoSuchExample, Unsatisfiable

    best: list[Any] = [None, -math.inf]
    tried = 0

    def condition(point: Any) -> bool:
        nonlocal tried
        tried += 1
        v = float(value(point))
        if not math.isfinite(v):
            reject()
        target(v)
        if v > best[1]:
            best[:] = [point, v]
        return False

    try:
        find(strategy, condition, settings=_settings(how), random=Random(how.seed))
    except (NoSuchExample, Unsatisfiable):
        pass
    return best[0], best[1], tried


def _settings(how: Check) -> Any:
    from hypothesis import HealthCheck, settings

    # No time-based limit may decide a verdict: no deadline, and the health checks (some of
    # which measure time, e.g. too_slow) are off; the budget is `samples`, a count.
    return settings(max_examples=how.samples, database=None, deadline=None, derandomize=False,
                    suppress_health_check=list(HealthCheck))
