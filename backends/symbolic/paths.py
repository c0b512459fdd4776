"""Paths(loss, level): points of R^n, paths on [0, 1] between them, homotopies between paths.

A 2-category (paper Def 3.1, S Def 5.1): 1-cells are paths `t |-> (…)` with p(0) = A and
p(1) = B, composed by concatenation (each at double speed); 2-cells are homotopies
`(s, t) |-> (…)` relative to the endpoints, s along the path and t from p to q:
H(s, 0) = p(s), H(s, 1) = q(s), H(0, t) = A, H(1, t) = B. Vertical composition stacks in t,
horizontal composition concatenates in s. With a `loss` and a `level`, every path and every
homotopy must stay in the sublevel set {loss <= level}: without that condition any two paths
in R^n with the same endpoints are homotopic.

Boundary laws and endpoints are decided by `decide.is_zero` (exact algebra, interval
arithmetic at rising precision), else on a dense grid plus a hypothesis search, and a numeric
counterexample is confirmed exactly before it refutes. The low-loss law is proved by a
certificate (`certify`: exact critical points, or interval branch and bound), refuted at
an exact point above the level, and only sampled (`passed N`) when neither is found.
Concatenation is associative only up to homotopy, so `equal` compares parametrized paths
pointwise, as functions on [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from backends.symbolic.build import Env, to_sympy
from backends.symbolic.check import Check, close, maximize, search
from backends.symbolic.notation import cat_text
from backends.symbolic.numeric import NotNumeric, compile_numeric
from backends.symbolic.smooth import coordinates, lambda_body
from backends.symbolic.decide import is_zero
from catdsl.backend import BackendError, SemanticRef
from catdsl.laws.verdict import Verdict
from catdsl.span import NOWHERE, Span
from catdsl.syntax import ast as A

# Canonical parameters: t along a path; s along and t across a homotopy.
S, T = sympy.Dummy("s", real=True), sympy.Dummy("t", real=True)
HALF = sympy.Rational(1, 2)
# Dense grids of the low-loss and numeric checks, before the hypothesis search.
PATH_GRID = 65
SQUARE_GRID = 33


@dataclass(frozen=True)
class Point:
    """An object: a point of R^n, exactly."""

    coords: tuple[sympy.Expr, ...]

    def __str__(self) -> str:
        return cat_text(self.coords)


@dataclass(frozen=True)
class Path:
    """A 1-cell dom -> cod: its coordinates as formulas in T on [0, 1]."""

    dom: Point
    cod: Point
    coords: tuple[sympy.Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)

    def at(self, t: Any) -> tuple[sympy.Expr, ...]:
        return tuple(c.xreplace({T: t}) for c in self.coords)

    def __str__(self) -> str:
        return f"t |-> {_formula(self.coords, {T: 't'})}"


@dataclass(frozen=True)
class Homotopy:
    """A 2-cell source => target: coordinates as formulas in (S, T) on [0, 1]²."""

    source: Path
    target: Path
    coords: tuple[sympy.Expr, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)

    def at(self, s: Any, t: Any) -> tuple[sympy.Expr, ...]:
        return tuple(c.xreplace({S: s, T: t}) for c in self.coords)

    def __str__(self) -> str:
        return f"(s, t) |-> {_formula(self.coords, {S: 's', T: 't'})}"


class Paths:
    """The semantic category `Paths(n)` or `Paths(loss = (x, y) |-> …, level = c)`."""

    name = "Paths"

    def __init__(self, ref: SemanticRef | None = None, env: Env | None = None) -> None:
        env = env or Env()
        self.dim: int | None = None
        self.loss: sympy.Expr | None = None
        self.level: sympy.Expr | None = None
        span = ref.span if ref is not None and ref.span is not None else NOWHERE
        args, kwargs = (ref.args, dict(ref.kwargs)) if ref is not None else ((), {})
        usage = ("write `Paths(2)` or `Paths(loss = (x, y) |-> (x^2 - 1)^2 + y^2, "
                 "level = 2)`",)
        unknown = set(kwargs) - {"loss", "level", "n"}
        if unknown or len(args) > 1:
            bad = kwargs[sorted(unknown)[0]] if unknown else args[1]
            raise BackendError("E311", "`Paths` takes a dimension, `loss` and `level`",
                               bad.span, hints=usage)
        n_node = args[0] if args else kwargs.get("n")
        if n_node is not None:
            n = to_sympy(n_node, env)
            if not (getattr(n, "is_Integer", False) and n > 0):
                raise BackendError("E311", "the dimension of `Paths(n)` must be a positive "
                                   "integer", n_node.span, hints=usage)
            self.dim = int(n)
        if "loss" in kwargs:
            node = kwargs["loss"]
            if not isinstance(node, A.Lambda):
                raise BackendError("E311", "`loss` must be a lambda `(x, y) |-> …`", node.span,
                                   hints=usage)
            arity = len(node.params)
            if self.dim is not None and arity != self.dim:
                raise BackendError("E311", f"the loss takes {arity} arguments but the "
                                   f"dimension is {self.dim}", node.span)
            self.dim = arity
            (self.loss,) = lambda_body(node, arity, 1, env, "the loss")
            _numeric_only(self.loss, coordinates(arity), node.span)
        if "level" in kwargs:
            node = kwargs["level"]
            level = to_sympy(node, env)
            if not (isinstance(level, sympy.Expr) and level.is_real and level.is_number):
                raise BackendError("E311", "`level` must be a real number", node.span)
            self.level = level
        if (self.loss is None) != (self.level is None):
            raise BackendError("E311", "`loss` and `level` go together", span, hints=usage)
        if self.dim is None:
            raise BackendError("E311", "`Paths` needs a dimension or a loss", span, hints=usage)

    # ---- the 2-category -------------------------------------------------------------------

    def object(self, value: A.Expr, env: Env) -> Point:
        """A point `(x1, …, xn)` (a bare number when n = 1)."""
        items = value.items if isinstance(value, A.Tuple) else (value,)
        if len(items) != self.dim:
            raise BackendError("E304", f"a point of Paths here has {self.dim} coordinates, "
                               f"not {len(items)}", value.span)
        coords = tuple(to_sympy(x, env) for x in items)
        for c, node in zip(coords, items):
            if not isinstance(c, sympy.Expr) or not c.is_number or c.is_real is False:
                raise BackendError("E314", "a coordinate of a point must be a real number",
                                   node.span)
        return Point(coords)

    def morphism(self, value: A.Expr, dom: Point, cod: Point, env: Env,
                 name: str | None = None) -> Path:
        """A path `t |-> (…)`; its endpoints are checked as laws (`endpoints`)."""
        what = f"the path {name}" if name else "a path"
        coords = lambda_body(value, 1, self.dim, env, what, variables=(T,))
        _numeric_only(coords, (T,), value.span)
        return Path(dom, cod, coords, value.span)

    def two_cell(self, value: A.Expr, source: Path, target: Path, env: Env,
                 name: str | None = None) -> Homotopy:
        """A homotopy `(s, t) |-> (…)` from source to target; boundaries are laws."""
        if source.dom != target.dom or source.cod != target.cod:
            raise BackendError("E304", "a homotopy needs parallel paths (same endpoints)",
                               value.span)
        what = f"the homotopy {name}" if name else "a homotopy"
        coords = lambda_body(value, 2, self.dim, env, what, variables=(S, T))
        _numeric_only(coords, (S, T), value.span)
        return Homotopy(source, target, coords, value.span)

    def identity(self, obj: Point) -> Path:
        return Path(obj, obj, obj.coords)

    def compose(self, g: Path, f: Path) -> Path:
        """g . f: f on [0, 1/2], then g on [1/2, 1], each at double speed."""
        if f.cod != g.dom:
            raise BackendError("E308", f"`g . f` does not compose: f ends at {f.cod} but g "
                               f"starts at {g.dom}", g.span if g.span is not NOWHERE else f.span)
        first, second = f.at(2 * T), g.at(2 * T - 1)
        return Path(f.dom, g.cod, tuple(sympy.Piecewise((x, T <= HALF), (y, True))
                                        for x, y in zip(first, second)))

    def identity_cell(self, p: Path) -> Homotopy:
        """id(p): the constant homotopy (s, t) ↦ p(s)."""
        return Homotopy(p, p, p.at(S))

    def vertical(self, beta: Homotopy, alpha: Homotopy) -> Homotopy:
        """β . α for α : p => q, β : q => r: α on t ∈ [0, 1/2], β on [1/2, 1]."""
        if alpha.target != beta.source:
            raise BackendError("E308", "`β . α` does not compose: the target of α is not the "
                               "source of β", beta.span)
        first, second = alpha.at(S, 2 * T), beta.at(S, 2 * T - 1)
        return Homotopy(alpha.source, beta.target, tuple(
            sympy.Piecewise((x, T <= HALF), (y, True)) for x, y in zip(first, second)))

    def horizontal(self, beta: Homotopy, alpha: Homotopy) -> Homotopy:
        """β * α for α : p => q (A -> B), β : p' => q' (B -> C): α on s ∈ [0, 1/2], then β."""
        if alpha.source.cod != beta.source.dom:
            raise BackendError("E308", "`β * α` does not compose: α ends where β does not "
                               "start", beta.span)
        first, second = alpha.at(2 * S, T), beta.at(2 * S - 1, T)
        return Homotopy(self.compose(beta.source, alpha.source),
                        self.compose(beta.target, alpha.target), tuple(
            sympy.Piecewise((x, S <= HALF), (y, True)) for x, y in zip(first, second)))

    def whisker(self, h: Path | Homotopy, alpha: Homotopy | Path) -> Homotopy:
        """`h * α` or `α * f`: horizontal composition with an identity 2-cell."""
        as_cell = (lambda x: self.identity_cell(x) if isinstance(x, Path) else x)
        return self.horizontal(as_cell(h), as_cell(alpha))

    # ---- laws ----------------------------------------------------------------------------

    def equal(self, a: Path | Homotopy, b: Path | Homotopy, how: Check | None = None
              ) -> Verdict:
        """Pointwise equality on [0, 1] (paths) or [0, 1]² (homotopies)."""
        how = how or Check()
        variables = (T,) if isinstance(a, Path) else (S, T)
        names = ("t",) if isinstance(a, Path) else ("s", "t")
        return _pointwise(a.coords, b.coords, variables, names, "lhs", "rhs", how)

    def endpoints(self, p: Path, how: Check | None = None, name: str = "p") -> Verdict:
        """p(0) = A and p(1) = B, exactly."""
        undecided = None
        for t, end, label in ((0, p.dom, "dom"), (1, p.cod, "cod")):
            at = p.at(sympy.Integer(t))
            answers = [is_zero(x - y) for x, y in zip(at, end.coords)]
            shown = next((z for z in answers if z.zero is False), None)
            if shown is not None:
                return Verdict("refuted", "sympy", f"{name}({t}) = {cat_text(at)} but "
                               f"{label}({name}) = {cat_text(end.coords)}{shown.why()}")
            if undecided is None and any(z.zero is None for z in answers):
                reason = next(z.reason for z in answers if z.zero is None)
                undecided = f"cannot decide {name}({t}) = {label}({name}): {reason}"
        if undecided:
            return Verdict("unknown", "sympy", undecided)
        return Verdict("proved", "sympy")

    def boundary_laws(self, H: Homotopy, how: Check | None = None, name: str = "H",
                      source: str = "p", target: str = "q") -> dict[str, Verdict]:
        """The four boundary laws of a homotopy relative to endpoints (paper Def 3.1):
        source H(s,0) = p(s), target H(s,1) = q(s), start H(0,t) = A, end H(1,t) = B."""
        how = how or Check()
        p, q = H.source, H.target
        x = sympy.Dummy("x", real=True)
        laws = {
            "source": (f"{name}(s, 0) = {source}(s)", H.at(x, 0), p.at(x), "s"),
            "target": (f"{name}(s, 1) = {target}(s)", H.at(x, 1), q.at(x), "s"),
            "start": (f"{name}(0, t) = {cat_text(p.dom.coords)}", H.at(0, x), p.dom.coords, "t"),
            "end": (f"{name}(1, t) = {cat_text(p.cod.coords)}", H.at(1, x), p.cod.coords, "t"),
        }
        out = {}
        for key, (law, lhs, rhs, var) in laws.items():
            lhs_name, rhs_name = law.split(" = ")
            v = _pointwise(lhs, rhs, (x,), (var,), lhs_name, rhs_name, how)
            if not v.holds and v.witness:
                v = Verdict(v.status, v.via, f"{law} fails {v.witness}", v.samples,
                            v.difference)
            out[key] = v
        return out

    def boundary(self, H: Homotopy, how: Check | None = None, name: str = "H",
                 source: str = "p", target: str = "q") -> Verdict:
        """All four boundary laws as one verdict; a failure names its boundary."""
        laws = self.boundary_laws(H, how, name, source, target)
        for v in laws.values():
            if not v.holds:
                return v
        if all(v.status == "proved" for v in laws.values()):
            return Verdict("proved", "sympy")
        return Verdict("passed", "hypothesis",
                       samples=min(v.samples or 0 for v in laws.values() if v.samples))

    def interchange(self, alpha: Homotopy, beta: Homotopy, gamma: Homotopy, delta: Homotopy,
                    how: Check | None = None) -> Verdict:
        """(δ . γ) * (β . α) = (δ * β) . (γ * α), for α : p => q, β : q => r (A -> B) and
        γ : p' => q', δ : q' => r' (B -> C); compared numerically on [0, 1]²."""
        how = how or Check()
        lhs = self.horizontal(self.vertical(delta, gamma), self.vertical(beta, alpha))
        rhs = self.vertical(self.horizontal(delta, beta), self.horizontal(gamma, alpha))
        return compare_numerically(lhs.coords, rhs.coords, (S, T), ("s", "t"), "lhs", "rhs",
                                   how)[0]

    def low_loss(self, x: Path | Homotopy, how: Check | None = None, name: str | None = None
                 ) -> Verdict:
        """loss <= level along a path (t ∈ [0, 1]) or over a homotopy ((s, t) ∈ [0, 1]²).

        A dense grid gives the worst sampled point (the witness either way); a point above
        the level is confirmed exactly and refutes. Otherwise a certificate is sought
        (`certify`: exact critical points along a path, interval branch and bound over the
        domain) and proves the law; only without one does a hypothesis search maximising
        the loss give `passed N` (or `failed`), with the reason no certificate was found.
        """
        from backends.symbolic.certify import certify

        how = how or Check()
        if self.loss is None:
            return Verdict("error", "numeric", "this Paths category has no loss and level")
        name = name or ("p" if isinstance(x, Path) else "H")
        variables, names = ((T,), ("t",)) if isinstance(x, Path) else ((S, T), ("s", "t"))
        height = self.loss.xreplace(dict(zip(coordinates(self.dim), x.coords)))
        fn = compile_numeric([height], variables)
        grid = _grid(len(variables))
        values = fn(*grid)[0]
        level = float(self.level)
        if not np.all(np.isfinite(values)):
            i = int(np.argmin(np.isfinite(values)))
            at = tuple(float(g[i]) for g in grid)
            return Verdict("failed", "numeric", f"the loss is undefined at "
                           f"{_at(names, at)}", samples=values.size)
        i = int(np.argmax(values))
        best_at, best = tuple(float(g[i]) for g in grid), float(values[i])

        def report(at, value, rel):
            where = x.at(*at)
            return (f"max loss {cat_text(value)} at {_at(names, at)}, "
                    f"{name}({', '.join(cat_text(v) for v in at)}) = "
                    f"{cat_text(tuple(float(c) for c in where))} {rel} level "
                    f"{cat_text(self.level)}")

        if best > level and _above(height, variables, best_at, self.level):
            return Verdict("refuted", "sympy", report(best_at, best, ">"), samples=values.size,
                           difference=best - level)
        cert = certify(height, variables, self.level)
        if cert.status == "refuted":
            at = tuple(float(v) for v in cert.at)
            return Verdict("refuted", "interval", f"{report(at, cert.value, '>')} "
                           f"({cert.how})", samples=values.size, difference=cert.value - level)
        if cert.status == "proved":
            if cert.at is not None and cert.value is not None and cert.value > best:
                best_at, best = tuple(float(v) for v in cert.at), cert.value
            return Verdict("proved", "interval" if "interval" in cert.how else "sympy",
                           f"{report(best_at, best, '<=')}; certified: {cert.how}",
                           difference=best - level)
        from hypothesis import strategies as st

        box = st.tuples(*[st.floats(0, 1, allow_nan=False)] * len(variables))
        at, found, tried = maximize(box, lambda pt: fn(*pt)[0], how)
        if at is not None and found > best:
            best_at, best = tuple(float(v) for v in at), found
        n = values.size + tried
        if best <= level + how.tol * max(1.0, abs(level)):
            return Verdict("passed", "numeric", f"{report(best_at, best, '<=')}; no "
                           f"certificate: {cert.how}", samples=n, difference=best - level)
        return Verdict("failed", "numeric", report(best_at, best, ">"), samples=n,
                       difference=best - level)

    def samples(self, dims: int = 1) -> Any:
        """A hypothesis strategy of parameters in [0, 1]^dims."""
        from hypothesis import strategies as st

        return st.tuples(*[st.floats(0, 1, allow_nan=False)] * dims)

    def render(self, x: Point | Path | Homotopy) -> str:
        return str(x)


# ---- internals -----------------------------------------------------------------------------


def _pointwise(lhs: Sequence[sympy.Expr], rhs: Sequence[sympy.Expr], variables, names,
               lhs_name: str, rhs_name: str, how: Check) -> Verdict:
    """lhs = rhs as functions on [0, 1]^k, decided by `decide.is_zero`: zero proves, a
    point of [0, 1]^k where the difference is shown non-zero refutes. Undecided, it is
    compared numerically, and a numeric counterexample refutes once its difference is
    shown non-zero exactly (interval arithmetic at the rational point)."""
    box = {x: (0, 1) for x in variables}
    answers = [is_zero(x - y, box) for x, y in zip(lhs, rhs)]
    if all(z.zero for z in answers):
        return Verdict("proved", "sympy")
    shown = next((z for z in answers if z.zero is False), None)
    if shown is not None:
        point = tuple((shown.at or {}).get(x, sympy.Integer(0)) for x in variables)
        u = tuple(_exact_value(a, variables, point) for a in lhs)
        w = tuple(_exact_value(b, variables, point) for b in rhs)
        return Verdict("refuted", "sympy", f"at {_at(names, point)}: {lhs_name} = "
                       f"{cat_text(_one(u))}, {rhs_name} = {cat_text(_one(w))}",
                       difference=abs(float(shown.value)) if shown.value is not None else None)
    reason = next(z.reason for z in answers if z.zero is None)
    v, at = compare_numerically(lhs, rhs, variables, names, lhs_name, rhs_name, how)
    if at is not None and _confirmed(lhs, rhs, variables, at):
        return Verdict("refuted", "sympy", v.witness, v.samples, v.difference)
    if v.status == "passed":
        return Verdict("passed", v.via, f"not decided exactly ({reason})", v.samples,
                       v.difference)
    return v


def _above(height: sympy.Expr, variables, at, level: sympy.Expr) -> bool:
    """The loss at the (dyadic, so exactly rational) grid point is shown above the level."""
    from backends.symbolic.decide import sign

    point = {x: sympy.Rational(v) for x, v in zip(variables, at)}
    return sign(level - height.xreplace(point))[0] == -1


def _exact_value(e: sympy.Expr, variables, point) -> Any:
    v = e.xreplace(dict(zip(variables, point)))
    return v if v.is_Rational else sympy.N(v, 12)


def compare_numerically(lhs, rhs, variables, names, lhs_name, rhs_name, how: Check
             ) -> tuple[Verdict, tuple[float, ...] | None]:
    """Dense grid, then a hypothesis search: `passed N`, or `failed` at the worst grid point
    (or the shrunk searched one), returned with the verdict."""
    from hypothesis import strategies as st

    try:
        fl, fr = compile_numeric(list(lhs), variables), compile_numeric(list(rhs), variables)
    except NotNumeric as e:
        return Verdict("error", "numeric", str(e)), None
    grid = _grid(len(variables))
    ls, rs = np.array(fl(*grid)), np.array(fr(*grid))
    scale = how.tol * np.maximum(1.0, np.maximum(np.abs(ls), np.abs(rs)))
    gap = np.where(np.isfinite(ls) & np.isfinite(rs), np.abs(ls - rs) - scale, np.inf)
    gap = np.nan_to_num(gap, nan=np.inf).max(axis=0)
    at = None
    if np.any(gap > 0):
        i = int(np.argmax(gap))
        at = tuple(float(g[i]) for g in grid)
    tried = 0
    if at is None:
        def fails(point):
            u, v = fl(*point), fr(*point)
            return any(not (math.isfinite(float(a)) and math.isfinite(float(b))
                            and close(float(a), float(b), how.tol)) for a, b in zip(u, v))

        box = st.tuples(*[st.floats(0, 1, allow_nan=False)] * len(variables))
        found = search(box, fails, how)
        tried = found.tried
        if not found.found:
            return Verdict("passed", "numeric", samples=gap.size + tried), None
        at = tuple(float(x) for x in found.counterexample)
    u = tuple(float(a) for a in fl(*at))
    v = tuple(float(b) for b in fr(*at))
    diff = max(abs(a - b) if math.isfinite(a - b) else math.inf for a, b in zip(u, v))
    return Verdict("failed", "numeric", f"at {_at(names, at)}: {lhs_name} = "
                   f"{cat_text(_one(u))}, {rhs_name} = {cat_text(_one(v))}",
                   samples=gap.size + tried, difference=diff), at


def _confirmed(lhs, rhs, variables, at) -> bool:
    """The difference is shown non-zero at the (exactly rational) point `at`."""
    point = {x: sympy.Rational(v) for x, v in zip(variables, at)}
    for a, b in zip(lhs, rhs):
        d = (a - b).xreplace(point)
        if d.is_number and not d.has(sympy.zoo, sympy.nan) and is_zero(d).zero is False:
            return True
    return False


def _grid(k: int) -> tuple[np.ndarray, ...]:
    if k == 1:
        return (np.linspace(0.0, 1.0, PATH_GRID),)
    axis = np.linspace(0.0, 1.0, SQUARE_GRID)
    s, t = np.meshgrid(axis, axis, indexing="ij")
    return (s.ravel(), t.ravel())


def _numeric_only(exprs, variables, span: Span) -> None:
    exprs = exprs if isinstance(exprs, tuple) else (exprs,)
    free = set().union(*(e.free_symbols for e in exprs)) - set(variables)
    if free:
        names = ", ".join(sorted(f"`{s}`" for s in map(str, free)))
        raise BackendError("E314", f"values of Paths must be numeric, but this one uses "
                           f"{names}", span, hints=("params have no value to evaluate the "
                                                    "loss at; write numbers",))


def _at(names: Sequence[str], values: Sequence[float]) -> str:
    return ", ".join(f"{n} = {cat_text(v)}" for n, v in zip(names, values))


def _one(values: tuple) -> Any:
    return values[0] if len(values) == 1 else values


def _formula(coords, names: dict) -> str:
    out = tuple(c.xreplace({k: sympy.Symbol(v) for k, v in names.items()}) for c in coords)
    return cat_text(out[0] if len(out) == 1 else out)


__all__ = ["Paths", "Point", "Path", "Homotopy", "S", "T", "compare_numerically"]
