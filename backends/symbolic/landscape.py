"""Symbolic landscapes: `persistence P of Paths(loss = (x, y) |-> …) by sublevel(box = [[x0, x1],
[y0, y1]], grid = N)` — the loss of a `Paths` value (or of the target of a functor into Paths),
built from the AST as a sympy expression (`build.to_sympy`, never text), sampled on a regular
grid of N points per variable by `numeric.compile_numeric` (a tree walk: no `exec`), for the
sublevel persistence of `backends.persistence.sublevel`. 1, 2 and 3 variables.

Every problem is a `BackendError` at its place: a box that is not two increasing numbers per
variable or a grid that is not an integer ≥ 2 (E311), a grid over `--max-grid` points (E401,
before anything is allocated), a loss with free names (E314) or not real somewhere on the box
(E311, with the point). Imports no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy

from backends.symbolic.build import Env, to_sympy
from backends.symbolic.notation import cat_text
from backends.symbolic.smooth import coordinates, lambda_body
from catdsl.backend import BackendError
from catdsl.span import Span
from catdsl.syntax import ast as A

# The points of a landscape grid unless `--max-grid` says otherwise.
MAX_GRID = 1_000_000
OPTIONS = ("box", "grid", "noise", "p", "essential")
# points per variable when `grid` is not given
DEFAULT_GRID = {1: 1001, 2: 101, 3: 41}
USAGE = "write `sublevel(box = [[-2, 2], [-1, 1]], grid = 101)`: one [low, high] per variable"


@dataclass(frozen=True)
class Sublevel:
    """A loss on a box, to be sampled on `grid` points per variable."""

    loss: sympy.Expr
    variables: tuple[sympy.Symbol, ...]
    names: tuple[str, ...]  # the lambda's parameter names, for reports
    bounds: tuple[tuple[float, float], ...]
    grid: int
    span: Span  # the loss, where a value that is not real is reported

    def axes(self) -> tuple[np.ndarray, ...]:
        return tuple(np.linspace(lo, hi, self.grid) for lo, hi in self.bounds)


def loss_of(module, subject) -> tuple[A.Lambda, Span]:
    """The `loss` lambda of the subject: a `Paths(loss = …)` value or a functor into Paths."""
    if subject.kind == "category":
        ref, where = subject.category, f"`{subject.name}(…)`"
    elif subject.kind == "functor":
        ref, where = module.functors[subject.name].target, f"the target of `{subject.name}`"
    else:
        ref, where = None, f"`{subject.name}.{subject.part}`"
    if ref is None or isinstance(ref, str) or ref.name != "Paths":
        raise BackendError("E222", f"`sublevel` needs a loss: {where} is not a `Paths(loss = …)` value",
                           subject.span, hints=("write `persistence P of Paths(loss = (x, y) |-> …) by "
                                                "sublevel(…)`, or of a functor into such a Paths",))
    node = ref.kwarg("loss")
    if node is None:
        raise BackendError("E311", f"{where} has no `loss`", ref.span or subject.span,
                           hints=("write `Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2)`",))
    if not isinstance(node, A.Lambda):
        raise BackendError("E311", "`loss` must be a lambda `(x, y) |-> …`", node.span)
    return node, node.span


def read(module, analysis, max_points: int = MAX_GRID) -> Sublevel:
    """The loss and grid of a `sublevel` analysis, checked; raises BackendError."""
    node, span = loss_of(module, analysis.subject)
    arity = len(node.params)
    if not 1 <= arity <= 3:
        raise BackendError("E311", f"`sublevel` samples losses of 1, 2 or 3 variables, not {arity}", span)
    env = Env.of_params(*module.params)
    variables = coordinates(arity)
    (loss,) = lambda_body(node, arity, 1, env, "the loss")
    free = loss.free_symbols - set(variables)
    if free:
        names = ", ".join(sorted(f"`{s}`" for s in map(str, free)))
        raise BackendError("E314", f"the loss must be numeric to be sampled, but it uses {names}", span,
                           hints=("params have no value to evaluate the loss at; write numbers",))
    for key, value in analysis.arguments:
        if key not in OPTIONS:
            raise BackendError("E311", f"`sublevel` has no option `{key}`", value.span,
                               hints=(f"its options are {', '.join(OPTIONS)}",))
    box = analysis.argument("box")
    if box is None:
        raise BackendError("E311", "`sublevel` needs a `box`", analysis.statement.method.span, hints=(USAGE,))
    bounds = _box(box, arity)
    grid_node = analysis.argument("grid")
    grid = DEFAULT_GRID[arity] if grid_node is None else _count(grid_node)
    points = grid ** arity
    if points > max_points:
        raise BackendError("E401", f"a grid of {grid}^{arity} = {points:,} points is over the limit of "
                           f"{max_points:,}", grid_node.span if grid_node is not None else analysis.span,
                           hints=("raise it with `--max-grid`, or use a coarser grid",))
    return Sublevel(loss, variables, tuple(p.id for p in node.params), bounds, grid, span)


def sample(s: Sublevel) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The grid axes and the loss at every grid point (shape grid^n); raises BackendError where
    the loss is not a finite real number."""
    from backends.symbolic.numeric import NotNumeric, compile_numeric

    axes = s.axes()
    mesh = np.meshgrid(*axes, indexing="ij")
    try:
        (values,) = compile_numeric([s.loss], s.variables)(*mesh)
    except NotNumeric as e:
        raise BackendError("E314", f"the loss cannot be evaluated numerically: {e}", s.span) from None
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        at = ", ".join(f"{n} = {cat_text(float(a[i]))}" for n, a, i in zip(s.names, axes, index))
        raise BackendError("E311", f"the loss is not real on the box: at {at} it is {values[index]}", s.span,
                           hints=("choose a box where the loss is defined",))
    return axes, np.array(values, dtype=float)


def option_number(analysis, key: str, default: float | None, lowest: float = 0.0) -> float | None:
    """A non-negative number option (`noise`, `p`); `inf` is allowed for `p`."""
    node = analysis.argument(key)
    if node is None:
        return default
    if isinstance(node, A.Name) and node.id == "inf":
        return math.inf
    value = _number(node, f"`{key}`")
    if value < lowest:
        raise BackendError("E311", f"`{key}` must be at least {cat_text(lowest)}, not {cat_text(value)}", node.span)
    return value


def _box(node: A.Expr, arity: int) -> tuple[tuple[float, float], ...]:
    rows = node.items if isinstance(node, A.ListExpr) else None
    if arity == 1 and rows is not None and len(rows) == 2 and not any(isinstance(r, A.ListExpr) for r in rows):
        rows = (node,)  # `box = [-2, 2]` for a loss of one variable
    if rows is None or len(rows) != arity or not all(isinstance(r, A.ListExpr) and len(r.items) == 2
                                                     for r in rows):
        raise BackendError("E311", f"the box must be two numbers per variable ({arity} "
                           f"variable{'s' * (arity != 1)})", node.span, hints=(USAGE,))
    bounds = []
    for row in rows:
        lo, hi = (_number(x, "a bound of the box") for x in row.items)
        if not lo < hi:
            raise BackendError("E311", f"the box needs low < high, not [{cat_text(lo)}, {cat_text(hi)}]",
                               row.span, hints=(USAGE,))
        bounds.append((lo, hi))
    return tuple(bounds)


def _number(node: A.Expr, what: str) -> float:
    try:
        value = to_sympy(node, Env())
    except BackendError:
        value = None
    if not (isinstance(value, sympy.Expr) and value.is_number and value.is_real and value.is_finite):
        raise BackendError("E311", f"{what} must be a real number", node.span)
    return float(value)


def _count(node: A.Expr) -> int:
    value = _number(node, "`grid`")
    if value != int(value) or value < 2:
        raise BackendError("E311", f"`grid` must be an integer of at least 2 (points per variable), "
                           f"not {cat_text(value)}", node.span)
    return int(value)


__all__ = ["Sublevel", "read", "sample", "loss_of", "option_number", "MAX_GRID"]
