"""Equality of 2-cells in the free 2-category on a computad, modulo declared 2-cell equations.

A 2-cell term (`Term2`) is flattened into a *diagram*: its source 1-cell and a list of layers,
each layer one generating 2-cell whiskered by 1-cells, `(left, α, right)` acting on the word
`left + src(α) + right` (words in diagrammatic order, first applied first, as `Path`). Flattening
already quotients by associativity and the units of both compositions and by whiskering
(mathlib's `Bicategory` laws `id_whiskerLeft`, `whiskerLeft_comp`, `comp_whiskerRight`, …, which
hold strictly in a 2-category). What is left of the 2-category axioms is the interchange law,
`whisker_exchange`: two consecutive layers whose cells act on disjoint parts of the word slide
past each other. Two diagrams are equal in the free 2-category iff one is reached from the
other by such exchanges (Delpeuch & Vicary, "Normalization for planar string diagrams", 2018),
so the *normal form* of a diagram is the least member of its exchange class (least by the
offsets and names of its layers), found by exploring the class.

Declared equations are oriented (fewer layers on the right, then the smaller normal form) and
used as rewrite rules modulo exchange: a rule applies wherever its left side, whiskered, is a
contiguous block of some member of the class. Rewriting both sides to normal forms proves an
equation. It is refuted only when certain: the class of the left side under the equations used
both ways (and exchange) has been enumerated completely and the right side is not in it — for
a free 2-category this class is the exchange class itself. Every search is bounded by a count
(`Budget2`), never by time; a budget that runs out is `unknown` with the reason.

Axioms, as running examples (α : f => g and β : h => k side by side, A -> B -> C):

>>> from catdsl.semantics.free import Path
>>> from catdsl.semantics.module import Cell, Horizontal, Id2, Vertical
>>> f, g = Path("A", "B", ("f",)), Path("A", "B", ("g",))
>>> h, k = Path("B", "C", ("h",)), Path("B", "C", ("k",))
>>> a, b = Cell("α", f, g), Cell("β", h, k)
>>> exchange_left = Vertical(Horizontal(Id2(k), a), Horizontal(b, Id2(f)))
>>> exchange_right = Vertical(Horizontal(b, Id2(g)), Horizontal(Id2(h), a))
>>> decide2((), exchange_left, exchange_right).status              # whisker_exchange
'proved'
>>> decide2((), Vertical(Id2(g), a), a).status                      # id_comp
'proved'
>>> decide2((), exchange_left, Horizontal(b, a)).status             # = the horizontal composite
'proved'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from catdsl.semantics.free import Word
from catdsl.semantics.module import Cell, Horizontal, Id2, Term2, Vertical


@dataclass(frozen=True)
class Budget2:
    """Counts that bound the search: members of one exchange class, rewrite steps to a normal
    form, and members of the class of a side under the equations (for a refutation)."""

    max_exchange: int = 5_000
    max_steps: int = 500
    max_class: int = 2_000


@dataclass(frozen=True)
class Layer:
    """One generating 2-cell whiskered by 1-cells: acts on `left + src(cell) + right`."""

    left: Word
    cell: str
    right: Word


@dataclass(frozen=True)
class Diagram:
    """A 2-cell of the free 2-category: its source 1-cell (a word from `dom` to `cod`) and its
    layers, first applied first. The identity 2-cell on p has no layers."""

    dom: str
    cod: str
    source: Word
    layers: tuple[Layer, ...]

    def key(self) -> tuple:
        return tuple((len(x.left), x.cell) for x in self.layers)


class TooLarge(Exception):
    """A count of `Budget2` ran out."""


@dataclass(frozen=True)
class Decision2:
    status: Literal["proved", "refuted", "unknown"]
    reason: str
    lhs_normal: Diagram | None = None
    rhs_normal: Diagram | None = None


class Computad:
    """The 2-cells of a presentation (their boundaries as words) and its 2-cell equations."""

    def __init__(self, cells: Iterable[Cell], equations: Sequence[tuple[str, Term2, Term2]] = (),
                 budget: Budget2 = Budget2()) -> None:
        self.cells = {c.name: c for c in cells}
        self.budget = budget
        rules = []
        for name, lhs, rhs in equations:
            for c in _cells_of(lhs) | _cells_of(rhs):
                self.cells.setdefault(c.name, c)
            left, right = self.normal(self.diagram(lhs)), self.normal(self.diagram(rhs))
            if left == right:
                continue  # holds by the axioms alone
            if (len(left.layers), left.key()) < (len(right.layers), right.key()):
                left, right = right, left
            rules.append((name, left, right))
        self.rules = tuple(rules)

    # ---- flattening -----------------------------------------------------------------------

    def diagram(self, t: Term2) -> Diagram:
        match t:
            case Cell(name=n):
                c = self.cells.get(n, t)
                return Diagram(c.source.dom, c.source.cod, c.source.word, (Layer((), n, ()),))
            case Id2(path=p):
                return Diagram(p.dom, p.cod, p.word, ())
            case Vertical(second=b, first=a):
                first, second = self.diagram(a), self.diagram(b)
                return Diagram(first.dom, first.cod, first.source, first.layers + second.layers)
            case Horizontal(outer=b, inner=a):
                inner, outer = self.diagram(a), self.diagram(b)
                after_inner = self.target(inner)
                layers = tuple(Layer(x.left, x.cell, x.right + outer.source) for x in inner.layers)
                layers += tuple(Layer(after_inner + x.left, x.cell, x.right) for x in outer.layers)
                return Diagram(inner.dom, outer.cod, inner.source + outer.source, layers)
        raise TypeError(f"not a 2-cell term: {t!r}")

    def src(self, cell: str) -> Word:
        return self.cells[cell].source.word

    def tgt(self, cell: str) -> Word:
        return self.cells[cell].target.word

    def target(self, d: Diagram) -> Word:
        word = d.source
        for x in d.layers:
            word = x.left + self.tgt(x.cell) + x.right
        return word

    # ---- exchange (interchange) -----------------------------------------------------------

    def exchanges(self, d: Diagram) -> Iterable[Diagram]:
        """Diagrams one exchange away: consecutive layers acting on disjoint parts of the word
        swapped (the interchange law; both ways round when a cell with no target meets one with
        no source at the same place)."""
        word = d.source
        for k in range(len(d.layers) - 1):
            one, two = d.layers[k], d.layers[k + 1]
            o1, n1, m1 = len(one.left), len(self.tgt(one.cell)), len(self.src(one.cell))
            o2, m2, n2 = len(two.left), len(self.src(two.cell)), len(self.tgt(two.cell))
            swaps = []
            if o2 >= o1 + n1:  # two lies to the right of one's output
                swaps.append((o2 - n1 + m1, o1))
            if o1 >= o2 + m2:  # two lies to the left of one's output
                swaps.append((o2, o1 - m2 + n2))
            for p2, p1 in swaps:
                first = _at(word, p2, two.cell, m2)
                after = first.left + self.tgt(two.cell) + first.right
                second = _at(after, p1, one.cell, m1)
                yield Diagram(d.dom, d.cod, d.source, d.layers[:k] + (first, second) + d.layers[k + 2:])
            word = one.left + self.tgt(one.cell) + one.right

    def exchange_class(self, d: Diagram) -> list[Diagram]:
        seen = {d}
        todo = deque([d])
        while todo:
            for e in self.exchanges(todo.popleft()):
                if e not in seen:
                    seen.add(e)
                    if len(seen) > self.budget.max_exchange:
                        raise TooLarge(f"an exchange class has more than {self.budget.max_exchange} "
                                       "members")
                    todo.append(e)
        return sorted(seen, key=Diagram.key)

    def normal(self, d: Diagram) -> Diagram:
        """The least member of the exchange class: equal iff equal in the free 2-category."""
        return self.exchange_class(d)[0]

    # ---- declared equations -----------------------------------------------------------------

    def rewrites(self, d: Diagram, both_ways: bool = False) -> Iterable[Diagram]:
        """Normal forms one application of a rule away (modulo exchange), in a fixed order."""
        rules = [(left, right) for _, left, right in self.rules]
        if both_ways:
            rules += [(right, left) for _, left, right in self.rules]
        if not rules:
            return
        for member in self.exchange_class(d):
            for left, right in rules:
                for new in self._replace(member, left, right):
                    yield self.normal(new)

    def _replace(self, d: Diagram, left: Diagram, right: Diagram) -> Iterable[Diagram]:
        n = len(left.layers)
        words = [d.source]
        for x in d.layers:
            words.append(x.left + self.tgt(x.cell) + x.right)
        for k in range(len(d.layers) - n + 1):
            block, word = d.layers[k:k + n], words[k]
            for u in range(len(word) - len(left.source) + 1):
                if word[u:u + len(left.source)] != left.source:
                    continue
                v = len(word) - u - len(left.source)
                inner = []
                for x in block:
                    if len(x.left) < u or len(x.right) < v or x.left[:u] != word[:u] or (
                            v and x.right[len(x.right) - v:] != word[len(word) - v:]):
                        break
                    inner.append(Layer(x.left[u:], x.cell, x.right[:len(x.right) - v]))
                else:
                    if n == 0 or self.normal(Diagram(left.dom, left.cod, left.source, tuple(inner))) != left:
                        continue
                    outer_left, outer_right = word[:u], word[len(word) - v:]
                    middle = tuple(Layer(outer_left + x.left, x.cell, x.right + outer_right)
                                   for x in right.layers)
                    yield Diagram(d.dom, d.cod, d.source, d.layers[:k] + middle + d.layers[k + n:])

    def reduce(self, d: Diagram) -> tuple[Diagram, bool]:
        """Rewrite with the oriented rules until none applies; (result, whether it did)."""
        d = self.normal(d)
        for _ in range(self.budget.max_steps):
            step = next(iter(self.rewrites(d)), None)
            if step is None:
                return d, True
            d = step
        return d, False

    def equational_class(self, d: Diagram) -> set[Diagram] | None:
        """Every normal form equal to `d` under the equations used both ways; None when there
        are more than the budget allows."""
        d = self.normal(d)
        seen = {d}
        todo = deque([d])
        while todo:
            for e in self.rewrites(todo.popleft(), both_ways=True):
                if e not in seen:
                    seen.add(e)
                    if len(seen) > self.budget.max_class:
                        return None
                    todo.append(e)
        return seen

    def render(self, d: Diagram) -> str:
        """A layered diagram in `.cat` notation: whiskered cells, first applied first (`>>`)."""
        if not d.layers:
            return f"id({' . '.join(reversed(d.source)) or d.dom})"
        return " >> ".join(_layer(x, self) for x in d.layers)


def decide2(computad: Computad | Iterable[Cell], lhs: Term2, rhs: Term2,
            free_1cells: bool = True) -> Decision2:
    """lhs = rhs in the 2-category presented by the computad and its 2-cell equations.

    `free_1cells` says the 1-cells satisfy no equations; otherwise a refutation is not certain
    (1-cell equations could identify whiskers) and only `proved` or `unknown` is reported.
    """
    if not isinstance(computad, Computad):
        computad = Computad(list(computad) + list(_cells_of(lhs) | _cells_of(rhs)))
    c = computad
    for t in (lhs, rhs):
        for cell in _cells_of(t):
            c.cells.setdefault(cell.name, cell)
    try:
        left, right = c.normal(c.diagram(lhs)), c.normal(c.diagram(rhs))
        if left == right:
            return Decision2("proved", "equal by the 2-category axioms (interchange, units, "
                             "associativity, whiskering)", left, right)
        nl, _ = c.reduce(left)
        nr, _ = c.reduce(right)
        if nl == nr:
            return Decision2("proved", "both sides rewrite to one normal form", nl, nr)
        if any(not small.layers for _, _, small in c.rules):
            # an equation with an identity side may be used backwards anywhere its 1-cell occurs,
            # inserting layers without bound: the class below could not be enumerated completely
            return Decision2("unknown", "the sides rewrite to different normal forms, but an "
                             "equation with an identity side can insert cells anywhere, so no "
                             "complete search shows them different", nl, nr)
        cls = c.equational_class(left)
        if cls is not None and right in cls:
            return Decision2("proved", "a chain of the declared equations joins the sides", left, right)
        if cls is None:
            return Decision2("unknown", f"the sides rewrite to different normal forms, but the "
                             f"class of the left side under the equations has more than "
                             f"{c.budget.max_class} members, so they may still be equal", nl, nr)
        if not free_1cells:
            return Decision2("unknown", "the normal forms differ, but the presentation has "
                             "equations between 1-cells, which could identify the whiskers", nl, nr)
        how = (f"its class under the declared equations ({len(cls)} diagrams) does not contain "
               "the right side") if c.rules else "no interchange of layers relates them"
        return Decision2("refuted", f"the sides differ in the free 2-category: {how}", left, right)
    except TooLarge as e:
        return Decision2("unknown", f"budget exhausted: {e}")


def _at(word: Word, offset: int, cell: str, width: int) -> Layer:
    return Layer(word[:offset], cell, word[offset + width:])


def _cells_of(t: Term2) -> set[Cell]:
    match t:
        case Cell():
            return {t}
        case Id2():
            return set()
        case Vertical(second=b, first=a) | Horizontal(outer=b, inner=a):
            return _cells_of(a) | _cells_of(b)
    return set()


def _word(word: Word, obj: str) -> str:
    """A 1-cell word in `.cat` notation (applicative, outermost first)."""
    if not word:
        return f"id({obj})"
    return word[0] if len(word) == 1 else "(" + " . ".join(reversed(word)) + ")"


def _layer(x: Layer, c: Computad) -> str:
    """`right * α * left`: a horizontal composite is written outer * inner, and the left whisker
    (applied first) is the inner one."""
    parts = ([_word(x.right, "")] if x.right else []) + [x.cell] + ([_word(x.left, "")] if x.left else [])
    return "(" + " * ".join(parts) + ")" if len(parts) > 1 else x.cell
