"""A `Scene` as a standalone SVG document, written directly (no graphviz, no fonts embedded).

Texts are real `<text>` elements (so labels stay searchable and Unicode needs nothing special),
each with a class saying what it labels: `object`, `arrow`, `cell`, `title`, `equation`,
`mapping`, `functor`.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from catdsl.draw.scene import Curve, Polygon, Scene, Text

FONT = "'DejaVu Sans', 'Segoe UI', 'Helvetica Neue', Arial, sans-serif"


def to_svg(scene: Scene) -> str:
    w, h = _n(scene.width), _n(scene.height)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
           f'font-family={quoteattr(FONT)}>',
           f"<title>{escape(scene.title)}</title>",
           f'<rect width="{w}" height="{h}" fill="white"/>']
    out.extend(_element(item) for item in scene.items)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _element(item) -> str:
    if isinstance(item, Text):
        weight = ' font-weight="bold"' if item.bold else ""
        style = ' font-style="italic"' if item.role in ("object", "arrow", "cell") else ""
        return (f'<text class="{item.role}" x="{_n(item.x)}" y="{_n(item.y)}" font-size="{_n(item.size)}" '
                f'text-anchor="{item.anchor}" dominant-baseline="central"{weight}{style}>{escape(item.text)}</text>')
    if isinstance(item, Curve):
        d = _path(item.points)
        if item.double:  # a 2-cell: a wide black stroke with a white one inside
            return (f'<g class="{item.role}"><path d="{d}" fill="none" stroke="black" stroke-width="4.2"/>'
                    f'<path d="{d}" fill="none" stroke="white" stroke-width="1.8"/></g>')
        return f'<path class="{item.role}" d="{d}" fill="none" stroke="black" stroke-width="{_n(item.width)}"/>'
    if isinstance(item, Polygon):
        pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in item.points)
        if item.filled:
            return f'<polygon class="{item.role}" points="{pts}" fill="black"/>'
        return f'<polyline class="{item.role}" points="{pts}" fill="none" stroke="black" stroke-width="1.2"/>'
    raise TypeError(f"not a scene item: {item!r}")


def _path(points) -> str:
    (x0, y0), rest = points[0], points[1:]
    command = {1: "L", 2: "Q", 3: "C"}[len(rest)]
    return f"M {_n(x0)} {_n(y0)} {command} " + " ".join(f"{_n(x)} {_n(y)}" for x, y in rest)


def _n(v: float) -> str:
    """A coordinate with two decimals at most, without trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
