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
from catdsl.semantics.module import (
    Functor, Horizontal, Module, Presentation, Transformation, Vertical,
)
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


# The boundary of a 2-cell H : p => q between paths A -> B (paper Def 3.1, relative to
# endpoints): source H(s,0) = p(s), target H(s,1) = q(s), start H(0,t) = A, end H(1,t) = B.
BOUNDARY_SIDES = ("source", "target", "start", "end")

# Interchange laws grow with the fourth power of the 2-cells; past this many, the rest are
# left out (a presentation with so many 2-cells is better checked by sampling).
MAX_INTERCHANGE = 64


def interchange_quadruples(p: Presentation):
    """(α, β, γ, δ) with α : f => g, β : g => h (A -> B) and γ : f' => g', δ : g' => h'
    (B -> C): the pairs whose interchange law (δ.γ) * (β.α) = (δ * β).(γ * α) is meaningful."""
    vertical = [(a, b) for a in p.cells for b in p.cells if a.target == b.source]
    found = 0
    for alpha, beta in vertical:
        for gamma, delta in vertical:
            if alpha.source.cod == gamma.source.dom:
                yield alpha, beta, gamma, delta
                found += 1
                if found >= MAX_INTERCHANGE:
                    return


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
        if isinstance(F.target, str):  # a presented 2-category: the image is typed F(p) => F(q)
            laws.append(Law(f"{F.name}.boundary[{cell.name}]", "boundary",
                            img.span if img else F.span, cell, None, ctx))
            continue
        for side in BOUNDARY_SIDES:
            laws.append(Law(f"{F.name}.boundary[{cell.name}].{side}", "boundary",
                            img.span if img else F.span, cell, side, ctx))
    for alpha, beta, gamma, delta in interchange_quadruples(p):
        lhs = Horizontal(Vertical(delta, gamma), Vertical(beta, alpha))
        rhs = Vertical(Horizontal(delta, beta), Horizontal(gamma, alpha))
        img = F.cells.get(delta.name)
        laws.append(Law(f"{F.name}.interchange[{alpha.name}, {beta.name}, {gamma.name}, {delta.name}]",
                        "interchange", img.span if img else F.span, lhs, rhs, ctx))
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
