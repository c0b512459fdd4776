"""Discharge the catalogue's laws in the symbolic categories: the checker's view of them.

The registry names `Vect`, `FinSet`, `Smooth` and `Paths` resolve to the classes below: the
categories of this package plus two hooks the checker calls, `validate(module)` (values that
do not type-check are E3xx diagnostics, exit 2) and `discharge(law, ref, options)`.
A functor out of a presentation is interpreted once per module: objects and generators to
values, pullbacks left unmapped computed; each law then compares two interpreted composites.
"""

from __future__ import annotations

from catdsl.backend import BackendError, SemanticRef
from catdsl.diagnostics import Diagnostic
from catdsl.laws.catalogue import Law
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free
from catdsl.semantics.module import Cell, Horizontal, Id2, Module, Vertical

from backends.symbolic import finset, paths, smooth, vect
from backends.symbolic.build import Env
from backends.symbolic.check import Check


class _Interpretation:
    """A functor's images in its target category: objects, generators, 2-cells."""

    def __init__(self, module: Module, fname: str):
        F = module.functors[fname]
        self.F = F
        self.cat = _category(F.target)
        self.env = Env.of_params(*module.params)
        self.generic = None
        if F.definition is not None:
            raise BackendError("E312", f"`{F.target.name}` has no built-in functors; define "
                               f"`{F.name}` by its mappings", F.definition.span,
                               hints=("write `functor F : C -> Vect { A |-> R^2; f |-> [[1, 0]] }`",))
        if isinstance(F.source, SemanticRef):
            if not F.rules:
                raise BackendError("E312", f"`{F.name}` has no rules", F.span,
                                   hints=("write `R^n |-> R^(2*n)` and `m |-> m (+) m`",))
            if F.source.name != F.target.name or not hasattr(self.cat, "functor"):
                raise BackendError("E312", "functors given by rules with pattern variables go from "
                                   f"Vect to Vect; `{F.source.name} -> {F.target.name}` is not supported",
                                   F.source.span.to(F.target.span))
            self.generic = self.cat.functor([_mapping(r) for r in F.rules], self.env, F.name)
            return
        p = module.presentations[F.source]
        self.presentation = p
        self.objects = {x: self.cat.object(img.expr, self.env) for x, img in F.objects.items()}
        self.arrows = {}
        for g in p.generators:
            img = F.arrows.get(g.name)
            if img is not None and g.dom in self.objects and g.cod in self.objects:
                self.arrows[g.name] = self.cat.morphism(img.expr, self.objects[g.dom],
                                                        self.objects[g.cod], self.env, name=g.name)
        self.computed = set()
        for pb in p.pullbacks:
            if pb.apex in self.objects or not hasattr(self.cat, "pullback"):
                continue
            apex, left, right = self.cat.pullback(self.path(pb.f), self.path(pb.g))
            self.objects[pb.apex] = apex
            self.arrows.setdefault(pb.left, left)
            self.arrows.setdefault(pb.right, right)
            self.computed.add(pb.apex)
        self.cells = {}
        for c in p.cells:
            img = F.cells.get(c.name)
            if img is not None:
                self.cells[c.name] = self.cat.two_cell(img.expr, self.path(c.source), self.path(c.target),
                                                       self.env, name=c.name)

    def path(self, p: free.Path):
        if not p.word:
            return self.cat.identity(self.objects[p.dom])
        acc = self.arrows[p.word[0]]
        for g in p.word[1:]:
            acc = self.cat.compose(self.arrows[g], acc)
        return acc

    def cell(self, t):
        match t:
            case Cell(name=n):
                return self.cells[n]
            case Id2(path=p):
                return self.cat.identity_cell(self.path(p))
            case Vertical(second=b, first=a):
                return self.cat.vertical(self.cell(b), self.cell(a))
            case Horizontal(outer=b, inner=a):
                return self.cat.horizontal(self.cell(b), self.cell(a))
        raise TypeError(t)


def _mapping(rule):
    from catdsl.syntax import ast as A

    return A.Mapping(rule.pattern, rule.image, span=rule.span)


def _category(ref: SemanticRef):
    return {"Vect": Vect, "FinSet": FinSet, "Smooth": Smooth, "Paths": Paths}[ref.name](ref)


def interpretation(module: Module, fname: str) -> _Interpretation:
    key = ("symbolic", fname)
    if key not in module.memo:
        module.memo[key] = _Interpretation(module, fname)
    return module.memo[key]


def _how(options, module: Module, law: Law) -> Check:
    how = Check(samples=options.samples, tol=options.tol, seed=options.seed)
    for chk in module.checks:
        names = {getattr(t, "id", None) or ".".join(getattr(t, "parts", ())) for t in chk.targets}
        if any(law.name.startswith(n) for n in names if n):
            how = Check.from_options(chk.options, how)
    return how


def validate(module: Module) -> list[Diagnostic]:
    """Interpret every functor into a symbolic category; report values that do not type-check."""
    found = []
    for F in module.functors.values():
        if isinstance(F.target, SemanticRef) and F.target.name in _CATEGORIES:
            try:
                interpretation(module, F.name)
            except BackendError as e:
                found.append(_located(e, F.span))
    for t in module.transformations.values():
        F = module.functors[t.source]
        if isinstance(F.target, SemanticRef) and F.target.name in _CATEGORIES:
            try:
                _components(module, t)
            except BackendError as e:
                found.append(_located(e, t.span))
            except KeyError:
                pass
    return found


def _located(e: BackendError, fallback) -> Diagnostic:
    """The error as a diagnostic; one raised without a place points at its declaration."""
    span = e.span if e.span is not None and e.span.line >= 1 else fallback
    return Diagnostic(e.code, e.message, span, hints=tuple(e.hints))


def _components(module: Module, t):
    F, G = interpretation(module, t.source), interpretation(module, t.target)
    if F.generic is not None:
        if not t.rules:
            raise BackendError("E312", f"transformation `{t.name}` has no component rule", t.span,
                               hints=("write one rule for every object: `R^n |-> I(n)`",))
        return F.cat.transformation(F.generic, G.generic, [_mapping(r) for r in t.rules], F.env, t.name)
    return {x: F.cat.morphism(img.expr, F.objects[x], G.objects[x], F.env, name=f"{t.name}[{x}]")
            for x, img in t.components.items()}


def discharge(law: Law, ref: SemanticRef, options) -> Verdict:
    module: Module = law.context["module"]
    how = _how(options, module, law)
    if law.kind == "naturality.generic":
        return _components(module, module.transformations[law.context["transformation"]]).naturality(how)
    if law.kind == "naturality":
        t = module.transformations[law.context["transformation"]]
        F, G = interpretation(module, t.source), interpretation(module, t.target)
        eta = _components(module, t)
        g = law.lhs
        lhs = F.cat.compose(G.arrows[g.name], eta[g.dom])
        rhs = F.cat.compose(eta[g.cod], F.arrows[g.name])
        return F.cat.equal(lhs, rhs, how)
    I = interpretation(module, law.context["functor"])
    if I.generic is not None:
        return {"map_id": I.generic.map_id, "map_comp": I.generic.map_comp}[law.kind](how)
    if law.kind in ("map_id", "map_comp"):
        # a functor out of a presentation is its free extension from the generators
        return Verdict("proved", "definition")
    if law.kind == "respects":
        if isinstance(law.lhs, free.Path):
            return I.cat.equal(I.path(law.lhs), I.path(law.rhs), how)
        return I.cat.equal(I.cell(law.lhs), I.cell(law.rhs), how)
    if law.kind == "boundary":
        cell, side = law.lhs, law.rhs
        sides = I.cat.boundary_laws(I.cells[cell.name], how, cell.name, free.render(cell.source),
                                    free.render(cell.target))
        return sides[side]
    if law.kind == "interchange":
        return I.cat.equal(I.cell(law.lhs), I.cell(law.rhs), how)
    if law.kind == "pullback.universal":
        pb = law.lhs  # a computed pullback is checked like a given one: trust nothing
        return I.cat.universal(I.objects[pb.apex], I.arrows[pb.left], I.arrows[pb.right],
                               I.path(pb.f), I.path(pb.g), how)
    if law.kind == "endpoints":
        return I.cat.endpoints(I.arrows[law.lhs], how, law.lhs)
    if law.kind == "low_loss":
        x = I.cells[law.lhs] if law.lhs in I.cells else I.arrows[law.lhs]
        return I.cat.low_loss(x, how, law.lhs)
    return Verdict("unknown", ref.name, witness=f"{law.kind} is not decided in {ref.name}")


def laws(module: Module, F) -> list[Law]:
    """Laws of the Paths 2-category beyond the catalogue's: endpoints and the low-loss condition."""
    if isinstance(F.source, SemanticRef) or F.target.name != "Paths":
        return []
    p = module.presentations[F.source]
    ctx = {"functor": F.name, "module": module}
    out = []
    for g in p.generators:
        img = F.arrows.get(g.name)
        if img is not None:
            out.append(Law(f"{F.name}.endpoints[{g.name}]", "endpoints", img.span, g.name, None, ctx))
    if F.target.kwarg("loss") is not None:
        for name, img in [*F.arrows.items(), *F.cells.items()]:
            out.append(Law(f"{F.name}.low_loss[{name}]", "low_loss", img.span, name, None, ctx))
    return out


def _hooks(base):
    """The category `base` with the checker's hooks attached."""
    return type(base.__name__, (base,), {
        "validate": staticmethod(validate), "discharge": staticmethod(discharge),
        "laws": staticmethod(laws), "__module__": __name__,
    })


Vect = _hooks(vect.Vect)
FinSet = _hooks(finset.FinSet)
Smooth = _hooks(smooth.Smooth)
Paths = _hooks(paths.Paths)
_CATEGORIES = {"Vect", "FinSet", "Smooth", "Paths"}
