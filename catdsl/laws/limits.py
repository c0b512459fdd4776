"""Laws of limits and colimits: the image of a declared pullback cone is a pullback, that of a
declared pushout cocone a pushout (each commuting square is a `Respects` law of the category
theory, named `F.pullback[P].commutes` / `F.pushout[Q].commutes`)."""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import FunctorLaw
from catdsl.semantics.module import Pullback, Pushout


@dataclass(frozen=True)
class PullbackUniversal(FunctorLaw):
    """Every cone over F's cospan factors uniquely through F's image of the pullback."""

    pullback: Pullback
    kind = "pullback.universal"
    template = "{functor}.pullback[{pullback.apex}].universal"


@dataclass(frozen=True)
class PushoutUniversal(FunctorLaw):
    """Every cocone under F's span factors uniquely through F's image of the pushout (the dual
    of `PullbackUniversal`)."""

    pushout: Pushout
    kind = "pushout.universal"
    template = "{functor}.pushout[{pushout.apex}].universal"
