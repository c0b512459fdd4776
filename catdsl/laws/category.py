"""Laws of the theory of categories: a functor preserves identities, composites and the
equations of its source; a transformation is natural (GATlab's `ThCategory`, cats-laws' `Functor`)."""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import FunctorLaw, TransformationLaw
from catdsl.semantics.free import Generator
from catdsl.semantics.module import Equation


@dataclass(frozen=True)
class MapId(FunctorLaw):
    """F(id_X) = id_{F X}."""

    obj: str
    kind = "map_id"
    template = "{functor}.map_id[{obj}]"


@dataclass(frozen=True)
class MapComp(FunctorLaw):
    """F(g . f) = F g . F f, for generators f : A -> B and g : B -> C."""

    f: str
    g: str
    kind = "map_comp"
    template = "{functor}.map_comp[{f}, {g}]"


@dataclass(frozen=True)
class Respects(FunctorLaw):
    """F sends both sides of an equation of its source to equal values (the commuting square of
    a declared pullback is such an equation, named `F.pullback[P].commutes`)."""

    equation: Equation
    kind = "respects"

    @property
    def name(self) -> str:
        if self.equation.pullback:
            return f"{self.functor}.{self.equation.construction}[{self.equation.pullback}].commutes"
        return f"{self.functor}.respects[{self.equation.name}]"


@dataclass(frozen=True)
class GenericMapId(FunctorLaw):
    """A functor given by rules with pattern variables preserves every identity."""

    kind = "map_id"
    template = "{functor}.map_id"


@dataclass(frozen=True)
class GenericMapComp(FunctorLaw):
    """A functor given by rules with pattern variables preserves every composite."""

    kind = "map_comp"
    template = "{functor}.map_comp"


@dataclass(frozen=True)
class Naturality(TransformationLaw):
    """η_B . F g = G g . η_A for a generator g : A -> B of the source."""

    generator: Generator
    kind = "naturality"
    template = "{transformation}.naturality[{generator.name}]"


@dataclass(frozen=True)
class GenericNaturality(TransformationLaw):
    """A transformation between generic functors, given by a component rule, is natural."""

    kind = "naturality.generic"
    template = "{transformation}.naturality"
