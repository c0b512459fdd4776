"""A diagram as plane geometry: texts, curves and arrowheads in pixels (y grows downwards).

Both pictures are made from a `Scene`, so the SVG and the PNG of a diagram show the same thing:
`svg.py` writes its items as SVG elements, `png.py` draws them with matplotlib. A scene is built
from a `Layout` (grid positions) by `presentation_scene`, and a functor's by `functor_scene`:
its source and target side by side, a long arrow between them, and the mapping listed under.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from catdsl.draw.layout import Arrow, Layout

OBJECT_SIZE, LABEL_SIZE, TEXT_SIZE, TITLE_SIZE = 16.0, 13.0, 13.0, 15.0
COLUMN_GAP, ROW_STEP = 90.0, 95.0  # between the widest labels of neighbouring columns; between rows
BEND = 28.0  # pixels of sideways offset per unit of an arrow's bend
MARGIN = 24.0
Point = tuple[float, float]


def text_width(text: str, size: float) -> float:
    """An estimate of a text's width: about 0.62 em a character (wide characters count twice)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text) * 0.62 * size


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the vertical middle of the text
    text: str
    size: float = TEXT_SIZE
    anchor: str = "middle"  # or "start"
    role: str = "text"  # object | arrow | cell | title | equation | mapping | text
    bold: bool = False


@dataclass(frozen=True)
class Curve:
    """A line (2 points), a quadratic (3) or a cubic (4) Bézier curve."""

    points: tuple[Point, ...]
    width: float = 1.2
    double: bool = False
    role: str = "arrow"


@dataclass(frozen=True)
class Polygon:
    points: tuple[Point, ...]
    filled: bool = True
    role: str = "head"


@dataclass(frozen=True)
class Scene:
    title: str
    width: float
    height: float
    items: tuple[Text | Curve | Polygon, ...] = field(default=())

    def moved(self, dx: float, dy: float) -> "Scene":
        return replace(self, items=tuple(_move(i, dx, dy) for i in self.items))


def _move(item, dx: float, dy: float):
    if isinstance(item, Text):
        return replace(item, x=item.x + dx, y=item.y + dy)
    return replace(item, points=tuple((x + dx, y + dy) for x, y in item.points))


# ---- presentations ------------------------------------------------------------------------------


def presentation_scene(lay: Layout, arrow_text=lambda name: name, title: str | None = None,
                       equations: bool = True) -> Scene:
    """The diagram of a presentation; its title on top and its equations listed under it."""
    widths: dict[int, float] = {}
    for obj, (c, _) in lay.position.items():
        widths[c] = max(widths.get(c, 0.0), text_width(obj, OBJECT_SIZE))
    xs, x = {}, MARGIN
    for c in range(lay.columns):
        w = widths.get(c, 20.0)
        xs[c] = x + w / 2
        x += w + COLUMN_GAP
    top = MARGIN + TITLE_SIZE + 36.0
    centre = {o: (xs[c], top + r * ROW_STEP) for o, (c, r) in lay.position.items()}
    half = {o: (text_width(o, OBJECT_SIZE) / 2 + 5, OBJECT_SIZE / 2 + 4) for o in lay.position}
    items: list = []
    for o, (cx, cy) in centre.items():
        items.append(Text(cx, cy, o, OBJECT_SIZE, role="object"))
    middles: dict[str, tuple[Point, Point]] = {}
    for a in lay.arrows:
        drawn, label, middle = _arrow(a, centre, half, arrow_text(a.name))
        items.extend(drawn)
        items.append(label)
        middles[a.name] = middle
    for cell in lay.cells:
        items.extend(_two_cell(cell, centre, middles))
    for corner in lay.corners:
        items.append(_corner(centre[corner.apex], [centre[leg] for leg in corner.legs]))
    # loops and bent arrows may reach past the grid: move the picture below the title, off the edge
    dx = MARGIN - min([_leftmost(i) for i in items] + [MARGIN])
    dy = top - 22.0 - min([_highest(i) for i in items] + [top - 22.0])
    items = [Text(MARGIN, MARGIN + TITLE_SIZE / 2, title or lay.name, TITLE_SIZE, "start", "title", True)] + \
        [_move(i, dx, dy) for i in items]
    bottom = max(_lowest(i) for i in items) + 24.0
    right = max(_rightmost(i) for i in items) + MARGIN
    if equations:
        for name, lhs, rhs in lay.equations:
            line = f"{name}: {math_text(lhs)} = {math_text(rhs)}"
            items.append(Text(MARGIN, bottom, line, TEXT_SIZE, "start", "equation"))
            right = max(right, MARGIN * 2 + text_width(line, TEXT_SIZE))
            bottom += TEXT_SIZE * 1.6
    return Scene(title or lay.name, right, bottom + MARGIN / 2, tuple(items))


def math_text(cat_text: str) -> str:
    """`.cat` term text as a reader writes it: `h ∘ f`, `γ ∗ α`."""
    return cat_text.replace(" . ", " ∘ ").replace(" * ", " ∗ ")


def _arrow(a: Arrow, centre, half, text: str):
    """The curve of an arrow, its head, its label, and its middle point with its normal."""
    if a.loop is not None:
        return _loop(a, centre[a.source], half[a.source], text)
    p, q = centre[a.source], centre[a.target]
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy) or 1.0
    normal = (dy / length, -dx / length)  # to the left of the direction of travel, on screen
    mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
    # a quadratic's middle point lies halfway to its control point: twice the wanted offset
    control = (mid[0] + 2 * a.bend * BEND * normal[0], mid[1] + 2 * a.bend * BEND * normal[1])
    start = _clip(p, half[a.source], control)
    end = _clip(q, half[a.target], control)
    curve = Curve((start, control, end)) if a.bend else Curve((start, end))
    at = _quadratic(start, control, end, 0.5) if a.bend else ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    side = 1.0 if a.bend >= 0 else -1.0
    offset = 6.0 + text_width(text, LABEL_SIZE) / 2 * abs(normal[1]) + LABEL_SIZE / 2 * abs(normal[0])
    label = Text(at[0] + side * offset * normal[0], at[1] + side * offset * normal[1], text, LABEL_SIZE, role="arrow")
    return (curve, _head(end, control if a.bend else start)), label, (at, normal)


def _loop(a: Arrow, c: Point, half: Point, text: str):
    theta = math.radians(a.loop)
    def direction(deg_off: float) -> Point:
        t = theta + math.radians(deg_off)
        return math.cos(t), -math.sin(t)

    def rim(deg_off: float) -> Point:
        d = direction(deg_off)
        return _clip(c, half, (c[0] + d[0] * 100, c[1] + d[1] * 100))

    start, end = rim(-22), rim(22)
    reach = 52.0
    c1 = (start[0] + direction(-40)[0] * reach, start[1] + direction(-40)[1] * reach)
    c2 = (end[0] + direction(40)[0] * reach, end[1] + direction(40)[1] * reach)
    apex = _cubic(start, c1, c2, end, 0.5)
    d = direction(0)
    offset = 8.0 + text_width(text, LABEL_SIZE) / 2 * abs(d[0]) + LABEL_SIZE / 2 * abs(d[1])
    label = Text(apex[0] + d[0] * offset, apex[1] + d[1] * offset, text, LABEL_SIZE, role="arrow")
    return (Curve((start, c1, c2, end)), _head(end, c2)), label, (apex, (d[1], -d[0]))


def _two_cell(cell, centre, middles) -> list:
    def anchor(name: str, is_object: bool) -> Point:
        return centre[name] if is_object else middles[name][0]

    p, q = anchor(cell.source, cell.source_is_object), anchor(cell.target, cell.target_is_object)
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy)
    if length < 1.0:
        return [Text(p[0], p[1] + 14, f"⇓ {cell.name}", LABEL_SIZE, role="cell")]
    u = (dx / length, dy / length)
    trim = min(14.0, length / 4)
    start = (p[0] + u[0] * trim, p[1] + u[1] * trim)
    end = (q[0] - u[0] * trim, q[1] - u[1] * trim)
    normal = (u[1], -u[0])
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    offset = 6.0 + text_width(cell.name, LABEL_SIZE) / 2 * abs(normal[1]) + LABEL_SIZE / 2 * abs(normal[0])
    label = Text(mid[0] + normal[0] * offset, mid[1] + normal[1] * offset, cell.name, LABEL_SIZE, role="cell")
    return [Curve((start, end), double=True, role="cell"), _head(end, start, open_=True), label]


def _corner(apex: Point, legs: list[Point]) -> Polygon:
    """The corner mark near the apex, inside the angle of its two arrows, its vertex pointing away."""
    dx = dy = 0.0
    for leg in legs:
        length = math.hypot(leg[0] - apex[0], leg[1] - apex[1]) or 1.0
        dx, dy = dx + (leg[0] - apex[0]) / length, dy + (leg[1] - apex[1]) / length
    length = math.hypot(dx, dy) or 1.0
    u = (dx / length, dy / length)
    vertex = (apex[0] + u[0] * 30, apex[1] + u[1] * 30)
    arms = [_rotate((-u[0], -u[1]), s * 45) for s in (1, -1)]
    a, b = ((vertex[0] + 9 * r[0], vertex[1] + 9 * r[1]) for r in arms)
    return Polygon((a, vertex, b), filled=False, role="corner")


# ---- functors -----------------------------------------------------------------------------------


def functor_scene(name: str, source: Scene, target: Scene, mapping: list[tuple[str, str, bool]],
                  title: str) -> Scene:
    """Source and target side by side with an arrow labelled by the functor, the mapping under."""
    gap = 60.0 + text_width(name, LABEL_SIZE)
    moved = target.moved(source.width + gap, 0)
    mid_y = MARGIN + TITLE_SIZE + 36.0
    x0, x1 = source.width - 10, source.width + gap - 10
    items = [Text(MARGIN, MARGIN / 2 + 4, title, TITLE_SIZE, "start", "title", True)]
    shift = TITLE_SIZE + 14
    items += [_move(i, 0, shift) for i in source.items] + [_move(i, 0, shift) for i in moved.items]
    items += [Curve(((x0, mid_y + shift), (x1, mid_y + shift)), width=1.6, role="functor"),
              _head((x1, mid_y + shift), (x0, mid_y + shift)),
              Text((x0 + x1) / 2, mid_y + shift - 12, name, LABEL_SIZE, role="functor")]
    bottom = max(source.height, target.height) + shift + 8
    width = source.width + gap + target.width
    for src, image, is_term in mapping:
        line = f"{src} ↦ {math_text(image) if is_term else image}"
        items.append(Text(MARGIN, bottom, line, TEXT_SIZE, "start", "mapping"))
        width = max(width, MARGIN * 2 + text_width(line, TEXT_SIZE))
        bottom += TEXT_SIZE * 1.6
    return Scene(title, width, bottom + MARGIN / 2, tuple(items))


def box_scene(text: str) -> Scene:
    """A semantic category (Vect, Param(…)) as a labelled object."""
    w = text_width(text, OBJECT_SIZE)
    y = MARGIN + TITLE_SIZE + 36.0
    return Scene(text, w + 2 * MARGIN, y + 40, (Text(MARGIN + w / 2, y, text, OBJECT_SIZE, role="object"),))


def stack(scenes: list[Scene], gap: float = 16.0) -> Scene:
    """Scenes one under the other, as one picture."""
    items, y, width = [], 0.0, 0.0
    for s in scenes:
        items.extend(s.moved(0, y).items)
        y += s.height + gap
        width = max(width, s.width)
    return Scene(", ".join(s.title for s in scenes), max(width, 1.0), max(y - gap, 1.0), tuple(items))


# ---- geometry -----------------------------------------------------------------------------------


def _clip(c: Point, half: Point, toward: Point, gap: float = 3.0) -> Point:
    """Where the ray from a label's centre towards a point leaves its box (plus a gap)."""
    dx, dy = toward[0] - c[0], toward[1] - c[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    t = min(half[0] / abs(ux) if ux else math.inf, half[1] / abs(uy) if uy else math.inf) + gap
    return c[0] + ux * t, c[1] + uy * t


def _head(tip: Point, before: Point, open_: bool = False) -> Polygon:
    dx, dy = tip[0] - before[0], tip[1] - before[1]
    length = math.hypot(dx, dy) or 1.0
    u = (dx / length, dy / length)
    size = 8.0
    left = _rotate((-u[0], -u[1]), 24)
    right = _rotate((-u[0], -u[1]), -24)
    pts = ((tip[0] + left[0] * size, tip[1] + left[1] * size), tip,
           (tip[0] + right[0] * size, tip[1] + right[1] * size))
    return Polygon(pts, filled=not open_, role="head")


def _rotate(v: Point, degrees: float) -> Point:
    t = math.radians(degrees)
    return v[0] * math.cos(t) - v[1] * math.sin(t), v[0] * math.sin(t) + v[1] * math.cos(t)


def _quadratic(p: Point, c: Point, q: Point, t: float) -> Point:
    s = 1 - t
    return (s * s * p[0] + 2 * s * t * c[0] + t * t * q[0], s * s * p[1] + 2 * s * t * c[1] + t * t * q[1])


def _cubic(p: Point, c1: Point, c2: Point, q: Point, t: float) -> Point:
    s = 1 - t
    return tuple(s ** 3 * a + 3 * s * s * t * b + 3 * s * t * t * c + t ** 3 * d
                 for a, b, c, d in zip(p, c1, c2, q))  # type: ignore[return-value]


def _lowest(item) -> float:
    if isinstance(item, Text):
        return item.y + item.size / 2
    return max(y for _, y in item.points)


def _highest(item) -> float:
    if isinstance(item, Text):
        return item.y - item.size / 2
    return min(y for _, y in item.points)


def _leftmost(item) -> float:
    if isinstance(item, Text):
        return item.x - (0 if item.anchor == "start" else text_width(item.text, item.size) / 2)
    return min(x for x, _ in item.points)


def _rightmost(item) -> float:
    if isinstance(item, Text):
        w = text_width(item.text, item.size)
        return item.x + (w if item.anchor == "start" else w / 2)
    return max(x for x, _ in item.points)
