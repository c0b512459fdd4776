"""Build sympy values from the AST of an expression — never from source text.

A `.cat` file must not be able to run code, so nothing here calls `sympify`, `parse_expr`
or `eval`: every sympy object is constructed node by node from `catdsl.syntax.ast`, and a
node outside the value language is a `BackendError` at that node's span.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import sympy

from catdsl.backend import BackendError
from catdsl.syntax import ast as A

# The functions a value may call, each with the sympy constructor it denotes.
FUNCTIONS: Mapping[str, Any] = MappingProxyType({
    "sqrt": sympy.sqrt, "sin": sympy.sin, "cos": sympy.cos, "exp": sympy.exp,
    "log": sympy.log, "tanh": sympy.tanh,
})
# Constants, shadowed by params and bound variables of the same name.
CONSTANTS: Mapping[str, Any] = MappingProxyType({"pi": sympy.pi, "e": sympy.E})


@dataclass(frozen=True)
class Env:
    """What names mean inside a value: `param`s (real symbols) and bound variables.

    Bound variables (lambda parameters, pattern variables of generic rules) shadow params,
    which shadow the constants `pi` and `e`.
    """

    params: Mapping[str, sympy.Symbol] = field(default_factory=dict)
    bound: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def of_params(*names: str) -> "Env":
        """The environment of `param a, b`: each name a real symbol."""
        return Env(params={n: sympy.Symbol(n, real=True) for n in names})

    def bind(self, **values: Any) -> "Env":
        """This environment with more bound variables (the new ones shadow the old)."""
        return replace(self, bound={**self.bound, **values})

    def known(self) -> list[str]:
        return sorted({*self.bound, *self.params, *CONSTANTS})

    def lookup(self, name: A.Name) -> Any:
        for table in (self.bound, self.params, CONSTANTS):
            if name.id in table:
                return table[name.id]
        raise BackendError(
            "E301", f"unknown name `{name.id}` in a value", name.span,
            hints=(f"the names known here are {', '.join(f'`{k}`' for k in self.known())}",))


# The divisors met while a value is built (see `denominators`); None outside a collection.
_DIVISORS: ContextVar[list | None] = ContextVar("divisors", default=None)


@contextmanager
def denominators() -> Iterator[list]:
    """Collect the divisors with free symbols met while building a value.

    sympy cancels `a / a` to 1 as it builds it, so the fact that the value is undefined at
    a = 0 would be lost; the categories record it here and state it as a condition.
    """
    found: list = []
    token = _DIVISORS.set(found)
    try:
        yield found
    finally:
        _DIVISORS.reset(token)


def note_divisor(y: Any) -> None:
    """Record that a value divides by `y` (only divisors with free symbols matter)."""
    found = _DIVISORS.get()
    if found is not None and isinstance(y, sympy.Expr) and y.free_symbols and y not in found:
        found.append(y)


# ---- bounds on numbers and sizes, checked before anything is allocated -------------------------
#
# A literal has at most MAX_DIGITS digits and a decimal exponent of at most MAX_DIGITS; a power
# of numbers may have at most MAX_DIGITS digits (`9^9^9` would have 370 million); a dimension or
# a finite set's size is at most `--max-size` (the CLI hands it over as `limits["size"]`).
MAX_DIGITS = 1000
MAX_SIZE = 2048  # I(2048) checks in about 3 s in 0.34 GB here; I(4096) took 7.5 s and 1.1 GB

_LIMITS: ContextVar[Mapping[str, int]] = ContextVar("limits", default=MappingProxyType({}))


@contextmanager
def limits(given: Mapping[str, int] | None) -> Iterator[None]:
    """Build values under the command line's limits (`--max-size`)."""
    token = _LIMITS.set(MappingProxyType(dict(given or {})))
    try:
        yield
    finally:
        _LIMITS.reset(token)


def max_size() -> int:
    return int(_LIMITS.get().get("size", MAX_SIZE))


def check_size(n: Any, node: A.Expr, what: str) -> None:
    """E401 when an integer size is over `--max-size`, before anything of that size is made."""
    if getattr(n, "is_Integer", False) and n > max_size():
        raise BackendError("E401", f"{what} {_digits_text(n)} is over the limit of {max_size():,}", node.span,
                           hints=("raise it with --max-size N (each entry of a matrix or set costs memory "
                                  "and time)",))


def out_of_range(node: A.Expr, why: str, hint: str = "values are exact numbers; keep literals and powers "
                                                   "to a few hundred digits") -> BackendError:
    return BackendError("E316", why, node.span, hints=(hint,))


def number(node: A.Number) -> sympy.Rational:
    """A numeric literal, exactly: `0.5` is 1/2 and `1e-3` is 1/1000, never a float."""
    mantissa, _, exponent = node.text.lower().partition("e")
    if len(mantissa) > MAX_DIGITS or (exponent and (len(exponent) > 6 or abs(int(exponent)) > MAX_DIGITS)):
        raise out_of_range(node, f"the number `{node.text[:20]}{'…' if len(node.text) > 20 else ''}` has more "
                                 f"than {MAX_DIGITS} digits")
    q = Fraction(node.text)
    return sympy.Rational(q.numerator, q.denominator)


def _digits_text(n: Any) -> str:
    n = int(n)
    return f"{n:,}" if abs(n) < 10**12 else f"≈ 10^{len(str(abs(n))) - 1}"


def integer(node: A.Expr, env: Env, what: str) -> sympy.Expr:
    """A size or count: a non-negative integer, or an integer expression in size symbols."""
    value = to_sympy(node, env)
    if isinstance(value, sympy.Expr):
        if value.is_Integer and value >= 0:
            return value
        if value.free_symbols and all(s.is_integer for s in value.free_symbols) and not (
                value.is_negative):
            return value
    raise BackendError("E307", f"{what} must be a non-negative integer, not `{_show(value)}`",
                       node.span)


def to_sympy(expr: A.Expr, env: Env) -> Any:
    """The sympy value of a scalar expression, a tuple of them, or a matrix `[[…], …]`."""
    match expr:
        case A.Number():
            return number(expr)
        case A.Name():
            return env.lookup(expr)
        case A.Neg(operand=x):
            return -_scalar(x, env)
        case A.BinOp(op=op, left=l, right=r) if op in _ARITHMETIC:
            return _ARITHMETIC[op](_scalar(l, env), _scalar(r, env), expr)
        case A.Call():
            fn = function(expr, env)
            value = fn(_scalar(expr.positional[0], env))
            if value.has(sympy.zoo, sympy.oo, -sympy.oo, sympy.nan):
                raise out_of_range(expr, f"`{_describe(expr)[1:-1]}` is not a finite number",
                                   "a value must be finite and defined: check the argument's domain")
            return value
        case A.Tuple(items=items):
            return tuple(to_sympy(x, env) for x in items)
        case A.ListExpr():
            return matrix(expr, env)
    raise not_a_value(expr, "a number")


def function(expr: A.Call, env: Env) -> Any:
    """The function a call names, from `FUNCTIONS`; checked before any argument is built."""
    fname = expr.func.id if isinstance(expr.func, A.Name) else None
    if fname not in FUNCTIONS or fname in env.bound or fname in env.params:
        shown = fname or "this expression"
        raise BackendError("E302", f"unknown function `{shown}` in a value", expr.func.span,
                           hints=(f"the functions are {', '.join(FUNCTIONS)}",))
    if len(expr.args) != 1 or expr.keywords:
        raise BackendError("E302", f"`{fname}` takes one argument, not {len(expr.args)}",
                           expr.span, hints=(f"write `{fname}(x)`",))
    return FUNCTIONS[fname]


def matrix(expr: A.ListExpr, env: Env) -> sympy.ImmutableMatrix:
    """`[[1, 2], [3, 4]]`: a list of rows of scalars, all rows of one length."""
    rows = expr.items
    if not rows or not all(isinstance(r, A.ListExpr) for r in rows):
        raise BackendError("E305", "a matrix is a list of rows", expr.span,
                           hints=("write `[[1, 2, 3]]` for a row and `[[1], [2]]` for a column",))
    width = len(rows[0].items)
    for i, row in enumerate(rows):
        if len(row.items) != width:
            raise BackendError(
                "E305", f"row {i + 1} has {len(row.items)} entries but row 1 has {width}",
                row.span)
    return sympy.ImmutableMatrix(len(rows), width,
                                 [_scalar(x, env) for row in rows for x in row.items])


def not_a_value(expr: A.Expr, wanted: str) -> BackendError:
    """The error for an expression outside the value language where `wanted` was expected."""
    return BackendError("E303", f"expected {wanted} here, not {_describe(expr)}", expr.span)


# ---- internals -----------------------------------------------------------------------------


def _scalar(expr: A.Expr, env: Env) -> sympy.Expr:
    value = to_sympy(expr, env)
    if not isinstance(value, sympy.Expr) or isinstance(value, sympy.MatrixExpr):
        raise BackendError("E308", f"expected a number here, not {_kind(value)}", expr.span)
    return value


def _divide(x: sympy.Expr, y: sympy.Expr, node: A.BinOp) -> sympy.Expr:
    if y.is_zero:
        raise BackendError("E310", "division by zero", node.right.span)
    note_divisor(y)
    return x / y


def power(x: sympy.Expr, y: sympy.Expr, node: A.BinOp | None = None) -> sympy.Expr:
    """x^y; a negative exponent divides by x (recorded as a divisor). A power whose exact value
    would be too large to hold (`9^9^9`, `y^1e308`) is E316 before it is computed."""
    if node is not None and getattr(y, "is_number", False) and y.is_real:
        if abs(y) > 10 * MAX_DIGITS and (x.free_symbols or (x.is_number and abs(x) not in (0, 1))):
            raise out_of_range(node, f"the exponent `{_show(y) if abs(y) < 10**12 else _digits_text(y)}` "
                                           f"is too large for an exact value")
        if x.is_Rational and x not in (0, 1, -1):
            digits = abs(float(y)) * max(abs(sympy.log(abs(x), 10).evalf(5)), 1e-3)
            if digits > MAX_DIGITS:
                raise out_of_range(node, f"`{_show(x)}^{_show(y)}` has about {int(digits):,} digits")
    if getattr(y, "is_negative", False) or (y.free_symbols and not y.is_nonnegative):
        note_divisor(x)
    return x**y


_ARITHMETIC = {
    "+": lambda x, y, _: x + y,
    "-": lambda x, y, _: x - y,
    "*": lambda x, y, _: x * y,
    "/": _divide,
    "^": power,
}


def _kind(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"a {shape[0]}×{shape[1]} matrix"
    return type(value).__name__


def _describe(expr: A.Expr) -> str:
    from catdsl.syntax.printer import expr as text

    return f"`{text(expr)}`"


def _show(value: Any) -> str:
    from backends.symbolic.notation import cat_text

    return cat_text(value)
