"""Parse `.cat` text into the AST of `catdsl.syntax.ast`.

One lark LALR parser, built once from `grammar/catdsl.lark`, with the AST built by callbacks
during the parse (no intermediate parse tree). A post-lexer makes newlines statement
separators except inside ( ), [ ] and set/table braces, after a binary operator or a
connective keyword, or before a leading binary operator (docs/language.md, "Separators").
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
from catdsl.syntax import tables as T

# Words the lexer always reads as keywords, never as names (they may still name a keyword
# argument: `f(data = x)`, `check F with in = 1`). tests/test_parse.py keeps this in step
# with the grammar.
RESERVED_WORDS = frozenset({
    "import", "param", "category", "objects", "object", "eq", "pullback", "pushout", "product",
    "equalizer", "terminal", "functor",
    "transformation", "adjunction", "monad", "data", "model", "sweep", "classes", "persistence",
    "transfer", "check", "in", "of", "by", "over", "with",
})

# Token kinds after which a newline continues the line: binary operators, arrows, separators
# inside a statement, open brackets, and the connectives that never end a statement.
_CONTINUE_AFTER = frozenset({
    "COMPOSE", "OPLUS", "PLUS", "MINUS", "STAR", "SLASH", "CARET", "ARROW", "DARROW", "ADJOINT",
    "MAPSTO", "RANGE", "COMMA", "COLON", "EQUAL", "LPAR", "LSQB", "LBRACE",
    "IN", "OF", "BY", "OVER", "WITH",
})
# Token kinds before which a newline continues the line: a line may start with a binary
# operator (not `-`, which may start an item) or a connective that never starts a statement.
_CONTINUE_BEFORE = frozenset({
    "COMPOSE", "OPLUS", "PLUS", "STAR", "SLASH", "CARET", "ARROW", "DARROW", "MAPSTO", "RANGE",
    "IN", "OF", "BY", "OVER", "WITH",
})
# Token kinds that end an expression: a `{` right after one opens a block (`category C {`,
# `functor F : C -> D {`); anywhere else a `{` opens a set or table, where newlines are spaces.
_ENDS_EXPRESSION = frozenset({
    "NAME", "QUALNAME", "NUMBER", "STRING", "PULLBACK", "RPAR", "RSQB", "RBRACE",
})
# Tokens that can start an expression: named together as "an expression" in messages.
_STARTS_EXPRESSION = frozenset({
    "NAME", "QUALNAME", "NUMBER", "STRING", "PULLBACK", "LPAR", "LSQB", "LBRACE", "MINUS",
})

# Terminal names in words, for "expected …" messages.
TOKEN_WORDS = {
    "NAME": "a name", "QUALNAME": "a dotted name", "NUMBER": "a number", "STRING": "a string",
    "ARROW": "`->`", "DARROW": "`=>`", "ADJOINT": "`-|`", "MAPSTO": "`|->`", "COMPOSE": "a composition (`.` or `>>`)",
    "RANGE": "`..`", "OPLUS": "`(+)`", "PLUS": "`+`", "MINUS": "`-`", "STAR": "`*`",
    "SLASH": "`/`", "CARET": "`^`", "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`",
    "LBRACE": "`{`", "RBRACE": "`}`", "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`",
    "SEMICOLON": "`;`", "_NL": "the end of the line", "$END": "the end of the file",
}


def _grammar_path(name: str) -> Path:
    """A file of the `catdsl.grammar` package: the grammar, or the tables made from it."""
    try:
        found = resources.files("catdsl.grammar") / name
        if isinstance(found, Path):
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    # Running from a source tree that was not installed: the grammar sits at the top.
    return Path(__file__).resolve().parents[2] / "grammar" / name


def _read_grammar_file(name: str) -> str | None:
    try:
        return (resources.files("catdsl.grammar") / name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, TypeError):
        pass
    try:
        return (Path(__file__).resolve().parents[2] / "grammar" / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


@lru_cache(maxsize=1)
def _grammar_text() -> str:
    text = _read_grammar_file("catdsl.lark")
    if text is None:
        raise FileNotFoundError("grammar/catdsl.lark: the catdsl grammar is missing")
    return text


def _token_word(name: str) -> str:
    if name in TOKEN_WORDS:
        return TOKEN_WORDS[name]
    if name.isupper() and name.isalpha():
        return f"`{name.lower()}`"
    return name


class _Newlines:
    """Post-lexer: drop the newlines that cannot end a statement."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0  # open ( [ and set/table braces: a newline inside them is a space
        braces: list[bool] = []  # for each open `{`: True for a set/table, False for a block
        prev = None
        pending = None  # a newline waiting to see the next token
        after, before, ends = _CONTINUE_AFTER, _CONTINUE_BEFORE, _ENDS_EXPRESSION
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if pending is None and depth == 0 and prev is not None and prev not in after:
                    pending = tok
                continue
            if pending is not None:
                if kind not in before:
                    yield pending
                pending = None
            if kind == "LPAR" or kind == "LSQB":
                depth += 1
            elif kind == "RPAR" or kind == "RSQB":
                if depth:
                    depth -= 1
            elif kind == "LBRACE":
                is_set = prev not in ends
                braces.append(is_set)
                depth += is_set
            elif kind == "RBRACE":
                if braces and braces.pop() and depth:
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

    def _cover(self, first, last) -> Span:
        """From the start of `first` to the end of `last` (tokens or nodes)."""
        if type(first) is Token:
            line, col = first.line, first.column
        else:
            s = first.span
            line, col = s.line, s.column
        if type(last) is Token:
            return Span(self.file, line, col, last.end_line, last.end_column)
        s = last.span
        return Span(self.file, line, col, s.end_line, s.end_column)

    def _name(self, t: Token) -> A.Name:
        return A.Name(t.value, span=self._tok(t))

    # -- statements
    def start(self, items):
        stmts = tuple(items)
        span = (self._cover(stmts[0], stmts[-1]) if stmts else Span(self.file, 1, 1, 1, 1))
        return A.SourceFile(stmts, span=span)

    def import_stmt(self, c):
        return A.Import(self._string_value(c[1]), span=self._cover(c[0], c[1]))

    def param_stmt(self, c):
        names = c[1]
        return A.ParamDecl(names, span=self._cover(c[0], names[-1]))

    def name_list(self, c):
        return tuple([self._name(t) for t in c])

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

    def product_decl(self, c):
        kw, apex, left, right, a, b = c
        return A.ProductDecl(self._name(apex), self._name(left), self._name(right), a, b, span=self._cover(kw, b))

    def equalizer_decl(self, c):
        kw, apex, e, f, g = c
        return A.EqualizerDecl(self._name(apex), self._name(e), f, g, span=self._cover(kw, g))

    def terminal_decl(self, c):
        kw, name = c
        return A.TerminalDecl(self._name(name), span=self._cover(kw, name))

    def functor(self, c):
        kw, name, src, _arrow, tgt, body = c
        if type(body) is tuple:  # a map block: (mappings, closing brace)
            return A.FunctorDecl(self._name(name), src, tgt, body[0], None,
                                 span=self._cover(kw, body[1]))
        return A.FunctorDecl(self._name(name), src, tgt, None, body, span=self._cover(kw, body))

    def transformation(self, c):
        kw, name, src, _arrow, tgt, body = c
        if type(body) is tuple:  # a map block: (mappings, closing brace)
            return A.TransformationDecl(self._name(name), src, tgt, body[0],
                                        span=self._cover(kw, body[1]))
        return A.TransformationDecl(self._name(name), src, tgt, None, body, span=self._cover(kw, body))

    def adjunction(self, c):
        kw, name, left, _adjoint, right, body = c
        return A.AdjunctionDecl(self._name(name), left, right, body[0], span=self._cover(kw, body[1]))

    def monad(self, c):
        kw, name, functor, body = c
        return A.MonadDecl(self._name(name), functor, body[0], span=self._cover(kw, body[1]))

    def map_block(self, c):
        return (tuple(c[:-1]), c[-1])

    def map_item(self, c):
        source, _arrow, image = c
        return A.Mapping(source, image, span=self._cover(source, image))

    def bad_map_item(self, c):
        raise _SyntaxProblem(Diagnostic(
            "E105", "expected a mapping `X |-> value` here", self._node_span(c[0]),
            hints=("each line of a functor or transformation body maps one object or "
                   "generator: `A |-> R^2`, `f |-> [[1, 0]]`",)))

    def _node_span(self, x) -> Span:
        return self._tok(x) if type(x) is Token else x.span

    def data_stmt(self, c):
        return A.DataDecl(self._name(c[1]), c[2], span=self._cover(c[0], c[2]))

    def model_stmt(self, c):
        return A.ModelDecl(self._name(c[1]), c[2], span=self._cover(c[0], c[2]))

    def sweep_stmt(self, c):
        kw, name, base, *bindings = c
        return A.SweepDecl(self._name(name), base, tuple(bindings),
                           span=self._cover(kw, bindings[-1]))

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
        targets = tuple([x for x in rest if type(x) is not A.Keyword])
        options = tuple([x for x in rest if type(x) is A.Keyword])
        return A.CheckDecl(targets, options, span=self._cover(kw, rest[-1]))

    def kwarg(self, c):
        return A.Keyword(c[0].value, c[1], span=self._cover(c[0], c[1]))

    # -- expressions
    def maps_to(self, c):
        lhs, _arrow, body = c
        if type(lhs) is A.Name:
            params = (lhs,)
        elif type(lhs) is A.Tuple and all(type(p) is A.Name for p in lhs.items):
            params = lhs.items
        else:
            raise _SyntaxProblem(Diagnostic(
                "E104", "the parameters of a lambda must be a name or a tuple of names",
                lhs.span, hints=("write `t |-> …` or `(s, t) |-> …`",)))
        return A.Lambda(params, body, span=self._cover(lhs, body))

    def range(self, c):
        return A.Range(c[0], c[2], span=self._cover(c[0], c[2]))

    def compose_chain(self, c):
        # Operands and operators alternate; `.`/`∘` put the next operand first (applicative),
        # `>>`/`≫` put it last (diagrammatic). The result lists parts in applicative order.
        # A mixed chain groups to the left: `f >> g . h` is `(f >> g) . h`.
        parts = [c[0]]
        for i in range(1, len(c), 2):
            if c[i].value in (".", "∘"):
                parts.append(c[i + 1])
            else:
                parts.insert(0, c[i + 1])
        return A.Compose(tuple(parts), span=self._cover(c[0], c[-1]))

    def oplus(self, c):
        return A.BinOp("(+)", c[0], c[2], span=self._cover(c[0], c[2]))

    def binop(self, c):
        return A.BinOp(c[1].value, c[0], c[2], span=self._cover(c[0], c[2]))

    def neg(self, c):
        return A.Neg(c[1], span=self._cover(c[0], c[1]))

    def call(self, c):
        return A.Call(c[0], tuple(c[1:-1]), span=self._cover(c[0], c[-1]))

    def name(self, c):
        t = c[0]
        return A.Name(t.value, span=self._tok(t))

    def qualname(self, c):
        t = c[0]
        return A.QualName(tuple(t.value.split(".")), span=self._tok(t))

    def number(self, c):
        t = c[0]
        return A.Number(t.value, span=self._tok(t))

    def string(self, c):
        return A.String(self._string_value(c[0]), span=self._tok(c[0]))

    def _string_value(self, t: Token) -> str:
        body = t.value[1:-1]
        if "\\" not in body:
            return body
        out, i = [], 0
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                nxt = body[i + 1]  # the STRING pattern never ends on a lone backslash
                if nxt not in escapes:
                    raise _SyntaxProblem(Diagnostic(
                        "E106", f"unknown escape `\\{nxt}` in a string", self._tok(t),
                        hints=('the escapes are \\n, \\t, \\r, \\" and \\\\',)))
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
    """The one parser of a process, with its callbacks. Its LALR tables are loaded from
    `grammar/catdsl.tables.json` when that file was made from this grammar and lark version
    (`catdsl.syntax.tables`, written by `catdsl.syntax.make_tables`), and built from the grammar otherwise (`source` says which)."""

    def __init__(self, tables: bool = True) -> None:
        self.builder = _Builder()
        self.comments: list[Token] = []
        callbacks = {"transformer": self.builder, "postlex": _Newlines(),
                     "lexer_callbacks": {"COMMENT": self.comments.append}}
        grammar = _grammar_text()
        self.lark = None
        if tables:
            text = _read_grammar_file(T.FILE)
            saved = T.loads(text, grammar, tuple(_Newlines.always_accept)) if text is not None else None
            if saved is not None:
                try:
                    self.lark = T.parser(saved, **callbacks)
                except Exception:  # tables this lark cannot use: build them instead
                    self.lark = None
        self.source = "shipped tables" if self.lark is not None else "grammar"
        if self.lark is None:
            self.lark = Lark(grammar, **T.OPTIONS, **callbacks)
        self.lock = threading.Lock()


@lru_cache(maxsize=1)
def _handle() -> _ParserHandle:
    return _ParserHandle()


# How deep a syntax tree may nest. Everything downstream (printer, elaborator, backends,
# dataclass equality) walks trees recursively, so a deeper tree would end in Python's
# recursion limit; a human-written file never comes near this.
MAX_DEPTH = 100

# The fields of each node that hold one child, and the one field that holds a sequence.
_CHILD = {
    A.BinOp: ("left", "right"), A.Neg: ("operand",), A.Range: ("start", "stop"),
    A.Lambda: ("body",), A.Keyword: ("value",), A.Call: ("func",),
    A.Mapping: ("source", "image"), A.ArrowDecl: ("dom", "cod"), A.CellDecl: ("source", "target"),
    A.EquationDecl: ("lhs", "rhs"), A.PullbackDecl: ("f", "g"), A.ProductDecl: ("a", "b"),
    A.EqualizerDecl: ("f", "g"), A.DataDecl: ("value",),
    A.ModelDecl: ("value",), A.TransferDecl: ("value",), A.SweepDecl: ("base",),
    A.Binding: ("domain",), A.AnalysisDecl: ("subject", "method"),
    A.FunctorDecl: ("source", "target", "definition"),
    A.TransformationDecl: ("source", "target", "definition"), A.AdjunctionDecl: ("left", "right"),
    A.MonadDecl: ("functor",),
}
_CHILDREN = {
    A.Tuple: "items", A.ListExpr: "items", A.SetExpr: "items", A.Compose: "parts",
    A.Call: "args", A.CategoryDecl: "items", A.FunctorDecl: "mappings",
    A.TransformationDecl: "mappings", A.SweepDecl: "bindings", A.CheckDecl: "targets",
    A.AdjunctionDecl: "mappings", A.MonadDecl: "mappings",
}


def _too_deep(tree: A.SourceFile):
    """The first node nested deeper than MAX_DEPTH, or None (an iterative walk)."""
    stack = [(stmt, 1) for stmt in tree.statements]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > MAX_DEPTH:
            return node
        kind = type(node)
        depth += 1
        for name in _CHILD.get(kind, ()):
            child = getattr(node, name)
            if child is not None:
                push((child, depth))
        name = _CHILDREN.get(kind)
        if name is not None:
            for child in getattr(node, name) or ():
                push((child, depth))
        if kind is A.TableExpr:
            for key, val in node.entries:
                push((key, depth))
                push((val, depth))
        elif kind is A.CheckDecl:
            for option in node.options:
                push((option, depth))
    return None


def _parse(text: str, file: str) -> tuple[A.SourceFile, list[Token]]:
    h = _handle()
    with h.lock:
        h.builder.file = file
        h.comments.clear()
        try:
            tree = h.lark.parse(text)
        except _SyntaxProblem as p:
            raise DiagnosticError([p.diagnostic]) from None
        except UnexpectedInput as e:
            raise DiagnosticError([_syntax_diagnostic(e, text, file)]) from None
        finally:
            comments = list(h.comments)
            h.comments.clear()
    deep = _too_deep(tree)
    if deep is not None:
        raise DiagnosticError([Diagnostic(
            "E107", f"this expression is nested more than {MAX_DEPTH} levels deep", deep.span,
            hints=("give inner parts names of their own (a `data` or `param` declaration, a "
                   "generator) or split long chains",))])
    return tree, comments


def parse(text: str, file: str = "<input>") -> A.SourceFile:
    """Parse one file; raise `DiagnosticError` (code E1xx) on the first syntax error."""
    return _parse(text, file)[0]


def parse_with_comments(text: str, file: str = "<input>"):
    """Parse, and also return the comments and empty lines as printer `Comment`s (for fmt)."""
    from catdsl.syntax.printer import Comment

    tree, tokens = _parse(text, file)
    lines = text.split("\n")  # lark counts lines by "\n" only; so must we
    comments = [
        Comment(t.line, t.value.rstrip(), bool(lines[t.line - 1][: t.column - 1].strip()))
        for t in tokens]
    comments.extend(Comment(n, "", False) for n, line in enumerate(lines, 1) if not line.strip())
    return tree, tuple(comments)


def _syntax_diagnostic(e: UnexpectedInput, text: str, file: str) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        span = Span(file, e.line, e.column, e.line, e.column + 1)
        return Diagnostic("E101", f"unexpected character {ch!r}", span,
                          hints=_hint_for_character(ch))
    if not isinstance(e, UnexpectedToken):  # not raised by an LALR parse; kept for safety
        line, col = _end_position(text)
        return Diagnostic("E103", "unexpected end of file", Span(file, line, col, line, col))
    tok = e.token
    expected = _acceptable(e)
    words = _expected_words(expected)
    if tok.type == "$END":
        line, col = _end_position(text)
        span = Span(file, line, col, line, col)
        return Diagnostic("E103", f"unexpected end of file; expected {words}", span,
                          hints=_unclosed_hint(text))
    line, col = tok.line, tok.column
    end_line = tok.end_line or line
    end_col = tok.end_column or col + 1
    if tok.type == "_NL":  # point at the end of the line, not at the line break itself
        end_line, end_col = line, col + 1
    span = Span(file, line, col, end_line, end_col)
    shown = "end of line" if tok.type == "_NL" else f"`{tok}`"
    hints: tuple[str, ...] = ()
    if tok.type in ("OBJECTS", "OBJECT", "EQ", "PULLBACK", "PUSHOUT") and "RBRACE" not in expected:
        hints = (f"`{tok}` declarations belong inside a `category {{ … }}` block",)
    elif tok.type == "_NL" and "RPAR" in expected:
        hints = ("a bracket is not closed before the end of the line",)
    elif tok.type == "_NL" and "MAPSTO" in expected:
        hints = ("each item of a functor or transformation body is a mapping `X |-> value`",)
    misspelt = _misspelt_keyword(text, tok)
    if misspelt:
        hints = (*hints, misspelt)
    return Diagnostic("E102", f"unexpected {shown}; expected {words}", span, hints=hints)


def _misspelt_keyword(text: str, tok: Token) -> str:
    """"`objets` is not a keyword; did you mean `objects`?" when the unexpected token, or the
    word that starts its line, is a name spelled almost like a keyword; else ""."""
    import difflib

    keywords = sorted(t.pattern.value for t in _handle().lark.terminals
                      if t.pattern.type == "str" and t.pattern.value.isalpha())
    lines = text.split("\n")
    before = lines[tok.line - 1][: tok.column - 1].split() if 0 < tok.line <= len(lines) else []
    first = before if len(before) == 1 else []  # the token right after the line's first word
    for word in ([str(tok)] if tok.type == "NAME" else []) + first:
        if len(word) < 3 or word in keywords or not word.isalpha():
            continue
        close = difflib.get_close_matches(word.lower(), keywords, n=1, cutoff=0.75)
        if close:
            return f"`{word}` is not a keyword; did you mean `{close[0]}`?"
    return ""


def _acceptable(e: UnexpectedToken) -> set[str]:
    """The terminals the parser would accept where it stopped.

    An LALR state's lookahead sets are merged across contexts, so `e.expected` can name
    tokens that no input could put there; trying each on a copy of the parser is exact.
    """
    ip = getattr(e, "interactive_parser", None)
    if ip is None:
        return set(e.expected)
    try:
        found = ip.accepts()  # feeds each candidate to a copy, without our callbacks
    except Exception:  # never let the error path fail: fall back to lark's estimate
        return set(e.expected)
    return found or set(e.expected)


_STATEMENT_KEYWORDS = frozenset({
    "IMPORT", "PARAM", "CATEGORY", "FUNCTOR", "TRANSFORMATION", "ADJUNCTION", "MONAD", "DATA",
    "MODEL", "SWEEP", "CLASSES", "PERSISTENCE", "TRANSFER", "CHECK",
})
_KEYWORDS = frozenset(w.upper() for w in RESERVED_WORDS)
# What may follow an operand: binary operators, a call's `(`, and `|->` after a lambda's head.
_OPERATORS = frozenset({
    "COMPOSE", "OPLUS", "PLUS", "MINUS", "STAR", "SLASH", "CARET", "RANGE", "MAPSTO", "LPAR",
})


def _expected_words(expected) -> str:
    names = {x for x in expected if not x.startswith("__")}
    words = []
    if _STARTS_EXPRESSION <= names:
        names -= _STARTS_EXPRESSION
        words.append("an expression")
    if "NAME" in names and _KEYWORDS - {"PULLBACK"} <= names:
        names -= _KEYWORDS  # a keyword argument's name: any name or keyword
    if _STATEMENT_KEYWORDS <= names:
        names -= _STATEMENT_KEYWORDS
        words.append("a statement")
    if {"PLUS", "STAR", "SLASH", "CARET"} <= names:
        names -= _OPERATORS
        words.append("an operator")
    words.extend(sorted({_token_word(x) for x in names}))
    return _join_or(words)


def _end_position(text: str) -> tuple[int, int]:
    line = text.count("\n") + 1
    return line, len(text) - (text.rfind("\n") + 1) + 1


def _unclosed_hint(text: str) -> tuple[str, ...]:
    if text.count("{") > text.count("}"):
        return ("a `{` is not closed",)
    if text.count("(") > text.count(")") or text.count("[") > text.count("]"):
        return ("a bracket is not closed",)
    return ()


def _join_or(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words) or "nothing"
    if len(words) > 8:
        return ", ".join(words[:8]) + ", or another token"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _hint_for_character(ch: str) -> tuple[str, ...]:
    if ch == "'":
        return ('strings use double quotes: "…"',)
    if ch == '"':
        return ("this string is not closed before the end of the line",)
    if ch in "<≤≥":
        return ("comparisons are not expressions; arrows are `->`, `=>` and `|->`",)
    if ch == "|":
        return ("maps-to is written `|->` or `↦`",)
    return ()
