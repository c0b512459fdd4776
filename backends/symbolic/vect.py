"""Vect: the spaces R^n and real matrices between them, decided exactly with sympy.

A map `f : R^n -> R^m` is an m×n matrix (rows = dimension of the codomain, columns =
dimension of the domain), so `g . f` is the matrix product G F. Entries may contain `param`s;
a law between such matrices holds for all values, for the values solving a condition
(`conditional`), or for none (`refuted`). Generic functors and transformations given by rules
(`R^n |-> R^(2*n)`, `m |-> m (+) m`) are decided with matrices of symbolic size, and by
property tests over drawn dimensions and integer matrices where the symbolic route is silent.

Axioms, as running examples:

>>> V, R2 = Vect(), Space(2)
>>> f = Linear(R2, R2, sympy.ImmutableMatrix([[1, 2], [3, 4]]))
>>> V.equal(V.compose(f, V.identity(R2)), f).status               # unit law
'proved'
>>> V.equal(V.compose(f, V.compose(f, f)), V.compose(V.compose(f, f), f)).status
'proved'
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy
from sympy import (BlockDiagMatrix, BlockMatrix, Identity, ImmutableMatrix, MatMul, MatrixBase,
                   MatrixExpr, ZeroMatrix)

from backends.symbolic.build import (Env, check_size, denominators, function, not_a_value,
                                     note_divisor, number, power)
from backends.symbolic.check import Check, close, search
from backends.symbolic.decide import is_zero, non_zero_conditions
from backends.symbolic.notation import cat_text
from backends.symbolic.solve import real_solutions
from catdsl.backend import BackendError, SemanticRef
from catdsl.laws.verdict import Verdict
from catdsl.span import NOWHERE, Span
from catdsl.syntax import ast as A

# Drawn entries and dimensions of the property route: small, so shrunk witnesses are readable.
ENTRY_RANGE = (-3, 3)
DIM_RANGE = (1, 4)


@dataclass(frozen=True)
class Space:
    """The object R^dim (dim an integer, or an integer expression in size symbols)."""

    dim: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", sympy.Integer(self.dim) if isinstance(self.dim, int)
                           else self.dim)

    def __str__(self) -> str:
        d = cat_text(self.dim)
        return f"R^{d}" if self.dim.is_Atom else f"R^({d})"


@dataclass(frozen=True)
class Linear:
    """A map dom -> cod as its matrix (cod.dim rows, dom.dim columns)."""

    dom: Space
    cod: Space
    matrix: Any
    span: Span = field(default=NOWHERE, compare=False, repr=False)
    # Expressions in the params the value divides by: it is defined only where they are ≠ 0.
    divisors: tuple = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        return cat_text(self.matrix)


class Vect:
    """The semantic category `Vect` (docs/language.md §7, docs/checking.md)."""

    name = "Vect"

    def __init__(self, ref: SemanticRef | None = None) -> None:
        if ref is not None and (ref.args or ref.kwargs):
            raise BackendError("E311", "`Vect` takes no arguments", ref.span)

    # ---- the category --------------------------------------------------------------------

    def object(self, value: A.Expr, env: Env) -> Space:
        """`R^n` (and `R` for R^1); n a non-negative integer, or a size symbol in rules."""
        match value:
            case A.Name(id="R") if not _shadowed(env, "R"):
                return Space(sympy.Integer(1))
            case A.BinOp(op="^", left=A.Name(id="R"), right=n) if not _shadowed(env, "R"):
                dim = evaluate(n, env)
                if _is_dimension(dim):
                    check_size(dim, n, "the dimension")
                    return Space(dim)
                raise BackendError("E307", f"the dimension of `R^n` must be a non-negative "
                                   f"integer, not `{cat_text(dim)}`", n.span)
        raise BackendError("E306", "expected an object of Vect, `R^n`", value.span,
                           hints=("objects of Vect are written `R^2`, `R^n`, `R^(2*n)`",))

    def morphism(self, value: A.Expr, dom: Space, cod: Space, env: Env,
                 name: str | None = None) -> Linear:
        """A matrix value for a map dom -> cod; its shape must be dim cod × dim dom."""
        with denominators() as divisors:
            m = evaluate(value, env)
        if not _is_matrix(m):
            raise BackendError("E303", f"expected a matrix, not the number `{cat_text(m)}`",
                               value.span, hints=(f"a 1×1 matrix is written `[[{cat_text(m)}]]`",))
        rows, cols = m.shape
        if not (same(rows, cod.dim) and same(cols, dom.dim)):
            sig = f"{name} : {dom} -> {cod}" if name else f"a map {dom} -> {cod}"
            hints = ["rows = dimension of the codomain, columns = dimension of the domain"]
            if same(rows, dom.dim) and same(cols, cod.dim):
                hints.append("did you mean its transpose, `(…)^T`?")
            raise BackendError(
                "E304", f"this matrix is {size_text(m)} but {sig} needs "
                f"{cat_text(cod.dim)}×{cat_text(dom.dim)}", value.span, hints=tuple(hints))
        return Linear(dom, cod, m, value.span, tuple(divisors))

    def identity(self, obj: Space) -> Linear:
        return Linear(obj, obj, identity_matrix(obj.dim))

    def compose(self, g: Linear, f: Linear) -> Linear:
        """g . f: f first, as the product G F."""
        if not same(f.cod.dim, g.dom.dim):
            raise BackendError("E308", f"`g . f` does not compose: f lands in {f.cod} but g "
                               f"starts at {g.dom}", g.span if g.span is not NOWHERE else f.span)
        return Linear(f.dom, g.cod, _matmul(g.matrix, f.matrix), f.span,
                      _union(f.divisors, g.divisors))

    def equal(self, a: Linear, b: Linear, how: Check | None = None) -> Verdict:
        """lhs = rhs exactly: proved, conditional on the params, or refuted with a witness."""
        return decide(a.matrix, b.matrix, how or Check(), _union(a.divisors, b.divisors))

    def samples(self, dom: Space, cod: Space) -> Any:
        """A hypothesis strategy of maps dom -> cod with small integer entries."""
        return integer_matrices(int(cod.dim), int(dom.dim)).map(lambda m: Linear(dom, cod, m))

    def render(self, x: Space | Linear) -> str:
        return str(x)

    # ---- limits --------------------------------------------------------------------------

    def pullback(self, f: Linear, g: Linear) -> tuple[Space, Linear, Linear]:
        """P = ker [F | -G] ⊆ A ⊕ B with its projections p : P -> A, q : P -> B."""
        if not same(f.cod.dim, g.cod.dim):
            raise BackendError("E308", f"a pullback needs a common codomain: {f.cod} ≠ {g.cod}",
                               g.span)
        a, b = int(f.dom.dim), int(g.dom.dim)
        basis = ImmutableMatrix.hstack(f.matrix, -g.matrix).nullspace()
        k = len(basis)
        kernel = ImmutableMatrix.hstack(*basis) if basis else sympy.zeros(a + b, 0)
        apex = Space(k)
        p = Linear(apex, f.dom, ImmutableMatrix(kernel[:a, :]))
        q = Linear(apex, g.dom, ImmutableMatrix(kernel[a:, :]))
        return apex, p, q

    # ---- finite limits: R^0, equalizers (products are pullbacks over R^0) -----------------

    def terminal(self) -> Space:
        return Space(sympy.Integer(0))

    def to_terminal(self, x: Space) -> Linear:
        return Linear(x, self.terminal(), sympy.zeros(0, int(x.dim)))

    def is_terminal(self, x: Space) -> Verdict:
        """Terminal iff R^0: R^1 has one map into R^n only when n = 0."""
        if same(x.dim, 0):
            return Verdict("proved", "sympy", witness="R^0")
        return Verdict("refuted", "sympy", witness=f"R^1 has more than one map into {x}: 0 and any non-zero vector")

    def equalizer_universal(self, apex: Space, e: Linear, f: Linear, g: Linear,
                            how: Check | None = None) -> Verdict:
        """(apex, e) equalizes f, g iff f e = g e and e maps apex isomorphically onto ker(f - g):
        e injective (rank = dim apex) and rank e = dim ker(f - g)."""
        square = self.equal(self.compose(f, e), self.compose(g, e), how)
        if square.status != "proved":
            return Verdict(square.status, square.via, f"f . e ≠ g . e: {square.witness}")
        E, D = ImmutableMatrix(e.matrix), ImmutableMatrix(f.matrix - g.matrix)
        if not all(x.is_Rational for x in (*E, *D)):
            return Verdict("unknown", "sympy", "entries with params or irrational numbers: the rank "
                           "conditions are decided for rational matrices only here")
        rank, kernel = E.rank(), len(D.nullspace())
        if rank < int(apex.dim):
            v = E.nullspace()[0]
            return Verdict("refuted", "sympy", f"e is not injective: e {cat_text(v)} = 0, so the zero cone has two "
                           "mediating maps")
        if rank < kernel:
            return Verdict("refuted", "sympy", f"ker(f - g) has dimension {kernel} but e's image only {rank}: a cone "
                           "onto the rest of the kernel does not factor")
        return Verdict("proved", "sympy")

    def mediate(self, apex: Space, p: Linear, q: Linear, cone_p: Linear, cone_q: Linear) -> Linear:
        """The X with p X = cone_p and q X = cone_q, exactly: [p; q] X = [cone_p; cone_q], solved
        with the pseudo-inverse of [p; q] (injective for a pullback) and checked; E308 when the
        cone does not factor."""
        S = ImmutableMatrix.vstack(p.matrix, q.matrix)
        C = ImmutableMatrix.vstack(cone_p.matrix, cone_q.matrix)
        if S.cols == 0:
            return Linear(cone_p.dom, apex, sympy.zeros(0, C.cols))
        X = ((S.T * S).inv() * S.T * C).applyfunc(sympy.simplify) if S.rank() == S.cols else None
        if X is None or (S * X - C).applyfunc(sympy.simplify) != sympy.zeros(*C.shape):
            raise BackendError("E308", f"the cone does not factor uniquely through {apex}", cone_p.span)
        return Linear(cone_p.dom, apex, ImmutableMatrix(X))

    def universal(self, apex: Space | int, p: Linear, q: Linear, f: Linear, g: Linear,
                  how: Check | None = None) -> Verdict:
        """Is (apex, p, q) a pullback of f, g? Commutes, and every cone factors uniquely.

        Exactly: with S = [p; q], mediating maps exist for every cone iff the columns of S
        span ker [F | -G], and are unique iff S is injective; both are rank conditions.
        Random cones (drawn in the kernel) are then factored as a cross-check.
        """
        how = how or Check()
        dim = int(apex.dim if isinstance(apex, Space) else apex)
        square = self.equal(self.compose(f, p), self.compose(g, q), how)
        if square.status != "proved":
            return Verdict(square.status, square.via,
                           f"the square does not commute: {square.witness}")
        a = int(f.dom.dim)
        S = ImmutableMatrix.vstack(p.matrix, q.matrix)
        M = ImmutableMatrix.hstack(f.matrix, -g.matrix)
        if not all(x.is_Rational for x in (*S, *M)):
            return _universal_cases(S, M, a, dim, how)
        kernel = M.nullspace()
        rank = S.rank()
        if rank < dim:
            v = S.nullspace()[0]
            u0 = ImmutableMatrix(dim, 1, lambda i, _: 1 if i == 0 else 0)
            x = S * u0
            return Verdict("refuted", "sympy", (
                f"the cone (R^1, {cat_text(x[:a, :])}, {cat_text(x[a:, :])}) has two mediating "
                f"maps: {cat_text(u0)} and {cat_text(u0 + v)}"))
        for w in kernel:
            if ImmutableMatrix.hstack(S, w).rank() > rank:
                return Verdict("refuted", "sympy", (
                    f"the cone (R^1, {cat_text(w[:a, :])}, {cat_text(w[a:, :])}) commutes "
                    f"but has no mediating map"))
        return _random_cones(S, kernel, a, dim, how)

    # ---- colimits (dual to the limits: Vect is self-dual by transposition) ----------------

    def pushout(self, f: Linear, g: Linear) -> tuple[Space, Linear, Linear]:
        """Q = coker [F; -G] = (A ⊕ B) / im [F; -G], the coequalizer of the two ways C -> A ⊕ B;
        its injections are the blocks of T, whose rows are a basis of the left kernel of
        [F; -G]."""
        if not same(f.dom.dim, g.dom.dim):
            raise BackendError("E308", f"a pushout needs a common domain: {f.dom} ≠ {g.dom}",
                               g.span)
        a, b = int(f.cod.dim), int(g.cod.dim)
        M = ImmutableMatrix.vstack(f.matrix, -g.matrix)
        rows = M.T.nullspace()
        T = ImmutableMatrix.vstack(*[r.T for r in rows]) if rows else sympy.zeros(0, a + b)
        apex = Space(len(rows))
        return (apex, Linear(f.cod, apex, ImmutableMatrix(T[:, :a])),
                Linear(g.cod, apex, ImmutableMatrix(T[:, a:])))

    def comediate(self, apex: Space, i: Linear, j: Linear, cocone_i: Linear,
                  cocone_j: Linear) -> Linear:
        """The X with X i = cocone_i and X j = cocone_j, exactly: X [i | j] = [cocone_i | cocone_j],
        solved with the pseudo-inverse of [i | j] (onto for a pushout) and checked; E308 when
        the cocone does not factor."""
        T = ImmutableMatrix.hstack(i.matrix, j.matrix)
        C = ImmutableMatrix.hstack(cocone_i.matrix, cocone_j.matrix)
        if T.rows == 0:
            return Linear(apex, cocone_i.cod, sympy.zeros(C.rows, 0))
        X = (C * T.T * (T * T.T).inv()).applyfunc(sympy.simplify) if T.rank() == T.rows else None
        if X is None or (X * T - C).applyfunc(sympy.simplify) != sympy.zeros(*C.shape):
            raise BackendError("E308", f"the cocone does not factor uniquely through {apex}",
                               cocone_i.span)
        return Linear(apex, cocone_i.cod, ImmutableMatrix(X))

    def couniversal(self, apex: Space | int, i: Linear, j: Linear, f: Linear, g: Linear,
                    how: Check | None = None) -> Verdict:
        """Is (apex, i, j) a pushout of f, g? Commutes, and every cocone factors uniquely.

        Exactly: with T = [i | j] and M = [F; -G], mediating maps are unique iff T is onto
        (rank T = dim apex), and exist for every cocone iff ker T = im M (the cocones are the
        functionals killing im M). With params (or irrational constants) the cocone is decided
        as its transpose, a cone over [F^T, G^T]: transposition is a duality of Vect, so the
        cocone is a pushout iff that cone is a pullback (the rank conditions become minors).
        """
        how = how or Check()
        dim = int(apex.dim if isinstance(apex, Space) else apex)
        square = self.equal(self.compose(i, f), self.compose(j, g), how)
        if square.status != "proved":
            return Verdict(square.status, square.via,
                           f"the square does not commute: {square.witness}")
        a = int(f.cod.dim)
        T = ImmutableMatrix.hstack(i.matrix, j.matrix)
        M = ImmutableMatrix.vstack(f.matrix, -g.matrix)
        if not all(x.is_Rational for x in (*T, *M)):
            verdict = _universal_cases(T.T, M.T, a, dim, how)
            if verdict.witness:
                verdict = Verdict(verdict.status, verdict.via, verdict.witness + " (decided on the "
                                  "transposed cone over [f^T, g^T], a pullback iff this cocone is "
                                  "a pushout)", samples=verdict.samples)
            return verdict
        if T.rank() < dim:
            u = T.T.nullspace()[0].T
            zero_a, zero_b = sympy.zeros(1, a), sympy.zeros(1, T.cols - a)
            return Verdict("refuted", "sympy", (
                f"the cocone (R^1, {cat_text(zero_a)}, {cat_text(zero_b)}) has two mediating "
                f"maps: {cat_text(sympy.zeros(1, dim))} and {cat_text(u)}"))
        image = M.rank()
        if dim < T.cols - image:
            # ker T is larger than im M: a functional r killing im M but not some w in ker T is
            # a commuting cocone that no X with r = X T can give (X T w = 0)
            for w in T.nullspace():
                for r in M.T.nullspace():
                    if (r.T * w)[0] != 0:
                        return Verdict("refuted", "sympy", (
                            f"the cocone (R^1, {cat_text(r.T[:, :a])}, {cat_text(r.T[:, a:])}) "
                            f"commutes but has no mediating map: it is non-zero on "
                            f"{cat_text(w.T)}, which [i | j] sends to 0"))
        return Verdict("proved", "sympy")


# ---- deciding matrix equations -----------------------------------------------------------


def decide(lhs: Any, rhs: Any, how: Check, divisors: Sequence[sympy.Expr] = ()) -> Verdict:
    """Exact equality of two explicit matrices whose entries may contain params.

    Each entry of lhs - rhs is decided by `decide.is_zero`: a constant difference refutes
    only when shown non-zero (else `unknown`); differences in the params are solved over the
    reals (`conditional` with the condition, or `refuted` with a value where it fails). A
    division by an expression in the params (`divisors`, and the denominators of the
    entries) makes the law hold only where it is defined: `holds iff a ≠ 0`.
    """
    if lhs.shape != rhs.shape:
        return Verdict("error", "sympy", f"lhs is {size_text(lhs)} but rhs is {size_text(rhs)}")
    divisors = _all_divisors(lhs, rhs, divisors)
    shown, undecided = [], []
    for d in (lhs - rhs):
        z = is_zero(d) if d != 0 else None
        if z is None or z.zero:
            continue
        (shown if z.zero is False else undecided).append((d, z))
    diffs = [d for d, _ in shown + undecided]
    symbols = sorted(set().union(*(d.free_symbols for d in diffs), *(q.free_symbols
                                                                     for q in divisors)),
                     key=str)
    if not diffs:
        return _where_defined([{}], divisors, symbols, lhs, rhs, [])
    if not any(d.free_symbols for d in diffs):
        if shown:
            d, z = shown[0]
            gap = "" if d.is_Rational or z.value is None else (
                f" (an entry differs by ≈ {float(z.value):.6g})")
            return Verdict("refuted", "sympy", f"lhs = {cat_text(lhs)}, rhs = {cat_text(rhs)}"
                           f"{gap}")
        return Verdict("unknown", "sympy", f"cannot decide an entry of lhs - rhs: "
                       f"{undecided[0][1].reason}")
    if all(d.is_rational_function(*symbols) for d in diffs):
        try:
            solutions = real_solutions(diffs, symbols)
        except NotImplementedError:
            solutions = None
        if solutions is not None:
            return _where_defined(solutions, divisors, symbols, lhs, rhs, diffs)
    point = _failing_point(diffs, symbols, divisors)
    if point is None:
        point = next((z.at for _, z in shown if z.at), None)
    if point is not None:  # a counterexample, checked exactly; the condition is out of reach
        return Verdict("refuted", "sympy", f"{_at(point, lhs, rhs)} (the exact condition on "
                       "the params is beyond the solver)")
    reason = (undecided or shown)[0][1].reason
    out = property_decide(lhs, rhs, symbols, how)
    if out.status == "passed":
        return Verdict("passed", out.via, f"not decided exactly ({reason}); params drawn in "
                       f"[-3, 3]", samples=out.samples)
    return out


def _where_defined(solutions: list[dict], divisors, symbols, lhs, rhs, diffs) -> Verdict:
    """The verdict for the real solutions of lhs = rhs, restricted to where no divisor
    vanishes: `proved` (all values), `conditional` (the condition) or `refuted`."""
    clauses, kept = [], []
    for s in solutions:
        exclusions, empty = [], False
        for q in divisors:
            v = sympy.cancel(q.xreplace(s))
            if not v.free_symbols:
                if is_zero(v).zero:
                    empty = True
                    break
                continue
            found = non_zero_conditions([v], sorted(v.free_symbols, key=str))
            if found is None:
                exclusions.append(f"{cat_text(v)} ≠ 0")
            else:
                exclusions += [f"{x} ≠ {cat_text(w)}" for x, w in found
                               if f"{x} ≠ {cat_text(w)}" not in exclusions]
        if empty:
            continue
        kept.append(s)
        parts = [_assignment(s, " and ")] if s else []
        clauses.append(" and ".join(p for p in parts + exclusions if p))
    if kept == [{}] and clauses == [""]:
        return Verdict("proved", "sympy")
    point = _failing_point(diffs, symbols, divisors) if diffs else None
    undefined = _undefined_point(divisors, symbols) if divisors else None
    if not kept:
        if point is None:
            return Verdict("refuted", "sympy", "no real value of the params satisfies it")
        return Verdict("refuted", "sympy", _at(point, lhs, rhs))
    if len(clauses) > 1:
        clauses = [f"({c})" if " and " in c else c for c in clauses]
    condition = " or ".join(clauses)
    if point is not None:
        fails = _at(point, lhs, rhs)
    elif undefined is not None:
        fails = f"{_assignment(undefined)}: a side divides by zero"
    else:
        fails = "a generic value"
    return Verdict("conditional", "sympy", f"holds iff {condition}; fails at {fails}")


def _all_divisors(lhs, rhs, recorded) -> list[sympy.Expr]:
    """Divisors with params: those recorded while the values were built, and the
    denominators still visible in the entries (each once, as a polynomial)."""
    out: list[sympy.Expr] = []
    candidates = list(recorded)
    for m in (lhs, rhs):
        for x in m:
            if x.free_symbols:
                candidates.append(sympy.together(x).as_numer_denom()[1])
    for q in candidates:
        for factor, _ in sympy.factor_list(sympy.together(q).as_numer_denom()[0])[1]:
            if factor.free_symbols and not any(sympy.expand(factor - f) == 0 for f in out):
                out.append(factor)
    return out


def _undefined_point(divisors, symbols) -> dict | None:
    found = non_zero_conditions(divisors, symbols)
    if found:
        x, v = found[0]
        return {x: v}
    return None


def _at(point: dict, lhs, rhs) -> str:
    return (f"{_assignment(point)}: lhs = {cat_text(_clean(lhs.xreplace(point)))}, "
            f"rhs = {cat_text(_clean(rhs.xreplace(point)))}")


def _clean(m):
    return m.applyfunc(lambda x: sympy.nsimplify(x) if x.is_Float else x)


def vanishes(d: sympy.Expr) -> bool:
    """d = 0 shown exactly (`decide.is_zero`); False means not shown, not "non-zero"."""
    return d == 0 or is_zero(d).zero is True


def property_decide(lhs, rhs, symbols, how: Check) -> Verdict:
    """Params that sympy cannot solve for: compare at drawn values within tolerance."""
    from hypothesis import strategies as st

    from backends.symbolic.numeric import NotNumeric, compile_numeric

    try:
        fl = compile_numeric(list(lhs), symbols)
        fr = compile_numeric(list(rhs), symbols)
    except NotNumeric as e:
        return Verdict("unknown", "sympy", f"cannot decide: {e}")
    point = st.tuples(*[st.floats(-3, 3, allow_nan=False) for _ in symbols])

    def fails(values):
        return any(not close(float(x), float(y), how.tol)
                   for x, y in zip(fl(*values), fr(*values)) if _finite(x, y))

    found = search(point, fails, how)
    if not found.found:
        return Verdict("passed", "hypothesis", samples=found.tried)
    at = {s: sympy.Float(v) for s, v in zip(symbols, found.counterexample)}
    return Verdict("failed", "hypothesis", f"{_assignment(at)}: lhs = "
                   f"{cat_text(lhs.xreplace(at).evalf(12))}, rhs = "
                   f"{cat_text(rhs.xreplace(at).evalf(12))}")


def _failing_point(diffs, symbols, divisors=()) -> dict | None:
    """A small value of the params, where every divisor is non-zero, at which some
    difference is shown non-zero (exactly, or by interval arithmetic)."""
    if not diffs:
        return None
    candidates = [0, 1, 2, 3, -1, -2, -3, sympy.Rational(1, 2)]
    for values in itertools.islice(itertools.product(candidates, repeat=len(symbols)), 512):
        point = dict(zip(symbols, map(sympy.Integer, values)))
        if any(sympy.cancel(q.xreplace(point)) == 0 for q in divisors):
            continue
        for d in diffs:
            v = d.xreplace(point)
            if v.is_number and v.is_finite and not v.has(sympy.zoo, sympy.nan) and \
                    is_zero(v).zero is False:
                return point
    return None


def _assignment(point: dict, sep: str = ", ") -> str:
    return sep.join(f"{k} {_value_text(v)}" for k, v in sorted(point.items(), key=lambda kv:
                                                                  str(kv[0])))


def _value_text(v: sympy.Expr) -> str:
    """`= 1/2`, `= sqrt(5)/2 - 1/2`; a long radical of a number is shown as `≈ 0.3819660113`."""
    text = cat_text(v)
    if v.is_number and (len(text) > 30 or v.has(sympy.CRootOf)):
        return f"≈ {cat_text(sympy.re(sympy.N(v, 10)))}"
    return f"= {text}"


def _union(*groups: tuple) -> tuple:
    return tuple(dict.fromkeys(q for g in groups for q in g))


def _finite(*xs) -> bool:
    import math

    return all(math.isfinite(float(x)) for x in xs)


# Most minors examined by the case split of `universal` (a count, not a time).
MINOR_BUDGET = 2000


def _universal_cases(S, M, a: int, dim: int, how: Check) -> Verdict:
    """`universal` for entries with params or irrational constants, by rank conditions.

    Given that the square commutes (M S = 0, so the columns of S lie in ker M), the cone is
    a pullback iff S is injective (rank S = dim: some dim×dim minor ≠ 0) and spans ker M
    (rank M = a + b - dim: some such minor of M ≠ 0). Each fails on the real solutions of
    "all those minors vanish"; the verdict is `proved`, `conditional` (holds iff the params
    avoid them) or `refuted`, with the constant case decided at a failing value.
    """
    n = S.rows
    r = n - dim
    if dim > n or r > M.rows:
        return Verdict("refuted", "sympy", f"the apex R^{dim} is larger than R^{n}, so the cone "
                       "is not injective" if dim > n else "ker [f | -g] is larger than the apex")
    from math import comb

    if comb(n, dim) + comb(M.rows, r) * comb(n, r) > MINOR_BUDGET:
        return Verdict("unknown", "sympy", f"the rank conditions need more than "
                       f"{MINOR_BUDGET} minors")
    minors_S = [S.extract(list(rows), list(range(dim))).det()
                for rows in itertools.combinations(range(n), dim)] if dim else [sympy.Integer(1)]
    minors_M = [M.extract(list(rows), list(cols)).det()
                for rows in itertools.combinations(range(M.rows), r)
                for cols in itertools.combinations(range(n), r)] if r else [sympy.Integer(1)]
    symbols = sorted(set().union(*(x.free_symbols for x in (*S, *M))), key=str)
    failing = []
    for minors, what in ((minors_S, "injective"), (minors_M, "onto the kernel")):
        answers = [is_zero(m) for m in minors]
        if any(z.zero is False and not z.at for z in answers):
            continue  # a constant non-zero minor: the rank condition holds for every value
        if not symbols:
            if all(z.zero for z in answers):
                failing.append(({}, what))
                continue
            return Verdict("unknown", "sympy", f"cannot decide whether S is {what}: "
                           f"{next(z for z in answers if z.zero is None).reason}")
        try:
            sols = real_solutions([m for m in minors if m != 0] or [sympy.Integer(0)], symbols)
        except NotImplementedError:
            return Verdict("unknown", "sympy", "the rank condition on the params is beyond "
                           "the polynomial solver")
        failing += [(sol, what) for sol in sols]
    if not failing:
        return Verdict("proved", "sympy")
    where = failing[0][0]
    at = {x: where.get(x, sympy.Integer(0)) for x in symbols}
    at = {x: v.xreplace(at) for x, v in at.items()}
    shown = _assignment(at) + ": " if at else ""
    why = (f"{shown}the cone is not {failing[0][1]}" + (
        " (two mediating maps)" if failing[0][1] == "injective" else
        " (some commuting cone has no mediating map)"))
    if any(not sol for sol, _ in failing):
        return Verdict("refuted", "sympy", why)
    clauses = []
    for sol, _ in failing:
        part = " or ".join(f"{x} ≠ {cat_text(v)}" for x, v in sorted(sol.items(),
                                                                    key=lambda kv: str(kv[0])))
        clauses.append(f"({part})" if " or " in part and len(failing) > 1 else part)
    return Verdict("conditional", "sympy", f"holds iff {' and '.join(dict.fromkeys(clauses))}; "
                   f"fails at {why}")


def _random_cones(S, kernel, a: int, dim: int, how: Check) -> Verdict:
    """Draw cones in ker [F | -G] and factor each through S (a cross-check of the ranks).

    S is injective here, so S^T S is invertible and u = (S^T S)^-1 S^T x is the only
    candidate mediating map for the cone x; it mediates iff S u = x.
    """
    k = len(kernel)
    if k == 0:
        return Verdict("proved", "sympy")
    from hypothesis import strategies as st

    K = ImmutableMatrix.hstack(*kernel)
    left = (S.T * S).inv() * S.T
    cones = st.integers(*DIM_RANGE).flatmap(lambda d: integer_matrices(k, d))

    def fails(C):
        x = K * C
        return S * (left * x) != x

    found = search(cones, fails, Check(min(how.samples, 25), how.tol, how.seed))
    if found.found:
        x = K * found.counterexample
        return Verdict("refuted", "hypothesis", f"the cone ({Space(x.cols)}, "
                       f"{cat_text(x[:a, :])}, {cat_text(x[a:, :])}) has no mediating map")
    return Verdict("proved", "sympy", samples=found.tried)


# ---- the value language of Vect ---------------------------------------------------------


def evaluate(expr: A.Expr, env: Env) -> Any:
    """A scalar (sympy.Expr) or a matrix (explicit `ImmutableMatrix` or a symbolic-size
    `MatrixExpr`) for a value of Vect."""
    match expr:
        case A.Number():
            return number(expr)
        case A.Name():
            return env.lookup(expr)
        case A.Neg(operand=x):
            return -evaluate(x, env)
        case A.BinOp(op="(+)", left=l, right=r):
            return direct_sum(as_matrix(evaluate(l, env)), as_matrix(evaluate(r, env)))
        case A.BinOp(op="^", left=l, right=A.Name(id="T")) if not _shadowed(env, "T"):
            m = evaluate(l, env)
            if not _is_matrix(m):
                raise BackendError("E308", "only a matrix has a transpose `^T`", expr.span)
            return m.T
        case A.BinOp(op=op, left=l, right=r) if op in _ARITH:
            return _ARITH[op](evaluate(l, env), evaluate(r, env), expr)
        case A.Compose(parts=parts):
            values = [evaluate(p, env) for p in parts]
            for p, v in zip(parts, values):
                if not _is_matrix(v):
                    raise BackendError("E308", "only matrices compose", p.span)
            out = values[-1]
            for p, g in zip(reversed(parts[:-1]), reversed(values[:-1])):
                if not same(g.shape[1], out.shape[0]):
                    raise BackendError(
                        "E308", f"this composite does not compose: a {size_text(g)} matrix after "
                        f"a {size_text(out)} one", expr.span,
                        hints=("`g . f` applies f first: cols(g) must equal rows(f)",))
                out = _matmul(g, out)
            return out
        case A.ListExpr():
            return _literal(expr, env)
        case A.Call(func=A.Name(id="I")) if not _shadowed(env, "I"):
            (n,) = _arguments(expr, 1)
            return identity_matrix(_dimension(n, env))
        case A.Call(func=A.Name(id="O")) if not _shadowed(env, "O"):
            m, n = _arguments(expr, 2)
            return _zero(_dimension(m, env), _dimension(n, env))
        case A.Call():
            fn = function(expr, env)
            arg = expr.positional[0]
            v = evaluate(arg, env)
            if _is_matrix(v):
                raise BackendError("E308", "functions apply to numbers, not matrices", arg.span)
            return fn(v)
    raise not_a_value(expr, "a matrix or a number")


def direct_sum(u: Any, v: Any) -> Any:
    """u ⊕ v, block diagonal."""
    if isinstance(u, MatrixBase) and isinstance(v, MatrixBase):
        return ImmutableMatrix(sympy.diag(u, v))
    return BlockDiagMatrix(u, v)


def integer_matrices(rows: int, cols: int) -> Any:
    """A hypothesis strategy of rows × cols matrices with entries in ENTRY_RANGE."""
    from hypothesis import strategies as st

    return st.lists(st.integers(*ENTRY_RANGE), min_size=rows * cols, max_size=rows * cols).map(
        lambda xs: ImmutableMatrix(rows, cols, xs))


def _literal(expr: A.ListExpr, env: Env) -> Any:
    """`[[…], …]`: a matrix of scalars, or a block matrix whose entries are matrices."""
    rows = expr.items
    if not rows or not all(isinstance(r, A.ListExpr) and r.items for r in rows):
        raise BackendError("E305", "a matrix is a non-empty list of rows", expr.span,
                           hints=("write `[[1, 2, 3]]` for a row and `[[1], [2]]` for a column",))
    width = len(rows[0].items)
    for i, row in enumerate(rows):
        if len(row.items) != width:
            raise BackendError("E305", f"row {i + 1} has {len(row.items)} entries but row 1 "
                               f"has {width}", row.span)
    cells = [[evaluate(x, env) for x in row.items] for row in rows]
    if not any(_is_matrix(c) for row in cells for c in row):
        return ImmutableMatrix(cells)
    grid = [[as_matrix(c) for c in row] for row in cells]
    for i, row in enumerate(grid):
        for j, b in enumerate(row):
            if not same(b.shape[0], row[0].shape[0]):
                raise BackendError(
                    "E305", f"this block is {size_text(b)} but the other blocks of its row have "
                    f"{cat_text(row[0].shape[0])} rows", rows[i].items[j].span)
            if not same(b.shape[1], grid[0][j].shape[1]):
                raise BackendError(
                    "E305", f"this block is {size_text(b)} but the other blocks of its column have "
                    f"{cat_text(grid[0][j].shape[1])} columns", rows[i].items[j].span)
    if all(isinstance(b, MatrixBase) for row in grid for b in row):
        return ImmutableMatrix(sympy.Matrix.vstack(*[sympy.Matrix.hstack(*row)
                                                     for row in grid]))
    return BlockMatrix(grid)


def _times(x, y, node):
    if _is_matrix(x) and _is_matrix(y):
        raise BackendError("E308", "`*` scales a matrix by a number; matrices compose with `.`",
                           node.span, hints=("write `g . f` for the matrix product G F",))
    if _is_matrix(y) and not isinstance(y, MatrixBase):
        return MatMul(x, y)
    if _is_matrix(x) and not isinstance(x, MatrixBase):
        return MatMul(y, x)
    return x * y


def _divide(x, y, node):
    if _is_matrix(y):
        raise BackendError("E308", "cannot divide by a matrix", node.right.span)
    if y.is_zero:
        raise BackendError("E310", "division by zero", node.right.span)
    note_divisor(y)
    return _times(x, 1 / y, node) if _is_matrix(x) else x / y


def _plus(sign):
    def op(x, y, node):
        if _is_matrix(x) != _is_matrix(y):
            raise BackendError("E308", "cannot add a matrix and a number", node.span)
        if _is_matrix(x) and not (same(x.shape[0], y.shape[0]) and same(x.shape[1],
                                                                          y.shape[1])):
            raise BackendError("E308", f"cannot add a {size_text(x)} and a {size_text(y)} matrix",
                               node.span)
        return x + y if sign > 0 else x - y

    return op


def _power(x, y, node):
    if not _is_matrix(x):
        if _is_matrix(y):
            raise BackendError("E308", "a matrix cannot be an exponent", node.right.span)
        return power(x, y, node)
    if not (getattr(y, "is_Integer", False) and y >= 0):
        raise BackendError("E308", "a matrix power needs a non-negative integer exponent",
                           node.right.span, hints=("`m^T` is the transpose",))
    if not same(x.shape[0], x.shape[1]):
        raise BackendError("E308", f"only a square matrix has powers; this one is {size_text(x)}",
                           node.left.span)
    if isinstance(x, MatrixBase):
        return x**int(y)
    return MatMul(*[x] * int(y)) if y > 1 else (x if y == 1 else Identity(x.shape[0]))


_ARITH = {"+": _plus(1), "-": _plus(-1), "*": _times, "/": _divide, "^": _power}


def _arguments(expr: A.Call, k: int) -> tuple[A.Expr, ...]:
    args = expr.positional
    if len(args) != k or expr.keywords:
        name = expr.func.id
        shape = "I(n)" if name == "I" else "O(m, n)"
        raise BackendError("E302", f"`{name}` takes {k} argument{'s' * (k > 1)}: `{shape}`",
                           expr.span)
    return args


def _dimension(node: A.Expr, env: Env) -> Any:
    d = evaluate(node, env)
    if not _is_dimension(d):
        raise BackendError("E307", f"a dimension must be a non-negative integer, not "
                           f"`{cat_text(d)}`", node.span)
    check_size(d, node, "the dimension")
    return d


def _is_dimension(d: Any) -> bool:
    if not isinstance(d, sympy.Expr) or _is_matrix(d):
        return False
    if d.is_Integer:
        return d >= 0
    return bool(d.free_symbols) and all(s.is_integer for s in d.free_symbols) and (
        d.is_integer is not False)


def identity_matrix(n: Any) -> Any:
    return ImmutableMatrix(sympy.eye(int(n))) if n.is_Integer else Identity(n)


def _zero(m: Any, n: Any) -> Any:
    if m.is_Integer and n.is_Integer:
        return ImmutableMatrix(sympy.zeros(int(m), int(n)))
    return ZeroMatrix(m, n)


def _matmul(g: Any, f: Any) -> Any:
    if isinstance(g, MatrixBase) and isinstance(f, MatrixBase):
        return g * f
    return MatMul(g, f)


def _is_matrix(v: Any) -> bool:
    return isinstance(v, (MatrixBase, MatrixExpr))


def as_matrix(v: Any) -> Any:
    return v if _is_matrix(v) else ImmutableMatrix([[v]])


def same(x: Any, y: Any) -> bool:
    return x == y or sympy.expand(x - y) == 0


def size_text(m: Any) -> str:
    return f"{cat_text(m.shape[0])}×{cat_text(m.shape[1])}"


def _shadowed(env: Env, name: str) -> bool:
    return name in env.bound or name in env.params


def is_object_pattern(e: A.Expr) -> bool:
    return (isinstance(e, A.BinOp) and e.op == "^" and isinstance(e.left, A.Name)
            and e.left.id == "R" and isinstance(e.right, A.Name))


__all__ = ["Vect", "Space", "Linear", "decide", "property_decide", "evaluate", "vanishes",
           "direct_sum", "integer_matrices"]
