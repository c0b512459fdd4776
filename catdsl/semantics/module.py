"""The typed model of a `.cat` file that elaboration produces and every backend reads.

Presentations hold typed 1-cells (`Path`s of the free category, first applied first) and
2-cells; functors and transformations hold their images, already typed where the target is a
presentation, and as value expressions where it is a semantic category (a backend reads
those). Backends never see statements or raw syntax beyond these value expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from catdsl.backend import SemanticRef
from catdsl.semantics.free import Generator, Path, RewriteSystem
from catdsl.span import Span
from catdsl.syntax import ast as A


def _span() -> Span:
    return field(default=None, compare=False, repr=False)  # type: ignore[return-value]


# ---- 2-cell terms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A generating 2-cell `name : source => target`."""

    name: str
    source: Path
    target: Path
    span: Span = _span()


@dataclass(frozen=True)
class Id2:
    """The identity 2-cell on a 1-cell."""

    path: Path
    span: Span = _span()

    @property
    def source(self) -> Path:
        return self.path

    @property
    def target(self) -> Path:
        return self.path


@dataclass(frozen=True)
class Vertical:
    """`second . first`: first `f => g`, then `g => h`."""

    second: "Term2"
    first: "Term2"
    span: Span = _span()

    @property
    def source(self) -> Path:
        return self.first.source

    @property
    def target(self) -> Path:
        return self.second.target


@dataclass(frozen=True)
class Horizontal:
    """`outer * inner`: inner `f => g : A -> B`, outer `h => k : B -> C`, giving `h.f => k.g`."""

    outer: "Term2"
    inner: "Term2"
    span: Span = _span()

    @property
    def source(self) -> Path:
        from catdsl.semantics.free import compose

        return compose(self.outer.source, self.inner.source)

    @property
    def target(self) -> Path:
        from catdsl.semantics.free import compose

        return compose(self.outer.target, self.inner.target)


Term2 = Cell | Id2 | Vertical | Horizontal


# ---- presentations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Equation:
    """`eq name : lhs = rhs` between parallel 1-cells (Paths) or 2-cells (Term2)."""

    name: str
    lhs: Path | Term2
    rhs: Path | Term2
    span: Span = _span()
    pullback: str | None = None  # the apex, set on the commuting square a `pullback` declares
    construction: str = "pullback"  # or "pushout", "equalizer": the declaration of that square

    @property
    def dimension(self) -> int:
        return 1 if isinstance(self.lhs, Path) else 2


@dataclass(frozen=True)
class Pullback:
    """`pullback (P, p, q) of f, g`: a limit cone over the cospan f : A -> C <- B : g."""

    apex: str
    left: str
    right: str
    f: Path
    g: Path
    span: Span = _span()


@dataclass(frozen=True)
class Pushout:
    """`pushout (Q, i, j) of f, g`: a colimit cocone under the span f : C -> A, g : C -> B,
    with injections i : A -> Q, j : B -> Q and the square i . f = j . g."""

    apex: str
    left: str
    right: str
    f: Path
    g: Path
    span: Span = _span()


@dataclass(frozen=True)
class Product:
    """`product (P, p, q) of A, B`: P with projections p : P -> A and q : P -> B."""

    apex: str
    left: str
    right: str
    a: str
    b: str
    span: Span = _span()


@dataclass(frozen=True)
class Equalizer:
    """`equalizer (E, e) of f, g` for f, g : A -> B: e : E -> A with f . e = g . e."""

    apex: str
    map: str
    f: Path
    g: Path
    span: Span = _span()


@dataclass(frozen=True)
class Presentation:
    """A category presented by generators and relations (a computad when it has 2-cells)."""

    name: str
    objects: tuple[str, ...]
    generators: tuple[Generator, ...]
    cells: tuple[Cell, ...]
    equations: tuple[Equation, ...]
    pullbacks: tuple[Pullback, ...]
    spans: dict[str, Span] = field(default_factory=dict, compare=False, repr=False)
    span: Span = _span()
    pushouts: tuple[Pushout, ...] = ()
    products: tuple[Product, ...] = ()
    equalizers: tuple[Equalizer, ...] = ()
    terminals: tuple[str, ...] = ()

    @cached_property
    def object_index(self) -> dict[str, int]:
        """Object name -> its position: membership in constant time, in declaration order."""
        return {o: i for i, o in enumerate(self.objects)}

    @cached_property
    def generator(self) -> dict[str, Generator]:
        return {g.name: g for g in self.generators}

    @cached_property
    def cell(self) -> dict[str, Cell]:
        return {c.name: c for c in self.cells}

    @cached_property
    def rewrite_system(self) -> RewriteSystem:
        eqs = [(e.name, e.lhs, e.rhs) for e in self.equations if e.dimension == 1]
        return RewriteSystem(self.generators, eqs)

    def pullback_names(self) -> set[str]:
        """Objects and legs a pullback or pushout introduces (a functor may leave them unmapped,
        to have them computed in its target)."""
        return {n for c in self.cones() for n in (c.apex, c.left, c.right)}

    def cones(self) -> tuple[Pullback | Pushout, ...]:
        """The declared universal (co)cones whose apex and legs may be computed: pullbacks, then
        pushouts."""
        return (*self.pullbacks, *self.pushouts)


# ---- functors and transformations ---------------------------------------------------------------


CategoryRef = str | SemanticRef  # a presentation's name, or a semantic category


@dataclass(frozen=True)
class Image:
    """What a functor or transformation sends one name to.

    `value` is the typed image when the target is a presentation (an object name, a Path or a
    Term2); otherwise None and the backend interprets `expr`.
    """

    source: str
    expr: A.Expr
    value: str | Path | Term2 | None
    span: Span = _span()


@dataclass(frozen=True)
class Rule:
    """A generic mapping with pattern variables: `R^n |-> R^(2*n)`, `m |-> m (+) m`."""

    pattern: A.Expr
    image: A.Expr
    span: Span = _span()


@dataclass(frozen=True)
class Functor:
    name: str
    source: CategoryRef
    target: CategoryRef
    objects: dict[str, Image]
    arrows: dict[str, Image]
    cells: dict[str, Image]
    rules: tuple[Rule, ...] = ()
    definition: A.Expr | None = None  # `functor L : P -> R = features(...)`
    span: Span = _span()
    # `G . F` into a semantic category: the functor G out of a presentation whose
    # interpretation the backend applies to this functor's own images (those of F, or of the
    # already computed composite of the functors between presentations)
    outer: str | None = None
    # made by elaboration for a composite or identity named only inside a transformation's type
    # (`η : id(A) => G . F`): its functoriality holds by construction, so it implies no laws
    derived: bool = False


@dataclass(frozen=True)
class Transformation:
    name: str
    source: str  # a functor
    target: str  # a functor
    components: dict[str, Image]
    rules: tuple[Rule, ...] = ()
    span: Span = _span()


# ---- the whole file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    """A learning statement (`data`, `model`, `sweep`, `transfer`) as written; the torch backend
    interprets its value. Sweeps and analyses are also kept resolved (`Sweep`, `Analysis`)."""

    kind: str
    name: str | None
    statement: A.Statement
    span: Span = _span()


@dataclass(frozen=True)
class Sweep:
    """`sweep S = F.g over x in …`: runs of the generator `g` of the functor `F`, one per binding."""

    name: str
    functor: str
    generator: str
    bindings: tuple[A.Binding, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Subject:
    """What an analysis is of, resolved: a sweep, a functor, a part of a functor's source
    (`Run.X`, `F.f`: `part` names the object or generator), or a semantic category value."""

    kind: str  # "sweep" | "functor" | "part" | "category"
    name: str  # the sweep, functor, or semantic category
    part: str | None = None
    category: SemanticRef | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Analysis:
    """`classes C of S by homotopy(level = 0.05)`, `persistence P of S by landscape(…)`,
    `transfer T = pullback(source = Run.f, …)`, resolved: the subject is a declared thing and
    the method is split into its name and keyword arguments. Handlers registered under the
    entry-point group `catdsl.analyses` give it a meaning (`catdsl.analysis`)."""

    kind: str  # "classes" | "persistence" | "transfer"
    name: str | None
    subject: Subject
    method: str
    arguments: tuple[tuple[str, A.Expr], ...]
    statement: A.Statement
    span: Span = _span()

    def argument(self, key: str) -> A.Expr | None:
        return dict(self.arguments).get(key)


@dataclass(frozen=True)
class Adjunction:
    """`adjunction NAME : F -| G { unit |-> η; counit |-> ε }`: F : A -> B left adjoint to
    G : B -> A, with η : id(A) => G . F and ε : F . G => id(B) (names of transformations)."""

    name: str
    left: str
    right: str
    unit: str
    counit: str
    span: Span = _span()


@dataclass(frozen=True)
class Monad:
    """`monad NAME : T { unit |-> η; mult |-> μ }`: T : C -> C with η : id(C) => T and
    μ : T . T => T (names of functors and transformations)."""

    name: str
    functor: str
    unit: str
    mult: str
    span: Span = _span()


@dataclass(frozen=True)
class Module:
    file: str
    params: tuple[str, ...]
    presentations: dict[str, Presentation]
    functors: dict[str, Functor]
    transformations: dict[str, Transformation]
    declarations: tuple[Declaration, ...]
    checks: tuple[A.CheckDecl, ...]
    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    analyses: tuple[Analysis, ...] = ()
    adjunctions: dict[str, Adjunction] = field(default_factory=dict)
    monads: dict[str, Monad] = field(default_factory=dict)
    # Per-module caches of backends (interpretations, run sessions), keyed by their owner.
    memo: dict = field(default_factory=dict, compare=False, repr=False)
