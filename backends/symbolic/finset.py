"""FinSet: finite sets and total functions between them, decided exactly by enumeration.

Objects are `{a, b, c}` (atoms are names or integers) or `n` (= {0, …, n-1}); morphisms are
tables `{a: x, b: y}` or lists `[0, 2, 1]` (the images of the domain's elements in order).
Pullbacks are fibre products {(a, b) | f(a) = g(b)}; a candidate square is universal iff the
comparison map P -> fibre product is a bijection (cones from the one-point set suffice).
Pushouts are A ⊔ B modulo the equivalence f(c) ~ g(c) generates (elements tagged `(0, a)`,
`(1, b)`); a cocone is universal iff A ⊔ B -> Q is onto with exactly that kernel (cocones into
the two-point set suffice).

Axioms, as running examples:

>>> X = FiniteSet(("a", "b"))
>>> f = Function(X, X, ("b", "a"))
>>> S = FinSet()
>>> S.equal(S.compose(f, f), S.identity(X)).status, S.equal(f, S.identity(X)).witness
('proved', 'at a: lhs = b, rhs = a')
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Hashable

from backends.symbolic.build import Env, check_size, number
from backends.symbolic.check import Check
from backends.symbolic.notation import cat_text
from catdsl.backend import BackendError, SemanticRef
from catdsl.laws.verdict import Verdict
from catdsl.span import NOWHERE, Span
from catdsl.syntax import ast as A

Element = Hashable  # an atom (str), an integer, or a pair (from a fibre product)


@dataclass(frozen=True)
class FiniteSet:
    """A finite set, its elements in the order written."""

    elements: tuple[Element, ...]

    def __str__(self) -> str:
        return "{" + ", ".join(cat_text(x) for x in self.elements) + "}"

    def __contains__(self, x: Element) -> bool:
        return x in self._members

    @property
    def _members(self) -> frozenset:
        return frozenset(self.elements)


@dataclass(frozen=True)
class Function:
    """A total function dom -> cod: `images[i]` is the image of `dom.elements[i]`."""

    dom: FiniteSet
    cod: FiniteSet
    images: tuple[Element, ...]
    span: Span = field(default=NOWHERE, compare=False, repr=False)

    def __call__(self, x: Element) -> Element:
        return self.images[self.dom.elements.index(x)]

    def table(self) -> dict[Element, Element]:
        return dict(zip(self.dom.elements, self.images))

    def __str__(self) -> str:
        return "{" + ", ".join(f"{cat_text(x)}: {cat_text(y)}"
                               for x, y in zip(self.dom.elements, self.images)) + "}"


class FinSet:
    """The semantic category `FinSet` (docs/language.md §7, docs/checking.md)."""

    name = "FinSet"

    def __init__(self, ref: SemanticRef | None = None) -> None:
        if ref is not None and (ref.args or ref.kwargs):
            raise BackendError("E311", "`FinSet` takes no arguments", ref.span)

    def object(self, value: A.Expr, env: Env | None = None) -> FiniteSet:
        """`{a, b, c}` or `n` = {0, …, n-1}."""
        match value:
            case A.Number():
                n = number(value)
                if n.is_Integer and n >= 0:
                    check_size(n, value, "the size of the finite set")
                    return FiniteSet(tuple(range(int(n))))
                raise BackendError("E307", f"a finite set `n` needs a non-negative integer, "
                                   f"not `{value.text}`", value.span)
            case A.SetExpr(items=items):
                elements = [_element(x) for x in items]
                for x, node in zip(elements, items):
                    if elements.count(x) > 1:
                        raise BackendError("E309", f"`{cat_text(x)}` is listed twice",
                                           node.span)
                return FiniteSet(tuple(elements))
        raise BackendError("E306", "expected an object of FinSet, `{a, b, c}` or `n`",
                           value.span, hints=("`3` is the set {0, 1, 2}",))

    def morphism(self, value: A.Expr, dom: FiniteSet, cod: FiniteSet, env: Env | None = None,
                 name: str | None = None) -> Function:
        """A table `{a: x, …}` (every element of dom once) or a list of images in order."""
        what = f"{name} : {dom} -> {cod}" if name else f"a function {dom} -> {cod}"
        match value:
            case A.TableExpr(entries=entries):
                pairs = [(_element(k), k, _element(v), v) for k, v in entries]
            case A.SetExpr(items=()):  # `{}`: the empty table
                pairs = []
            case A.ListExpr(items=items):
                if len(items) != len(dom.elements):
                    raise BackendError(
                        "E309", f"this list has {len(items)} images but {what} needs "
                        f"{len(dom.elements)}, one per element of {dom}", value.span)
                pairs = [(x, v, _element(v), v) for x, v in zip(dom.elements, items)]
            case _:
                raise BackendError("E303", f"expected a table `{{a: x, …}}` or a list of "
                                   f"images for {what}", value.span)
        table: dict[Element, Element] = {}
        for x, key, y, image in pairs:
            if x not in dom:
                raise BackendError("E309", f"`{cat_text(x)}` is not an element of the domain "
                                   f"{dom}", key.span)
            if x in table:
                raise BackendError("E309", f"`{cat_text(x)}` is mapped twice", key.span)
            if y not in cod:
                raise BackendError("E309", f"`{cat_text(y)}` is not an element of the "
                                   f"codomain {cod}", image.span)
            table[x] = y
        missing = [x for x in dom.elements if x not in table]
        if missing:
            raise BackendError(
                "E309", f"{what} does not map {', '.join(f'`{cat_text(x)}`' for x in missing)}",
                value.span, hints=("a function must send every element of its domain",))
        return Function(dom, cod, tuple(table[x] for x in dom.elements), value.span)

    def identity(self, obj: FiniteSet) -> Function:
        return Function(obj, obj, obj.elements)

    def compose(self, g: Function, f: Function) -> Function:
        """g . f: x ↦ g(f(x))."""
        if f.cod != g.dom:
            raise BackendError("E308", f"`g . f` does not compose: f lands in {f.cod} but g "
                               f"starts at {g.dom}", g.span if g.span is not NOWHERE else f.span)
        table = g.table()
        return Function(f.dom, g.cod, tuple(table[y] for y in f.images), f.span)

    def equal(self, a: Function, b: Function, how: Check | None = None) -> Verdict:
        """Equal as functions; otherwise the first element where they differ."""
        if a.dom != b.dom or a.cod != b.cod:
            return Verdict("error", "exact", f"lhs : {a.dom} -> {a.cod} but rhs : {b.dom} -> "
                           f"{b.cod}")
        for x, y, z in zip(a.dom.elements, a.images, b.images):
            if y != z:
                return Verdict("refuted", "exact",
                               f"at {cat_text(x)}: lhs = {cat_text(y)}, rhs = {cat_text(z)}")
        return Verdict("proved", "exact")

    def samples(self, dom: FiniteSet, cod: FiniteSet) -> Any:
        """A hypothesis strategy of functions dom -> cod."""
        from hypothesis import strategies as st

        if not cod.elements:
            return st.just(Function(dom, cod, ())) if not dom.elements else st.nothing()
        images = st.lists(st.sampled_from(cod.elements), min_size=len(dom.elements),
                          max_size=len(dom.elements))
        return images.map(lambda ys: Function(dom, cod, tuple(ys)))

    def render(self, x: FiniteSet | Function) -> str:
        return str(x)

    # ---- limits --------------------------------------------------------------------------

    def pullback(self, f: Function, g: Function) -> tuple[FiniteSet, Function, Function]:
        """The fibre product P = {(a, b) | f(a) = g(b)} with its projections."""
        if f.cod != g.cod:
            raise BackendError("E308", f"a pullback needs a common codomain: {f.cod} ≠ {g.cod}",
                               g.span)
        pairs = tuple((a, b) for a, fa in zip(f.dom.elements, f.images)
                      for b, gb in zip(g.dom.elements, g.images) if fa == gb)
        P = FiniteSet(pairs)
        return (P, Function(P, f.dom, tuple(a for a, _ in pairs)),
                Function(P, g.dom, tuple(b for _, b in pairs)))

    # ---- finite limits: the one-point set, equalizers (products are pullbacks over it) ----

    def terminal(self) -> FiniteSet:
        return FiniteSet((0,))

    def to_terminal(self, x: FiniteSet) -> Function:
        return Function(x, self.terminal(), (0,) * len(x.elements))

    def is_terminal(self, x: FiniteSet) -> Verdict:
        """Terminal iff one element: from {*} there are |x| maps into x."""
        if len(x.elements) == 1:
            return Verdict("proved", "exact", witness=f"{x} has one element")
        return Verdict("refuted", "exact", witness=(
            f"{x} is empty: no map {{*}} -> {x}" if not x.elements else
            f"{{*}} has {len(x.elements)} maps into {x}, not one"))

    def equalizer_universal(self, apex: FiniteSet, e: Function, f: Function, g: Function,
                            how: Check | None = None) -> Verdict:
        """(apex, e) equalizes f, g iff f e = g e and e is a bijection onto {a | f a = g a}."""
        square = self.equal(self.compose(f, e), self.compose(g, e), how)
        if square.status != "proved":
            return Verdict(square.status, "exact", f"f . e ≠ g . e: {square.witness}")
        images = [e(x) for x in apex.elements]
        twice = [a for a, k in Counter(images).items() if k > 1]
        if twice:
            xs = [x for x in apex.elements if e(x) == twice[0]]
            return Verdict("refuted", "exact", f"e is not injective: e({cat_text(xs[0])}) = e({cat_text(xs[1])}) "
                           f"= {cat_text(twice[0])}, so the cone * ↦ {cat_text(twice[0])} has two mediating maps")
        missing = [a for a in f.dom.elements if f(a) == g(a) and a not in set(images)]
        if missing:
            return Verdict("refuted", "exact", f"f({cat_text(missing[0])}) = g({cat_text(missing[0])}) but "
                           f"{cat_text(missing[0])} is not in the image of e: the cone * ↦ "
                           f"{cat_text(missing[0])} does not factor")
        return Verdict("proved", "exact")

    def mediate(self, apex: FiniteSet, p: Function, q: Function, cone_p: Function,
                cone_q: Function) -> Function:
        """The map x ↦ the y of `apex` with p(y) = cone_p(x) and q(y) = cone_q(x) (unique when
        (apex, p, q) is a pullback and the cone commutes); E308 when some x has none."""
        by_pair = {(p(y), q(y)): y for y in apex.elements}
        images = []
        for x in cone_p.dom.elements:
            pair = (cone_p(x), cone_q(x))
            if pair not in by_pair:
                raise BackendError("E308", f"the cone does not factor through {apex}: nothing lies over "
                                   f"({cat_text(pair[0])}, {cat_text(pair[1])})", cone_p.span)
            images.append(by_pair[pair])
        return Function(cone_p.dom, apex, tuple(images))

    def universal(self, apex: FiniteSet, p: Function, q: Function, f: Function, g: Function,
                  how: Check | None = None) -> Verdict:
        """(apex, p, q) is a pullback of f, g iff the square commutes and x ↦ (p x, q x) is a
        bijection onto the fibre product; a failure is shown by a cone from {*}."""
        square = self.equal(self.compose(f, p), self.compose(g, q), how)
        if square.status != "proved":
            return Verdict(square.status, "exact",
                           f"the square does not commute: {square.witness}")
        pairs = [(p(x), q(x)) for x in apex.elements]
        twice = [pair for pair, k in Counter(pairs).items() if k > 1]
        if twice:
            a, b = twice[0]
            xs = [x for x, pair in zip(apex.elements, pairs) if pair == (a, b)]
            return Verdict("refuted", "exact", (
                f"the cone ({{*}}, * ↦ {cat_text(a)}, * ↦ {cat_text(b)}) has two mediating "
                f"maps: * ↦ {cat_text(xs[0])} and * ↦ {cat_text(xs[1])}"))
        fibre, _, _ = self.pullback(f, g)
        missing = [pair for pair in fibre.elements if pair not in set(pairs)]
        if missing:
            a, b = missing[0]
            return Verdict("refuted", "exact", (
                f"the cone ({{*}}, * ↦ {cat_text(a)}, * ↦ {cat_text(b)}) commutes "
                f"(f({cat_text(a)}) = g({cat_text(b)}) = {cat_text(f(a))}) but has no "
                f"mediating map"))
        return Verdict("proved", "exact")

    # ---- colimits ------------------------------------------------------------------------

    def pushout(self, f: Function, g: Function) -> tuple[FiniteSet, Function, Function]:
        """A ⊔ B quotiented by the equivalence generated by f(c) ~ g(c), with its injections.

        An element of A ⊔ B is tagged `(0, a)` or `(1, b)`; a class is named by its first member
        in that order (A's elements, then B's)."""
        if f.dom != g.dom:
            raise BackendError("E308", f"a pushout needs a common domain: {f.dom} ≠ {g.dom}", g.span)
        find = _classes(f, g)
        tagged = [(0, a) for a in f.cod.elements] + [(1, b) for b in g.cod.elements]
        Q = FiniteSet(tuple(dict.fromkeys(find(x) for x in tagged)))
        return (Q, Function(f.cod, Q, tuple(find((0, a)) for a in f.cod.elements)),
                Function(g.cod, Q, tuple(find((1, b)) for b in g.cod.elements)))

    def comediate(self, apex: FiniteSet, i: Function, j: Function, cocone_i: Function,
                  cocone_j: Function) -> Function:
        """The map y ↦ cocone_i(a) for y = i(a), cocone_j(b) for y = j(b) (unique when
        (apex, i, j) is a pushout and the cocone commutes); E308 when it is not a function."""
        table: dict[Element, Element] = {}
        for leg, cocone in ((i, cocone_i), (j, cocone_j)):
            for x in leg.dom.elements:
                y, z = leg(x), cocone(x)
                if table.setdefault(y, z) != z:
                    raise BackendError("E308", f"the cocone does not factor through {apex}: "
                                       f"{cat_text(y)} would go to both {cat_text(table[y])} and "
                                       f"{cat_text(z)}", cocone.span)
        missing = [y for y in apex.elements if y not in table]
        if missing:
            raise BackendError("E308", f"the cocone does not factor uniquely through {apex}: "
                               f"{cat_text(missing[0])} is reached by neither leg", cocone_i.span)
        return Function(apex, cocone_i.cod, tuple(table[y] for y in apex.elements))

    def couniversal(self, apex: FiniteSet, i: Function, j: Function, f: Function, g: Function,
                    how: Check | None = None) -> Verdict:
        """(apex, i, j) is a pushout of f, g iff the square commutes, [i, j] : A ⊔ B -> apex is
        onto, and it identifies exactly the elements that f(c) ~ g(c) generates; a failure is
        shown by a cocone into {0, 1}."""
        square = self.equal(self.compose(i, f), self.compose(j, g), how)
        if square.status != "proved":
            return Verdict(square.status, "exact", f"the square does not commute: {square.witness}")
        reached = set(i.images) | set(j.images)
        missing = [y for y in apex.elements if y not in reached]
        if missing:
            return Verdict("refuted", "exact", (
                "the cocone ({0, 1}, _ ↦ 0, _ ↦ 0) has two mediating maps: everything ↦ 0, and "
                f"{cat_text(missing[0])} ↦ 1 (no element of A or B reaches {cat_text(missing[0])})"))
        find = _classes(f, g)
        tagged = [(0, a) for a in f.cod.elements] + [(1, b) for b in g.cod.elements]
        leg = {(0, a): i(a) for a in f.cod.elements} | {(1, b): j(b) for b in g.cod.elements}
        first: dict[Element, tuple] = {}
        for x in tagged:
            y = first.setdefault(leg[x], x)
            if find(y) != find(x):
                return Verdict("refuted", "exact", (
                    f"the cocone ({{0, 1}}, 1 on the class of {_side(y)}, 0 elsewhere) commutes "
                    f"but has no mediating map: {_side(y)} and {_side(x)} both go to "
                    f"{cat_text(leg[x])}, yet no chain f(c) = … = g(c') joins them"))
        return Verdict("proved", "exact")


def _side(x: tuple) -> str:
    """An element of A ⊔ B as the leg it lies on: `i(a)` or `j(b)`."""
    return f"{'ij'[x[0]]}({cat_text(x[1])})"


def _classes(f: Function, g: Function):
    """The class representative in A ⊔ B of the equivalence generated by (0, f c) ~ (1, g c):
    the first member in the order A's elements, then B's (union–find)."""
    order = {x: k for k, x in enumerate([(0, a) for a in f.cod.elements] +
                                        [(1, b) for b in g.cod.elements])}
    parent = {x: x for x in order}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for c in f.dom.elements:
        x, y = find((0, f(c))), find((1, g(c)))
        if x != y:
            first, second = (x, y) if order[x] < order[y] else (y, x)
            parent[second] = first
    return find


def _element(node: A.Expr) -> Element:
    """An element written in a set or table: a name (an atom) or an integer."""
    match node:
        case A.Name(id=x):
            return x
        case A.Number():
            n = number(node)
            if n.is_Integer:
                return int(n)
        case A.Neg(operand=A.Number() as inner):
            n = number(inner)
            if n.is_Integer:
                return -int(n)
        case A.Tuple(items=items):
            return tuple(_element(x) for x in items)
    raise BackendError("E303", "an element of a finite set is a name or an integer",
                       node.span)


__all__ = ["FinSet", "FiniteSet", "Function"]
