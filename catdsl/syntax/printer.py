"""Render an AST as canonical `.cat` text: the printer behind `catdsl fmt`.

The canonical form is ASCII (`->`, `=>`, `|->`, `.`, `(+)`), composites are applicative
(`g . f`, never `f >> g`), one declaration per line, two-space indentation inside blocks, a
blank line around blocks. Law: `parse(to_text(tree)) == tree` (spans aside). Comments are
kept: each comment stays with the statement or block item it precedes or ends the line of.
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
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace(
                "\t", "\\t") + '"'
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
    raise TypeError(f"not a category item: {item!r}")


def mapping_text(m: A.Mapping) -> str:
    return f"{expr(m.source, _RANGE)} |-> {expr(m.image)}"


@dataclass(frozen=True)
class Comment:
    line: int
    text: str
    trailing: bool  # after code on the same line


class _Comments:
    """Hands out the comments that belong before a line, or at the end of one."""

    def __init__(self, comments: tuple[Comment, ...]):
        self.pending = sorted(comments, key=lambda c: c.line)

    def before(self, line: int) -> list[str]:
        out = []
        while self.pending and self.pending[0].line < line and not self.pending[0].trailing:
            out.append(self.pending.pop(0).text)
        while self.pending and self.pending[0].line < line and self.pending[0].trailing:
            # a trailing comment on a line we did not print as such: keep it as a full line
            out.append(self.pending.pop(0).text)
            out.extend(self.before(line))
        return out

    def trailing(self, first: int, last: int) -> str:
        found = [c for c in self.pending if c.trailing and first <= c.line <= last]
        for c in found:
            self.pending.remove(c)
        return "".join(f"  {c.text}" for c in found)

    def rest(self) -> list[str]:
        out = [c.text for c in self.pending]
        self.pending = []
        return out


def to_text(tree: A.SourceFile, comments: tuple[Comment, ...] = ()) -> str:
    """The canonical text of a whole file (ends with a newline)."""
    cs = _Comments(comments)
    chunks: list[list[str]] = []
    for stmt in tree.statements:
        lead = cs.before(stmt.span.line)
        lines = _statement_lines(stmt, cs)
        block = isinstance(stmt, (A.CategoryDecl, A.FunctorDecl, A.TransformationDecl)) and len(lines) > 1
        chunks.append((lead, lines, block))
    out: list[str] = []
    prev_block = False
    for i, (lead, lines, block) in enumerate(chunks):
        if i and (block or prev_block or (lead and not _is_trailing_run(out))):
            out.append("")
        out.extend(lead)
        out.extend(lines)
        prev_block = block
    tail = cs.rest()
    if tail:
        if out:
            out.append("")
        out.extend(tail)
    return "\n".join(out) + "\n" if out else ""


def _is_trailing_run(out: list[str]) -> bool:
    return not out


def _statement_lines(stmt: A.Statement, cs: _Comments) -> list[str]:
    def one(text: str) -> list[str]:
        return [text + cs.trailing(stmt.span.line, stmt.span.end_line)]

    match stmt:
        case A.Import(path=p):
            return one(f"import {_expr(A.String(p))}")
        case A.ParamDecl(names=names):
            return one(f"param {_names(names)}")
        case A.CategoryDecl(name=n, items=items):
            return _block(f"category {n.id}", stmt, [(i.span, item_text(i)) for i in items], cs)
        case A.FunctorDecl(name=n, source=s, target=t, mappings=ms, definition=d):
            head = f"functor {n.id} : {expr(s)} -> {expr(t)}"
            if ms is None:
                return one(f"{head} = {expr(d)}")
            return _block(head, stmt, [(m.span, mapping_text(m)) for m in ms], cs)
        case A.TransformationDecl(name=n, source=s, target=t, mappings=ms):
            head = f"transformation {n.id} : {expr(s)} => {expr(t)}"
            return _block(head, stmt, [(m.span, mapping_text(m)) for m in ms], cs)
        case A.DataDecl(name=n, value=v):
            return one(f"data {n.id} = {expr(v)}")
        case A.ModelDecl(name=n, value=v):
            return one(f"model {n.id} = {expr(v)}")
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


def _block(head: str, stmt, items, cs: _Comments) -> list[str]:
    first_item_line = items[0][0].line if items else stmt.span.end_line
    lines = [head + " {" + cs.trailing(stmt.span.line, min(stmt.span.line, first_item_line - 1)
                                       if first_item_line > stmt.span.line else stmt.span.line - 1)]
    for span, text in items:
        lines.extend("  " + c for c in cs.before(span.line))
        lines.append("  " + text + cs.trailing(span.line, span.end_line))
    lines.extend("  " + c for c in cs.before(stmt.span.end_line))
    lines.append("}" + cs.trailing(stmt.span.end_line, stmt.span.end_line))
    return lines
