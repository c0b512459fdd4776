"""The obligation catalogue: every law a declaration implies, as a typed value tied to its span.

A suite is generated from the Module, one law per (declaration, instance), in the style of
cats-laws / GATlab:

- functor F:        `F.map_id[X]`, `F.map_comp[f, g]`, `F.respects[eq]`, `F.boundary[α]`,
                    `F.interchange[α, β, γ, δ]`, `F.pullback[P].commutes`, `F.pullback[P].universal`,
                    `F.pushout[Q].commutes`, `F.pushout[Q].universal`
- transformation η: `η.naturality[f]`
- whatever the target category implies beyond these (its factory's `laws(module, F)`: Paths
  endpoints and low loss, Param unique states and sweep ensembles, Rep's structure condition)

The law types live with the theory that implies them (`catdsl.laws.category`, `two_category`,
`limits`); how each is decided lives with the category it is decided in (`catdsl.laws.discharge`).
"""

from __future__ import annotations

from catdsl.laws.adjunction import adjunction_laws, monad_laws
from catdsl.laws.category import (
    GenericMapComp, GenericMapId, GenericNaturality, MapComp, MapId, Naturality, Respects,
)
from catdsl.laws.law import Law
from catdsl.laws.limits import (
    EqualizerUniversal, ProductUniversal, PullbackUniversal, PushoutUniversal, TerminalUniversal,
)
from catdsl.laws.two_category import BOUNDARY_SIDES, Boundary, Interchange
from catdsl.semantics.module import Functor, Module, Presentation, Transformation

__all__ = ["Law", "obligations", "functor_laws", "transformation_laws"]


def composable_pairs(p: Presentation):
    """Pairs (f, g) of generators with cod(f) = dom(g), i.e. `g . f` is defined."""
    for f in p.generators:
        for g in p.generators:
            if f.cod == g.dom:
                yield f, g


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
    """The laws of one functor."""
    if not isinstance(F.source, str):
        # a generic functor (rules with pattern variables): its laws for every object and map
        first = F.rules[0].span if F.rules else F.span
        last = F.rules[-1].span if F.rules else F.span
        return [GenericMapId(F.name, span=first), GenericMapComp(F.name, span=last)]
    p = m.presentations[F.source]
    name = F.name

    def at(image) -> object:
        return image.span if image else F.span

    laws: list[Law] = [MapId(name, x, span=at(F.objects.get(x))) for x in p.objects]
    laws += [MapComp(name, f.name, g.name, span=at(F.arrows.get(g.name) or F.arrows.get(f.name)))
             for f, g in composable_pairs(p)]
    laws += [Respects(name, eq, span=eq.span) for eq in p.equations]
    for cell in p.cells:
        img = F.cells.get(cell.name)
        if isinstance(F.target, str):  # a presented 2-category: the image is typed F(p) => F(q)
            laws.append(Boundary(name, cell, span=at(img)))
        else:
            laws += [Boundary(name, cell, side, span=at(img)) for side in BOUNDARY_SIDES]
    laws += [Interchange(name, a, b, c, d, span=at(F.cells.get(d.name)))
             for a, b, c, d in interchange_quadruples(p)]
    laws += [PullbackUniversal(name, pb, span=pb.span) for pb in p.pullbacks]
    laws += [ProductUniversal(name, pr, span=pr.span) for pr in p.products]
    laws += [EqualizerUniversal(name, eq, span=eq.span) for eq in p.equalizers]
    laws += [TerminalUniversal(name, t, span=p.spans.get(t, F.span)) for t in p.terminals]
    laws += [PushoutUniversal(name, po, span=po.span) for po in p.pushouts]
    if not isinstance(F.target, str):
        from catdsl import backend

        extra = getattr(backend.load(F.target.name), "laws", None)
        if extra is not None:
            laws.extend(extra(m, F))
    return laws


def transformation_laws(m: Module, t: Transformation) -> list[Law]:
    F = m.functors[t.source]
    if not isinstance(F.source, str):
        return [GenericNaturality(t.name, span=t.span)]
    p = m.presentations[F.source]
    return [Naturality(t.name, g, span=(t.components.get(g.dom) or t.components.get(g.cod) or t).span)
            for g in p.generators]


def obligations(m: Module) -> list[Law]:
    """Every law of every functor, transformation and analysis of the module, in file order."""
    laws: list[Law] = []
    for F in m.functors.values():
        if not F.derived:  # a composite named only in a transformation's type holds by construction
            laws.extend(functor_laws(m, F))
    for t in m.transformations.values():
        laws.extend(transformation_laws(m, t))
    for adj in m.adjunctions.values():
        laws.extend(adjunction_laws(m, adj))
    for monad in m.monads.values():
        laws.extend(monad_laws(m, monad))
    from catdsl import analysis

    laws.extend(analysis.laws(m))
    return laws
