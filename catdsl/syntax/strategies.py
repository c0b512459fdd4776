"""Hypothesis strategies for well-formed `.cat` syntax trees (for property tests and fuzzing).

`source_files()` draws `SourceFile`s using every statement kind and every expression form,
nested at random, with names drawn from a safe alphabet (ASCII, Greek, primes) that avoids
the reserved words. Every tree drawn is one the parser can produce, so the printer's law
`parse(to_text(tree)) == tree` must hold for all of them. Imports hypothesis: test use only.
"""

from __future__ import annotations

from functools import lru_cache

from hypothesis import strategies as st

from catdsl.syntax import ast as A
from catdsl.syntax.parse import RESERVED_WORDS

_FIRST = "abcfghkmnpqtuxyzABCDFRTXY_αβγδηθλμφψωΓΔΛΦΩ"
_REST = _FIRST + "0123456789"

identifiers = st.builds(
    lambda head, tail, primes: head + tail + "'" * primes,
    st.sampled_from(_FIRST), st.text(_REST, max_size=4), st.integers(0, 2),
).filter(lambda s: s not in RESERVED_WORDS)

names = identifiers.map(A.Name)
# A keyword argument may be named by any identifier or reserved word.
keyword_names = st.one_of(identifiers, st.sampled_from(sorted(RESERVED_WORDS)))
numbers = st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3})?([eE][-+]?[0-9]{1,2})?", fullmatch=True)
strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
# Parts of a dotted name are read by the same lexer rule, so reserved words are allowed there.
qualnames = st.lists(st.one_of(identifiers, st.sampled_from(["in", "full", "check"])),
                     min_size=2, max_size=3).map(lambda ps: A.QualName(tuple(ps)))

leaves = st.one_of(
    names, names, qualnames, numbers.map(A.Number), strings.map(A.String),
    st.just(A.Name("pullback")),  # `pullback` is a keyword that may also be called
)

BINARY_OPERATORS = ("(+)", "+", "-", "*", "/", "^")


@lru_cache(maxsize=None)
def expressions(depth: int = 3) -> st.SearchStrategy[A.Expr]:
    """Expressions nested at most `depth` deep."""
    if depth <= 0:
        return leaves
    sub = expressions(depth - 1)
    small = st.lists(sub, max_size=3).map(tuple)
    keywords = st.builds(A.Keyword, keyword_names, sub)
    return st.one_of(
        leaves,
        small.map(A.Tuple),
        small.map(A.ListExpr),
        small.map(A.SetExpr),
        st.lists(st.tuples(sub, sub), min_size=1, max_size=3).map(lambda es: A.TableExpr(tuple(es))),
        st.builds(A.Call, sub, st.lists(st.one_of(sub, keywords), max_size=3).map(tuple)),
        st.builds(A.BinOp, st.sampled_from(BINARY_OPERATORS), sub, sub),
        st.builds(A.Neg, sub),
        st.lists(sub, min_size=2, max_size=3).map(lambda ps: A.Compose(tuple(ps))),
        st.builds(A.Range, sub, sub),
        st.builds(A.Lambda, st.lists(names, max_size=3).map(tuple), sub),
    )


def _names(max_size: int = 3):
    return st.lists(names, min_size=1, max_size=max_size).map(tuple)


def category_items(depth: int = 2):
    e = expressions(depth)
    return st.one_of(
        st.builds(A.ObjectsDecl, _names()),
        st.builds(A.ArrowDecl, _names(), e, e),
        st.builds(A.CellDecl, _names(), e, e),
        st.builds(A.EquationDecl, names, e, e),
        st.builds(A.PullbackDecl, names, names, names, e, e, st.booleans()),
    )


def mappings(depth: int = 2):
    e = expressions(depth)
    return st.lists(st.builds(A.Mapping, e, e), max_size=4).map(tuple)


def statements(depth: int = 2):
    e = expressions(depth)
    keywords = st.lists(st.builds(A.Keyword, keyword_names, e), max_size=2).map(tuple)
    return st.one_of(
        strings.map(A.Import),
        st.builds(A.ParamDecl, _names()),
        st.builds(A.CategoryDecl, names, st.lists(category_items(depth), max_size=5).map(tuple)),
        st.builds(A.FunctorDecl, names, e, e, mappings(depth)),
        st.builds(lambda n, s, t, d: A.FunctorDecl(n, s, t, None, d), names, e, e, e),
        st.builds(A.TransformationDecl, names, e, e, mappings(depth)),
        st.builds(A.DataDecl, names, e),
        st.builds(A.ModelDecl, names, e),
        st.builds(A.SweepDecl, names, e,
                  st.lists(st.builds(A.Binding, names, e), min_size=1, max_size=3).map(tuple)),
        st.builds(A.AnalysisDecl, st.sampled_from(["classes", "persistence"]),
                  st.none() | names, e, e),
        st.builds(A.TransferDecl, names, e),
        st.builds(A.CheckDecl, st.lists(e, min_size=1, max_size=3).map(tuple), keywords),
    )


def source_files(depth: int = 2, max_statements: int = 6):
    """Whole files: up to `max_statements` statements of every kind."""
    return st.lists(statements(depth), max_size=max_statements).map(
        lambda ss: A.SourceFile(tuple(ss)))
