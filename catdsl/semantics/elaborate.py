"""Elaborate an AST into a typed `Module`: resolve names, type terms, collect every error.

Each declaration is elaborated on its own, so one run reports all the static errors of a
file (E2xx), not just the first. Imports are read, parsed and merged into the file scope.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path as FilePath

from catdsl import backend
from catdsl.diagnostics import Diagnostic, DiagnosticError
from catdsl.semantics import free
from catdsl.semantics.free import Generator, Path
from catdsl.semantics.module import (
    Cell, Declaration, Equation, Functor, Horizontal, Id2, Image, Module, Presentation,
    Pullback, Rule, Term2, Transformation, Vertical,
)
from catdsl.span import Span
from catdsl.syntax import ast as A
from catdsl.syntax import printer


class _Failed(Exception):
    """Abandon the current declaration; its diagnostic has been recorded."""


def _did_you_mean(name: str, known) -> tuple[str, ...]:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return (f"did you mean `{close[0]}`?",) if close else ()


@dataclass(frozen=True)
class _Identity:
    """`id` written without its object: typed later from its neighbours."""

    span: Span


@dataclass
class _Scope:
    """One file's names, shared by its imports."""

    params: dict[str, Span] = field(default_factory=dict)
    names: dict[str, Span] = field(default_factory=dict)  # every file-level name
    presentations: dict[str, Presentation] = field(default_factory=dict)
    functors: dict[str, Functor] = field(default_factory=dict)
    transformations: dict[str, Transformation] = field(default_factory=dict)
    declarations: list[Declaration] = field(default_factory=list)
    checks: list[A.CheckDecl] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)


class Elaborator:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.scope = _Scope()
        self._stack: list[str] = []

    # -- reporting
    def error(self, code: str, message: str, span: Span, *hints: str) -> _Failed:
        self.diagnostics.append(Diagnostic(code, message, span, hints=tuple(h for h in hints if h)))
        return _Failed()

    def declare(self, table: dict[str, Span], name: A.Name, what: str) -> bool:
        if name.id in table:
            first = table[name.id]
            self.error("E202", f"`{name.id}` is declared twice", name.span,
                       f"the first {what} declaration is at line {first.line}")
            return False
        table[name.id] = name.span
        return True

    # -- files
    def file(self, tree: A.SourceFile, path: str) -> None:
        self._stack.append(str(FilePath(path).resolve()) if path != "<input>" else path)
        for stmt in tree.statements:
            try:
                self.statement(stmt, path)
            except _Failed:
                pass
        self._stack.pop()

    def statement(self, stmt: A.Statement, path: str) -> None:
        match stmt:
            case A.Import():
                self.import_file(stmt, path)
            case A.ParamDecl(names=names):
                for n in names:
                    if self.declare(self.scope.names, n, "name"):
                        self.scope.params[n.id] = n.span
            case A.CategoryDecl():
                if self.declare(self.scope.names, stmt.name, "name"):
                    pres = self.category(stmt)
                    self.scope.presentations[pres.name] = pres
            case A.FunctorDecl():
                if self.declare(self.scope.names, stmt.name, "name"):
                    self.scope.functors[stmt.name.id] = self.functor(stmt)
            case A.TransformationDecl():
                if self.declare(self.scope.names, stmt.name, "name"):
                    self.scope.transformations[stmt.name.id] = self.transformation(stmt)
            case A.DataDecl() | A.ModelDecl() | A.SweepDecl() | A.TransferDecl():
                kind = type(stmt).__name__.removesuffix("Decl").lower()
                if self.declare(self.scope.names, stmt.name, "name"):
                    self.scope.declarations.append(Declaration(kind, stmt.name.id, stmt, stmt.span))
            case A.AnalysisDecl():
                if stmt.name is None or self.declare(self.scope.names, stmt.name, "name"):
                    self.scope.declarations.append(Declaration(
                        stmt.kind, stmt.name.id if stmt.name else None, stmt, stmt.span))
            case A.CheckDecl():
                for t in stmt.targets:
                    head = t.id if isinstance(t, A.Name) else t.parts[0] if isinstance(t, A.QualName) else None
                    if head is None:
                        self.error("E217", "`check` takes declared names", t.span)
                    elif head not in self.scope.names:
                        self.error("E201", f"`{head}` is not declared", t.span,
                                   *_did_you_mean(head, self.scope.names))
                self.scope.checks.append(stmt)

    def import_file(self, stmt: A.Import, path: str) -> None:
        from catdsl.syntax.parse import parse

        base = FilePath(path).parent if path != "<input>" else FilePath.cwd()
        target = (base / stmt.path)
        key = str(target.resolve())
        if key in self._stack:
            raise self.error("E218", f"`{stmt.path}` imports itself (through {len(self._stack)} file(s))",
                             stmt.span)
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise self.error("E901", f"cannot read `{stmt.path}`: {getattr(e, 'strerror', None) or e}",
                             stmt.span, f"the path is relative to `{base}`")
        shown = str(target) if not FilePath(stmt.path).is_absolute() else stmt.path
        self.scope.sources[shown] = text
        try:
            tree = parse(text, shown)
        except DiagnosticError as e:
            self.diagnostics.extend(e.diagnostics)
            return
        self.file(tree, shown)

    # -- presentations
    def category(self, decl: A.CategoryDecl) -> Presentation:
        names: dict[str, Span] = {}
        objects: list[str] = []
        gens: dict[str, Generator] = {}
        cells: dict[str, Cell] = {}
        eqs: list[Equation] = []
        pbs: list[Pullback] = []
        pres = lambda: Presentation(decl.name.id, tuple(objects), tuple(gens.values()),  # noqa: E731
                                    tuple(cells.values()), tuple(eqs), tuple(pbs), dict(names),
                                    span=decl.span)
        for item in decl.items:
            try:
                match item:
                    case A.ObjectsDecl(names=ns):
                        for n in ns:
                            if self.declare(names, n, "name"):
                                objects.append(n.id)
                    case A.ArrowDecl(names=ns, dom=d, cod=c):
                        dom, cod = self.object_name(d, objects), self.object_name(c, objects)
                        for n in ns:
                            if self.declare(names, n, "name"):
                                gens[n.id] = Generator(n.id, dom, cod)
                    case A.CellDecl(names=ns, source=s, target=t):
                        p = pres()
                        src, tgt = self.parallel_terms(p, s, t, "E205", "2-cell")
                        for n in ns:
                            if self.declare(names, n, "name"):
                                cells[n.id] = Cell(n.id, src, tgt, span=n.span)
                    case A.EquationDecl(name=n, lhs=l, rhs=r):
                        if not self.declare(names, n, "name"):
                            continue
                        p = pres()
                        if self.mentions_cell(p, l) or self.mentions_cell(p, r):
                            lt, rt = self.term2(p, l), self.term2(p, r)
                            if (lt.source, lt.target) != (rt.source, rt.target):
                                raise self.error(
                                    "E204", f"the sides of `{n.id}` are not parallel: "
                                    f"{_boundary(lt)} but {_boundary(rt)}", item.span)
                            eqs.append(Equation(n.id, lt, rt, span=item.span))
                        else:
                            lt, rt = self.parallel_terms(p, l, r, "E204", f"equation `{n.id}`")
                            eqs.append(Equation(n.id, lt, rt, span=item.span))
                    case A.PullbackDecl(dual=True):
                        raise self.error("E215", "`pushout` is not supported in version 0", item.span,
                                         "state the dual pullback instead, or wait for version 1")
                    case A.PullbackDecl(apex=apex, left=left, right=right, f=fe, g=ge):
                        p = pres()
                        f, g = self.term1(p, fe), self.term1(p, ge)
                        f, g = self.resolve_ids(f, g, fe, ge, "pullback")
                        if f.cod != g.cod:
                            raise self.error(
                                "E206", f"cannot take the pullback of `{_text(fe)}` and `{_text(ge)}`: "
                                f"cod = {f.cod} but {g.cod}", fe.span.to(ge.span),
                                "a pullback needs a cospan f : A -> C <- B : g")
                        if not all(self.declare(names, n, "name") for n in (apex, left, right)):
                            continue
                        objects.append(apex.id)
                        gens[left.id] = Generator(left.id, apex.id, f.dom)
                        gens[right.id] = Generator(right.id, apex.id, g.dom)
                        pl, pr = free.generator_path(gens[left.id]), free.generator_path(gens[right.id])
                        eqs.append(Equation(f"{apex.id}.commutes", free.compose(f, pl),
                                            free.compose(g, pr), span=item.span, pullback=apex.id))
                        pbs.append(Pullback(apex.id, left.id, right.id, f, g, span=item.span))
            except _Failed:
                pass
        return pres()

    def object_name(self, e: A.Expr, objects: list[str]) -> str:
        if isinstance(e, A.Name) and e.id in objects:
            return e.id
        if isinstance(e, A.Name):
            raise self.error("E201", f"object `{e.id}` is not declared", e.span,
                             *_did_you_mean(e.id, objects) or (f"declare it: `objects {e.id}`",))
        raise self.error("E211", f"expected an object name, found `{_text(e)}`", e.span)

    def mentions_cell(self, p: Presentation, e: A.Expr) -> bool:
        match e:
            case A.Name(id=i):
                return i in p.cell
            case A.BinOp(op="*"):
                return True
            case A.Compose(parts=parts):
                return any(self.mentions_cell(p, x) for x in parts)
            case A.Call(func=A.Name(id="id"), args=args):
                return any(not isinstance(a, A.Keyword) and self.term_kind(p, a) == 1 for a in args)
        return False

    def term_kind(self, p: Presentation, e) -> int:
        """0 object, 1 a 1-cell term, 2 a 2-cell term (a guess from the names it mentions)."""
        if isinstance(e, A.Name) and e.id in p.objects:
            return 0
        return 2 if self.mentions_cell(p, e) else 1

    def parallel_terms(self, p, l, r, code, what) -> tuple[Path, Path]:
        lt, rt = self.term1(p, l), self.term1(p, r)
        lt, rt = self.resolve_ids(lt, rt, l, r, what)
        if (lt.dom, lt.cod) != (rt.dom, rt.cod):
            raise self.error(code, f"the sides of {what} are not parallel: `{_text(l)}` : {lt.dom} -> "
                             f"{lt.cod} but `{_text(r)}` : {rt.dom} -> {rt.cod}", l.span.to(r.span))
        return lt, rt

    def resolve_ids(self, lt, rt, l, r, what):
        if isinstance(lt, _Identity) and isinstance(rt, _Identity):
            raise self.error("E210", f"cannot tell which identity `{_text(l)}` is", l.span,
                             "write `id(A)` with its object")
        if isinstance(lt, _Identity):
            if rt.dom != rt.cod:
                raise self.error("E204", f"an identity cannot equal `{_text(r)}` : {rt.dom} -> {rt.cod}",
                                 l.span.to(r.span))
            lt = free.identity(rt.dom)
        if isinstance(rt, _Identity):
            if lt.dom != lt.cod:
                raise self.error("E204", f"`{_text(l)}` : {lt.dom} -> {lt.cod} cannot equal an identity",
                                 l.span.to(r.span))
            rt = free.identity(lt.dom)
        return lt, rt

    def term1(self, p: Presentation, e: A.Expr) -> Path | _Identity:
        """A 1-cell term of `p`; `id` without an object stays open until its neighbours type it."""
        match e:
            case A.Name(id="id"):
                return _Identity(e.span)
            case A.Name(id=i) if i in p.generator:
                return free.generator_path(p.generator[i])
            case A.Name(id=i) if i in p.objects:
                raise self.error("E212", f"`{i}` is an object, not a 1-cell", e.span,
                                 f"its identity is `id({i})`")
            case A.Name(id=i) if i in p.cell:
                raise self.error("E212", f"`{i}` is a 2-cell, not a 1-cell", e.span)
            case A.Name(id=i):
                raise self.error("E201", f"`{i}` is not declared in `{p.name}`", e.span,
                                 *_did_you_mean(i, list(p.generator) + list(p.objects)))
            case A.Call(func=A.Name(id="id"), args=(arg,)) if isinstance(arg, A.Name):
                return free.identity(self.object_name(arg, list(p.objects)))
            case A.QualName(parts=parts):
                names = tuple(A.Name(x, span=e.span) for x in parts)
                return self.term1(p, A.Compose(names, span=e.span))
            case A.Compose(parts=parts):
                terms = [self.term1(p, x) for x in parts]
                return self.chain(terms, parts)
        raise self.error("E217", f"`{_text(e)}` is not a 1-cell term", e.span,
                         "1-cell terms are generators, `id`, `id(A)` and composites `g . f` / `f >> g`")

    def chain(self, terms, parts) -> Path | _Identity:
        """Compose applicative-order terms, typing open identities from their neighbours."""
        known = [t for t in terms if not isinstance(t, _Identity)]
        if not known:
            return terms[0]
        acc: Path | None = None
        acc_expr = None
        for term, expr in zip(reversed(terms), reversed(parts)):
            if isinstance(term, _Identity):
                continue  # an identity composes with anything its neighbours allow
            if acc is None:
                acc, acc_expr = term, expr
                continue
            if acc.cod != term.dom:
                hint = ()
                if term.cod == acc.dom:
                    hint = (f"did you mean `{_text(acc_expr)} . {_text(expr)}`?",)
                raise self.error(
                    "E203", f"`{_text(expr)} . {_text(acc_expr)}` does not compose: "
                    f"cod({_text(acc_expr)}) = {acc.cod} but dom({_text(expr)}) = {term.dom}",
                    expr.span.to(acc_expr.span) if expr.span.line <= acc_expr.span.line else
                    acc_expr.span.to(expr.span), *hint)
            acc = free.compose(term, acc)
            acc_expr = A.Compose((expr, acc_expr), span=expr.span)
        return acc

    def term2(self, p: Presentation, e: A.Expr) -> Term2:
        match e:
            case A.Name(id=i) if i in p.cell:
                return p.cell[i]
            case A.Call(func=A.Name(id="id"), args=(arg,)) if not isinstance(arg, A.Keyword):
                t = self.term1(p, arg)
                if isinstance(t, _Identity):
                    raise self.error("E210", "cannot tell which identity this is", arg.span)
                return Id2(t, span=e.span)
            case A.Compose(parts=parts):
                cells = [self.term2(p, x) for x in parts]
                acc = cells[-1]
                for cell, expr in zip(reversed(cells[:-1]), reversed(parts[:-1])):
                    if acc.target != cell.source:
                        raise self.error(
                            "E216", f"vertical composite does not compose: `{_text(expr)}` starts at "
                            f"{free.render(cell.source)} but the 2-cell before it ends at "
                            f"{free.render(acc.target)}", e.span)
                    acc = Vertical(cell, acc, span=e.span)
                return acc
            case A.BinOp(op="*", left=l, right=r):
                outer, inner = self.whisker(p, l), self.whisker(p, r)
                if inner.source.cod != outer.source.dom:
                    raise self.error(
                        "E216", f"horizontal composite `{_text(e)}` does not compose: the right 2-cell "
                        f"ends at {inner.source.cod}, the left one starts at {outer.source.dom}", e.span)
                return Horizontal(outer, inner, span=e.span)
            case A.Name(id=i) if i in p.generator or i in p.objects:
                raise self.error("E213", f"`{i}` is not a 2-cell", e.span,
                                 f"its identity 2-cell is `id({i})`" if i in p.generator else "")
        raise self.error("E217", f"`{_text(e)}` is not a 2-cell term", e.span,
                         "2-cell terms are cells, `id(f)`, `β . α`, `β * α`, `h * α` and `α * f`")

    def whisker(self, p: Presentation, e: A.Expr) -> Term2:
        if self.term_kind(p, e) == 1:
            t = self.term1(p, e)
            if isinstance(t, _Identity):
                raise self.error("E210", "cannot tell which identity this is", e.span)
            return Id2(t, span=e.span)
        return self.term2(p, e)

    # -- functors
    def category_ref(self, e: A.Expr) -> str | backend.SemanticRef:
        name = e.func if isinstance(e, A.Call) else e
        if not isinstance(name, A.Name):
            raise self.error("E214", f"`{_text(e)}` is not a category", e.span)
        if name.id in self.scope.presentations:
            if isinstance(e, A.Call):
                raise self.error("E214", f"`{name.id}` is a presentation and takes no arguments", e.span)
            return name.id
        if backend.is_semantic(name.id):
            if isinstance(e, A.Call):
                return backend.SemanticRef(name.id, e.positional,
                                           tuple((k, v) for k, v in e.keywords.items()), span=e.span)
            return backend.SemanticRef(name.id, span=e.span)
        known = list(self.scope.presentations) + list(backend.registry())
        raise self.error("E214", f"unknown category `{name.id}`", name.span, *_did_you_mean(name.id, known))

    def functor(self, decl: A.FunctorDecl) -> Functor:
        src, tgt = self.category_ref(decl.source), self.category_ref(decl.target)
        name = decl.name.id
        if decl.mappings is None:
            return Functor(name, src, tgt, {}, {}, {}, definition=decl.definition, span=decl.span)
        if isinstance(src, backend.SemanticRef):
            rules = tuple(Rule(m.source, m.image, span=m.span) for m in decl.mappings)
            return Functor(name, src, tgt, {}, {}, {}, rules=rules, span=decl.span)
        p = self.scope.presentations[src]
        target = self.scope.presentations.get(tgt) if isinstance(tgt, str) else None
        objects: dict[str, Image] = {}
        arrows: dict[str, Image] = {}
        cells: dict[str, Image] = {}
        seen: dict[str, Span] = {}
        pending = []
        for m in decl.mappings:
            key = m.source.id if isinstance(m.source, A.Name) else None
            if key is None:
                self.error("E209", f"`{_text(m.source)}` is not an object or generator of `{p.name}`",
                           m.source.span, "map each object and generator by its name")
                continue
            if not self.declare(seen, m.source, "mapping"):
                continue
            if key in p.objects:
                value = None
                if target is not None:
                    try:
                        value = self.object_name(m.image, list(target.objects))
                    except _Failed:
                        continue
                objects[key] = Image(key, m.image, value, span=m.span)
            elif key in p.generator or key in p.cell:
                pending.append((key, m))
            else:
                self.error("E209", f"`{key}` is not an object or generator of `{p.name}`", m.source.span,
                           *_did_you_mean(key, list(p.objects) + list(p.generator) + list(p.cell)))
        may_skip = p.pullback_names()
        missing = [n for n in (*p.objects, *p.generator, *p.cell) if n not in seen and n not in may_skip]
        if missing:
            self.error("E207", f"functor `{name}` does not map {_list(missing)} of `{p.name}`",
                       decl.name.span, "every object and generator of the source needs an image")
        for key, m in pending:
            value = None
            try:
                if key in p.generator:
                    if target is not None:
                        value = self.arrow_image(p, target, objects, key, m, name)
                    arrows[key] = Image(key, m.image, value, span=m.span)
                else:
                    if target is not None:
                        value = self.cell_image(p, target, objects, arrows, key, m, name)
                    cells[key] = Image(key, m.image, value, span=m.span)
            except _Failed:
                continue
        return Functor(name, src, tgt, objects, arrows, cells, span=decl.span)

    def arrow_image(self, p, target, objects, key, m: A.Mapping, fname) -> Path | None:
        gen = p.generator[key]
        if gen.dom not in objects or gen.cod not in objects:
            return None  # already reported as unmapped
        want_dom, want_cod = objects[gen.dom].value, objects[gen.cod].value
        t = self.term1(target, m.image)
        if isinstance(t, _Identity):
            if want_dom != want_cod:
                raise self.error("E208", f"`{key}` cannot go to an identity: {fname}({key}) must be "
                                 f"{want_dom} -> {want_cod}", m.image.span)
            return free.identity(want_dom)
        if (t.dom, t.cod) != (want_dom, want_cod):
            raise self.error(
                "E208", f"`{_text(m.image)}` : {t.dom} -> {t.cod} cannot be the image of "
                f"`{key}` : {gen.dom} -> {gen.cod}; {fname}({key}) must be {want_dom} -> {want_cod}",
                m.image.span)
        return t

    def cell_image(self, p, target, objects, arrows, key, m: A.Mapping, fname) -> Term2 | None:
        cell = p.cell[key]
        images = {k: v.value for k, v in arrows.items()}
        if any(g not in images or images[g] is None for g in (*cell.source.word, *cell.target.word)):
            return None
        want_src = _apply(cell.source, images, objects)
        want_tgt = _apply(cell.target, images, objects)
        t = self.whisker(target, m.image)
        if (t.source, t.target) != (want_src, want_tgt):
            raise self.error(
                "E208", f"`{_text(m.image)}` : {_boundary(t)} cannot be the image of `{key}`; "
                f"{fname}({key}) must be {free.render(want_src)} => {free.render(want_tgt)}", m.image.span)
        return t

    def transformation(self, decl: A.TransformationDecl) -> Transformation:
        fs = []
        for e in (decl.source, decl.target):
            if not isinstance(e, A.Name) or e.id not in self.scope.functors:
                head = e.id if isinstance(e, A.Name) else _text(e)
                raise self.error("E201", f"functor `{head}` is not declared", e.span,
                                 *_did_you_mean(head, self.scope.functors))
            fs.append(self.scope.functors[e.id])
        f, g = fs
        if (f.source, f.target) != (g.source, g.target):
            raise self.error("E208", f"`{f.name}` and `{g.name}` are not parallel functors",
                             decl.source.span.to(decl.target.span))
        if isinstance(f.source, backend.SemanticRef):
            rules = tuple(Rule(m.source, m.image, span=m.span) for m in decl.mappings)
            return Transformation(decl.name.id, f.name, g.name, {}, rules=rules, span=decl.span)
        p = self.scope.presentations[f.source]
        target = self.scope.presentations.get(f.target) if isinstance(f.target, str) else None
        comps: dict[str, Image] = {}
        seen: dict[str, Span] = {}
        for m in decl.mappings:
            if not isinstance(m.source, A.Name) or m.source.id not in p.objects:
                self.error("E209", f"`{_text(m.source)}` is not an object of `{p.name}`", m.source.span,
                           "a transformation has one component per object")
                continue
            if not self.declare(seen, m.source, "component"):
                continue
            key, value = m.source.id, None
            if target is not None and key in f.objects and key in g.objects:
                try:
                    t = self.term1(target, m.image)
                    want = (f.objects[key].value, g.objects[key].value)
                    if isinstance(t, _Identity):
                        if want[0] != want[1]:
                            raise self.error("E208", f"the component at `{key}` cannot be an identity",
                                             m.image.span)
                        t = free.identity(want[0])
                    if (t.dom, t.cod) != want:
                        raise self.error(
                            "E208", f"the component at `{key}` must be {want[0]} -> {want[1]}, "
                            f"but `{_text(m.image)}` : {t.dom} -> {t.cod}", m.image.span)
                    value = t
                except _Failed:
                    continue
            comps[key] = Image(key, m.image, value, span=m.span)
        missing = [o for o in p.objects if o not in seen and o not in p.pullback_names()]
        if missing:
            self.error("E207", f"transformation `{decl.name.id}` has no component at {_list(missing)}",
                       decl.name.span)
        return Transformation(decl.name.id, f.name, g.name, comps, span=decl.span)


def _apply(path: Path, images: dict[str, Path], objects: dict[str, Image]) -> Path:
    acc = free.identity(objects[path.dom].value)
    for g in path.word:
        acc = free.compose(images[g], acc)
    return acc


def _boundary(t: Term2) -> str:
    return f"{free.render(t.source)} => {free.render(t.target)}"


def _text(e: A.Expr) -> str:
    return printer.expr(e)


def _list(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def elaborate(tree: A.SourceFile, file: str, text: str | None = None) -> Module:
    """Elaborate a parsed file; raise `DiagnosticError` with every static error found."""
    el = Elaborator()
    if text is not None:
        el.scope.sources[file] = text
    el.file(tree, file)
    if el.diagnostics:
        err = DiagnosticError(el.diagnostics)
        err.sources = el.scope.sources  # type: ignore[attr-defined]
        raise err
    s = el.scope
    return Module(file, tuple(s.params), s.presentations, s.functors, s.transformations,
                  tuple(s.declarations), tuple(s.checks), s.sources)


def load(path: str) -> Module:
    """Read, parse and elaborate one file (the front half of the pipeline)."""
    from catdsl.syntax.parse import parse

    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        span = Span(path, 1, 1, 1, 1)
        raise DiagnosticError([Diagnostic("E901", f"cannot read `{path}`: {getattr(e, 'strerror', None) or e}",
                                          span)]) from None
    tree = parse(text, path)
    return elaborate(tree, path, text)
