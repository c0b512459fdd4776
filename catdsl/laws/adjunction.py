"""Laws of adjunctions and monads between presentations (Mac Lane CWM IV.1, VI.1), one instance
per object, each decided in the free category of the presentation it lives in.

- `adj.triangle_left[X]`, in B: ε_{F X} . F(η_X) = id_{F X}
- `adj.triangle_right[Y]`, in A: G(ε_Y) . η_{G Y} = id_{G Y}
- `M.associativity[X]`: μ_X . T(μ_X) = μ_X . μ_{T X}
- `M.left_unit[X]`: μ_X . T(η_X) = id_{T X};  `M.right_unit[X]`: μ_X . η_{T X} = id_{T X}
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import PresentationLaw


@dataclass(frozen=True)
class TriangleLeft(PresentationLaw):
    obj: str
    kind = "adjunction.triangle"
    template = "{owner_name}.triangle_left[{obj}]"


@dataclass(frozen=True)
class TriangleRight(PresentationLaw):
    obj: str
    kind = "adjunction.triangle"
    template = "{owner_name}.triangle_right[{obj}]"


@dataclass(frozen=True)
class MonadAssociativity(PresentationLaw):
    obj: str
    kind = "monad.associativity"
    template = "{owner_name}.associativity[{obj}]"


@dataclass(frozen=True)
class MonadLeftUnit(PresentationLaw):
    obj: str
    kind = "monad.unit"
    template = "{owner_name}.left_unit[{obj}]"


@dataclass(frozen=True)
class MonadRightUnit(PresentationLaw):
    obj: str
    kind = "monad.unit"
    template = "{owner_name}.right_unit[{obj}]"


def adjunction_laws(module, adj) -> list[PresentationLaw]:
    F, G = module.functors[adj.left], module.functors[adj.right]
    return ([TriangleLeft(adj.name, F.target, x, span=adj.span) for x in module.presentations[F.source].objects]
            + [TriangleRight(adj.name, F.source, y, span=adj.span) for y in module.presentations[G.source].objects])


def monad_laws(module, monad) -> list[PresentationLaw]:
    T = module.functors[monad.functor]
    objects = module.presentations[T.source].objects
    return [law(monad.name, T.source, x, span=monad.span)
            for x in objects for law in (MonadAssociativity, MonadLeftUnit, MonadRightUnit)]
