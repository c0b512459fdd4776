"""The obligation catalogue: every law a declaration implies, named and tied to its span.

A `Law` is a value (`lhs` should equal `rhs` in `context`); a suite is generated from the
Module, one law per (declaration, instance), in the style of cats-laws / GATlab:

- functor F:        `F.map_id[X]`, `F.map_comp[f, g]`, `F.respects[eq]`, `F.boundary[α]`,
                    `F.pullback[P].commutes`, `F.pullback[P].universal`
- transformation η: `η.naturality[f]`

Laws whose target is a presentation are decided here, in the free category (Knuth–Bendix);
laws whose target is a semantic category are handed to that category's discharge
(catdsl.laws.discharge) by their `kind`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catdsl.semantics import free
from catdsl.semantics.module import Functor, Module, Presentation, Transformation
from catdsl.span import Span


@dataclass(frozen=True)
class Law:
    """One obligation: in `context`, `lhs` must equal `rhs` (or hold, for predicates)."""

    name: str
    kind: str  # map_id | map_comp | respects | naturality | boundary | pullback.commutes | …
    span: Span
    lhs: Any = None
    rhs: Any = None
    context: dict = field(default_factory=dict, compare=False)


def composable_pairs(p: Presentation):
    """Pairs (f, g) of generators with cod(f) = dom(g), i.e. `g . f` is defined."""
    for f in p.generators:
        for g in p.generators:
            if f.cod == g.dom:
                yield f, g


def functor_laws(m: Module, F: Functor) -> list[Law]:
    """The laws of one functor out of a presentation."""
    if not isinstance(F.source, str):
        # a generic functor (rules with pattern variables): its laws for every object and map
        ctx = {"functor": F.name, "module": m}
        span = F.rules[0].span if F.rules else F.span
        return [Law(f"{F.name}.map_id", "map_id", span, None, None, ctx),
                Law(f"{F.name}.map_comp", "map_comp", F.rules[-1].span if F.rules else F.span,
                    None, None, ctx)]
    p = m.presentations[F.source]
    ctx = {"functor": F.name, "module": m}
    laws: list[Law] = []
    for x in p.objects:
        img = F.objects.get(x)
        laws.append(Law(f"{F.name}.map_id[{x}]", "map_id", img.span if img else F.span,
                        x, x, ctx))
    for f, g in composable_pairs(p):
        img = F.arrows.get(g.name) or F.arrows.get(f.name)
        laws.append(Law(f"{F.name}.map_comp[{f.name}, {g.name}]", "map_comp",
                        img.span if img else F.span, (f.name, g.name), None, ctx))
    for eq in p.equations:
        name = (f"{F.name}.pullback[{eq.pullback}].commutes" if eq.pullback
                else f"{F.name}.respects[{eq.name}]")
        laws.append(Law(name, "respects", eq.span, eq.lhs, eq.rhs, {**ctx, "equation": eq}))
    for cell in p.cells:
        img = F.cells.get(cell.name)
        laws.append(Law(f"{F.name}.boundary[{cell.name}]", "boundary", img.span if img else F.span,
                        cell, None, ctx))
    for pb in p.pullbacks:
        laws.append(Law(f"{F.name}.pullback[{pb.apex}].universal", "pullback.universal", pb.span,
                        pb, None, ctx))
    if not isinstance(F.target, str):
        from catdsl import backend

        extra = getattr(backend.load(F.target.name), "laws", None)
        if extra is not None:
            laws.extend(extra(m, F))
    return laws


def transformation_laws(m: Module, t: Transformation) -> list[Law]:
    F = m.functors[t.source]
    if not isinstance(F.source, str):
        return [Law(f"{t.name}.naturality", "naturality.generic", t.span, None, None,
                    {"transformation": t.name, "module": m})]
    p = m.presentations[F.source]
    return [Law(f"{t.name}.naturality[{g.name}]", "naturality",
                (t.components.get(g.dom) or t.components.get(g.cod) or t).span, g, None,
                {"transformation": t.name, "module": m}) for g in p.generators]


def obligations(m: Module) -> list[Law]:
    """Every law of every functor and transformation of the module, in file order."""
    laws: list[Law] = []
    for F in m.functors.values():
        laws.extend(functor_laws(m, F))
    for t in m.transformations.values():
        laws.extend(transformation_laws(m, t))
    return laws


def image_path(F: Functor, path: free.Path) -> free.Path:
    """F applied to a path of the source, when F's target is a presentation."""
    acc = free.identity(F.objects[path.dom].value)
    for g in path.word:
        acc = free.compose(F.arrows[g].value, acc)
    return acc
