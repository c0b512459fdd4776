"""Commutative diagrams of a module: every presentation, and every functor out of one.

`diagrams(module)` gives one `Diagram` per presentation (in declaration order, imported ones
included) and per functor; each renders as tikz-cd (`tikz`), SVG (`svg`) or PNG (`png`, through
matplotlib) and shows itself in a notebook (`_repr_svg_`). The pipeline is
`layout` (grid positions, `layout.py`) → `Scene` (geometry, `scene.py`) → `svg.py` / `png.py`,
and `layout` → `tikz.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.draw import scene as S
from catdsl.draw.layout import Layout, layout, term_text
from catdsl.draw.tikz import document, functor_tikz, presentation_tikz

__all__ = ["Diagram", "diagrams", "document", "layout"]


@dataclass(frozen=True)
class Diagram:
    """One picture: a presentation (`kind == "presentation"`) or a functor (`"functor"`)."""

    name: str
    kind: str
    scene: S.Scene
    tikz_snippet: str
    layout: Layout | None = None

    def svg(self) -> str:
        from catdsl.draw.svg import to_svg

        return to_svg(self.scene)

    def tikz(self) -> str:
        return self.tikz_snippet

    def png(self, path: str, scale: float = 2.0) -> None:
        from catdsl.draw.png import to_png

        to_png(self.scene, path, scale)

    def _repr_svg_(self) -> str:
        return self.svg()


def diagrams(module, only: tuple[str, ...] = ()) -> list[Diagram]:
    """The module's diagrams; `only` keeps those with these names."""
    out = []
    for p in module.presentations.values():
        if not only or p.name in only:
            lay = layout(p)
            out.append(Diagram(p.name, "presentation", S.presentation_scene(lay), presentation_tikz(lay), lay))
    for F in module.functors.values():
        if F.derived or (only and F.name not in only):
            continue
        out.append(_functor(module, F))
    return out


def scene_of(diagrams: list[Diagram]) -> S.Scene:
    """Several diagrams as one picture, one under the other."""
    if not diagrams:
        return S.Scene("no diagrams", 260, 60, (S.Text(S.MARGIN, 30, "(nothing to draw)", role="text"),))
    return S.stack([d.scene for d in diagrams])


def _functor(module, F) -> Diagram:
    source, target = _side(module, F.source, F), _side(module, F.target, F)
    mapping = mapping_of(F)
    title = f"{F.name} : {_ref_text(F.source)} → {_ref_text(F.target)}"
    scene = S.functor_scene(F.name, source, target, mapping, title)
    return Diagram(F.name, "functor", scene, functor_tikz(F.name, _ref_text(F.source), _ref_text(F.target), mapping))


def _side(module, ref, F) -> S.Scene:
    if isinstance(ref, str) and ref in module.presentations:
        return S.presentation_scene(layout(module.presentations[ref]), equations=False)
    return S.box_scene(_ref_text(ref))


def mapping_of(F) -> list[tuple[str, str, bool]]:
    """What a functor sends each name to, as `.cat` text, and whether that is a term of a
    presentation (else a value of a semantic category, or the functor's definition)."""
    from catdsl.syntax.printer import expr

    if F.definition is not None:
        return [(F.name, expr(F.definition), False)]
    out = []
    for images in (F.objects, F.arrows, F.cells):
        for name, image in images.items():
            if image.value is not None:
                out.append((name, term_text(image.value), True))
            else:
                out.append((name, expr(image.expr), False))
    out += [(expr(rule.pattern), expr(rule.image), False) for rule in F.rules]
    if F.outer:  # `G . F` into a semantic category: the images above, then G's
        out.append((F.name, f"{F.outer} . (the images above)", True))
    return out


def _ref_text(ref) -> str:
    if isinstance(ref, str):
        return ref
    from catdsl.syntax.printer import expr

    args = [expr(a) for a in ref.args] + [f"{k} = {expr(v)}" for k, v in ref.kwargs]
    return f"{ref.name}({', '.join(args)})" if args else ref.name
