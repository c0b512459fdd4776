"""Apply a functor to a term: the one place where a path or a 2-cell term of a presentation is
sent into a category, whatever that category is.

A functor out of a presentation is determined by its images of objects, generators and
generating 2-cells (`Images`); every other 1-cell is a composite of generators, every other
2-cell a vertical or horizontal composite, so its image is computed with the target's own
identity and composition (`catdsl.backend.Category`, `TwoCategory`). The free category on a
presentation is such a target (`FREE`), which is how a functor into a presentation is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catdsl.backend import Category, TwoCategory
from catdsl.semantics import free
from catdsl.semantics.module import Cell, Functor, Horizontal, Id2, Term2, Vertical


class FreeCategory:
    """The free 2-category on a computad: paths compose by concatenation, 2-cell terms are kept
    as terms (their equality is decided by rewriting, not here)."""

    def identity(self, obj: str) -> free.Path:
        return free.identity(obj)

    def compose(self, g: free.Path, f: free.Path) -> free.Path:
        return free.compose(g, f)

    def identity_cell(self, path: free.Path) -> Term2:
        return Id2(path)

    def vertical(self, second: Term2, first: Term2) -> Term2:
        return Vertical(second, first)

    def horizontal(self, outer: Term2, inner: Term2) -> Term2:
        return Horizontal(outer, inner)


FREE = FreeCategory()


@dataclass(frozen=True)
class Images:
    """What a functor does to the generating data of its source, in `category`."""

    category: Any  # a Category; a TwoCategory when `cells` is used
    objects: Mapping[str, Any]
    arrows: Mapping[str, Any]
    cells: Mapping[str, Any] = field(default_factory=dict)


def interpret(images: Images, term: free.Path | Term2) -> Any:
    """F(term): a path goes to the composite of its generators' images (the identity on F(dom)
    for the empty path); a 2-cell term to the matching composite of 2-cells."""
    cat = images.category
    if isinstance(term, free.Path):
        if not term.word:
            return cat.identity(images.objects[term.dom])
        acc = images.arrows[term.word[0]]
        for g in term.word[1:]:
            acc = cat.compose(images.arrows[g], acc)
        return acc
    if not isinstance(cat, TwoCategory):
        raise TypeError(f"{type(cat).__name__} has no 2-cells")
    match term:
        case Cell(name=n):
            return images.cells[n]
        case Id2(path=p):
            return cat.identity_cell(interpret(images, p))
        case Vertical(second=b, first=a):
            return cat.vertical(interpret(images, b), interpret(images, a))
        case Horizontal(outer=b, inner=a):
            return cat.horizontal(interpret(images, b), interpret(images, a))
    raise TypeError(f"not a term: {term!r}")


def presented_images(F: Functor) -> Images:
    """The images of a functor into a presentation, as paths and 2-cell terms of the target."""
    return Images(FREE, {x: img.value for x, img in F.objects.items()},
                  {g: img.value for g, img in F.arrows.items()},
                  {c: img.value for c, img in F.cells.items()})


def image_path(F: Functor, path: free.Path) -> free.Path:
    """F applied to a path of the source, when F's target is a presentation."""
    return interpret(presented_images(F), path)


assert isinstance(FREE, Category) and isinstance(FREE, TwoCategory)
