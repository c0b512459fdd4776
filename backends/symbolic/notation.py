"""Print sympy values in `.cat` notation, so witnesses read like the file that caused them.

`[[1, 0], [0, 1]]` for matrices, `x^2` for powers, `e` and `pi` for the constants, `1/2` for
rationals, `(a, b)` for tuples; floats with 12 significant digits.
"""

from __future__ import annotations

from typing import Any

import sympy
from sympy.printing.str import StrPrinter


class _CatPrinter(StrPrinter):
    """sympy's string printer with the operators and constants of the `.cat` language."""

    def _print_Pow(self, expr, rational=False):
        return super()._print_Pow(expr, rational).replace("**", "^")

    def _print_Exp1(self, expr):
        return "e"

    def _print_exp(self, expr):
        return f"exp({self._print(expr.args[0])})"

    def _print_Float(self, expr):
        return _float(float(expr))

    def _print_ImaginaryUnit(self, expr):
        return "i"

    def _print_MatrixBase(self, expr):
        return "[" + ", ".join(
            "[" + ", ".join(self._print(expr[i, j]) for j in range(expr.cols)) + "]"
            for i in range(expr.rows)) + "]"

    _print_ImmutableMatrix = _print_MutableDenseMatrix = _print_MatrixBase
    _print_ImmutableDenseMatrix = _print_Matrix = _print_MatrixBase

    def _print_Identity(self, expr):
        return f"I({self._print(expr.rows)})"

    def _print_ZeroMatrix(self, expr):
        return f"O({self._print(expr.rows)}, {self._print(expr.cols)})"

    def _print_Transpose(self, expr):
        return f"{self._operand(expr.arg)}^T"

    def _print_BlockDiagMatrix(self, expr):
        return " (+) ".join(self._operand(b) for b in expr.args)

    def _print_BlockMatrix(self, expr):
        b = expr.blocks
        return "[" + ", ".join(
            "[" + ", ".join(self._print(b[i, j]) for j in range(b.cols)) + "]"
            for i in range(b.rows)) + "]"

    def _operand(self, expr):
        """A matrix operand, parenthesized unless it is an atom."""
        text = self._print(expr)
        compound = isinstance(expr, (sympy.MatMul, sympy.MatAdd, sympy.BlockDiagMatrix))
        return f"({text})" if compound else text

    def _print_MatMul(self, expr):
        coeff, factors = expr.as_coeff_matrices()
        text = " . ".join(self._operand(f) for f in factors)
        if coeff == 1:
            return text
        return f"{self.parenthesize(coeff, 50)} * {text}"


_PRINTER = _CatPrinter({"order": "none"})


def cat_text(value: Any) -> str:
    """`.cat` text for a sympy expression, matrix, tuple, number or finite-set element."""
    if isinstance(value, tuple):
        if len(value) == 1:
            return f"({cat_text(value[0])},)"
        return "(" + ", ".join(cat_text(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(cat_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (int, str)):
        return str(value)
    if type(value).__module__ == "numpy":  # arrays and numpy scalars
        return cat_text(value.tolist() if getattr(value, "ndim", 0) else value.item())
    return _PRINTER.doprint(value)


def point_text(names: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """`s = 0.5, t = 0` for a point in named coordinates."""
    return ", ".join(f"{n} = {cat_text(v)}" for n, v in zip(names, values))


def _float(x: float) -> str:
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.12g}"
