"""Elaborate an AST into a typed `Module`: resolve names, type terms, collect every error.

Each declaration is elaborated on its own, so one run reports all the static errors of a
file (E2xx), not just the first. A declaration that failed is remembered as *broken*: later
uses of its name fail silently instead of repeating the error as "not declared". Imports are
read, parsed and merged into the file scope, each file once.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path as FilePath

from catdsl import backend
from catdsl.diagnostics import Diagnostic, DiagnosticError
from catdsl.semantics import free
from catdsl.semantics.free import Generator, Path
from catdsl.semantics.module import (
    Adjunction, Analysis, Cell, Declaration, Equalizer, Equation, Functor, Horizontal, Id2, Image, Module,
    Monad, Presentation, Product, Pullback, Pushout, Rule, Subject, Sweep, Term2, Transformation,
    Vertical,
)
from catdsl.semantics.interpret import FREE, Images, interpret, presented_images
from catdsl.span import Span
from catdsl.syntax import ast as A
from catdsl.syntax import printer

# Names with a fixed meaning in terms; declaring one would make it unusable.
RESERVED = frozenset({"id"})


class _Failed(Exception):
    """Abandon the current declaration; its diagnostic has been recorded."""


def _did_you_mean(name: str, known) -> tuple[str, ...]:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return (f"did you mean `{close[0]}`?",) if close else ()


@dataclass(frozen=True)
class _Identity:
    """`id` written without its object: typed later from its neighbours."""

    span: Span


class _Draft:
    """A presentation while its `category` block is elaborated: the tables that terms are typed
    against (`objects`, `generator`, `cell`), grown in place as each item is declared, so
    elaborating a category is linear in its size. It reads like a `Presentation` to `term1`,
    `term2` and `object_name`; `category` makes the `Presentation` once, at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.objects: dict[str, None] = {}  # in declaration order
        self.object_index = self.objects  # membership, as `Presentation.object_index`
        self.generator: dict[str, Generator] = {}
        self.cell: dict[str, Cell] = {}

    def add_object(self, name: str) -> None:
        self.objects[name] = None


@dataclass
class _Scope:
    """One file's names, shared by its imports."""

    params: dict[str, Span] = field(default_factory=dict)
    names: dict[str, Span] = field(default_factory=dict)  # every file-level name
    kinds: dict[str, str] = field(default_factory=dict)  # name -> "category", "functor", …
    broken: set[str] = field(default_factory=set)  # file-level names whose declaration failed
    presentations: dict[str, Presentation] = field(default_factory=dict)
    functors: dict[str, Functor] = field(default_factory=dict)
    transformations: dict[str, Transformation] = field(default_factory=dict)
    declarations: list[Declaration] = field(default_factory=list)
    checks: list[A.CheckDecl] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    analyses: list[Analysis] = field(default_factory=list)
    adjunctions: dict[str, Adjunction] = field(default_factory=dict)
    monads: dict[str, Monad] = field(default_factory=dict)


class Elaborator:
    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.scope = _Scope()
        self._stack: list[tuple[str, str]] = []  # (resolved key, path as shown) of open files
        self.root: FilePath | None = None  # imports are read only under this folder
        self.max_bytes = MAX_FILE_BYTES  # the largest file an import may be
        self._done: set[str] = set()  # files already elaborated (a diamond imports one twice)
        # presentation name -> names declared in it whose declaration failed
        self.broken: dict[str, set[str]] = {}

    # -- reporting
    def error(self, code: str, message: str, span: Span, *hints: str) -> _Failed:
        self.diagnostics.append(Diagnostic(code, message, span, hints=tuple(h for h in hints if h)))
        return _Failed()

    def declare(self, table: dict[str, Span], name: A.Name, what: str = "declared") -> bool:
        """Record `name` in `table`; E202 if it is there already, E219 if it is reserved.

        `what` is the past participle the messages use: "declared", "mapped", …
        """
        if name.id in RESERVED and what == "declared":
            self.error("E219", f"`{name.id}` is reserved and cannot be declared", name.span,
                       "`id` always means an identity; choose another name")
            return False
        if name.id in table:
            first = table[name.id]
            where = (f"line {first.line}" if first.file == name.span.file
                     else f"{first.file}:{first.line}")
            self.error("E202", f"`{name.id}` is {what} twice", name.span,
                       f"it was first {what} at {where}")
            return False
        table[name.id] = name.span
        return True

    def declare_global(self, name: A.Name, kind: str) -> bool:
        if self.declare(self.scope.names, name):
            self.scope.kinds[name.id] = kind
            return True
        return False

    # -- files
    def file(self, tree: A.SourceFile, path: str) -> None:
        key = str(FilePath(path).resolve()) if path != "<input>" else path
        self._stack.append((key, path))
        self._done.add(key)
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
                    if self.declare_global(n, "param"):
                        self.scope.params[n.id] = n.span
            case A.CategoryDecl():
                if self.declare_global(stmt.name, "category"):
                    pres = self.category(stmt)
                    self.scope.presentations[pres.name] = pres
            case A.FunctorDecl():
                if self.declare_global(stmt.name, "functor"):
                    try:
                        self.scope.functors[stmt.name.id] = self.functor(stmt)
                    except _Failed:
                        self.scope.broken.add(stmt.name.id)
                        raise
            case A.TransformationDecl():
                if self.declare_global(stmt.name, "transformation"):
                    try:
                        self.scope.transformations[stmt.name.id] = self.transformation(stmt)
                    except _Failed:
                        self.scope.broken.add(stmt.name.id)
                        raise
            case A.AdjunctionDecl():
                if self.declare_global(stmt.name, "adjunction"):
                    self.scope.adjunctions[stmt.name.id] = self.adjunction(stmt)
            case A.MonadDecl():
                if self.declare_global(stmt.name, "monad"):
                    self.scope.monads[stmt.name.id] = self.monad(stmt)
            case A.DataDecl() | A.ModelDecl():
                kind = type(stmt).__name__.removesuffix("Decl").lower()
                if self.declare_global(stmt.name, kind):
                    self.scope.declarations.append(Declaration(kind, stmt.name.id, stmt, stmt.span))
            case A.SweepDecl():
                if self.declare_global(stmt.name, "sweep"):
                    self.scope.declarations.append(Declaration("sweep", stmt.name.id, stmt, stmt.span))
                    sweep = self.sweep(stmt)
                    if sweep is not None:
                        self.scope.sweeps[sweep.name] = sweep
            case A.AnalysisDecl() | A.TransferDecl():
                kind = stmt.kind if isinstance(stmt, A.AnalysisDecl) else "transfer"
                if stmt.name is None or self.declare_global(stmt.name, kind):
                    self.scope.analyses.append(self.analysis(stmt, kind))
            case A.CheckDecl():
                for t in stmt.targets:
                    head = t.id if isinstance(t, A.Name) else t.parts[0] if isinstance(t, A.QualName) else None
                    if head is None:
                        self.error("E217", f"`check` takes declared names, not `{_text(t)}`", t.span,
                                   "write `check F` or `check F.respects`")
                    elif head not in self.scope.names:
                        self.error("E201", f"`{head}` is not declared", t.span,
                                   *_did_you_mean(head, self.scope.names))
                self.scope.checks.append(stmt)

    def import_file(self, stmt: A.Import, path: str) -> None:
        """Elaborate an imported file once. Only a regular `.cat` file under the import root (the
        folder of the file named on the command line, or `--import-root`), of at most
        MAX_IMPORT_BYTES and at most MAX_IMPORT_DEPTH imports deep, is read; a refused file is
        never opened, so its content is never echoed."""
        from catdsl.syntax.parse import parse

        base = FilePath(path).parent if path != "<input>" else FilePath.cwd()
        if not stmt.path or "\0" in stmt.path:
            raise self.error("E901", f"cannot read `{stmt.path}`: not a file name", stmt.span)
        target = base / stmt.path
        try:
            resolved = target.resolve()
            key = str(resolved)
        except (OSError, ValueError, RuntimeError) as e:
            raise self.error("E901", f"cannot read `{stmt.path}`: {e}", stmt.span)
        shown = os.path.normpath(target) if not FilePath(stmt.path).is_absolute() else stmt.path
        open_keys = [k for k, _ in self._stack]
        if key in open_keys:
            if key == open_keys[-1]:
                raise self.error("E218", f"import cycle: `{shown}` imports itself", stmt.span)
            cycle = [s for _, s in self._stack[open_keys.index(key):]] + [shown]
            raise self.error("E218", "import cycle: " + " -> ".join(f"`{s}`" for s in cycle),
                             stmt.span, "two files cannot import each other; move what both need "
                             "into a third file that both import")
        if key in self._done:
            return  # already elaborated: its names are in scope
        self.refuse_import(stmt, resolved, base)
        try:
            text = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise self.error("E901", f"cannot read `{stmt.path}`: {getattr(e, 'strerror', None) or e}",
                             stmt.span, f"the path is relative to the importing file's folder `{base}`")
        self.scope.sources[shown] = text
        try:
            tree = parse(text, shown)
        except DiagnosticError as e:
            self.diagnostics.extend(e.diagnostics)
            self._done.add(key)
            return
        self.file(tree, shown)

    def refuse_import(self, stmt: A.Import, resolved: FilePath, base: FilePath) -> None:
        """E901 for an import that is not a regular `.cat` file under the import root, is too
        large, or nests too deeply (checked with `stat`, before the file is opened)."""
        import stat

        def refuse(why: str, *hints: str) -> None:
            raise self.error("E901", f"cannot import `{stmt.path}`: {why}", stmt.span, *hints)

        if len(self._stack) >= MAX_IMPORT_DEPTH:
            refuse(f"imports nest more than {MAX_IMPORT_DEPTH} deep", "import the shared files from one file")
        if self.root is not None and not resolved.is_relative_to(self.root):
            refuse(f"it lies outside `{self.root}`, the folder imports are read from",
                   "imports are resolved inside the folder of the file given on the command line; "
                   "pass --import-root DIR to widen it")
        if resolved.suffix != ".cat":
            refuse("only `.cat` files can be imported")
        try:
            info = os.stat(resolved)
        except OSError as e:
            refuse(e.strerror or str(e), f"the path is relative to the importing file's folder `{base}`")
        if not stat.S_ISREG(info.st_mode):
            refuse("it is not a regular file")
        if info.st_size > self.max_bytes:
            refuse(f"it has {info.st_size:,} bytes, over the limit of {self.max_bytes:,}",
                   "raise it with --max-file-size N")

    # -- sweeps and analyses
    def sweep(self, stmt: A.SweepDecl) -> Sweep | None:
        """`sweep S = F.g over …`: `F` must be a declared functor; whether it is one into Param
        with a generator `g` is the learning backend's to say (E404)."""
        base = stmt.base
        if not (isinstance(base, A.QualName) and len(base.parts) == 2):
            return None
        fname, gname = base.parts
        if not self.declared_as(fname, ("functor",), base.span, "a sweep runs a generator of a functor"):
            return None
        return Sweep(stmt.name.id, fname, gname, stmt.bindings, span=stmt.span)

    def declared_as(self, name: str, kinds: tuple[str, ...], span: Span, why: str) -> bool:
        """Whether `name` is declared as one of `kinds` (E201 / E222 otherwise; silent when its
        own declaration already failed)."""
        kind = self.scope.kinds.get(name)
        if name in self.scope.broken:
            return False
        if kind is None:
            self.error("E201", f"`{name}` is not declared", span, *_did_you_mean(name, self.scope.names))
            return False
        if kind not in kinds:
            self.error("E222", f"`{name}` is a {kind}, not a {' or '.join(kinds)}", span, why)
            return False
        return True

    def analysis(self, stmt: A.AnalysisDecl | A.TransferDecl, kind: str) -> Analysis:
        """Resolve an analysis statement's subject and split its method into name and options."""
        if isinstance(stmt, A.TransferDecl):
            method_expr, subject_expr = stmt.value, None
        else:
            method_expr, subject_expr = stmt.method, stmt.subject
        method, arguments = self.method(method_expr, kind)
        if subject_expr is None:  # transfer: the subject is the source it pulls back
            subject_expr = dict(arguments).get("source")
            if subject_expr is None:
                raise self.error("E222", f"`transfer {stmt.name.id}` names no `source`", method_expr.span,
                                 "write `transfer T = pullback(source = Run.f, along = adapter(rank = 4), data = D)`")
        subject = self.subject(subject_expr, kind)
        name = stmt.name.id if stmt.name is not None else None
        return Analysis(kind, name, subject, method, arguments, stmt, span=stmt.span)

    def method(self, e: A.Expr, kind: str) -> tuple[str, tuple[tuple[str, A.Expr], ...]]:
        if isinstance(e, A.Name):
            return e.id, ()
        if isinstance(e, A.Call) and isinstance(e.func, A.Name):
            if e.positional:
                raise self.error("E222", f"the options of `{e.func.id}` are named", e.positional[0].span,
                                 f"write `{e.func.id}(name = value, …)`")
            return e.func.id, tuple((k.name, k.value) for k in e.args)
        raise self.error("E222", f"`{_text(e)}` is not a method of `{kind}`", e.span,
                         "write a method with named options, e.g. `homotopy(level = 0.05)`")

    def subject(self, e: A.Expr, kind: str) -> Subject:
        """A sweep, a functor, `F.x` (an object or generator of F's source), or a semantic
        category value such as `Paths(loss = …)`."""
        why = f"`{kind}` is of a sweep, a functor, `F.x` or a category value such as `Paths(loss = …)`"
        match e:
            case A.Name(id=n) if n not in self.scope.kinds and backend.is_semantic(n):
                return Subject("category", n, category=backend.SemanticRef(n, span=e.span), span=e.span)
            case A.Call(func=A.Name(id=n)) if n not in self.scope.kinds and backend.is_semantic(n):
                ref = backend.SemanticRef(n, e.positional, tuple(e.keywords.items()), span=e.span)
                return Subject("category", n, category=ref, span=e.span)
            case A.Name(id=n):
                if not self.declared_as(n, ("sweep", "functor"), e.span, why):
                    raise _Failed()
                return Subject(self.scope.kinds[n], n, span=e.span)
            case A.QualName(parts=(f, x)):
                if not self.declared_as(f, ("functor",), e.span, why):
                    raise _Failed()
                F = self.scope.functors.get(f)
                source = self.scope.presentations.get(F.source) if F and isinstance(F.source, str) else None
                if source is not None and x not in source.object_index and x not in source.generator:
                    raise self.error("E201", f"`{F.source}` has no object or generator `{x}`", e.span,
                                     *_did_you_mean(x, [*source.objects, *source.generator]))
                return Subject("part", f, part=x, span=e.span)
        raise self.error("E222", f"`{_text(e)}` cannot be the subject of `{kind}`", e.span, why)

    # -- presentations
    def category(self, decl: A.CategoryDecl) -> Presentation:
        names: dict[str, Span] = {}
        draft = _Draft(decl.name.id)  # grown item by item; terms are typed against it
        objects, gens, cells = draft.objects, draft.generator, draft.cell
        eqs: list[Equation] = []
        pbs: list[Pullback] = []
        pos: list[Pushout] = []
        prods: list[Product] = []
        eqzs: list[Equalizer] = []
        terms: list[str] = []
        broken = self.broken.setdefault(decl.name.id, set())
        for item in decl.items:
            declared: list[str] = []
            try:
                match item:
                    case A.ObjectsDecl(names=ns):
                        for n in ns:
                            if self.declare(names, n):
                                draft.add_object(n.id)
                    case A.ArrowDecl(names=ns, dom=d, cod=c):
                        declared = [n.id for n in ns if self.declare(names, n)]
                        dom = self.object_name(d, objects, gens)
                        cod = self.object_name(c, objects, gens)
                        for n in declared:
                            gens[n] = Generator(n, dom, cod)
                    case A.CellDecl(names=ns, source=s, target=t):
                        declared = [n.id for n in ns if self.declare(names, n)]
                        what = "2-cell " + ", ".join(f"`{n.id}`" for n in ns)
                        src, tgt = self.parallel_terms(draft, s, t, "E205", what)
                        for n in ns:
                            if n.id in declared:
                                cells[n.id] = Cell(n.id, src, tgt, span=n.span)
                    case A.EquationDecl(name=n, lhs=l, rhs=r):
                        if not self.declare(names, n):
                            continue
                        eqs.append(self.equation(draft, n, l, r, item.span))
                    case A.TerminalDecl(name=n):
                        if self.declare(names, n):
                            draft.add_object(n.id)
                            terms.append(n.id)
                    case A.ProductDecl(apex=apex, left=left, right=right, a=ae, b=be):
                        declared = [n.id for n in (apex, left, right) if self.declare(names, n)]
                        if len(declared) < 3:
                            raise _Failed()
                        a, b = self.object_name(ae, objects, gens), self.object_name(be, objects, gens)
                        draft.add_object(apex.id)
                        gens[left.id] = Generator(left.id, apex.id, a)
                        gens[right.id] = Generator(right.id, apex.id, b)
                        prods.append(Product(apex.id, left.id, right.id, a, b, span=item.span))
                    case A.EqualizerDecl(apex=apex, map=e, f=fe, g=ge):
                        declared = [n.id for n in (apex, e) if self.declare(names, n)]
                        if len(declared) < 2:
                            raise _Failed()
                        f, g = self.parallel_terms(draft, fe, ge, "E206", f"the equalizer `{apex.id}`")
                        draft.add_object(apex.id)
                        gens[e.id] = Generator(e.id, apex.id, f.dom)
                        ep = free.generator_path(gens[e.id])
                        eqs.append(Equation(f"{apex.id}.commutes", free.compose(f, ep), free.compose(g, ep),
                                            span=item.span, pullback=apex.id, construction="equalizer"))
                        eqzs.append(Equalizer(apex.id, e.id, f, g, span=item.span))
                    case A.PullbackDecl(dual=True):
                        declared = [n.id for n in (item.apex, item.left, item.right)
                                    if self.declare(names, n)]
                        if len(declared) < 3:
                            raise _Failed()
                        pos.append(self.pushout(draft, item, eqs))
                    case A.PullbackDecl(apex=apex, left=left, right=right, f=fe, g=ge):
                        trio = (apex, left, right)
                        declared = [n.id for n in trio if self.declare(names, n)]
                        if len(declared) < 3:
                            raise _Failed()
                        f, g = self.cospan(draft, fe, ge)
                        if f.cod != g.cod:
                            raise self.error(
                                "E206", f"cannot take the pullback of `{_text(fe)}` and `{_text(ge)}`: "
                                f"cod({_text(fe)}) = {f.cod} but cod({_text(ge)}) = {g.cod}",
                                fe.span.to(ge.span),
                                "a pullback needs a cospan: two arrows into the same object, "
                                "f : A -> C and g : B -> C")
                        draft.add_object(apex.id)
                        gens[left.id] = Generator(left.id, apex.id, f.dom)
                        gens[right.id] = Generator(right.id, apex.id, g.dom)
                        pl, pr = free.generator_path(gens[left.id]), free.generator_path(gens[right.id])
                        eqs.append(Equation(f"{apex.id}.commutes", free.compose(f, pl),
                                            free.compose(g, pr), span=item.span, pullback=apex.id))
                        pbs.append(Pullback(apex.id, left.id, right.id, f, g, span=item.span))
            except _Failed:
                broken.update(declared)
        return Presentation(decl.name.id, tuple(objects), tuple(gens.values()), tuple(cells.values()),
                            tuple(eqs), tuple(pbs), names, span=decl.span, pushouts=tuple(pos),
                            products=tuple(prods), equalizers=tuple(eqzs), terminals=tuple(terms))

    def cospan(self, p: Presentation | _Draft, fe: A.Expr, ge: A.Expr, end: str = "cod") -> tuple[Path, Path]:
        """The two arrows of a pullback; a bare `id` is the identity on the other's codomain (on
        its domain, `end="dom"`, for the span of a pushout)."""
        f, g = self.term1(p, fe), self.term1(p, ge)
        if isinstance(f, _Identity) and isinstance(g, _Identity):
            raise self.error("E210", "cannot tell which identity `id` is", fe.span,
                             "write `id(C)` with its object")
        if isinstance(f, _Identity):
            f = free.identity(getattr(g, end))
        if isinstance(g, _Identity):
            g = free.identity(getattr(f, end))
        return f, g

    def pushout(self, p: _Draft, item: A.PullbackDecl, eqs: list[Equation]) -> Pushout:
        """`pushout (Q, i, j) of f, g` for a span f : C -> A, g : C -> B: the object Q, the
        injections i : A -> Q, j : B -> Q and the commuting square `Q.commutes` : i . f = j . g."""
        fe, ge, apex = item.f, item.g, item.apex.id
        f, g = self.cospan(p, fe, ge, end="dom")
        if f.dom != g.dom:
            raise self.error(
                "E206", f"cannot take the pushout of `{_text(fe)}` and `{_text(ge)}`: "
                f"dom({_text(fe)}) = {f.dom} but dom({_text(ge)}) = {g.dom}", fe.span.to(ge.span),
                "a pushout needs a span: two arrows out of the same object, "
                "f : C -> A and g : C -> B")
        p.add_object(apex)
        gens = p.generator
        gens[item.left.id] = Generator(item.left.id, f.cod, apex)
        gens[item.right.id] = Generator(item.right.id, g.cod, apex)
        i, j = free.generator_path(gens[item.left.id]), free.generator_path(gens[item.right.id])
        eqs.append(Equation(f"{apex}.commutes", free.compose(i, f), free.compose(j, g),
                            span=item.span, pullback=apex, construction="pushout"))
        return Pushout(apex, item.left.id, item.right.id, f, g, span=item.span)

    def equation(self, p: Presentation | _Draft, n: A.Name, l: A.Expr, r: A.Expr, span: Span) -> Equation:
        if self.mentions_cell(p, l) or self.mentions_cell(p, r):
            lt, rt = self.term2(p, l), self.term2(p, r)
            if (lt.source, lt.target) != (rt.source, rt.target):
                raise self.error(
                    "E204", f"the sides of equation `{n.id}` are not parallel: `{_text(l)}` : "
                    f"{_boundary(lt)} but `{_text(r)}` : {_boundary(rt)}", l.span.to(r.span),
                    "2-cells can be equal only if they have the same source and target 1-cells")
            return Equation(n.id, lt, rt, span=span)
        lt, rt = self.parallel_terms(p, l, r, "E204", f"equation `{n.id}`")
        return Equation(n.id, lt, rt, span=span)

    def object_name(self, e: A.Expr, objects, generators=(), where: str | None = None) -> str:
        """The object `e` names. `where` is the presentation it must belong to, when that is
        not the one being declared (a functor's target)."""
        if isinstance(e, A.Name) and e.id in objects:
            return e.id
        if isinstance(e, A.Name) and e.id in generators:
            raise self.error("E211", f"`{e.id}` is a 1-cell, not an object", e.span,
                             f"its domain is `{generators[e.id].dom}` and its codomain "
                             f"`{generators[e.id].cod}`" if isinstance(generators, dict) else "")
        if isinstance(e, A.Name) and where is not None:
            raise self.error("E201", f"`{e.id}` is not an object of `{where}`", e.span,
                             *_did_you_mean(e.id, objects) or (
                                 (_objects_of(where, list(objects)),) if 0 < len(objects) <= 8 else ()))
        if isinstance(e, A.Name):
            raise self.error("E201", f"object `{e.id}` is not declared", e.span,
                             *_did_you_mean(e.id, objects) or (f"declare it: `objects {e.id}`",))
        raise self.error("E211", f"expected an object name, found `{_text(e)}`", e.span,
                         "objects of a presentation are names declared with `objects`")

    def mentions_cell(self, p: Presentation | _Draft, e: A.Expr) -> bool:
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

    def term_kind(self, p: Presentation | _Draft, e) -> int:
        """0 object, 1 a 1-cell term, 2 a 2-cell term (a guess from the names it mentions)."""
        if isinstance(e, A.Name) and e.id in p.object_index:
            return 0
        return 2 if self.mentions_cell(p, e) else 1

    def parallel_terms(self, p, l, r, code, what) -> tuple[Path, Path]:
        lt, rt = self.term1(p, l), self.term1(p, r)
        lt, rt = self.resolve_ids(lt, rt, l, r, what)
        if (lt.dom, lt.cod) != (rt.dom, rt.cod):
            raise self.error(code, f"the sides of {what} are not parallel: `{_text(l)}` : {lt.dom} -> "
                             f"{lt.cod} but `{_text(r)}` : {rt.dom} -> {rt.cod}", l.span.to(r.span),
                             _parallel_hint(lt, rt))
        return lt, rt

    def resolve_ids(self, lt, rt, l, r, what):
        """Type a bare `id` on one side from the other side (an identity equals only an endo-arrow)."""
        if isinstance(lt, _Identity) and isinstance(rt, _Identity):
            raise self.error("E210", f"cannot tell which identity `{_text(l)}` is", l.span,
                             "neither side says which object; write `id(A)` with its object")
        if isinstance(lt, _Identity):
            if rt.dom != rt.cod:
                raise self.error("E204", f"the sides of {what} are not parallel: an identity cannot "
                                 f"equal `{_text(r)}` : {rt.dom} -> {rt.cod}", l.span.to(r.span),
                                 "an identity goes from an object to itself")
            lt = free.identity(rt.dom)
        if isinstance(rt, _Identity):
            if lt.dom != lt.cod:
                raise self.error("E204", f"the sides of {what} are not parallel: `{_text(l)}` : "
                                 f"{lt.dom} -> {lt.cod} cannot equal an identity", l.span.to(r.span),
                                 "an identity goes from an object to itself")
            rt = free.identity(lt.dom)
        return lt, rt

    def term1(self, p: Presentation | _Draft, e: A.Expr) -> Path | _Identity:
        """A 1-cell term of `p`; `id` without an object stays open until its neighbours type it."""
        match e:
            case A.Name(id="id"):
                return _Identity(e.span)
            case A.Name(id=i) if i in p.generator:
                return free.generator_path(p.generator[i])
            case A.Name(id=i) if i in p.object_index:
                raise self.error("E212", f"`{i}` is an object, not a 1-cell", e.span,
                                 f"its identity is `id({i})`")
            case A.Name(id=i) if i in p.cell:
                raise self.error("E212", f"`{i}` is a 2-cell, not a 1-cell", e.span,
                                 f"`{i}` : {_boundary(p.cell[i])} is a 2-cell between the 1-cells "
                                 f"`{free.render(p.cell[i].source)}` and `{free.render(p.cell[i].target)}`")
            case A.Name(id=i) if i in self.broken.get(p.name, ()):
                raise _Failed()  # its declaration failed and was reported
            case A.Name(id=i):
                raise self.error("E201", f"`{i}` is not declared in `{p.name}`", e.span,
                                 *_did_you_mean(i, list(p.generator) + list(p.objects)))
            case A.Call(func=A.Name(id="id"), args=(arg,)) if isinstance(arg, A.Name):
                return free.identity(self.object_name(arg, p.object_index, p.generator, p.name))
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
        if all(isinstance(t, _Identity) for t in terms):
            return terms[0]
        acc: Path | None = None
        seen: list[A.Expr] = []  # the parts composed so far, applicative order
        for term, expr in zip(reversed(terms), reversed(parts)):
            if isinstance(term, _Identity) or acc is None:
                # an identity composes with anything its neighbours allow
                acc = acc if isinstance(term, _Identity) else term
                seen.insert(0, expr)
                continue
            if acc.cod != term.dom:
                raise self.not_composable(term, expr, acc, seen)
            acc = free.compose(term, acc)
            seen.insert(0, expr)
        return acc

    def not_composable(self, g: Path, ge: A.Expr, f: Path, fe: list[A.Expr]) -> _Failed:
        """E203 for `g . f`, quoted as the user wrote it (`.` or `>>`), with the reversed
        composite as a hint when that one composes."""
        span = _cover([self.operand_span(x) for x in (ge, *fe)])
        diagrammatic = (ge.span.line, ge.span.column) > (fe[0].span.line, fe[0].span.column)
        f_text = _composite(fe, diagrammatic)
        g_text = _operand(ge)
        f_bare = _text(fe[0]) if len(fe) == 1 else f_text
        hint = ()
        if diagrammatic:
            written, alternative = f"{f_text} >> {g_text}", f"{g_text} >> {f_text}"
        else:
            written, alternative = f"{g_text} . {f_text}", f"{f_text} . {g_text}"
        if g.cod == f.dom:
            hint = (f"did you mean `{alternative}`?",)
        return self.error("E203", f"`{written}` does not compose: cod({f_bare}) = {f.cod} but "
                          f"dom({_text(ge)}) = {g.dom}", span, *hint)

    def operand_span(self, e: A.Expr) -> Span:
        """The span of an operand of a composite, widened to the parentheses around it when
        it needed them (the parser's spans cover what is inside the parentheses)."""
        s = e.span
        text = self.scope.sources.get(s.file)
        if text is None or printer.precedence(e) > printer.precedence(A.Compose(())):
            return s
        lines = text.split("\n")
        if not (1 <= s.line <= len(lines) and 1 <= s.end_line <= len(lines)):
            return s
        before, after = lines[s.line - 1], lines[s.end_line - 1]
        i = s.column - 2
        while i >= 0 and before[i] in " \t":
            i -= 1
        j = s.end_column - 1
        while j < len(after) and after[j] in " \t":
            j += 1
        if i >= 0 and before[i] == "(" and j < len(after) and after[j] == ")":
            return Span(s.file, s.line, i + 1, s.end_line, j + 2)
        return s

    def term2(self, p: Presentation | _Draft, e: A.Expr) -> Term2:
        match e:
            case A.Name(id=i) if i in p.cell:
                return p.cell[i]
            case A.Call(func=A.Name(id="id"), args=(arg,)) if not isinstance(arg, A.Keyword):
                t = self.term1(p, arg)
                if isinstance(t, _Identity):
                    raise self.error("E210", "cannot tell which identity `id` is", arg.span,
                                     "write `id(f)` with a 1-cell, or `id(id(A))`")
                return Id2(t, span=e.span)
            case A.Compose(parts=parts):
                cells = [self.term2(p, x) for x in parts]
                acc, seen = cells[-1], [parts[-1]]
                for cell, expr in zip(reversed(cells[:-1]), reversed(parts[:-1])):
                    if acc.target != cell.source:
                        diagrammatic = (expr.span.line, expr.span.column) > (
                            seen[0].span.line, seen[0].span.column)
                        first, second = _composite(seen, diagrammatic), _operand(expr)
                        written = (f"{first} >> {second}" if diagrammatic else f"{second} . {first}")
                        raise self.error(
                            "E216", f"`{written}` does not compose vertically: `{first}` ends at "
                            f"`{free.render(acc.target)}` but `{second}` starts at "
                            f"`{free.render(cell.source)}`", _cover([expr.span, *(x.span for x in seen)]),
                            "vertical composition `β . α` needs the target of α to be the source of β")
                    acc = Vertical(cell, acc, span=_cover([expr.span, *(x.span for x in seen)]))
                    seen.insert(0, expr)
                return acc
            case A.BinOp(op="*", left=l, right=r):
                # a bare `id` on one side is the identity 1-cell where the other side meets it
                if _is_bare_id(l) and _is_bare_id(r):
                    raise self.error("E210", "cannot tell which identity `id` is", e.span,
                                     "whisker with `id(A)`, naming the object")
                if _is_bare_id(l):
                    inner = self.whisker(p, r)
                    outer = Id2(free.identity(inner.source.cod), span=l.span)
                elif _is_bare_id(r):
                    outer = self.whisker(p, l)
                    inner = Id2(free.identity(outer.source.dom), span=r.span)
                else:
                    outer, inner = self.whisker(p, l), self.whisker(p, r)
                if inner.source.cod != outer.source.dom:
                    raise self.error(
                        "E216", f"`{_text(e)}` does not compose horizontally: `{_text(r)}` ends at "
                        f"object {inner.source.cod} but `{_text(l)}` starts at object {outer.source.dom}",
                        e.span, "in `β * α` the 1-cells of α must end where those of β start")
                return Horizontal(outer, inner, span=e.span)
            case A.Name(id=i) if i in p.generator or i in p.object_index:
                kind = "a 1-cell" if i in p.generator else "an object"
                raise self.error("E213", f"`{i}` is {kind}, not a 2-cell", e.span,
                                 f"its identity 2-cell is `id({i})`" if i in p.generator else
                                 f"whisker with the identity 1-cell `id({i})`")
            case A.Name(id=i) if i in self.broken.get(p.name, ()):
                raise _Failed()
            case A.Name(id="id"):
                raise self.error("E210", "cannot tell which identity 2-cell `id` is", e.span,
                                 "write `id(f)` with the 1-cell it is the identity on")
            case A.Name(id=i):
                raise self.error("E201", f"`{i}` is not declared in `{p.name}`", e.span,
                                 *_did_you_mean(i, list(p.cell) + list(p.generator)))
        raise self.error("E217", f"`{_text(e)}` is not a 2-cell term", e.span,
                         "2-cell terms are cells, `id(f)`, `β . α`, `β * α`, `h * α` and `α * f`")

    def whisker(self, p: Presentation | _Draft, e: A.Expr) -> Term2:
        if self.term_kind(p, e) == 1:
            t = self.term1(p, e)
            if isinstance(t, _Identity):
                raise self.error("E210", "cannot tell which identity `id` is", e.span,
                                 "whisker with `id(A)`, naming the object")
            return Id2(t, span=e.span)
        return self.term2(p, e)

    # -- functors
    def category_ref(self, e: A.Expr) -> str | backend.SemanticRef:
        name = e.func if isinstance(e, A.Call) else e
        if not isinstance(name, A.Name):
            raise self.error("E214", f"`{_text(e)}` is not a category", e.span,
                             "name a `category` of this file or a semantic category such as `Vect`")
        if name.id in self.scope.presentations:
            if isinstance(e, A.Call):
                raise self.error("E214", f"`{name.id}` is a presentation and takes no arguments", e.span,
                                 f"write just `{name.id}`")
            return name.id
        if backend.is_semantic(name.id):
            if isinstance(e, A.Call):
                return backend.SemanticRef(name.id, e.positional,
                                           tuple((k, v) for k, v in e.keywords.items()), span=e.span)
            return backend.SemanticRef(name.id, span=e.span)
        if name.id in self.scope.kinds:
            kind = self.scope.kinds[name.id]
            article = "an" if kind[0] in "aeiou" else "a"
            raise self.error("E214", f"`{name.id}` is {article} {kind}, not a category", name.span)
        known = list(self.scope.presentations) + list(backend.registry())
        raise self.error("E214", f"unknown category `{name.id}`", name.span, *_did_you_mean(name.id, known))

    def functor(self, decl: A.FunctorDecl) -> Functor:
        refs = []
        for e in (decl.source, decl.target):
            try:
                refs.append(self.category_ref(e))
            except _Failed:
                refs.append(None)
        if None in refs:
            raise _Failed()
        src, tgt = refs
        name = decl.name.id
        if decl.mappings is None and self.is_functor_expr(decl.definition):
            # `functor H : A -> C = G . F`, `= id(A)`: the composite, checked against the type
            made = self.functor_expr(decl.definition)
            if (made.source, made.target) != (src, tgt):
                raise self.error("E208", f"`{_text(decl.definition)}` is a functor {_cat(made.source)} -> "
                                 f"{_cat(made.target)}, but `{name}` is declared {_cat(src)} -> {_cat(tgt)}",
                                 decl.definition.span)
            return dataclasses.replace(made, name=name, derived=False, span=decl.span)
        if decl.mappings is None:
            return Functor(name, src, tgt, {}, {}, {}, definition=decl.definition, span=decl.span)
        if isinstance(src, backend.SemanticRef):
            rules = tuple(Rule(m.source, m.image, span=m.span) for m in decl.mappings)
            return Functor(name, src, tgt, {}, {}, {}, rules=rules, span=decl.span)
        p = self.scope.presentations[src]
        broken = self.broken.get(p.name, set())
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
            if not self.declare(seen, m.source, "mapped"):
                continue
            if key in p.object_index:
                value = None
                if target is not None:
                    try:
                        value = self.object_name(m.image, target.object_index, target.generator,
                                                 target.name)
                    except _Failed:
                        continue
                objects[key] = Image(key, m.image, value, span=m.span)
            elif key in p.generator or key in p.cell:
                pending.append((key, m))
            elif key in broken:
                continue  # its declaration failed and was reported
            else:
                self.error("E209", f"`{key}` is not an object or generator of `{p.name}`", m.source.span,
                           *_did_you_mean(key, list(p.objects) + list(p.generator) + list(p.cell)))
        self.unmapped(decl, p, seen, tgt)
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
        if target is not None:
            self.computed_pullbacks(decl, p, target, seen, objects, arrows)
        return Functor(name, src, tgt, objects, arrows, cells, span=decl.span)

    def unmapped(self, decl: A.FunctorDecl, p: Presentation, seen: dict[str, Span], target=None) -> None:
        """E207 for every object, generator and 2-cell the functor leaves without an image.

        A pullback's apex and projections may be left out together (they are then computed in
        the target); mapping some of the three but not all is an error. A target whose objects
        are computed by running the generators (`Param`) checks its objects itself; the target's
        backend is asked (and so imported) only when an object is left out.
        """
        may_skip = p.pullback_names()
        missing = [n for n in (*p.objects, *p.generator, *p.cell) if n not in seen and n not in may_skip]
        if any(n in p.object_index for n in missing) and _computes_objects(target):
            missing = [n for n in missing if n not in p.object_index]
        if missing:
            objs = [n for n in missing if n in p.object_index]
            gens = [n for n in missing if n in p.generator]
            cells = [n for n in missing if n in p.cell]
            what = _kinds(("object", objs), ("generator", gens), ("2-cell", cells))
            self.error("E207", f"functor `{decl.name.id}` does not map {what} of `{p.name}`",
                       decl.name.span, "add " + ", ".join(f"`{n} |-> …`" for n in missing))
        for pb in p.cones():
            trio = (pb.apex, pb.left, pb.right)
            given = [n for n in trio if n in seen]
            if given and len(given) < 3:
                what = "pushout" if isinstance(pb, Pushout) else "pullback"
                left_out = [n for n in trio if n not in seen]
                self.error("E207", f"functor `{decl.name.id}` maps {_list(given)} but not "
                           f"{_list(left_out)} of the {what} `({pb.apex}, {pb.left}, {pb.right})`",
                           decl.name.span,
                           f"map the apex and both {'injections' if what == 'pushout' else 'projections'}"
                           f", or none of them to have the {what} computed in the target")

    def computed_pullbacks(self, decl, p, target, seen, objects, arrows) -> None:
        """Send each unmapped pullback of `p` to the pullback the target presentation declares on
        the image cospan; a presentation computes no other limits, so without one it is E207."""
        images = {k: v.value for k, v in arrows.items()}
        for pb in p.pullbacks:
            if any(n in seen for n in (pb.apex, pb.left, pb.right)):
                continue
            words = (*pb.f.word, *pb.g.word)
            if pb.f.dom not in objects or pb.g.dom not in objects or pb.f.cod not in objects or any(
                    images.get(g) is None for g in words):
                continue  # an image is missing, which has been reported
            ff, gg = _apply(pb.f, images, objects), _apply(pb.g, images, objects)
            # the declared pullback of the image cospan, or of the same cospan read the other way
            # round (swapping the legs of a pullback gives a pullback of the swapped cospan)
            match = next((q for q in target.pullbacks if (q.f, q.g) == (ff, gg)), None)
            legs = (match.left, match.right) if match is not None else None
            if match is None:
                match = next((q for q in target.pullbacks if (q.g, q.f) == (ff, gg)), None)
                legs = (match.right, match.left) if match is not None else None
            if match is None:
                self.error(
                    "E207", f"functor `{decl.name.id}` leaves the pullback `{pb.apex}` unmapped, but "
                    f"`{target.name}` is a presentation and declares no pullback of "
                    f"`{free.render(ff)}` and `{free.render(gg)}`", decl.name.span,
                    f"map `{pb.apex}`, `{pb.left}` and `{pb.right}`, or declare "
                    f"`pullback (…) of {free.render(ff)}, {free.render(gg)}` in `{target.name}`")
                continue
            at = A.Name(match.apex, span=pb.span)
            objects[pb.apex] = Image(pb.apex, at, match.apex, span=pb.span)
            for mine, theirs in zip((pb.left, pb.right), legs):
                arrows[mine] = Image(mine, A.Name(theirs, span=pb.span),
                                     free.generator_path(target.generator[theirs]), span=pb.span)
        self.computed_pushouts(decl, p, target, seen, objects, arrows)

    def computed_pushouts(self, decl, p, target, seen, objects, arrows) -> None:
        """Send each unmapped pushout of `p` to the pushout the target presentation declares on
        the image span, in either orientation (swapping the legs of a pushout gives a pushout of
        the swapped span); a presentation computes no other colimits, so without one it is E207."""
        images = {k: v.value for k, v in arrows.items()}
        for po in p.pushouts:
            if any(n in seen for n in (po.apex, po.left, po.right)):
                continue
            if any(x not in objects for x in (po.f.dom, po.f.cod, po.g.cod)) or any(
                    images.get(g) is None for g in (*po.f.word, *po.g.word)):
                continue  # an image is missing, which has been reported
            ff, gg = _apply(po.f, images, objects), _apply(po.g, images, objects)
            found = [(q, (q.left, q.right)) for q in target.pushouts if (q.f, q.g) == (ff, gg)]
            found += [(q, (q.right, q.left)) for q in target.pushouts if (q.g, q.f) == (ff, gg)]
            if not found:
                self.error(
                    "E207", f"functor `{decl.name.id}` leaves the pushout `{po.apex}` unmapped, but "
                    f"`{target.name}` is a presentation and declares no pushout of "
                    f"`{free.render(ff)}` and `{free.render(gg)}`", decl.name.span,
                    f"map `{po.apex}`, `{po.left}` and `{po.right}`, or declare "
                    f"`pushout (…) of {free.render(ff)}, {free.render(gg)}` in `{target.name}`")
                continue
            match, legs = found[0]
            objects[po.apex] = Image(po.apex, A.Name(match.apex, span=po.span), match.apex, span=po.span)
            for mine, theirs in zip((po.left, po.right), legs):
                arrows[mine] = Image(mine, A.Name(theirs, span=po.span),
                                     free.generator_path(target.generator[theirs]), span=po.span)

    def arrow_image(self, p, target, objects, key, m: A.Mapping, fname) -> Path | None:
        gen = p.generator[key]
        if gen.dom not in objects or gen.cod not in objects:
            return None  # already reported as unmapped
        want_dom, want_cod = objects[gen.dom].value, objects[gen.cod].value
        if not isinstance(m.image, (A.Name, A.QualName, A.Compose, A.Call)):
            raise self.error("E217", f"`{_text(m.image)}` is not a 1-cell term of `{target.name}`",
                             m.image.span, f"`{target.name}` is a presentation, so images are its "
                             "terms; values such as matrices need a semantic category like `Vect`")
        t = self.term1(target, m.image)
        if isinstance(t, _Identity):
            if want_dom != want_cod:
                raise self.error("E208", f"`{key}` cannot go to an identity: {fname}({key}) must be "
                                 f"{want_dom} -> {want_cod}", m.image.span,
                                 f"because {fname}({gen.dom}) = {want_dom} and "
                                 f"{fname}({gen.cod}) = {want_cod}")
            return free.identity(want_dom)
        if (t.dom, t.cod) != (want_dom, want_cod):
            raise self.error(
                "E208", f"`{_text(m.image)}` : {t.dom} -> {t.cod} cannot be the image of "
                f"`{key}` : {gen.dom} -> {gen.cod}; {fname}({key}) must be {want_dom} -> {want_cod}",
                m.image.span, f"because {fname}({gen.dom}) = {want_dom} and "
                f"{fname}({gen.cod}) = {want_cod}")
        return t

    def cell_image(self, p, target, objects, arrows, key, m: A.Mapping, fname) -> Term2 | None:
        cell = p.cell[key]
        images = {k: v.value for k, v in arrows.items()}
        if cell.source.dom not in objects or cell.source.cod not in objects or any(
                images.get(g) is None for g in (*cell.source.word, *cell.target.word)):
            return None
        want_src = _apply(cell.source, images, objects)
        want_tgt = _apply(cell.target, images, objects)
        t = self.whisker(target, m.image)
        if (t.source, t.target) != (want_src, want_tgt):
            raise self.error(
                "E208", f"`{_text(m.image)}` : {_boundary(t)} cannot be the image of `{key}` : "
                f"{_boundary(cell)}; {fname}({key}) must be {free.render(want_src)} => "
                f"{free.render(want_tgt)}", m.image.span,
                f"because {fname}({free.render(cell.source)}) = {free.render(want_src)} and "
                f"{fname}({free.render(cell.target)}) = {free.render(want_tgt)}")
        return t

    # -- composite and identity functors
    def is_functor_expr(self, e: A.Expr | None) -> bool:
        """`G . F`, `G.F` of declared functors, or `id(C)` of a presentation."""
        if isinstance(e, A.Call):
            return isinstance(e.func, A.Name) and e.func.id == "id"
        if isinstance(e, A.Compose):
            return all(isinstance(x, (A.Name, A.QualName, A.Compose, A.Call)) for x in e.parts)
        if isinstance(e, A.QualName):
            return all(self.scope.kinds.get(x) == "functor" for x in e.parts)
        return False

    def functor_expr(self, e: A.Expr) -> Functor:
        """The functor a name, a composite `G . F` or `id(C)` denotes. A composite or identity is
        made once and kept under its text (`G . F`) as a derived functor."""
        if not self.is_functor_expr(e):
            return self.functor_ref(e)
        key = _text(e)
        if key in self.scope.functors:
            return self.scope.functors[key]
        if isinstance(e, A.Call):
            made = self.identity_functor(e, key)
        else:
            parts = e.parts if isinstance(e, A.Compose) else tuple(A.Name(x, span=e.span) for x in e.parts)
            fs = [self.functor_expr(x) for x in parts]  # applicative order: the last applies first
            made = fs[-1]
            for outer in reversed(fs[:-1]):
                made = self.compose_functors(outer, made, key, e.span)
        made = dataclasses.replace(made, name=key, derived=True)
        self.scope.functors[key] = made
        return made

    def identity_functor(self, e: A.Call, key: str) -> Functor:
        args = e.positional
        if len(args) != 1 or e.keywords or not isinstance(args[0], A.Name) \
                or args[0].id not in self.scope.presentations:
            raise self.error("E220", f"`{key}` is not a functor: `id(C)` takes one category of this file",
                             e.span, "write `id(C)` for the identity functor on a `category C`")
        p = self.scope.presentations[args[0].id]
        objects = {x: Image(x, A.Name(x, span=e.span), x, span=e.span) for x in p.objects}
        arrows = {g.name: Image(g.name, A.Name(g.name, span=e.span), free.generator_path(g), span=e.span)
                  for g in p.generators}
        cells = {c.name: Image(c.name, A.Name(c.name, span=e.span), c, span=e.span) for c in p.cells}
        return Functor(key, p.name, p.name, objects, arrows, cells, span=e.span)

    def compose_functors(self, G: Functor, F: Functor, key: str, span: Span) -> Functor:
        """G . F. Into a presentation its images are computed here; into a semantic category it
        records the composite and the backend applies G's interpretation to F's images."""
        if F.target != G.source:
            raise self.error("E203", f"`{key}` does not compose: {F.name} : {_cat(F.source)} -> "
                             f"{_cat(F.target)} but {G.name} : {_cat(G.source)} -> {_cat(G.target)}", span,
                             f"did you mean `{F.name} . {G.name}`?" if G.target == F.source else "")
        if not isinstance(F.target, str) or F.definition is not None or F.rules or G.definition is not None \
                or G.rules:
            raise self.error("E215", f"`{key}`: composites of functors given by rules or definitions, or "
                             "through a semantic category, are not supported in this version", span,
                             "compose functors out of presentations, given by their mappings")
        if not isinstance(G.target, str):
            if _computes_objects(G.target):
                raise self.error("E215", f"`{key}`: composites into `{G.target.name}` are not supported in "
                                 "this version", span, f"map into `{G.target.name}` directly")
            return Functor(key, F.source, G.target, dict(F.objects), dict(F.arrows), dict(F.cells),
                           span=span, outer=G.name)
        images = presented_images(G)
        objects = {x: Image(x, img.expr, G.objects[img.value].value, span=img.span)
                   for x, img in F.objects.items() if img.value in G.objects}
        arrows = {g: Image(g, img.expr, interpret(images, img.value), span=img.span)
                  for g, img in F.arrows.items()}
        cells = {c: Image(c, img.expr, interpret(images, img.value), span=img.span)
                 for c, img in F.cells.items()}
        return Functor(key, F.source, G.target, objects, arrows, cells, span=span)

    # -- transformations defined from others; adjunctions and monads
    def defined_transformation(self, decl: A.TransformationDecl, f: Functor, g: Functor) -> Transformation:
        """`transformation θ : F => G = EXPR`: its components computed from EXPR, whose type must
        be the declared one (functors compared by what they do, so `H` and `G . F` agree)."""
        made = self.transformation_expr(decl.definition)
        src, tgt = self.scope.functors[made.source], self.scope.functors[made.target]
        if not (_same_functor(src, f) and _same_functor(tgt, g)):
            raise self.error("E208", f"`{_text(decl.definition)}` is a transformation {made.source} => "
                             f"{made.target}, but `{decl.name.id}` is declared {f.name} => {g.name}",
                             decl.definition.span)
        return dataclasses.replace(made, name=decl.name.id, source=f.name, target=g.name, span=decl.span)

    def transformation_expr(self, e: A.Expr) -> Transformation:
        """A transformation from named ones: `η`, `id(F)`, `θ . η` (vertical), `G * η` and `η * F`
        (whiskering), `θ * η` (horizontal). Components are computed in the target presentation."""
        kind = lambda x: self.scope.kinds.get(x.id) if isinstance(x, A.Name) else None  # noqa: E731
        match e:
            case A.Name(id=n) if kind(e) == "transformation":
                if n in self.scope.broken:
                    raise _Failed()
                return self.scope.transformations[n]
            case A.Call(func=A.Name(id="id"), args=(A.Name() as x,)) if kind(x) == "functor" or \
                    self.is_functor_expr(x):
                F = self.functor_expr(x)
                self.presented(F, e)
                comps = {o: Image(o, e, free.identity(img.value), span=e.span) for o, img in F.objects.items()}
                return Transformation(_text(e), F.name, F.name, comps, span=e.span)
            case A.Compose(parts=parts) if len(parts) >= 2:
                ts = [self.transformation_expr(x) for x in parts]
                made = ts[-1]
                for outer in reversed(ts[:-1]):
                    made = self.vertical(outer, made, e)
                return made
            case A.BinOp(op="*", left=left, right=right):
                lt = kind(left) == "transformation" or not self.is_functor_expr(left) and kind(left) != "functor"
                rt = kind(right) == "transformation" or not self.is_functor_expr(right) and kind(right) != "functor"
                if lt and rt:
                    theta, eta = self.transformation_expr(left), self.transformation_expr(right)
                    return self.horizontal(theta, eta, e)
                if rt:
                    return self.whisker_left(self.functor_expr(left), self.transformation_expr(right), e)
                if lt:
                    return self.whisker_right(self.transformation_expr(left), self.functor_expr(right), e)
        raise self.error("E217", f"`{_text(e)}` is not a transformation term", e.span,
                         "write `G * eta`, `eta * F`, `theta . eta`, `theta * eta` or `id(F)`")

    def presented(self, F: Functor, e: A.Expr) -> None:
        if not isinstance(F.target, str):
            raise self.error("E215", f"`{_text(e)}`: transformations built from others are computed "
                             "between functors into presentations in this version", e.span)

    def derive(self, F: Functor) -> Functor:
        """Keep a functor made for a transformation's type under its text, like `G . F`."""
        F = dataclasses.replace(F, derived=True)
        return self.scope.functors.setdefault(F.name, F)

    def vertical(self, theta: Transformation, eta: Transformation, e: A.Expr) -> Transformation:
        F, G = self.scope.functors[eta.source], self.scope.functors[eta.target]
        if not _same_functor(G, self.scope.functors[theta.source]):
            raise self.error("E216", f"`{_text(e)}` does not compose: {eta.name} ends at {eta.target} but "
                             f"{theta.name} starts at {theta.source}", e.span)
        self.presented(F, e)
        comps = {x: Image(x, e, free.compose(theta.components[x].value, c.value), span=e.span)
                 for x, c in eta.components.items() if x in theta.components}
        return Transformation(_text(e), F.name, theta.target, comps, span=e.span)

    def whisker_left(self, G: Functor, eta: Transformation, e: A.Expr) -> Transformation:
        """(G η)_x = G(η_x) : G F x -> G F' x."""
        F, F2 = self.scope.functors[eta.source], self.scope.functors[eta.target]
        src = self.derive(self.compose_functors(G, F, f"{G.name} . {F.name}", e.span))
        tgt = self.derive(self.compose_functors(G, F2, f"{G.name} . {F2.name}", e.span))
        self.presented(src, e)
        images = presented_images(G)
        comps = {x: Image(x, e, interpret(images, c.value), span=e.span) for x, c in eta.components.items()}
        return Transformation(_text(e), src.name, tgt.name, comps, span=e.span)

    def whisker_right(self, eta: Transformation, K: Functor, e: A.Expr) -> Transformation:
        """(η K)_z = η_{K z} : F K z -> F' K z."""
        F, F2 = self.scope.functors[eta.source], self.scope.functors[eta.target]
        src = self.derive(self.compose_functors(F, K, f"{F.name} . {K.name}", e.span))
        tgt = self.derive(self.compose_functors(F2, K, f"{F2.name} . {K.name}", e.span))
        self.presented(src, e)
        comps = {z: Image(z, e, eta.components[img.value].value, span=e.span)
                 for z, img in K.objects.items() if img.value in eta.components}
        return Transformation(_text(e), src.name, tgt.name, comps, span=e.span)

    def horizontal(self, theta: Transformation, eta: Transformation, e: A.Expr) -> Transformation:
        """θ * η = (θ F') . (G η) for η : F => F' (A -> B) and θ : G => G' (B -> C)."""
        G = self.scope.functors[theta.source]
        F2 = self.scope.functors[eta.target]
        return self.vertical(self.whisker_right(theta, F2, e), self.whisker_left(G, eta, e), e)

    def structure_part(self, decl, key: str) -> Transformation:
        m = next((m for m in decl.mappings if isinstance(m.source, A.Name) and m.source.id == key), None)
        if m is None:
            raise self.error("E207", f"`{decl.name.id}` gives no `{key}`", decl.name.span,
                             f"add `{key} |-> η` naming a transformation")
        made = self.transformation_expr(m.image)
        if made.name not in self.scope.transformations:
            self.scope.transformations[made.name] = made
        return made

    def adjunction(self, decl: A.AdjunctionDecl) -> Adjunction:
        """F -| G: unit η : id(A) => G . F and counit ε : F . G => id(B), between presentations."""
        F, G = self.functor_ref(decl.left), self.functor_ref(decl.right)
        if not (isinstance(F.source, str) and isinstance(F.target, str) and (G.source, G.target) == (F.target, F.source)):
            raise self.error("E208", f"`{F.name} -| {G.name}` needs {F.name} : A -> B and {G.name} : B -> A "
                             "between presentations", decl.left.span.to(decl.right.span))
        self.known_keys(decl, ("unit", "counit"))
        unit, counit = self.structure_part(decl, "unit"), self.structure_part(decl, "counit")
        ida, idb = (self.functor_expr(A.Call(A.Name("id"), (A.Name(c),), span=decl.span)) for c in (F.source, F.target))
        gf = self.derive(self.compose_functors(G, F, f"{G.name} . {F.name}", decl.span))
        fg = self.derive(self.compose_functors(F, G, f"{F.name} . {G.name}", decl.span))
        for part, (want_src, want_tgt), what in ((unit, (ida, gf), f"id({F.source}) => {G.name} . {F.name}"),
                                                 (counit, (fg, idb), f"{F.name} . {G.name} => id({F.target})")):
            if not (_same_functor(self.scope.functors[part.source], want_src)
                    and _same_functor(self.scope.functors[part.target], want_tgt)):
                raise self.error("E208", f"the {'unit' if part is unit else 'counit'} of `{decl.name.id}` must be "
                                 f"{what}, not {part.source} => {part.target}", decl.span)
        return Adjunction(decl.name.id, F.name, G.name, unit.name, counit.name, span=decl.span)

    def monad(self, decl: A.MonadDecl) -> Monad:
        """T : C -> C with unit η : id(C) => T and multiplication μ : T . T => T."""
        T = self.functor_ref(decl.functor)
        if not (isinstance(T.source, str) and T.source == T.target):
            raise self.error("E208", f"a monad's functor is an endofunctor C -> C of a presentation, not "
                             f"{_cat(T.source)} -> {_cat(T.target)}", decl.functor.span)
        self.known_keys(decl, ("unit", "mult"))
        unit, mult = self.structure_part(decl, "unit"), self.structure_part(decl, "mult")
        idc = self.functor_expr(A.Call(A.Name("id"), (A.Name(T.source),), span=decl.span))
        tt = self.derive(self.compose_functors(T, T, f"{T.name} . {T.name}", decl.span))
        for part, (want_src, want_tgt), what in ((unit, (idc, T), f"id({T.source}) => {T.name}"),
                                                 (mult, (tt, T), f"{T.name} . {T.name} => {T.name}")):
            if not (_same_functor(self.scope.functors[part.source], want_src)
                    and _same_functor(self.scope.functors[part.target], want_tgt)):
                raise self.error("E208", f"the {'unit' if part is unit else 'multiplication'} of `{decl.name.id}` "
                                 f"must be {what}, not {part.source} => {part.target}", decl.span)
        return Monad(decl.name.id, T.name, unit.name, mult.name, span=decl.span)

    def known_keys(self, decl, keys: tuple[str, ...]) -> None:
        for m in decl.mappings:
            if not (isinstance(m.source, A.Name) and m.source.id in keys):
                self.error("E209", f"`{_text(m.source)}` is not a part of `{decl.name.id}`", m.source.span,
                           f"its parts are {_list(list(keys))}")

    def functor_ref(self, e: A.Expr) -> Functor:
        if self.is_functor_expr(e):
            return self.functor_expr(e)
        head = e.id if isinstance(e, A.Name) else None
        if head is not None and head in self.scope.functors:
            return self.scope.functors[head]
        if head is not None and head in self.scope.broken:
            raise _Failed()  # its declaration failed and was reported
        if head is not None and head in self.scope.kinds:
            kind = self.scope.kinds[head]
            article = "an" if kind[0] in "aeiou" else "a"
            raise self.error("E220", f"`{head}` is {article} {kind}, not a functor", e.span,
                             "a transformation goes between two functors: `η : F => G`")
        if head is None:
            raise self.error("E220", f"`{_text(e)}` is not a functor", e.span,
                             "a transformation goes between two named functors: `η : F => G`")
        raise self.error("E201", f"functor `{head}` is not declared", e.span,
                         *_did_you_mean(head, self.scope.functors))

    def transformation(self, decl: A.TransformationDecl) -> Transformation:
        fs, failed = [], False
        for e in (decl.source, decl.target):
            try:
                fs.append(self.functor_ref(e))
            except _Failed:
                failed = True
        if failed:
            raise _Failed()
        f, g = fs
        if decl.mappings is None:
            return self.defined_transformation(decl, f, g)
        if (f.source, f.target) != (g.source, g.target):
            raise self.error("E208", f"`{f.name}` and `{g.name}` are not parallel functors: "
                             f"{f.name} : {_cat(f.source)} -> {_cat(f.target)} but "
                             f"{g.name} : {_cat(g.source)} -> {_cat(g.target)}",
                             decl.source.span.to(decl.target.span),
                             "a transformation F => G needs F and G to have the same source and target")
        if isinstance(f.source, backend.SemanticRef):
            rules = tuple(Rule(m.source, m.image, span=m.span) for m in decl.mappings)
            return Transformation(decl.name.id, f.name, g.name, {}, rules=rules, span=decl.span)
        p = self.scope.presentations[f.source]
        target = self.scope.presentations.get(f.target) if isinstance(f.target, str) else None
        comps: dict[str, Image] = {}
        seen: dict[str, Span] = {}
        for m in decl.mappings:
            if not isinstance(m.source, A.Name) or m.source.id not in p.object_index:
                self.error("E209", f"`{_text(m.source)}` is not an object of `{p.name}`", m.source.span,
                           "a transformation has one component per object of the source",
                           *(_did_you_mean(m.source.id, p.objects) if isinstance(m.source, A.Name) else ()))
                continue
            if not self.declare(seen, m.source, "given a component"):
                continue
            key, value = m.source.id, None
            if target is not None and key in f.objects and key in g.objects:
                try:
                    t = self.term1(target, m.image)
                    want = (f.objects[key].value, g.objects[key].value)
                    if isinstance(t, _Identity):
                        if want[0] != want[1]:
                            raise self.error(
                                "E208", f"the component of `{decl.name.id}` at `{key}` cannot be an "
                                f"identity: it must be {f.name}({key}) -> {g.name}({key}) = "
                                f"{want[0]} -> {want[1]}", m.image.span)
                        t = free.identity(want[0])
                    if (t.dom, t.cod) != want:
                        raise self.error(
                            "E208", f"the component of `{decl.name.id}` at `{key}` must be "
                            f"{f.name}({key}) -> {g.name}({key}) = {want[0]} -> {want[1]}, "
                            f"but `{_text(m.image)}` : {t.dom} -> {t.cod}", m.image.span)
                    value = t
                except _Failed:
                    continue
            comps[key] = Image(key, m.image, value, span=m.span)
        computed = p.pullback_names()
        missing = [o for o in p.objects if o not in seen and o not in computed]
        if missing:
            self.error("E207", f"transformation `{decl.name.id}` has no component at {_list(missing)}",
                       decl.name.span, "add " + ", ".join(f"`{n} |-> …`" for n in missing))
        return Transformation(decl.name.id, f.name, g.name, comps, span=decl.span)


def _same_functor(F: Functor, G: Functor) -> bool:
    """Whether two functors between presentations do the same to objects, generators and cells."""
    values = lambda H, part: {k: v.value for k, v in getattr(H, part).items()}  # noqa: E731
    return (F.source, F.target) == (G.source, G.target) and F.outer == G.outer and all(
        values(F, part) == values(G, part) for part in ("objects", "arrows", "cells"))


def _computes_objects(target) -> bool:
    """Whether a semantic target computes the images of objects from those of generators
    (the capability `computes_objects` of its factory; `Param` has it)."""
    if not isinstance(target, backend.SemanticRef):
        return False
    try:
        return bool(getattr(backend.load(target.name), "computes_objects", False))
    except Exception:  # a backend that cannot load is reported when its laws are discharged
        return False


def _apply(path: Path, images: dict[str, Path], objects: dict[str, Image]) -> Path:
    """The image of a source path under the images of generators given so far."""
    return interpret(Images(FREE, {x: img.value for x, img in objects.items()}, images), path)


def _objects_of(where: str, objects: list[str]) -> str:
    if len(objects) == 1:
        return f"the only object of `{where}` is `{objects[0]}`"
    return f"the objects of `{where}` are {_list(objects)}"


def _is_bare_id(e: A.Expr) -> bool:
    return isinstance(e, A.Name) and e.id == "id"


def _boundary(t: Term2) -> str:
    return f"{free.render(t.source)} => {free.render(t.target)}"


def _parallel_hint(lt: Path, rt: Path) -> str:
    """A hint for two 1-cells that are not parallel, when one is the other reversed."""
    if (lt.dom, lt.cod) == (rt.cod, rt.dom):
        return "the two sides run in opposite directions"
    return ""


def _text(e: A.Expr) -> str:
    return printer.expr(e)


def _operand(e: A.Expr) -> str:
    """An expression's text as one operand of a composite (parenthesized if it is one)."""
    text = _text(e)
    return f"({text})" if printer.precedence(e) <= printer.precedence(A.Compose(())) else text


def _composite(parts: list[A.Expr], diagrammatic: bool) -> str:
    """The text of a composite of `parts` (applicative order), in the spelling the user chose."""
    texts = [_operand(x) for x in parts]
    return " >> ".join(reversed(texts)) if diagrammatic else " . ".join(texts)


def _cover(spans: list[Span]) -> Span:
    """The smallest span covering all of `spans` (which may come in any order)."""
    first = min(spans, key=lambda s: (s.line, s.column))
    last = max(spans, key=lambda s: (s.end_line, s.end_column))
    return first.to(last)


def _cat(ref) -> str:
    return ref if isinstance(ref, str) else ref.name


def _list(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _kinds(*groups: tuple[str, list[str]]) -> str:
    """`objects `A`, `B` and generator `f``: names grouped under their kind."""
    parts = [f"{kind}{'s' if len(names) > 1 else ''} " + ", ".join(f"`{n}`" for n in names)
             for kind, names in groups if names]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# Imports: how deep they may nest, and how large a file may be — the file named on the command
# line and each import alike (`--max-file-size`). Parsing is what a large file costs: lark reads
# about 30,000 tokens a second here, so a dense 256 KiB file (a literal matrix of 100,000 entries)
# parses in about 4 s and ordinary code of that size in well under one.
MAX_IMPORT_DEPTH = 64
MAX_FILE_BYTES = 256 * 1024
MAX_IMPORT_BYTES = MAX_FILE_BYTES


def elaborate(tree: A.SourceFile, file: str, text: str | None = None,
              import_root: str | None = None, max_bytes: int | None = None) -> Module:
    """Elaborate a parsed file; raise `DiagnosticError` with every static error found. Imports
    are read only under `import_root` (default: the file's folder), each of at most `max_bytes`."""
    el = Elaborator()
    el.max_bytes = max_bytes or MAX_FILE_BYTES
    if file != "<input>":
        el.root = FilePath(import_root or FilePath(file).parent).resolve()
    if text is not None:
        el.scope.sources[file] = text
    el.file(tree, file)
    if el.diagnostics:
        err = DiagnosticError(el.diagnostics)
        err.sources = el.scope.sources  # type: ignore[attr-defined]
        raise err
    s = el.scope
    return Module(file, tuple(s.params), s.presentations, s.functors, s.transformations,
                  tuple(s.declarations), tuple(s.checks), s.sources, s.sweeps, tuple(s.analyses),
                  s.adjunctions, s.monads)


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
