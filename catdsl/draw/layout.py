"""Where a presentation's objects and arrows go when it is drawn as a commutative diagram.

Objects sit on a grid: the column of an object is its layer in a longest-path order of the
generators (every arrow points rightwards or stays in its column when the graph has cycles,
which are broken at the arrows that close them, in declaration order), and the rows of a column
are ordered by the barycenter heuristic, which moves an object towards the mean row of its
neighbours to reduce crossings. Ties are broken by declaration order and rows are assigned
near the barycenter rather than packed, so a small edit moves little of the picture: an added
object or arrow leaves the others where they were unless it changes their layers. A commuting
square (a pullback, a pushout, or an equation `k . g = h . f` of two composites of two arrows)
is then redrawn as a square where its places are free. Parallel arrows are bent apart symmetrically; an arrow from an
object to itself is a loop, loops on one object spread around it.

>>> from catdsl.semantics.free import Generator
>>> from catdsl.semantics.module import Presentation
>>> square = Presentation("Square", ("A", "B", "C", "D"),
...     (Generator("f", "A", "B"), Generator("g", "A", "C"), Generator("h", "B", "D"),
...      Generator("k", "C", "D")), (), (), ())
>>> sorted(layout(square).position.items())    # layered: A | B, C | D, a diamond
[('A', (0, 0)), ('B', (1, 0)), ('C', (1, 1)), ('D', (2, 0))]
>>> from catdsl.semantics.free import Path
>>> from catdsl.semantics.module import Equation
>>> eq = Equation("square", Path("A", "D", ("f", "h")), Path("A", "D", ("g", "k")))
>>> sorted(layout(replace(square, equations=(eq,))).position.items())   # the equation: a square
[('A', (0, 0)), ('B', (1, 0)), ('C', (0, 1)), ('D', (1, 1))]
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from catdsl.semantics.module import Cell, Horizontal, Id2, Presentation, Vertical

BARYCENTER_SWEEPS = 4  # down-and-up passes; more rarely changes an order of a small diagram


@dataclass(frozen=True)
class Arrow:
    """A generator as drawn: `bend` is a signed multiple of one bend step (0: straight), `loop`
    the direction in degrees a loop leaves its object (None: not a loop)."""

    name: str
    source: str
    target: str
    bend: float = 0.0
    loop: float | None = None


@dataclass(frozen=True)
class TwoCell:
    """A 2-cell as a double arrow between the arrows (or objects, for an identity) it connects."""

    name: str
    source: str  # a generator's name, or an object's for an identity 1-cell
    target: str
    source_is_object: bool = False
    target_is_object: bool = False


@dataclass(frozen=True)
class Corner:
    """The corner mark of a pullback (`⌟` at the apex, pointing at the cospan's vertex) or of a
    pushout (`⌜` at the apex, pointing at the span's vertex)."""

    kind: str  # "pullback" | "pushout"
    apex: str
    opposite: str
    legs: tuple[str, str]  # the other ends of the apex's two arrows: the mark sits between them


@dataclass(frozen=True)
class Layout:
    """A presentation's drawing: grid positions (column, row) of its objects, its arrows, its
    2-cells, corner marks and the equations to list under it (as `.cat` text)."""

    name: str
    position: dict[str, tuple[int, int]]
    arrows: tuple[Arrow, ...]
    cells: tuple[TwoCell, ...]
    corners: tuple[Corner, ...]
    equations: tuple[tuple[str, str, str], ...]  # (name, lhs, rhs)

    @property
    def columns(self) -> int:
        return 1 + max((c for c, _ in self.position.values()), default=-1)

    @property
    def rows(self) -> int:
        return 1 + max((r for _, r in self.position.values()), default=-1)


def layout(p: Presentation) -> Layout:
    linked = {o for g in p.generators if g.dom != g.cod for o in (g.dom, g.cod)}
    connected = replace(p, objects=tuple(o for o in p.objects if o in linked))
    column = _layers(connected)
    row = _rows(connected, column)
    position = _squares(connected, {o: (column[o], row[o]) for o in connected.objects})
    # objects with no arrow to another go on a row of their own under the rest, so adding one
    # moves nothing else
    alone = [o for o in p.objects if o not in linked]
    below = 1 + max((r for _, r in position.values()), default=-1)
    position.update({o: (i, below) for i, o in enumerate(alone)})
    position = {o: position[o] for o in p.objects}
    return Layout(p.name, position, _arrows(p, position), _cells(p), _corners(p), _equations(p))


def _layers(p: Presentation) -> dict[str, int]:
    """Longest-path layering of the graph of generators, cycles broken in declaration order."""
    order = {o: i for i, o in enumerate(p.objects)}
    out: dict[str, list[str]] = defaultdict(list)
    for g in p.generators:
        if g.dom != g.cod and g.cod not in out[g.dom]:
            out[g.dom].append(g.cod)
    # depth-first search from each object in declaration order; an edge to an object on the
    # stack closes a cycle and is left out of the order
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    kept: dict[str, list[str]] = defaultdict(list)
    finished: list[str] = []
    for root in p.objects:
        if root in state:
            continue
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = 2
                finished.append(node)
            elif state.get(child) != 1:
                kept[node].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(out[child])))
    layer = {o: 0 for o in p.objects}
    for node in reversed(finished):  # a topological order of the kept edges
        for child in kept[node]:
            layer[child] = max(layer[child], layer[node] + 1)
    return dict(sorted(layer.items(), key=lambda item: order[item[0]]))


def _rows(p: Presentation, column: dict[str, int]) -> dict[str, int]:
    """Rows within each column by the barycenter heuristic, placed near their barycenters."""
    index = {o: i for i, o in enumerate(p.objects)}
    neighbours: dict[str, list[str]] = defaultdict(list)
    for g in p.generators:
        if g.dom != g.cod:
            neighbours[g.dom].append(g.cod)
            neighbours[g.cod].append(g.dom)
    columns: dict[int, list[str]] = defaultdict(list)
    for o in p.objects:
        columns[column[o]].append(o)
    row = {o: float(i) for c in columns.values() for i, o in enumerate(c)}
    ncols = max(columns, default=-1) + 1
    for sweep in range(BARYCENTER_SWEEPS):
        sides = range(1, ncols) if sweep % 2 == 0 else range(ncols - 2, -1, -1)
        for c in sides:
            before = (lambda o: column[o] < c) if sweep % 2 == 0 else (lambda o: column[o] > c)

            def barycenter(o: str) -> float:
                near = [row[n] for n in neighbours[o] if before(n)]
                return sum(near) / len(near) if near else row[o]

            wanted = {o: barycenter(o) for o in columns[c]}
            columns[c].sort(key=lambda o: (wanted[o], index[o]))
            _place(columns[c], wanted, row)
    lowest = min(row.values(), default=0.0)
    return {o: int(round(row[o] - lowest)) for o in p.objects}


def _place(ordered: list[str], wanted: dict[str, float], row: dict[str, float]) -> None:
    """Integer rows in the given order, each as near its wanted row as the ones above allow."""
    floor = None
    for o in ordered:
        r = max(0.0, float(round(wanted[o])))
        if floor is not None and r <= floor:
            r = floor + 1
        row[o] = r
        floor = r


def _squares(p: Presentation, position: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Commuting squares drawn as squares: for each declared pullback or pushout, then each
    equation between two composites of two arrows `X -> Y1 -> Z = X -> Y2 -> Z`, put Y1 right of
    X, Y2 below it and Z diagonally opposite, when those places are free. Empty columns and rows
    are then dropped."""
    quads = []
    for c in p.pullbacks:  # P -> A, P -> B, A -> C, B -> C
        quads.append((c.apex, c.f.dom, c.g.dom, c.f.cod))
    for c in p.pushouts:  # C -> A, C -> B, A -> Q, B -> Q
        quads.append((c.f.dom, c.f.cod, c.g.cod, c.apex))
    for e in p.equations:
        if e.dimension == 1 and len(e.lhs.word) == 2 and len(e.rhs.word) == 2:
            first, second = p.generator.get(e.lhs.word[0]), p.generator.get(e.rhs.word[0])
            if first is not None and second is not None:
                quads.append((e.lhs.dom, first.cod, second.cod, e.lhs.cod))
    position = dict(position)
    for corner, right, down, opposite in quads:
        if len({corner, right, down, opposite}) < 4 or not all(o in position for o in (right, down, opposite)):
            continue
        c, r = position[corner]
        wanted = {right: (c + 1, r), down: (c, r + 1), opposite: (c + 1, r + 1)}
        taken = {pos: o for o, pos in position.items() if o not in wanted}
        if not any(pos in taken for pos in wanted.values()):
            position.update(wanted)
    columns = sorted({c for c, _ in position.values()})
    rows = sorted({r for _, r in position.values()})
    return {o: (columns.index(c), rows.index(r)) for o, (c, r) in position.items()}


def _arrows(p: Presentation, position: dict[str, tuple[int, int]]) -> tuple[Arrow, ...]:
    """Generators with their bends: parallel arrows (either direction) spread symmetrically,
    loops spread around their object, away from its other arrows where possible."""
    between: dict[frozenset, list] = defaultdict(list)
    loops: dict[str, list] = defaultdict(list)
    for g in p.generators:
        (loops[g.dom] if g.dom == g.cod else between[frozenset((g.dom, g.cod))]).append(g)
    drawn = {}
    for group in between.values():
        n = len(group)
        first = group[0]
        for i, g in enumerate(group):
            bend = (n - 1) / 2 - i  # the first declared on top (left of travel), so α : f => g points down
            # bends are to the left of the direction of travel: a reversed arrow bends the other way
            if (g.dom, g.cod) != (first.dom, first.cod):
                bend = -bend
            drawn[g.name] = Arrow(g.name, g.dom, g.cod, bend=bend)
    for obj, group in loops.items():
        for i, g in enumerate(group):
            drawn[g.name] = Arrow(g.name, obj, obj, loop=_loop_direction(obj, i, p, position))
    return tuple(drawn[g.name] for g in p.generators)


LOOP_DIRECTIONS = (90.0, 270.0, 180.0, 0.0, 45.0, 135.0, 225.0, 315.0)  # up, down, left, right, …


def _loop_direction(obj: str, i: int, p: Presentation, position) -> float:
    """The i-th free direction (degrees, counterclockwise, 0 = right) around `obj`."""
    taken = set()
    c, r = position[obj]
    for g in p.generators:
        other = g.cod if g.dom == obj else g.dom if g.cod == obj else None
        if other is None or other == obj:
            continue
        oc, orow = position[other]
        dx, dy = oc - c, r - orow  # rows grow downwards
        taken.add(90.0 * round(((_angle(dx, dy)) % 360) / 90) % 360)
    free = [d for d in LOOP_DIRECTIONS if d not in taken] + [d for d in LOOP_DIRECTIONS if d in taken]
    return free[i % len(free)]


def _angle(dx: float, dy: float) -> float:
    import math

    return math.degrees(math.atan2(dy, dx))


def _cells(p: Presentation) -> tuple[TwoCell, ...]:
    """Each generating 2-cell between the middle generators of its source and target paths."""
    out = []
    for cell in p.cells:
        src, src_obj = _anchor(cell.source)
        tgt, tgt_obj = _anchor(cell.target)
        out.append(TwoCell(cell.name, src, tgt, src_obj, tgt_obj))
    return tuple(out)


def _anchor(path) -> tuple[str, bool]:
    if not path.word:
        return path.dom, True
    return path.word[len(path.word) // 2], False


def _corners(p: Presentation) -> tuple[Corner, ...]:
    marks = [Corner("pullback", c.apex, c.f.cod, (c.f.dom, c.g.dom)) for c in p.pullbacks]
    marks += [Corner("pushout", c.apex, c.f.dom, (c.f.cod, c.g.cod)) for c in p.pushouts]
    return tuple(m for m in marks if all(o in p.objects for o in (m.apex, m.opposite, *m.legs)))


def _equations(p: Presentation) -> tuple[tuple[str, str, str], ...]:
    return tuple((e.name, term_text(e.lhs), term_text(e.rhs)) for e in p.equations)


def term_text(t, whisker: bool = False) -> str:
    """A 1-cell or 2-cell term as `.cat` text (applicative order; `*` binds tighter than `.`)."""
    from catdsl.semantics.free import Path, render

    if isinstance(t, Path):
        return render(t)
    if isinstance(t, Cell):
        return t.name
    if isinstance(t, Id2):
        return render(t.path) if whisker and t.path.word else f"id({render(t.path)})"
    if isinstance(t, Vertical):
        return f"{term_text(t.second)} . {term_text(t.first)}"
    if isinstance(t, Horizontal):
        return f"{_factor(t.outer)} * {_factor(t.inner)}"
    return str(t)


def _factor(t) -> str:
    text = term_text(t, whisker=True)
    return f"({text})" if isinstance(t, Vertical) or (isinstance(t, Id2) and len(t.path.word) > 1) else text
