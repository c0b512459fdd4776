"""Laws of limits and colimits: the image of a declared pullback cone is a pullback, that of a
declared pushout cocone a pushout (each commuting square is a `Respects` law of the category
theory, named `F.pullback[P].commutes` / `F.pushout[Q].commutes`)."""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import COMMON_OPTIONS, FunctorLaw
from catdsl.semantics.module import Equalizer, Product, Pullback, Pushout


@dataclass(frozen=True)
class PullbackUniversal(FunctorLaw):
    """Every cone over F's cospan factors uniquely through F's image of the pullback. Where the
    target computes it numerically (Rep: the ε-fibre product of two representations), `eps` is
    the distance within which two features agree; it is set only by a check naming the law
    (`check L.pullback with eps = 0.5`); on an exact target (Vect, FinSet, a presentation) it is
    E313."""

    pullback: Pullback
    kind = "pullback.universal"
    template = "{functor}.pullback[{pullback.apex}].universal"
    options = (*COMMON_OPTIONS, "eps")
    own_options = ("eps",)
    target_options = ("eps",)

    @classmethod
    def check_option(cls, option: str, value: object) -> str | None:
        if option == "eps" and not (isinstance(value, (int, float)) and value >= 0):
            return f"`eps` is a distance ≥ 0, not {value!r}"
        return None


@dataclass(frozen=True)
class PushoutUniversal(FunctorLaw):
    """Every cocone under F's span factors uniquely through F's image of the pushout (the dual
    of `PullbackUniversal`)."""

    pushout: Pushout
    kind = "pushout.universal"
    template = "{functor}.pushout[{pushout.apex}].universal"


@dataclass(frozen=True)
class ProductUniversal(FunctorLaw):
    """F(P) with F(p), F(q) is a product of F(A) and F(B): every pair of maps into them factors
    uniquely (a pullback over the terminal object, where the target has one)."""

    product: Product
    kind = "product.universal"
    template = "{functor}.product[{product.apex}].universal"


@dataclass(frozen=True)
class EqualizerUniversal(FunctorLaw):
    """F(e) : F(E) -> F(A) is an equalizer of F(f), F(g): injective onto {a | F f a = F g a}
    (its commuting square is the `F.equalizer[E].commutes` equation)."""

    equalizer: Equalizer
    kind = "equalizer.universal"
    template = "{functor}.equalizer[{equalizer.apex}].universal"


@dataclass(frozen=True)
class TerminalUniversal(FunctorLaw):
    """F(T) is terminal: exactly one map into it from every object."""

    obj: str
    kind = "terminal.universal"
    template = "{functor}.terminal[{obj}]"
