"""Laws of 2-categories: a 2-cell's image has the boundary of its type, and the interchange law
(δ.γ) * (β.α) = (δ * β).(γ * α) holds (mathlib's `Bicategory`: `whisker_exchange`)."""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.law import FunctorLaw
from catdsl.semantics.module import Cell, Horizontal, Term2, Vertical

# The boundary of a 2-cell H : p => q between paths A -> B (paper Def 3.1, relative to
# endpoints): source H(s,0) = p(s), target H(s,1) = q(s), start H(0,t) = A, end H(1,t) = B.
BOUNDARY_SIDES = ("source", "target", "start", "end")


@dataclass(frozen=True)
class Boundary(FunctorLaw):
    """F(α) : F(p) => F(q) for α : p => q; `side` is one of BOUNDARY_SIDES for a homotopy, None
    for a 2-cell of a presented 2-category (typed as a whole)."""

    cell: Cell
    side: str | None = None
    kind = "boundary"

    @property
    def name(self) -> str:
        base = f"{self.functor}.boundary[{self.cell.name}]"
        return base if self.side is None else f"{base}.{self.side}"


@dataclass(frozen=True)
class Interchange(FunctorLaw):
    """F preserves the interchange law of α, β : A -> B and γ, δ : B -> C."""

    alpha: Cell
    beta: Cell
    gamma: Cell
    delta: Cell
    kind = "interchange"

    @property
    def name(self) -> str:
        cells = ", ".join(c.name for c in (self.alpha, self.beta, self.gamma, self.delta))
        return f"{self.functor}.interchange[{cells}]"

    @property
    def lhs(self) -> Term2:
        return Horizontal(Vertical(self.delta, self.gamma), Vertical(self.beta, self.alpha))

    @property
    def rhs(self) -> Term2:
        return Vertical(Horizontal(self.delta, self.beta), Horizontal(self.gamma, self.alpha))
