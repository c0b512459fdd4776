"""Evaluate sympy expressions numerically, vectorized over numpy arrays, without `exec`.

`lambdify` generates and executes source code; a value built from a `.cat` file must not
reach an `exec`, so this walks the expression tree once and returns nested closures. The
closures accept scalars or equally shaped arrays (a whole grid in one call).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import reduce

import numpy as np
import sympy

Fn = Callable[[dict], np.ndarray]

_UNARY = {
    sympy.sin: np.sin, sympy.cos: np.cos, sympy.tan: np.tan, sympy.exp: np.exp,
    sympy.log: np.log, sympy.tanh: np.tanh, sympy.sinh: np.sinh, sympy.cosh: np.cosh,
    sympy.Abs: np.abs, sympy.atan: np.arctan, sympy.asin: np.arcsin, sympy.acos: np.arccos,
    sympy.sign: np.sign,
}
_RELATIONS = {
    sympy.StrictLessThan: np.less, sympy.LessThan: np.less_equal,
    sympy.StrictGreaterThan: np.greater, sympy.GreaterThan: np.greater_equal,
    sympy.Equality: np.equal, sympy.Unequality: np.not_equal,
}


class NotNumeric(Exception):
    """The expression has a node this evaluator does not know (or a free symbol)."""


def compile_numeric(exprs: Sequence[sympy.Expr], variables: Sequence[sympy.Symbol]
                    ) -> Callable[..., tuple[np.ndarray, ...]]:
    """`f(*coords) -> values` for `exprs` in `variables`; coords are floats or arrays."""
    fns = [_compile(e if isinstance(e, sympy.Basic) else sympy.Float(e), variables)
           for e in exprs]
    names = list(variables)

    def evaluate(*coords):
        arrays = [np.asarray(c, dtype=float) for c in coords]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        env = dict(zip(names, arrays))
        with np.errstate(all="ignore"):
            return tuple(np.broadcast_to(np.asarray(fn(env), dtype=float), shape)
                         for fn in fns)

    return evaluate


def _compile(e: sympy.Basic, variables: Sequence[sympy.Symbol]) -> Fn:
    if e.is_Symbol:
        if e not in variables:
            raise NotNumeric(f"free symbol `{e}`")
        return lambda env: env[e]
    if e.is_Number or e.is_NumberSymbol:
        c = float(e)
        return lambda env: c
    if e is sympy.true or e is sympy.false:
        c = bool(e)
        return lambda env: c
    if isinstance(e, sympy.Piecewise):
        pieces = [_compile(p.expr, variables) for p in e.args]
        conds = [_compile(p.cond, variables) for p in e.args]

        def piecewise(env):
            # np.select takes the first condition that holds, as Piecewise does.
            values = [np.asarray(f(env), dtype=float) for f in pieces]
            tests = [np.asarray(c(env), dtype=bool) for c in conds]
            shape = np.broadcast_shapes(*(v.shape for v in values), *(t.shape for t in tests))
            return np.select([np.broadcast_to(t, shape) for t in tests],
                             [np.broadcast_to(v, shape) for v in values], default=np.nan)

        return piecewise
    args = [_compile(a, variables) for a in e.args]
    if e.is_Add:
        return lambda env: reduce(np.add, (f(env) for f in args))
    if e.is_Mul:
        return lambda env: reduce(np.multiply, (f(env) for f in args))
    if e.is_Pow:
        base, power = args
        if e.exp == sympy.Rational(1, 2):
            return lambda env: np.sqrt(base(env))
        if e.exp.is_Integer:
            k = int(e.exp)
            return lambda env: np.power(np.asarray(base(env), dtype=float), k)
        return lambda env: np.power(base(env), power(env))
    if e.func in _UNARY:
        (arg,) = args
        op = _UNARY[e.func]
        return lambda env: op(arg(env))
    if e.func in _RELATIONS:
        op = _RELATIONS[e.func]
        lhs, rhs = args
        return lambda env: op(lhs(env), rhs(env))
    if isinstance(e, sympy.And):
        return lambda env: reduce(np.logical_and, (f(env) for f in args))
    if isinstance(e, sympy.Or):
        return lambda env: reduce(np.logical_or, (f(env) for f in args))
    if isinstance(e, sympy.Not):
        return lambda env: np.logical_not(args[0](env))
    if isinstance(e, (sympy.Min, sympy.Max)):
        op = np.minimum if isinstance(e, sympy.Min) else np.maximum
        return lambda env: reduce(op, (f(env) for f in args))
    raise NotNumeric(f"cannot evaluate `{e.func.__name__}` numerically")
