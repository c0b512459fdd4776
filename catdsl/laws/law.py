"""What every law is: a small frozen value that names its instance and points at its source.

A law kind is one dataclass (`MapComp(functor, f, g)`, `Boundary(functor, cell, side)`, …),
grouped in modules by the theory that implies it: `category` (functors, transformations),
`two_category` (2-cells), `limits` (pullbacks); the semantic categories add their own (Paths:
endpoints and low loss; Param: unique states, sweeps; Rep: the structure condition). A category
decides a kind by registering `{law type: discharge function}` (see `catdsl.laws.discharge`).

The class attributes name the law (`template`, formatted with its fields) and say how
`check … with …` applies to the kind: `options` are the names it accepts, `own_options` those
that only a check naming the kind itself sets (`check L.structure with tol = 0.8` but not
`check L with tol = 1e-9`), and `check_option` rejects values the kind cannot use. `kind` is
the stable name the JSON report prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

from catdsl.span import Span

# The options of `check … with …` every law accepts (docs/checking.md, "Effort and reproducibility"): property-test samples,
# tolerance of numeric comparisons, and the seed of the searches.
COMMON_OPTIONS = ("samples", "tol", "seed")


@dataclass(frozen=True)
class Law:
    """One obligation. Subclasses add the fields that identify the instance."""

    span: Span = field(kw_only=True, compare=False, repr=False)

    kind: ClassVar[str] = "law"
    # the law's name from its fields, e.g. "{functor}.map_comp[{f}, {g}]"
    template: ClassVar[str] = ""
    options: ClassVar[tuple[str, ...]] = COMMON_OPTIONS
    own_options: ClassVar[tuple[str, ...]] = ()
    # own options only some targets decide the law with: a target uses one when its registered
    # category lists it in `law_options[law type]`; elsewhere it is E313, never silently ignored
    target_options: ClassVar[tuple[str, ...]] = ()

    @property
    def owner(self) -> str:
        """The declaration the law belongs to (a functor, transformation or sweep)."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The law's name in reports and in `check`/`--only` selections: `F.map_comp[f, g]`."""
        return self.template.format_map({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def check_option(cls, option: str, value: object) -> str | None:
        """Why `value` is not acceptable for `option` of this kind, or None when it is."""
        return None


@dataclass(frozen=True)
class FunctorLaw(Law):
    """A law of the functor `functor`; it is decided in that functor's target."""

    functor: str

    @property
    def owner(self) -> str:
        return self.functor


@dataclass(frozen=True)
class TransformationLaw(Law):
    """A law of the transformation `transformation`; decided in its functors' target."""

    transformation: str

    @property
    def owner(self) -> str:
        return self.transformation


@dataclass(frozen=True)
class PresentationLaw(Law):
    """A law decided in the presentation `category` (adjunctions, monads), owned by `owner_name`."""

    owner_name: str
    category: str

    @property
    def owner(self) -> str:
        return self.owner_name


def target_of(module, law: Law):
    """The category a law is decided in: its functor's target (a transformation's functors')."""
    if isinstance(law, FunctorLaw):
        return module.functors[law.functor].target
    if isinstance(law, TransformationLaw):
        return module.functors[module.transformations[law.transformation].source].target
    if isinstance(law, PresentationLaw):
        return law.category
    raise TypeError(f"{type(law).__name__} names no functor")
