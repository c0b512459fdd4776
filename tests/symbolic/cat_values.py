"""Values for the symbolic backend's tests, parsed from tiny `.cat` files (never built from
strings any other way: the backend only ever sees the AST)."""

from __future__ import annotations

from catdsl.backend import SemanticRef
from catdsl.syntax import ast as A
from catdsl.syntax.parse import parse
from catdsl.syntax.printer import expr as text_of


def value(text: str) -> A.Expr:
    """The AST of one value expression, as it appears as an image in a functor body."""
    return images(f"functor F : C -> D {{ x |-> {text} }}")["x"]


def images(source: str) -> dict[str, A.Expr]:
    """The images of the first functor (or transformation) of `source`, by source text."""
    decl = next(s for s in parse(source, "test.cat").statements
                if isinstance(s, (A.FunctorDecl, A.TransformationDecl)))
    return {text_of(m.source): m.image for m in decl.mappings}


def mappings(source: str, name: str) -> tuple[A.Mapping, ...]:
    """The mappings of the functor or transformation called `name`."""
    for s in parse(source, "test.cat").statements:
        if isinstance(s, (A.FunctorDecl, A.TransformationDecl)) and s.name.id == name:
            return s.mappings
    raise KeyError(name)


def target_ref(source: str) -> SemanticRef:
    """The semantic category named as the target of the first functor, as a SemanticRef."""
    decl = next(s for s in parse(source, "test.cat").statements
                if isinstance(s, A.FunctorDecl))
    t = decl.target
    if isinstance(t, A.Name):
        return SemanticRef(t.id, span=t.span)
    return SemanticRef(t.func.id, t.positional, tuple(t.keywords.items()), span=t.span)
