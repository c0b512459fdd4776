"""Parse `.cat` text into the AST of `catdsl.syntax.ast`.

One lark LALR parser, built once from `grammar/catdsl.lark`, with the AST built by callbacks
during the parse (no intermediate parse tree). A post-lexer makes newlines statement
separators except inside ( ) and [ ], after a binary operator, or before one.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from catdsl.diagnostics import Diagnostic, DiagnosticError
from catdsl.span import Span
from catdsl.syntax import ast as A

# Token kinds after which a newline continues the line, and before which it does too.
_CONTINUE_AFTER = frozenset({
    "COMPOSE", "OPLUS", "PLUS", "MINUS", "STAR", "SLASH", "CARET", "ARROW", "DARROW",
    "MAPSTO", "RANGE", "COMMA", "COLON", "EQUAL", "LPAR", "LSQB", "LBRACE",
})
_CONTINUE_BEFORE = frozenset({
    "COMPOSE", "OPLUS", "PLUS", "STAR", "SLASH", "CARET", "ARROW", "DARROW", "MAPSTO", "RANGE",
})

# Terminal names in words, for "expected …" messages.
TOKEN_WORDS = {
    "NAME": "a name", "QUALNAME": "a dotted name", "NUMBER": "a number", "STRING": "a string",
    "ARROW": "`->`", "DARROW": "`=>`", "MAPSTO": "`|->`", "COMPOSE": "a composition (`.` or `>>`)",
    "RANGE": "`..`", "OPLUS": "`(+)`", "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`",
    "SLASH": "`/`", "CARET": "`^`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "LBRACE": "`{`", "RBRACE": "`}`", "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`",
    "SEMICOLON": "`;`", "_NL": "a new line", "$END": "the end of the file",
}


def _grammar_text() -> str:
    try:
        return (resources.files("catdsl.grammar") / "catdsl.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        # Running from a source tree that was not installed: the grammar sits at the top.
        here = Path(__file__).resolve().parents[2] / "grammar" / "catdsl.lark"
        return here.read_text(encoding="utf-8")


def _token_word(name: str) -> str:
    if name in TOKEN_WORDS:
        return TOKEN_WORDS[name]
    if name.isupper() and name.isalpha():
        return f"`{name.lower()}`"
    return name


class _Newlines:
    """Post-lexer: drop newlines that cannot end a statement."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        prev = None
        pending = None  # a newline waiting to see the next token
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if depth == 0 and prev is not None and prev not in _CONTINUE_AFTER:
                    pending = pending or tok
                continue
            if pending is not None:
                if kind not in _CONTINUE_BEFORE:
                    yield pending
                pending = None
            if kind in ("LPAR", "LSQB"):
                depth += 1
            elif kind in ("RPAR", "RSQB") and depth:
                depth -= 1
            prev = kind
            yield tok
        if pending is not None:
            yield pending


class _SyntaxProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


class _Builder(Transformer):
    """Callbacks that build AST nodes while lark reduces (the file name is set per parse)."""

    def __init__(self) -> None:
        super().__init__()
        self.file = "<input>"

    # -- spans
    def _tok(self, t: Token) -> Span:
        return Span(self.file, t.line, t.column, t.end_line, t.end_column)

    def _sp(self, x) -> Span:
        return self._tok(x) if isinstance(x, Token) else x.span

    def _cover(self, first, last) -> Span:
        return self._sp(first).to(self._sp(last))

    # -- statements
    def start(self, items):
        stmts = tuple(items)
        span = stmts[0].span.to(stmts[-1].span) if stmts else Span(self.file, 1, 1, 1, 1)
        return A.SourceFile(stmts, span=span)

    def import_stmt(self, c):
        return A.Import(self._string_value(c[1]), span=self._cover(c[0], c[1]))

    def param_stmt(self, c):
        names = c[1]
        return A.ParamDecl(names, span=self._cover(c[0], names[-1]))

    def name_list(self, c):
        return tuple(A.Name(str(t), span=self._tok(t)) for t in c)

    def _name(self, t: Token) -> A.Name:
        return A.Name(str(t), span=self._tok(t))

    def category(self, c):
        return A.CategoryDecl(self._name(c[1]), tuple(c[2:-1]), span=self._cover(c[0], c[-1]))

    def objects_decl(self, c):
        return A.ObjectsDecl(c[1], span=self._cover(c[0], c[1][-1]))

    def arrow_decl(self, c):
        names, dom, _arrow, cod = c
        return A.ArrowDecl(names, dom, cod, span=self._cover(names[0], cod))

    def cell_decl(self, c):
        names, src, _arrow, tgt = c
        return A.CellDecl(names, src, tgt, span=self._cover(names[0], tgt))

    def eq_decl(self, c):
        return A.EquationDecl(self._name(c[1]), c[2], c[3], span=self._cover(c[0], c[3]))

    def pullback_decl(self, c, dual=False):
        kw, apex, left, right, f, g = c
        return A.PullbackDecl(self._name(apex), self._name(left), self._name(right), f, g,
                              dual=dual, span=self._cover(kw, g))

    def pushout_decl(self, c):
        return self.pullback_decl(c, dual=True)

    def functor(self, c):
        kw, name, src, _arrow, tgt, body = c
        if isinstance(body, tuple) and body and body[0] == "map_block":
            return A.FunctorDecl(self._name(name), src, tgt, body[1], None,
                                 span=self._cover(kw, body[2]))
        return A.FunctorDecl(self._name(name), src, tgt, None, body, span=self._cover(kw, body))

    def transformation(self, c):
        kw, name, src, _arrow, tgt, body = c
        return A.TransformationDecl(self._name(name), src, tgt, body[1],
                                    span=self._cover(kw, body[2]))

    def map_block(self, c):
        rbrace = c[-1]
        mappings = []
        for item in c[:-1]:
            if not isinstance(item, A.Lambda) or item.span is None:
                raise _SyntaxProblem(Diagnostic(
                    "E105", "expected a mapping `X |-> value` here", self._sp(item),
                    hints=("each line of a functor or transformation body maps one object or "
                           "generator: `A |-> R^2`, `f |-> [[1, 0]]`",)))
            mappings.append(self._mapping(item))
        return ("map_block", tuple(mappings), rbrace)

    def _mapping(self, lam: A.Lambda) -> A.Mapping:
        # `maps_to` built a Lambda; at the top of a body item it is a mapping instead, and its
        # left side was kept whole in `_mapsto_source`.
        source = self._mapsto_source.pop(id(lam))
        return A.Mapping(source, lam.body, span=lam.span)

    def data_stmt(self, c):
        return A.DataDecl(self._name(c[1]), c[2], span=self._cover(c[0], c[2]))

    def model_stmt(self, c):
        return A.ModelDecl(self._name(c[1]), c[2], span=self._cover(c[0], c[2]))

    def sweep_stmt(self, c):
        kw, name, base, *bindings = c
        return A.SweepDecl(self._name(name), base, tuple(bindings), span=self._cover(kw, bindings[-1]))

    def binding(self, c):
        return A.Binding(self._name(c[0]), c[1], span=self._cover(c[0], c[1]))

    def _analysis(self, c, kind):
        if len(c) == 4:
            kw, name, subject, method = c
            name = self._name(name)
        else:
            kw, subject, method = c
            name = None
        return A.AnalysisDecl(kind, name, subject, method, span=self._cover(kw, method))

    def classes_stmt(self, c):
        return self._analysis(c, "classes")

    def persistence_stmt(self, c):
        return self._analysis(c, "persistence")

    def transfer_stmt(self, c):
        return A.TransferDecl(self._name(c[1]), c[2], span=self._cover(c[0], c[2]))

    def check_stmt(self, c):
        kw, *rest = c
        targets = tuple(x for x in rest if not isinstance(x, A.Keyword))
        options = tuple(x for x in rest if isinstance(x, A.Keyword))
        return A.CheckDecl(targets, options, span=self._cover(kw, rest[-1]))

    def kwarg(self, c):
        return A.Keyword(str(c[0]), c[1], span=self._cover(c[0], c[1]))

    # -- expressions
    def maps_to(self, c):
        lhs, _arrow, body = c
        if isinstance(lhs, A.Name):
            params = (lhs,)
        elif isinstance(lhs, A.Tuple) and all(isinstance(p, A.Name) for p in lhs.items):
            params = lhs.items
        else:
            params = None
        lam = A.Lambda(params or (), body, span=self._cover(lhs, body))
        # Remember the left side: a body item reads it as the mapping's source, where any
        # expression (`R^n`, `m`, `f`) is allowed; elsewhere it must be lambda parameters.
        self._mapsto_source[id(lam)] = lhs
        if params is None:
            self._bad_lambdas[id(lam)] = lhs
        return lam

    def range(self, c):
        return A.Range(c[0], c[2], span=self._cover(c[0], c[2]))

    def compose_chain(self, c):
        # Operands and operators alternate; `.`/`∘` put the next operand first (applicative),
        # `>>`/`≫` put it last (diagrammatic). The result lists parts in applicative order.
        parts = [c[0]]
        for op, operand in zip(c[1::2], c[2::2]):
            if str(op) in (".", "∘"):
                parts.append(operand)
            else:
                parts.insert(0, operand)
        return A.Compose(tuple(parts), span=self._cover(c[0], c[-1]))

    def oplus(self, c):
        return A.BinOp("(+)", c[0], c[2], span=self._cover(c[0], c[2]))

    def binop(self, c):
        return A.BinOp(str(c[1]), c[0], c[2], span=self._cover(c[0], c[2]))

    def neg(self, c):
        return A.Neg(c[1], span=self._cover(c[0], c[1]))

    def call(self, c):
        func, *args, rpar = c
        args = tuple(a for a in args if a is not None)
        return A.Call(func, args, span=self._cover(func, rpar))

    def name(self, c):
        return A.Name(str(c[0]), span=self._tok(c[0]))

    def qualname(self, c):
        return A.QualName(tuple(str(c[0]).split(".")), span=self._tok(c[0]))

    def number(self, c):
        return A.Number(str(c[0]), span=self._tok(c[0]))

    def string(self, c):
        return A.String(self._string_value(c[0]), span=self._tok(c[0]))

    def _string_value(self, t: Token) -> str:
        body = str(t)[1:-1]
        out, i = [], 0
        escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                nxt = body[i + 1]
                if nxt not in escapes:
                    raise _SyntaxProblem(Diagnostic(
                        "E106", f"unknown escape `\\{nxt}` in a string", self._tok(t),
                        hints=('the escapes are \\n, \\t, \\" and \\\\',)))
                out.append(escapes[nxt])
                i += 2
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    def tuple(self, c):
        return A.Tuple(tuple(c[1:-1]), span=self._cover(c[0], c[-1]))

    def list(self, c):
        return A.ListExpr(tuple(c[1:-1]), span=self._cover(c[0], c[-1]))

    def set(self, c):
        return A.SetExpr(tuple(c[1:-1]), span=self._cover(c[0], c[-1]))

    def table(self, c):
        return A.TableExpr(tuple(c[1:-1]), span=self._cover(c[0], c[-1]))

    def entry(self, c):
        return (c[0], c[1])


class _ParserHandle:
    def __init__(self) -> None:
        self.builder = _Builder()
        self.comments: list[Token] = []
        self.lark = Lark(_grammar_text(), parser="lalr", lexer="basic", postlex=_Newlines(),
                         transformer=self.builder, maybe_placeholders=False,
                         lexer_callbacks={"COMMENT": self.comments.append})
        self.lock = threading.Lock()


@lru_cache(maxsize=1)
def _handle() -> _ParserHandle:
    return _ParserHandle()


def parse(text: str, file: str = "<input>") -> A.SourceFile:
    """Parse one file; raise `DiagnosticError` (code E1xx) on the first syntax error."""
    h = _handle()
    with h.lock:
        h.builder.file = file
        h.builder._mapsto_source = {}
        h.builder._bad_lambdas = {}
        h.comments.clear()
        try:
            tree = h.lark.parse(text)
        except _SyntaxProblem as p:
            raise DiagnosticError([p.diagnostic]) from None
        except UnexpectedInput as e:
            raise DiagnosticError([_syntax_diagnostic(e, text, file)]) from None
        bad = dict(h.builder._bad_lambdas)
        # Lambdas that became body mappings were popped; what remains is a real lambda.
        bad = {k: v for k, v in bad.items() if k in h.builder._mapsto_source}
        comments = list(h.comments)
    if bad:
        lhs = next(iter(bad.values()))
        raise DiagnosticError([Diagnostic(
            "E104", "the parameters of a lambda must be a name or a tuple of names", lhs.span,
            hints=("write `t |-> …` or `(s, t) |-> …`",))])
    _last_comments[file] = comments
    return tree


_last_comments: dict[str, list[Token]] = {}


def parse_with_comments(text: str, file: str = "<input>"):
    """Parse, and also return the comments as printer `Comment`s (for `catdsl fmt`)."""
    from catdsl.syntax.printer import Comment

    tree = parse(text, file)
    lines = text.splitlines()
    comments = tuple(
        Comment(t.line, str(t).rstrip(), bool(lines[t.line - 1][: t.column - 1].strip()))
        for t in _last_comments.pop(file, []))
    return tree, comments


def _syntax_diagnostic(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        span = Span(file, e.line, e.column, e.line, e.column + 1)
        return Diagnostic("E101", f"unexpected character {ch!r}", span,
                          hints=_hint_for_character(ch))
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    expected = sorted({_token_word(x) for x in e.expected if not x.startswith("__")})
    words = _join_or(expected)
    if tok.type == "$END":
        line = text.count("\n") + 1
        col = len(text) - (text.rfind("\n") + 1) + 1
        span = Span(file, line, col, line, col)
        return Diagnostic("E103", f"unexpected end of file; expected {words}", span)
    span = Span(file, tok.line, tok.column, tok.end_line or tok.line,
                tok.end_column or tok.column + 1)
    shown = "a new line" if tok.type == "_NL" else f"`{tok}`"
    hints: tuple[str, ...] = ()
    if tok.type in ("OBJECTS", "OBJECT", "EQ", "PULLBACK", "PUSHOUT"):
        hints = (f"`{tok}` declarations belong inside a `category {{ … }}` block",)
    elif tok.type == "_NL" and "RPAR" in e.expected:
        hints = ("a bracket is not closed before the end of the line",)
    return Diagnostic("E102", f"unexpected {shown}; expected {words}", span, hints=hints)


def _join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words) or "nothing"
    if len(words) > 8:
        return ", ".join(words[:8]) + ", or another token"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _hint_for_character(ch: str) -> tuple[str, ...]:
    if ch == "'":
        return ('strings use double quotes: "…"',)
    if ch in "<≤≥":
        return ("comparisons are not expressions; arrows are `->`, `=>` and `|->`",)
    return ()
