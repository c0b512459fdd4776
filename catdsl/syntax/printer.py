"""Render an AST as canonical `.cat` text: the printer behind `catdsl fmt`.

The canonical form is ASCII (`->`, `=>`, `|->`, `.`, `(+)`), composites are applicative
(`g . f`, never `f >> g`), one declaration per line, two-space indentation inside blocks, a
blank line around blocks, the input's blank lines kept (one at most). Laws:
`parse(to_text(tree)) == tree` (spans aside) and idempotence (tests/test_fmt.py). Comments are
kept: each stays with the statement or block item it precedes or ends the line of.
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.syntax import ast as A

# Binding strength of each expression form; an operand weaker than its slot gets parentheses.
_LAMBDA, _RANGE, _COMPOSE, _OPLUS, _SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX, _ATOM = range(10)
_BINOP_PREC = {"(+)": _OPLUS, "+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "^": _POWER}


def precedence(e: A.Expr) -> int:
    if isinstance(e, A.Lambda):
        return _LAMBDA
    if isinstance(e, A.Range):
        return _RANGE
    if isinstance(e, A.Compose):
        return _COMPOSE
    if isinstance(e, A.BinOp):
        return _BINOP_PREC[e.op]
    if isinstance(e, A.Neg):
        return _UNARY
    if isinstance(e, A.Call):
        return _POSTFIX
    return _ATOM


def expr(e: A.Expr, slot: int = _LAMBDA) -> str:
    """Text of an expression placed where at least binding strength `slot` is required."""
    text = _expr(e)
    return f"({text})" if precedence(e) < slot else text


def _expr(e: A.Expr) -> str:
    match e:
        case A.Name(id=i):
            return i
        case A.QualName(parts=parts):
            return ".".join(parts)
        case A.Number(text=t):
            return t
        case A.String(value=v):
            return string_literal(v)
        case A.Tuple(items=items):
            if len(items) == 1:
                return f"({expr(items[0])},)"
            return "(" + ", ".join(expr(x) for x in items) + ")"
        case A.ListExpr(items=items):
            return "[" + ", ".join(expr(x) for x in items) + "]"
        case A.SetExpr(items=items):
            return "{" + ", ".join(expr(x) for x in items) + "}"
        case A.TableExpr(entries=entries):
            return "{" + ", ".join(f"{expr(k)}: {expr(v)}" for k, v in entries) + "}"
        case A.Call(func=f, args=args):
            return expr(f, _POSTFIX) + "(" + ", ".join(_arg(a) for a in args) + ")"
        case A.BinOp(op=op, left=l, right=r):
            prec = _BINOP_PREC[op]
            if op == "^":  # right-associative; its left operand is a postfix expression
                return f"{expr(l, _POSTFIX)}^{expr(r, _UNARY)}"
            return f"{expr(l, prec)} {op} {expr(r, prec + 1)}"
        case A.Neg(operand=x):
            return "-" + expr(x, _UNARY)
        case A.Compose(parts=parts):
            return " . ".join(expr(p, _OPLUS) for p in parts)
        case A.Range(start=a, stop=b):
            return f"{expr(a, _COMPOSE)}..{expr(b, _COMPOSE)}"
        case A.Lambda(params=params, body=body):
            head = params[0].id if len(params) == 1 else "(" + ", ".join(p.id for p in params) + ")"
            return f"{head} |-> {expr(body, _LAMBDA)}"
    raise TypeError(f"not an expression: {e!r}")


_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"})


def string_literal(value: str) -> str:
    """`value` as a `.cat` string literal, escaping what the lexer would not read back."""
    return '"' + value.translate(_ESCAPES) + '"'


def _arg(a: A.Expr | A.Keyword) -> str:
    if isinstance(a, A.Keyword):
        return f"{a.name} = {expr(a.value)}"
    return expr(a)


def _names(names: tuple[A.Name, ...]) -> str:
    return ", ".join(n.id for n in names)


def item_text(item: A.CategoryItem) -> str:
    match item:
        case A.ObjectsDecl(names=names):
            return f"objects {_names(names)}"
        case A.ArrowDecl(names=names, dom=d, cod=c):
            return f"{_names(names)} : {expr(d)} -> {expr(c)}"
        case A.CellDecl(names=names, source=s, target=t):
            return f"{_names(names)} : {expr(s)} => {expr(t)}"
        case A.EquationDecl(name=n, lhs=l, rhs=r):
            return f"eq {n.id} : {expr(l)} = {expr(r)}"
        case A.PullbackDecl(apex=p, left=l, right=r, f=f, g=g, dual=dual):
            kw = "pushout" if dual else "pullback"
            return f"{kw} ({p.id}, {l.id}, {r.id}) of {expr(f)}, {expr(g)}"
        case A.ProductDecl(apex=p, left=l, right=r, a=a, b=b):
            return f"product ({p.id}, {l.id}, {r.id}) of {expr(a)}, {expr(b)}"
        case A.EqualizerDecl(apex=p, map=e, f=f, g=g):
            return f"equalizer ({p.id}, {e.id}) of {expr(f)}, {expr(g)}"
        case A.TerminalDecl(name=n):
            return f"terminal {n.id}"
    raise TypeError(f"not a category item: {item!r}")


def mapping_text(m: A.Mapping) -> str:
    return f"{expr(m.source, _RANGE)} |-> {expr(m.image)}"


@dataclass(frozen=True)
class Comment:
    """A comment of the source (`# …`), or with empty `text` an empty line of it.

    `parse_with_comments` returns both, so `catdsl fmt` keeps comments and the paragraphs
    that blank lines make (several empty lines shrink to one).
    """

    line: int
    text: str
    trailing: bool  # after code on the same line


class _Comments:
    """Hands out the comments of a file to the lines that print them.

    A full-line comment (or empty line) is printed before the first statement or block item
    that starts after it; a trailing comment stays at the end of the last statement, item,
    block header or closing brace that ends on its line.
    """

    def __init__(self, comments: tuple[Comment, ...]):
        self.pending = sorted(comments, key=lambda c: (c.line, c.trailing))

    def before(self, line: int) -> list[str]:
        """Every comment not yet printed from a line before `line` ("" for an empty line)."""
        out = []
        while self.pending and self.pending[0].line < line:
            out.append(self.pending.pop(0).text)
        return out

    def trailing(self, first: int, last: int) -> list[str]:
        """The trailing comments on lines `first`..`last`."""
        found = [c for c in self.pending if c.trailing and first <= c.line <= last]
        for c in found:
            self.pending.remove(c)
        return [c.text for c in found]

    def rest(self) -> list[str]:
        out = [c.text for c in self.pending]
        self.pending = []
        return out


def _lead(lines: list[str], indent: str, first: bool, blank: bool) -> list[str]:
    """Comments and empty lines before a statement or item: runs of empty lines become one,
    none opens a file or block, and `blank` asks for one before everything."""
    out: list[str] = []
    for text in lines:
        if not text:
            if out and out[-1] == "":
                continue
            out.append("")
        else:
            out.append(indent + text)
    if first:
        while out and out[0] == "":
            out.pop(0)
    elif blank and (not out or out[0] != ""):
        out.insert(0, "")
    return out


def _with_trailing(text: str, comments: list[str], indent: str = "") -> list[str]:
    """`text` with its first trailing comment; any others follow on lines of their own."""
    if not comments:
        return [text]
    return [f"{text}  {comments[0]}", *(indent + c for c in comments[1:])]


def _is_block(stmt: A.Statement) -> bool:
    return isinstance(stmt, (A.CategoryDecl, A.AdjunctionDecl, A.MonadDecl)) or (
        isinstance(stmt, (A.FunctorDecl, A.TransformationDecl)) and stmt.mappings is not None)


def to_text(tree: A.SourceFile, comments: tuple[Comment, ...] = ()) -> str:
    """The canonical text of a whole file (ends with a newline)."""
    cs = _Comments(comments)
    out: list[str] = []
    stmts = tree.statements
    for i, stmt in enumerate(stmts):
        blank = i > 0 and (_is_block(stmt) or _is_block(stmts[i - 1]))
        out.extend(_lead(cs.before(stmt.span.line), "", not out, blank))
        next_line = stmts[i + 1].span.line if i + 1 < len(stmts) else None
        out.extend(_statement_lines(stmt, cs, next_line))
    tail = _lead(cs.rest(), "", not out, False)
    while tail and tail[-1] == "":
        tail.pop()
    out.extend(tail)
    return "\n".join(out) + "\n" if out else ""


def _own_last(span, next_line: int | None) -> int:
    """The last line whose trailing comment belongs to the construct at `span`."""
    return span.end_line - 1 if next_line == span.end_line else span.end_line


# A model chain longer than this prints one layer per line.
MODEL_WIDTH = 100


def _model_lines(name: str, value: A.Expr, one) -> list[str]:
    """`model m = Linear(64, 32) >> ReLU >> Linear(32, 10)`: a model is read in the order data
    flows, so its chain prints diagrammatically (first layer first), one layer a line when long."""
    if not isinstance(value, A.Compose):
        return one(f"model {name} = {expr(value)}")
    layers = [expr(p, _OPLUS) for p in reversed(value.parts)]
    text = f"model {name} = " + " >> ".join(layers)
    if len(text) <= MODEL_WIDTH:
        return one(text)
    lines = one(f"model {name} = {layers[0]}")
    return [*lines, *(f"  >> {layer}" for layer in layers[1:])]


def _statement_lines(stmt: A.Statement, cs: _Comments, next_line: int | None) -> list[str]:
    def one(text: str) -> list[str]:
        return _with_trailing(text, cs.trailing(stmt.span.line, _own_last(stmt.span, next_line)))

    match stmt:
        case A.Import(path=p):
            return one(f"import {string_literal(p)}")
        case A.ParamDecl(names=names):
            return one(f"param {_names(names)}")
        case A.CategoryDecl(name=n, items=items):
            return _block(f"category {n.id}", stmt, [(i.span, item_text(i)) for i in items], cs,
                          next_line)
        case A.FunctorDecl(name=n, source=s, target=t, mappings=ms, definition=d):
            head = f"functor {n.id} : {expr(s)} -> {expr(t)}"
            if ms is None:
                return one(f"{head} = {expr(d)}")
            return _block(head, stmt, [(m.span, mapping_text(m)) for m in ms], cs, next_line)
        case A.TransformationDecl(name=n, source=s, target=t, mappings=ms, definition=d):
            head = f"transformation {n.id} : {expr(s)} => {expr(t)}"
            if ms is None:
                return one(f"{head} = {expr(d)}")
            return _block(head, stmt, [(m.span, mapping_text(m)) for m in ms], cs, next_line)
        case A.AdjunctionDecl(name=n, left=f, right=g, mappings=ms):
            head = f"adjunction {n.id} : {expr(f)} -| {expr(g)}"
            return _block(head, stmt, [(m.span, mapping_text(m)) for m in ms], cs, next_line)
        case A.MonadDecl(name=n, functor=t, mappings=ms):
            return _block(f"monad {n.id} : {expr(t)}", stmt, [(m.span, mapping_text(m)) for m in ms], cs,
                          next_line)
        case A.DataDecl(name=n, value=v):
            return one(f"data {n.id} = {expr(v)}")
        case A.ModelDecl(name=n, value=v):
            return _model_lines(n.id, v, one)
        case A.SweepDecl(name=n, base=b, bindings=bs):
            binds = ", ".join(f"{x.name.id} in {expr(x.domain)}" for x in bs)
            return one(f"sweep {n.id} = {expr(b)} over {binds}")
        case A.AnalysisDecl(kind=k, name=n, subject=s, method=m):
            named = f" {n.id}" if n is not None else ""
            return one(f"{k}{named} of {expr(s)} by {expr(m)}")
        case A.TransferDecl(name=n, value=v):
            return one(f"transfer {n.id} = {expr(v)}")
        case A.CheckDecl(targets=ts, options=opts):
            text = "check " + ", ".join(expr(t) for t in ts)
            if opts:
                text += " with " + ", ".join(_arg(o) for o in opts)
            return one(text)
    raise TypeError(f"not a statement: {stmt!r}")


def _block(head: str, stmt, items, cs: _Comments, next_line: int | None) -> list[str]:
    """A `head { … }` block: one item per line, indented by two spaces."""
    span = stmt.span
    first = items[0][0].line if items else span.end_line
    header_last = first - 1 if first > span.line else span.line - 1
    lines = _with_trailing(head + " {", cs.trailing(span.line, header_last), "  ")
    for k, (item_span, text) in enumerate(items):
        lines.extend(_lead(cs.before(item_span.line), "  ", k == 0, False))
        after = items[k + 1][0].line if k + 1 < len(items) else span.end_line
        lines.extend(_with_trailing("  " + text, cs.trailing(item_span.line,
                                                             _own_last(item_span, after)), "  "))
    inside = _lead(cs.before(span.end_line), "  ", not items, False)
    while inside and inside[-1] == "":
        inside.pop()
    lines.extend(inside)
    closing_line = span.end_line
    last = closing_line - 1 if next_line == closing_line else closing_line
    lines.extend(_with_trailing("}", cs.trailing(closing_line, last)))
    return lines


# The Unicode spelling of each ASCII operator the canonical form uses (`catdsl fmt --unicode`).
UNICODE = {"|->": "↦", "->": "→", "=>": "⇒", ">>": "≫", "(+)": "⊕", "-|": "⊣", ".": "∘"}


def unicode_spelling(text: str) -> str:
    """The canonical text with `→ ↦ ⇒ ∘ ≫ ⊕ ⊣` for their ASCII spellings, outside strings and
    comments. Only operators standing between spaces are replaced (a dotted name `Run.full`
    keeps its dot), so the result parses to the same tree."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':  # a string literal, escapes included
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
            continue
        if c == "#":  # a comment, to the end of the line
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        for ascii_, uni in UNICODE.items():
            if text.startswith(ascii_, i) and (ascii_ == "(+)" or (
                    i > 0 and text[i - 1] == " " and text[i + len(ascii_):i + len(ascii_) + 1] in (" ", "\n", ""))):
                out.append(uni)
                i += len(ascii_)
                break
        else:
            out.append(c)
            i += 1
    return "".join(out)
