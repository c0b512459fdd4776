"""Generic functors and transformations on Vect, given by rules (docs/language.md §6).

`R^n |-> R^(2*n)` with `m |-> m (+) m` is a functor on all of Vect; its laws quantify over
every dimension and every matrix. They are proved with matrices of symbolic size
(`MatrixSymbol`, block algebra in `blocks`): that decides the law in the symbolic
dimension n. Where it is silent, the law is tested on drawn dimensions (DIM_RANGE, 1-6)
and integer matrices, each instance decided exactly (`decide.is_zero`); a counterexample is
shrunk by hypothesis, and `passed N` names the dimensions tested. An instance that exact
algebra cannot decide is never counted as agreeing: the verdict is then `unknown`.

>>> from catdsl.syntax.parse import parse
>>> rules = parse("functor D : Vect -> Vect { R^n |-> R^(2*n); m |-> m (+) m }")
>>> D = Vect().functor(rules.statements[0].mappings, Env(), "D")
>>> D.map_id().status, D.map_comp().status
('proved', 'proved')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sympy
from sympy import Identity, ImmutableMatrix, MatMul, MatrixSymbol

from backends.symbolic import blocks
from backends.symbolic.build import Env
from backends.symbolic.check import Check, search
from backends.symbolic import vect
from backends.symbolic.decide import is_zero
from backends.symbolic.notation import cat_text
from backends.symbolic.vect import (ENTRY_RANGE, Space, as_matrix, evaluate,
                                    identity_matrix, is_object_pattern, same, size_text)

# Dimensions drawn by the property route when the block algebra is silent: every n in this
# range can be drawn (wider than the 1-4 a reader checks by hand), and a `passed` verdict
# names the dimensions it actually tested.
DIM_RANGE = (1, 6)
from catdsl.backend import BackendError
from catdsl.laws.verdict import Verdict
from catdsl.span import NOWHERE
from catdsl.syntax import ast as A


def _size_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True, positive=True)


# ---- generic functors and transformations ----------------------------------------------------


class GenericFunctor:
    """A functor Vect -> Vect given by `R^n |-> R^(…n…)` and `m |-> (…m…)`.

    Its laws are quantified over all dimensions and matrices: `map_id` (F(I(n)) = I(F n))
    and `map_comp` (F(m2 . m1) = F(m2) . F(m1)). Constructing one checks that the morphism
    rule has the type F(R^a) -> F(R^b) for m : R^a -> R^b (a static error otherwise).
    """

    def __init__(self, object_rule: tuple[A.Expr, A.Expr], morphism_rule: tuple[A.Expr, A.Expr],
                 env: Env, name: str = "F") -> None:
        pattern, self.object_image = object_rule
        if not is_object_pattern(pattern):
            raise BackendError("E312", "the object rule of a generic functor maps `R^n`",
                               pattern.span, hints=("write `R^n |-> R^(2*n)`",))
        self.size_name = pattern.right.id
        var, self.morphism_image = morphism_rule
        if not isinstance(var, A.Name):
            raise BackendError("E312", "the morphism rule of a generic functor maps a variable",
                               var.span, hints=("write `m |-> m (+) m`",))
        self.var = var.id
        self.env, self.name = env, name
        for k in range(DIM_RANGE[0], DIM_RANGE[1] + 1):  # e.g. `R^(n - 2)` at n = 1
            try:
                self.on_dim(sympy.Integer(k))
            except BackendError as e:
                raise BackendError("E307", f"{name}(R^{k}) is not a space: {e.message}",
                                   self.object_image.span) from None
        self._check_type()

    def on_dim(self, n: Any) -> Any:
        """F(R^n) as a dimension."""
        return vect.Vect().object(self.object_image, self.env.bind(**{self.size_name: n})).dim

    def on_matrix(self, m: Any) -> Any:
        """F(m) as a matrix (explicit for an explicit m, symbolic for a MatrixSymbol)."""
        return as_matrix(evaluate(self.morphism_image, self.env.bind(**{self.var: m})))

    def map_id(self, how: Check | None = None, route: str = "auto") -> Verdict:
        """F(I(n)) = I(F(R^n)) for every n."""
        how = how or Check()
        n = _size_symbol("n")
        if route != "property" and blocks.proves_equal(self.on_matrix(Identity(n)),
                                                       Identity(self.on_dim(n))):
            return Verdict("proved", "sympy")
        if route == "symbolic":
            return _not_shown()
        from hypothesis import strategies as st

        seen = _Seen()

        def fails(k):
            seen.dims(k)
            return seen.differs(self.on_matrix(identity_matrix(sympy.Integer(k))),
                                identity_matrix(self.on_dim(sympy.Integer(k))))

        found = search(st.integers(*DIM_RANGE), fails, how)
        if not found.found:
            return seen.verdict(found.tried)
        k = sympy.Integer(found.counterexample)
        lhs, rhs = self.on_matrix(identity_matrix(k)), identity_matrix(self.on_dim(k))
        return Verdict("refuted", "hypothesis", f"n = {k}: {self.name}(I({k})) = "
                       f"{cat_text(lhs)} but I({cat_text(self.on_dim(k))}) = {cat_text(rhs)}")

    def map_comp(self, how: Check | None = None, route: str = "auto") -> Verdict:
        """F(m2 . m1) = F(m2) . F(m1) for every composable m1 : R^a -> R^b, m2 : R^b -> R^c."""
        how = how or Check()
        a, b, c = _size_symbol("a"), _size_symbol("b"), _size_symbol("c")
        m1, m2 = MatrixSymbol("m1", b, a), MatrixSymbol("m2", c, b)
        if route != "property" and blocks.proves_equal(
                self.on_matrix(MatMul(m2, m1)), MatMul(self.on_matrix(m2), self.on_matrix(m1))):
            return Verdict("proved", "sympy")
        if route == "symbolic":
            return _not_shown()

        def sides(case):
            x1, x2 = case
            return self.on_matrix(x2 * x1), self.on_matrix(x2) * self.on_matrix(x1)

        seen = _Seen()

        def fails(case):
            x1, x2 = case
            seen.dims(x1.cols, x1.rows, x2.rows)
            return seen.differs(*sides(case))

        found = search(_composable_pairs(), fails, how)
        if not found.found:
            return seen.verdict(found.tried)
        x1, x2 = found.counterexample
        lhs, rhs = sides(found.counterexample)
        F = self.name
        return Verdict("refuted", "hypothesis", f"m1 = {cat_text(x1)}, m2 = {cat_text(x2)}: "
                       f"{F}(m2 . m1) = {cat_text(lhs)} but {F}(m2) . {F}(m1) = {cat_text(rhs)}")

    def laws(self, how: Check | None = None) -> dict[str, Verdict]:
        return {"map_id": self.map_id(how), "map_comp": self.map_comp(how)}

    def _check_type(self) -> None:
        a, b = _size_symbol("a"), _size_symbol("b")
        image = self.on_matrix(MatrixSymbol(self.var, b, a))
        want = (self.on_dim(b), self.on_dim(a))
        if not (same(image.shape[0], want[0]) and same(image.shape[1], want[1])):
            raise BackendError(
                "E304", f"for {self.var} : R^a -> R^b this image is {size_text(image)}, but "
                f"{self.name}({self.var}) : {Space(want[1])} -> {Space(want[0])} needs "
                f"{cat_text(want[0])}×{cat_text(want[1])}", self.morphism_image.span)


class GenericTransformation:
    """A transformation F => G between generic functors, by its rule `R^n |-> η_n`.

    Its law is naturality for every m : R^a -> R^b: G(m) . η_a = η_b . F(m). Constructing one
    checks the component type η_n : F(R^n) -> G(R^n).
    """

    def __init__(self, source: GenericFunctor, target: GenericFunctor,
                 component_rule: tuple[A.Expr, A.Expr], env: Env, name: str = "eta") -> None:
        pattern, self.image = component_rule
        if not is_object_pattern(pattern):
            raise BackendError("E312", "the rule of a transformation maps `R^n`", pattern.span)
        self.size_name = pattern.right.id
        self.source, self.target, self.env, self.name = source, target, env, name
        n = _size_symbol("n")
        c = self.component(n)
        want = (target.on_dim(n), source.on_dim(n))
        if not (same(c.shape[0], want[0]) and same(c.shape[1], want[1])):
            raise BackendError(
                "E304", f"the component at R^n is {size_text(c)}, but {name}_n : "
                f"{Space(want[1])} -> {Space(want[0])} needs {cat_text(want[0])}×"
                f"{cat_text(want[1])}", self.image.span)

    def component(self, n: Any) -> Any:
        """η at R^n, as a matrix."""
        return as_matrix(evaluate(self.image, self.env.bind(**{self.size_name: n})))

    def naturality(self, how: Check | None = None, route: str = "auto") -> Verdict:
        """G(m) . η_a = η_b . F(m) for every m : R^a -> R^b."""
        how = how or Check()
        F, G = self.source, self.target
        a, b = _size_symbol("a"), _size_symbol("b")
        m = MatrixSymbol("m", b, a)
        if route != "property" and blocks.proves_equal(
                MatMul(G.on_matrix(m), self.component(a)),
                MatMul(self.component(b), F.on_matrix(m))):
            return Verdict("proved", "sympy")
        if route == "symbolic":
            return _not_shown()

        def sides(x):
            ka, kb = sympy.Integer(x.cols), sympy.Integer(x.rows)
            return (G.on_matrix(x) * self.component(ka), self.component(kb) * F.on_matrix(x))

        seen = _Seen()

        def fails(x):
            seen.dims(x.cols, x.rows)
            return seen.differs(*sides(x))

        found = search(st_maps(), fails, how)
        if not found.found:
            return seen.verdict(found.tried)
        x = found.counterexample
        lhs, rhs = sides(x)
        e = self.name
        return Verdict("refuted", "hypothesis", f"m = {cat_text(x)}: {G.name}(m) . {e}_{x.cols} "
                       f"= {cat_text(lhs)} but {e}_{x.rows} . {F.name}(m) = {cat_text(rhs)}")


def st_maps() -> Any:
    """Matrices of every drawn shape (rows and columns in DIM_RANGE)."""
    return _shaped(2).map(lambda make: make((0, 1))[0])


def _composable_pairs() -> Any:
    """(m1, m2) with m1 : R^a -> R^b and m2 : R^b -> R^c."""
    return _shaped(3).map(lambda make: make((1, 0), (2, 1)))


def _shaped(k: int) -> Any:
    """k drawn dimensions and one list of entries, read off matrix after matrix (zeros past
    its end): `make((r, c), …)` gives matrices of dims[r] rows and dims[c] columns.

    Dimensions and entries are drawn independently (no flatmap) and the list may be short,
    so hypothesis shrinks a counterexample quickly, to 1×1 matrices with small entries.
    """
    from hypothesis import strategies as st

    dims = st.tuples(*[st.integers(*DIM_RANGE)] * k)
    pool = st.lists(st.integers(*ENTRY_RANGE), max_size=k * DIM_RANGE[1] ** 2)

    def build(drawn):
        ds, xs = drawn

        def make(*shapes):
            out, at = [], 0
            for r, c in shapes:
                n = ds[r] * ds[c]
                chunk = xs[at:at + n]
                out.append(ImmutableMatrix(ds[r], ds[c], chunk + [0] * (n - len(chunk))))
                at += n
            return tuple(out)

        return make

    return st.tuples(dims, pool).map(build)


class _Seen:
    """What a property search saw: the dimensions drawn, and instances algebra left open."""

    def __init__(self) -> None:
        self.low, self.high, self.undecided = None, None, None

    def dims(self, *ks: int) -> None:
        for k in ks:
            k = int(k)
            self.low = k if self.low is None else min(self.low, k)
            self.high = k if self.high is None else max(self.high, k)

    def differs(self, x: Any, y: Any) -> bool:
        """True only when the instance is shown unequal (a shape or an entry shown ≠ 0)."""
        if x.shape != y.shape:
            return True
        if x == y:
            return False
        for d in (x - y):
            z = is_zero(d)
            if z.zero is False:
                return True
            if z.zero is None and self.undecided is None:
                self.undecided = z.reason
        return False

    def verdict(self, tried: int) -> Verdict:
        if self.undecided is not None:
            return Verdict("unknown", "hypothesis", f"an instance was not decided exactly: "
                           f"{self.undecided}", samples=tried)
        where = (f"dimensions {self.low}-{self.high}" if self.low != self.high
                 else f"dimension {self.low}") if self.low is not None else "no dimension"
        return Verdict("passed", "hypothesis", f"not decided in the symbolic dimension by the "
                       f"block algebra; tested at {where} (drawn from {DIM_RANGE[0]}-"
                       f"{DIM_RANGE[1]}), entries {ENTRY_RANGE[0]}..{ENTRY_RANGE[1]}",
                       samples=tried)


def _not_shown() -> Verdict:
    return Verdict("unknown", "sympy", "the block-matrix algebra did not decide this law")


__all__ = ["GenericFunctor", "GenericTransformation"]


class Vect(vect.Vect):
    """`Vect` with generic functors and transformations given by rules (`HasGenericFunctors`):
    the category the registry and `backends.symbolic.Vect` name."""

    def functor(self, mappings: Sequence[A.Mapping], env: Env, name: str = "F"
                ) -> "GenericFunctor":
        """A functor Vect -> Vect from its two rules, `R^n |-> …` and `m |-> …`."""
        objects = [m for m in mappings if is_object_pattern(m.source)]
        arrows = [m for m in mappings if isinstance(m.source, A.Name)]
        for m in mappings:
            if m not in objects and m not in arrows:
                raise BackendError("E312", "a generic rule maps `R^n` or a morphism variable `m`",
                                   m.source.span)
        if len(objects) != 1 or len(arrows) != 1:
            raise BackendError(
                "E312", f"a functor on Vect needs one object rule and one morphism rule, "
                f"not {len(objects)} and {len(arrows)}",
                (mappings[0].span if mappings else NOWHERE),
                hints=("write `R^n |-> R^(2*n)` and `m |-> m (+) m`",))
        o, m = objects[0], arrows[0]
        return GenericFunctor((o.source, o.image), (m.source, m.image), env, name)

    def transformation(self, source: "GenericFunctor", target: "GenericFunctor",
                       mappings: Sequence[A.Mapping], env: Env, name: str = "eta"
                       ) -> "GenericTransformation":
        """A transformation between generic functors from its rule `R^n |-> component`."""
        if len(mappings) != 1 or not is_object_pattern(mappings[0].source):
            raise BackendError("E312", "a transformation on Vect has one rule, `R^n |-> …`",
                               mappings[0].source.span if mappings else NOWHERE)
        m = mappings[0]
        return GenericTransformation(source, target, (m.source, m.image), env, name)
