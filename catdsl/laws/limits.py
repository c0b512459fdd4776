"""Laws of limits: the image of a declared pullback cone is a pullback (its commuting square is
a `Respects` law of the category theory)."""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import FunctorLaw
from catdsl.semantics.module import Pullback


@dataclass(frozen=True)
class PullbackUniversal(FunctorLaw):
    """Every cone over F's cospan factors uniquely through F's image of the pullback."""

    pullback: Pullback
    kind = "pullback.universal"
    template = "{functor}.pullback[{pullback.apex}].universal"
