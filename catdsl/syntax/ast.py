"""The abstract syntax of `.cat` files: small frozen values, each carrying its `Span`.

Spans are excluded from equality, so two trees that differ only in where they came from are
equal: `parse(print(tree)) == tree` is the printer's law (tests/test_fmt.py).

Terms and values share one expression language: `g . f` is a composite of generators in a
presentation and also of matrices in `Vect`; elaboration decides which reading applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from catdsl.span import NOWHERE, Span


def _span() -> Span:
    return field(default=NOWHERE, compare=False, repr=False, kw_only=True)


# ---- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class QualName:
    """`a.b.c` written without spaces: a field of a declaration (`digits.test`, `Run.full`)."""

    parts: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Number:
    """A numeric literal, kept as written (`3`, `0.5`, `1e-3`) so printing is exact."""

    text: str
    span: Span = _span()


@dataclass(frozen=True)
class String:
    value: str
    span: Span = _span()


@dataclass(frozen=True)
class Tuple:
    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class ListExpr:
    """`[a, b]`: a list, a matrix row, or (nested) a matrix / block matrix."""

    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class SetExpr:
    """`{a, b, c}`: a finite set."""

    items: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class TableExpr:
    """`{a: x, b: y}`: a finite function given by its table."""

    entries: tuple[tuple["Expr", "Expr"], ...]
    span: Span = _span()


@dataclass(frozen=True)
class Keyword:
    """`name = value` inside a call's arguments or a `with` clause."""

    name: str
    value: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    func: "Expr"
    args: tuple["Expr | Keyword", ...]
    span: Span = _span()

    @property
    def positional(self) -> tuple["Expr", ...]:
        return tuple(a for a in self.args if not isinstance(a, Keyword))

    @property
    def keywords(self) -> dict[str, "Expr"]:
        return {a.name: a.value for a in self.args if isinstance(a, Keyword)}


@dataclass(frozen=True)
class BinOp:
    """Arithmetic and structure: `+ - * / ^` and `⊕` (spelled "(+)" in canonical text).

    `*` is also horizontal composition of 2-cells and scalar multiplication; `^` is also the
    object former `R^n` and, with `T`, transposition.
    """

    op: str
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Compose:
    """A composite in applicative order: `Compose((h, g, f))` is `h . g . f` = `f >> g >> h`.

    A chain written without parentheses is one flat node; a parenthesized composite inside a
    chain stays a nested node, so printing and parsing preserve the tree exactly.
    """

    parts: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Range:
    """`a..b`: the integers a, a+1, …, b (both ends included)."""

    start: "Expr"
    stop: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Lambda:
    """`t |-> body` or `(s, t) |-> body`."""

    params: tuple[Name, ...]
    body: "Expr"
    span: Span = _span()


Expr = (
    Name | QualName | Number | String | Tuple | ListExpr | SetExpr | TableExpr | Call | BinOp
    | Neg | Compose | Range | Lambda
)

# ---- declarations inside a category ---------------------------------------------------------


@dataclass(frozen=True)
class ObjectsDecl:
    names: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class ArrowDecl:
    """`f, g : A -> B`: generating 1-cells."""

    names: tuple[Name, ...]
    dom: Expr
    cod: Expr
    span: Span = _span()


@dataclass(frozen=True)
class CellDecl:
    """`α : f => g`: generating 2-cells between parallel 1-cell terms."""

    names: tuple[Name, ...]
    source: Expr
    target: Expr
    span: Span = _span()


@dataclass(frozen=True)
class EquationDecl:
    name: Name
    lhs: Expr
    rhs: Expr
    span: Span = _span()


@dataclass(frozen=True)
class PullbackDecl:
    """`pullback (P, p, q) of f, g`; with `dual=True` it is `pushout (Q, i, j) of f, g`."""

    apex: Name
    left: Name
    right: Name
    f: Expr
    g: Expr
    dual: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class ProductDecl:
    """`product (P, p, q) of A, B`: P with projections p : P -> A and q : P -> B."""

    apex: Name
    left: Name
    right: Name
    a: Expr
    b: Expr
    span: Span = _span()


@dataclass(frozen=True)
class EqualizerDecl:
    """`equalizer (E, e) of f, g` for parallel f, g : A -> B: E with e : E -> A, f . e = g . e."""

    apex: Name
    map: Name
    f: Expr
    g: Expr
    span: Span = _span()


@dataclass(frozen=True)
class TerminalDecl:
    """`terminal T`: an object with exactly one arrow into it from every object."""

    name: Name
    span: Span = _span()


CategoryItem = (ObjectsDecl | ArrowDecl | CellDecl | EquationDecl | PullbackDecl | ProductDecl
                | EqualizerDecl | TerminalDecl)

# ---- statements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    path: str
    span: Span = _span()


@dataclass(frozen=True)
class ParamDecl:
    names: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class CategoryDecl:
    name: Name
    items: tuple[CategoryItem, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Mapping:
    """`source |-> image` in a functor or transformation body."""

    source: Expr
    image: Expr
    span: Span = _span()


@dataclass(frozen=True)
class FunctorDecl:
    """`functor F : C -> D { mappings }`, or `functor F : C -> D = builtin(...)`."""

    name: Name
    source: Expr
    target: Expr
    mappings: tuple[Mapping, ...] | None
    definition: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True)
class TransformationDecl:
    """`transformation η : F => G { X |-> component; … }`, or `= EXPR` defined from others:
    `G * η`, `η * F` (whiskering), `θ . η` (vertical), `θ * η` (horizontal), `id(F)`."""

    name: Name
    source: Expr
    target: Expr
    mappings: tuple[Mapping, ...] | None
    definition: Expr | None = None
    span: Span = _span()


@dataclass(frozen=True)
class AdjunctionDecl:
    """`adjunction NAME : F -| G { unit |-> η; counit |-> ε }`."""

    name: Name
    left: Expr
    right: Expr
    mappings: tuple[Mapping, ...]
    span: Span = _span()


@dataclass(frozen=True)
class MonadDecl:
    """`monad NAME : T { unit |-> η; mult |-> μ }` for an endofunctor T."""

    name: Name
    functor: Expr
    mappings: tuple[Mapping, ...]
    span: Span = _span()


@dataclass(frozen=True)
class DataDecl:
    name: Name
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class ModelDecl:
    name: Name
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Binding:
    """`seed in 0..49` in a sweep."""

    name: Name
    domain: Expr
    span: Span = _span()


@dataclass(frozen=True)
class SweepDecl:
    name: Name
    base: Expr
    bindings: tuple[Binding, ...]
    span: Span = _span()


@dataclass(frozen=True)
class AnalysisDecl:
    """`classes [N] of S by method(...)` and `persistence [N] of S by method(...)`."""

    kind: str  # "classes" | "persistence"
    name: Name | None
    subject: Expr
    method: Expr
    span: Span = _span()


@dataclass(frozen=True)
class TransferDecl:
    name: Name
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class CheckDecl:
    targets: tuple[Expr, ...]
    options: tuple[Keyword, ...]
    span: Span = _span()


Statement = (
    Import | ParamDecl | CategoryDecl | FunctorDecl | TransformationDecl | AdjunctionDecl
    | MonadDecl | DataDecl | ModelDecl | SweepDecl | AnalysisDecl | TransferDecl | CheckDecl
)


@dataclass(frozen=True)
class SourceFile:
    statements: tuple[Statement, ...]
    span: Span = _span()
