"""Smooth: the spaces R^n and smooth maps given by formulas, composed by substitution.

A map R^n -> R^m is a lambda `(x, y) |-> (x*y, sin(x))` with n parameters and m components
(a scalar body when m = 1). Its variables are renamed to shared canonical ones, so maps
written with different variable names compare as functions. Equality: `simplify` of the
difference is decided by `decide.is_zero`: shown zero proves, shown non-zero refutes (with
an exact point, never overruled by a tolerance); only an undecided difference is
property-tested at drawn points of [-3, 3]^n (params drawn too): `passed N` with the reason.

Axioms, as running examples:

>>> from catdsl.syntax.parse import parse
>>> lam = parse("functor F : C -> Smooth { f |-> (x, y) |-> (x*y, sin(x)) }")
>>> S = Smooth()
>>> f = S.morphism(lam.statements[0].mappings[0].image, Euclidean(2), Euclidean(2), Env())
>>> S.equal(S.compose(f, S.identity(Euclidean(2))), f).status
'proved'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import sympy

from backends.symbolic.build import Env, denominators, to_sympy
from backends.symbolic.check import Check, close, search
from backends.symbolic.notation import cat_text
from backends.symbolic.decide import is_zero
from catdsl.backend import BackendError, SemanticRef
from catdsl.laws.verdict import Verdict
from catdsl.span import NOWHERE, Span
from catdsl.syntax import ast as A

# Where property tests draw points (and param values).
BOX = (-3.0, 3.0)


@lru_cache(maxsize=None)
def coordinate(i: int) -> sympy.Dummy:
    """The i-th canonical variable of every map's domain (a Dummy: no param can clash)."""
    return sympy.Dummy(f"x{i + 1}", real=True)


def coordinates(n: int) -> tuple[sympy.Dummy, ...]:
    return tuple(coordinate(i) for i in range(n))


@dataclass(frozen=True)
class Euclidean:
    """The object R^dim of Smooth."""

    dim: int

    def __str__(self) -> str:
        return f"R^{self.dim}"


@dataclass(frozen=True)
class SmoothMap:
    """A map R^dom -> R^cod: one formula per component in `coordinates(dom.dim)`."""

    dom: Euclidean
    cod: Euclidean
    body: tuple[sympy.Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)
    # Expressions in the params the map divides by: it is defined only where they are ≠ 0.
    divisors: tuple = field(default=(), compare=False, repr=False)

    def __str__(self) -> str:
        xs = coordinates(self.dom.dim)
        names = tuple(f"x{i + 1}" for i in range(self.dom.dim))
        rename = {x: sympy.Symbol(n) for x, n in zip(xs, names)}
        head = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
        out = [b.xreplace(rename) for b in self.body]
        return f"{head} |-> {cat_text(out[0] if len(out) == 1 else tuple(out))}"


class Smooth:
    """The semantic category `Smooth` (docs/language.md §7, docs/checking.md)."""

    name = "Smooth"

    def __init__(self, ref: SemanticRef | None = None) -> None:
        if ref is not None and (ref.args or ref.kwargs):
            raise BackendError("E311", "`Smooth` takes no arguments", ref.span)

    def object(self, value: A.Expr, env: Env | None = None) -> Euclidean:
        """`R^n` with n a non-negative integer (`R` is R^1)."""
        match value:
            case A.Name(id="R"):
                return Euclidean(1)
            case A.BinOp(op="^", left=A.Name(id="R"), right=n):
                d = to_sympy(n, env or Env())
                if getattr(d, "is_Integer", False) and d >= 0:
                    return Euclidean(int(d))
                raise BackendError("E307", "the dimension of `R^n` must be a non-negative "
                                   "integer", n.span)
        raise BackendError("E306", "expected an object of Smooth, `R^n`", value.span)

    def morphism(self, value: A.Expr, dom: Euclidean, cod: Euclidean, env: Env,
                 name: str | None = None) -> SmoothMap:
        """A lambda with dom.dim parameters and cod.dim components."""
        what = f"{name} : {dom} -> {cod}" if name else f"a map {dom} -> {cod}"
        with denominators() as divisors:
            body = lambda_body(value, dom.dim, cod.dim, env, what)
        variables = set(coordinates(dom.dim))
        # divisions by the params only: a division by a coordinate is the map's own domain
        found = tuple(q for q in divisors if not (q.free_symbols & variables))
        return SmoothMap(dom, cod, body, value.span, found)

    def identity(self, obj: Euclidean) -> SmoothMap:
        return SmoothMap(obj, obj, coordinates(obj.dim))

    def compose(self, g: SmoothMap, f: SmoothMap) -> SmoothMap:
        """g . f: substitute f's components for g's variables (simultaneously)."""
        if f.cod != g.dom:
            raise BackendError("E308", f"`g . f` does not compose: f lands in {f.cod} but g "
                               f"starts at {g.dom}", g.span if g.span is not NOWHERE else f.span)
        at = dict(zip(coordinates(g.dom.dim), f.body))
        divisors = tuple(dict.fromkeys((*f.divisors, *g.divisors)))
        return SmoothMap(f.dom, g.cod, tuple(c.xreplace(at) for c in g.body), f.span, divisors)

    def equal(self, a: SmoothMap, b: SmoothMap, how: Check | None = None) -> Verdict:
        """Shown zero: proved; shown non-zero: refuted at a point; else `passed N`/`failed`."""
        how = how or Check()
        if a.dom != b.dom or a.cod != b.cod:
            return Verdict("error", "sympy", f"lhs : {a.dom} -> {a.cod} but rhs : {b.dom} -> "
                           f"{b.cod}")
        open_ = [(x, y) for x, y in zip(a.body, b.body) if not _agree_quickly(x, y)]
        variables = coordinates(a.dom.dim)
        params = sorted(set().union(*((x - y).free_symbols for x, y in open_)) - set(variables),
                        key=str)
        box = {v: BOX for v in (*variables, *params)}
        answers = [is_zero(x - y, box) for x, y in open_]
        if all(z.zero for z in answers):
            return _where_defined(tuple(dict.fromkeys((*a.divisors, *b.divisors))))
        names = {v: f"x{i + 1}" for i, v in enumerate(variables)}
        shown = next((z for z in answers if z.zero is False), None)
        if shown is not None:  # algebra showed a non-zero difference: never sampled away
            at = shown.at or {}
            point = {v: at.get(v, sympy.Integer(0)) for v in (*variables, *params)}
            where = ", ".join(f"{names.get(v, str(v))} = {cat_text(point[v])}" for v in point)
            lhs = _values(a.body, point)
            rhs = _values(b.body, point)
            return Verdict("refuted", "sympy", (f"at {where}: " if where else "")
                           + f"lhs = {cat_text(lhs)}, rhs = {cat_text(rhs)}{shown.why()}",
                           difference=abs(float(shown.value)) if shown.value is not None
                           else None)
        reason = next(z.reason for z in answers if z.zero is None)
        outside = _outside_real_domain(a.body, b.body, (*variables, *params))
        if outside is not None:  # a side is not a real map there: never `passed`
            return Verdict("failed", "sympy", outside)
        counter, tried = point_search(list(a.body), list(b.body), (*variables, *params), how)
        if counter is None:
            return Verdict("passed", "hypothesis", f"not decided exactly ({reason}); points "
                           f"drawn in [{BOX[0]:g}, {BOX[1]:g}]", samples=tried)
        point, lhs, rhs = counter
        labels = tuple(f"x{i + 1}" for i in range(a.dom.dim)) + tuple(str(p) for p in params)
        shown_at = ", ".join(f"{n} = {cat_text(float(v))}" for n, v in zip(labels, point))
        lhs, rhs = (v[0] if len(v) == 1 else tuple(v) for v in (lhs, rhs))
        return Verdict("failed", "hypothesis",
                       f"at {shown_at}: lhs = {cat_text(lhs)}, rhs = {cat_text(rhs)}",
                       samples=tried, difference=_gap(lhs, rhs))

    def samples(self, dom: Euclidean) -> Any:
        """A hypothesis strategy of points of R^dom in the test box."""
        from hypothesis import strategies as st

        return st.tuples(*[st.floats(*BOX, allow_nan=False)] * dom.dim)

    def render(self, x: Euclidean | SmoothMap) -> str:
        return str(x)


def lambda_body(value: A.Expr, arity: int, length: int, env: Env, what: str,
                variables: tuple[sympy.Symbol, ...] | None = None) -> tuple[sympy.Expr, ...]:
    """The components of `(x, y) |-> (…)` in canonical variables, checked against the type:
    `arity` parameters, a body of `length` components (a bare scalar when length is 1)."""
    if not isinstance(value, A.Lambda):
        raise BackendError("E303", f"expected a lambda `(x, …) |-> …` for {what}", value.span)
    if len(value.params) != arity:
        raise BackendError("E304", f"this lambda takes {len(value.params)} "
                           f"argument{'s' * (len(value.params) != 1)} but {what} needs {arity}",
                           value.span)
    names = [p.id for p in value.params]
    for p in value.params:
        if names.count(p.id) > 1:
            raise BackendError("E304", f"the parameter `{p.id}` is named twice", p.span)
    variables = variables or coordinates(arity)
    inner = env.bind(**dict(zip(names, variables)))
    body = value.body
    items = body.items if isinstance(body, A.Tuple) else (body,)
    if len(items) != length:
        raise BackendError("E304", f"this lambda has {len(items)} "
                           f"component{'s' * (len(items) != 1)} but {what} needs {length}",
                           body.span)
    out = []
    for node in items:
        v = to_sympy(node, inner)
        if not isinstance(v, sympy.Expr) or isinstance(v, sympy.MatrixBase):
            raise BackendError("E303", "each component must be a number", node.span)
        out.append(v)
    return tuple(out)


def point_search(lhs: list[sympy.Expr], rhs: list[sympy.Expr], variables, how: Check,
                 box: tuple[float, float] = BOX):
    """A drawn point where some lhs[i] and rhs[i] differ beyond tolerance, shrunk:
    ((point, lhs values, rhs values) or None, tries). Points outside the domain of either
    side (a non-finite value) are skipped."""
    from hypothesis import strategies as st

    from backends.symbolic.numeric import compile_numeric

    fl, fr = compile_numeric(lhs, variables), compile_numeric(rhs, variables)

    def values(point):
        return [float(v) for v in fl(*point)], [float(v) for v in fr(*point)]

    def fails(point):
        ls, rs = values(point)
        return any(math.isfinite(u) and math.isfinite(v) and not close(u, v, how.tol)
                   for u, v in zip(ls, rs))

    points = st.tuples(*[st.floats(*box, allow_nan=False)] * len(variables))
    found = search(points, fails, how)
    if not found.found:
        return None, found.tried
    ls, rs = values(found.counterexample)
    return (found.counterexample, ls, rs), found.tried


def _values(body: tuple[sympy.Expr, ...], point: dict) -> Any:
    """The components at an exact point, to 12 digits (exact where they are rational)."""
    out = []
    for c in body:
        v = c.xreplace(point)
        out.append(v if v.is_Rational else sympy.N(v, 12))
    return out[0] if len(out) == 1 else tuple(out)


def _gap(lhs: Any, rhs: Any) -> float:
    pairs = zip(lhs, rhs) if isinstance(lhs, tuple) else [(lhs, rhs)]
    return max(abs(u - v) for u, v in pairs)


def _agree_quickly(x: sympy.Expr, y: sympy.Expr) -> bool:
    """Cheap exact agreement: the same formula, or equal after expanding."""
    if x == y:
        return True
    return sympy.expand(x - y) == 0


__all__ = ["Smooth", "Euclidean", "SmoothMap", "coordinates", "lambda_body", "point_search"]


def _where_defined(divisors: tuple) -> Verdict:
    """Equal wherever both sides are defined: `proved`, or `conditional` on the params a side
    divides by (`x |-> a / a * x` equals `x |-> x` only for a ≠ 0)."""
    from backends.symbolic.decide import non_zero_conditions

    if not divisors:
        return Verdict("proved", "sympy")
    symbols = sorted(set().union(*(q.free_symbols for q in divisors)), key=str)
    found = non_zero_conditions(list(divisors), symbols)
    parts = ([f"{x} ≠ {cat_text(v)}" for x, v in found] if found is not None
             else [f"{cat_text(q)} ≠ 0" for q in divisors])
    return Verdict("conditional", "sympy", "holds iff " + " and ".join(dict.fromkeys(parts))
                   + " (where a side divides by zero it is undefined)")


def _outside_real_domain(lhs, rhs, symbols) -> str | None:
    """A probe point where one side is a real number and the other is not (`2*log(x)` at
    x = -1): the two are not the same real map, whatever sampling inside the domain says."""
    from backends.symbolic.decide import probe_points

    for point in probe_points(list(symbols), {v: BOX for v in symbols}):
        for x, y in zip(lhs, rhs):
            try:
                vx, vy = (complex(sympy.N(e.xreplace(point), 30)) for e in (x, y))
            except (TypeError, ValueError):
                continue
            real = [abs(v.imag) <= 1e-20 * max(1.0, abs(v)) for v in (vx, vy)]
            if real[0] != real[1]:
                where = ", ".join(f"{str(k).lstrip('_')} = {cat_text(v)}" for k, v in point.items())
                side, value = ("rhs", y) if real[0] else ("lhs", x)
                return (f"at {where}: {side} = {cat_text(value.xreplace(point))} is not a real number (outside "
                        "its real domain) while the other side is")
    return None
