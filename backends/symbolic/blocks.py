"""Equality of block-matrix expressions of symbolic size, decided blockwise.

Both sides are flattened into a grid of atomic blocks (`MatrixSymbol`, `Identity`,
`ZeroMatrix`, explicit matrices and their products), refined to a common partition of rows
and columns (an `Identity(2*n)` splits into `I(n) (+) I(n)`), and compared block by block.
`proves_equal` is sound, not complete: False means "not shown equal", and the caller falls
back to property tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy import (BlockDiagMatrix, BlockMatrix, Identity, MatAdd, MatMul, MatrixBase,
                   Transpose, ZeroMatrix)


class Undecided(Exception):
    """The grid algebra cannot split a block along the partition it needs."""


@dataclass(frozen=True)
class Grid:
    """A matrix as blocks: `blocks[i][j]` has `rows[i]` rows and `cols[j]` columns."""

    rows: tuple[sympy.Expr, ...]
    cols: tuple[sympy.Expr, ...]
    blocks: tuple[tuple[sympy.Basic, ...], ...]


def proves_equal(lhs: sympy.Basic, rhs: sympy.Basic) -> bool:
    """True when lhs = rhs is shown for every value of the size symbols."""
    try:
        a, b = grid(lhs), grid(rhs)
        rows, cols = common(a.rows, b.rows), common(a.cols, b.cols)
        a, b = refine(a, rows, cols), refine(b, rows, cols)
        pairs = [(x, y) for ra, rb in zip(a.blocks, b.blocks) for x, y in zip(ra, rb)]
        if any(x is None or y is None for x, y in pairs):
            raise Undecided("an empty block the partitions do not cover")
        return all(is_zero(MatAdd(x, -y)) for x, y in pairs)
    except (Undecided, TypeError, AttributeError):
        # zero-size blocks (R^0, O(0, n)) fall between the cuts of the grid algebra: not shown
        # equal here, so the caller decides instances instead
        return False


def is_zero(block: sympy.Basic) -> bool:
    """A block that is zero after evaluation (explicit entries are expanded)."""
    block = _doit(block)
    if isinstance(block, ZeroMatrix) or block == 0:
        return True
    shape = getattr(block, "shape", None)
    if shape and not isinstance(block, MatrixBase) and all(x.is_Integer for x in shape):
        block = block.as_explicit()
    if isinstance(block, MatrixBase):
        return all(sympy.expand(x) == 0 for x in block)
    return False


def grid(e: sympy.Basic) -> Grid:
    """The finest block grid visible in the structure of `e`."""
    if isinstance(e, BlockDiagMatrix):
        parts = e.args
        return _flatten([[p if i == j else ZeroMatrix(p.rows, q.cols)
                          for j, q in enumerate(parts)] for i, p in enumerate(parts)])
    if isinstance(e, BlockMatrix):
        b = e.blocks
        return _flatten([[b[i, j] for j in range(b.cols)] for i in range(b.rows)])
    if isinstance(e, MatMul) and not isinstance(e, MatrixBase):
        coeff, factors = e.as_coeff_matrices()
        g = grid(factors[0])
        for f in factors[1:]:
            g = multiply(g, grid(f))
        return scale(coeff, g) if coeff != 1 else g
    if isinstance(e, MatAdd):
        g = grid(e.args[0])
        for term in e.args[1:]:
            g = add(g, grid(term))
        return g
    if isinstance(e, Transpose):
        g = grid(e.arg)
        return Grid(g.cols, g.rows, tuple(zip(*(tuple(_doit(Transpose(x)) for x in row)
                                                  for row in g.blocks))))
    return Grid((e.rows,), (e.cols,), ((e,),))


def multiply(a: Grid, b: Grid) -> Grid:
    inner = common(a.cols, b.rows)
    a, b = refine(a, a.rows, inner), refine(b, inner, b.cols)
    blocks = tuple(tuple(_sum([MatMul(a.blocks[i][k], b.blocks[k][j])
                               for k in range(len(inner))])
                         for j in range(len(b.cols))) for i in range(len(a.rows)))
    return Grid(a.rows, b.cols, blocks)


def add(a: Grid, b: Grid) -> Grid:
    rows, cols = common(a.rows, b.rows), common(a.cols, b.cols)
    a, b = refine(a, rows, cols), refine(b, rows, cols)
    return Grid(rows, cols, tuple(tuple(_doit(MatAdd(x, y)) for x, y in zip(ra, rb))
                                  for ra, rb in zip(a.blocks, b.blocks)))


def scale(c: sympy.Expr, g: Grid) -> Grid:
    return Grid(g.rows, g.cols, tuple(tuple(_doit(MatMul(c, x)) for x in row)
                                      for row in g.blocks))


def common(p: tuple[sympy.Expr, ...], q: tuple[sympy.Expr, ...]) -> tuple[sympy.Expr, ...]:
    """The coarsest partition refining both `p` and `q` (sizes are positive integers)."""
    cuts_p, cuts_q = _cuts(p), _cuts(q)
    if not _same(cuts_p[-1], cuts_q[-1]):
        raise Undecided(f"sizes {cuts_p[-1]} and {cuts_q[-1]} differ")
    merged: list[sympy.Expr] = []
    i = j = 0
    while i < len(cuts_p) and j < len(cuts_q):
        x, y = cuts_p[i], cuts_q[j]
        d = sympy.expand(x - y)
        if d == 0:
            merged.append(x)
            i, j = i + 1, j + 1
        elif d.is_positive:
            merged.append(y)
            j += 1
        elif d.is_negative:
            merged.append(x)
            i += 1
        else:
            raise Undecided(f"cannot order block boundaries {x} and {y}")
    sizes, last = [], sympy.Integer(0)
    for cut in merged:
        sizes.append(sympy.expand(cut - last))
        last = cut
    return tuple(sizes)


def refine(g: Grid, rows: tuple[sympy.Expr, ...], cols: tuple[sympy.Expr, ...]) -> Grid:
    """`g` cut along the finer partitions `rows` and `cols`."""
    row_groups, col_groups = _groups(g.rows, rows), _groups(g.cols, cols)
    out = [[None] * len(cols) for _ in rows]
    for i, (r0, rparts) in enumerate(row_groups):
        for j, (c0, cparts) in enumerate(col_groups):
            pieces = split(g.blocks[i][j], rparts, cparts)
            for a, row in enumerate(pieces):
                for b, piece in enumerate(row):
                    out[r0 + a][c0 + b] = piece
    return Grid(tuple(rows), tuple(cols), tuple(tuple(r) for r in out))


def split(block: sympy.Basic, rparts: tuple[sympy.Expr, ...], cparts: tuple[sympy.Expr, ...]
          ) -> list[list[sympy.Basic]]:
    """Cut one atomic block into `len(rparts) × len(cparts)` pieces, where that is known."""
    if len(rparts) == 1 and len(cparts) == 1:
        return [[block]]
    if isinstance(block, ZeroMatrix) or block == 0:
        return [[ZeroMatrix(r, c) for c in cparts] for r in rparts]
    if isinstance(block, Identity):
        if len(rparts) == len(cparts) and all(_same(r, c) for r, c in zip(rparts, cparts)):
            return [[Identity(r) if i == j else ZeroMatrix(r, c) for j, c in enumerate(cparts)]
                    for i, r in enumerate(rparts)]
        raise Undecided("identity cut along different row and column partitions")
    if isinstance(block, MatrixBase) and all(x.is_Integer for x in (*rparts, *cparts)):
        rs, cs = _cuts((0, *rparts)), _cuts((0, *cparts))
        return [[sympy.ImmutableMatrix(block[int(rs[i]):int(rs[i + 1]),
                                             int(cs[j]):int(cs[j + 1])])
                 for j in range(len(cparts))] for i in range(len(rparts))]
    if isinstance(block, MatMul):
        coeff, factors = block.as_coeff_matrices()
        if coeff != 1 and len(factors) == 1:
            return [[_doit(MatMul(coeff, x)) for x in row]
                    for row in split(factors[0], rparts, cparts)]
    raise Undecided(f"cannot cut {block} into blocks")


# ---- internals -----------------------------------------------------------------------------


def _flatten(rows: list[list[sympy.Basic]]) -> Grid:
    """A grid of grids as one grid: refine each block row and block column to agree."""
    inner = [[grid(x) for x in row] for row in rows]
    row_parts = []
    for row in inner:
        part = row[0].rows
        for g in row[1:]:
            part = common(part, g.rows)
        row_parts.append(part)
    col_parts = []
    for j in range(len(inner[0])):
        part = inner[0][j].cols
        for row in inner[1:]:
            part = common(part, row[j].cols)
        col_parts.append(part)
    out: list[list[sympy.Basic]] = []
    for i, row in enumerate(inner):
        refined = [refine(g, row_parts[i], col_parts[j]) for j, g in enumerate(row)]
        for a in range(len(row_parts[i])):
            out.append([x for g in refined for x in g.blocks[a]])
    return Grid(tuple(x for p in row_parts for x in p), tuple(x for p in col_parts for x in p),
                tuple(tuple(r) for r in out))


def _groups(coarse, fine):
    """For each coarse part: the index of its first fine part and its fine parts."""
    out, k = [], 0
    for size in coarse:
        start, total = k, sympy.Integer(0)
        while not _same(total, size):
            if k >= len(fine):
                raise Undecided("partition does not refine")
            total += fine[k]
            k += 1
        out.append((start, tuple(fine[start:k])))
    return out


def _cuts(parts) -> list[sympy.Expr]:
    out, total = [], sympy.Integer(0)
    for p in parts:
        total = sympy.expand(total + p)
        out.append(total)
    return out


def _same(x, y) -> bool:
    return sympy.expand(x - y) == 0


def _sum(terms):
    return _doit(MatAdd(*terms)) if len(terms) > 1 else _doit(terms[0])


def _doit(e):
    return e.doit() if hasattr(e, "doit") else e
