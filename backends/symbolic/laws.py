"""Discharge laws in the symbolic categories: the checker's view of Vect, FinSet, Smooth, Paths.

The registry names `Vect`, `FinSet`, `Smooth` and `Paths` resolve to the classes below: the
categories of this package plus what the checker asks of a registered category:
`validate(module)` (values that do not type-check are E3xx diagnostics, exit 2), `laws(module,
F)` (laws beyond the catalogue's: Paths' endpoints and low loss) and `discharges`, the table
`{law type: discharge function}`.

A functor out of a presentation is interpreted once per module: objects and generators to
values, pullbacks left unmapped computed; each law then compares two interpreted composites
(`catdsl.semantics.interpret`). A capability the target lacks (2-cells in Vect, pullbacks in
Smooth) is E315 at the declaration that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.backend import (
    BackendError, HasFiniteLimits, HasGenericFunctors, HasPullbacks, HasPushouts, HasTwoCellValues, SemanticRef,
)
from catdsl.diagnostics import Diagnostic
from catdsl.laws.category import (
    GenericMapComp, GenericMapId, GenericNaturality, MapComp, MapId, Naturality, Respects,
)
from catdsl.laws.law import FunctorLaw
from catdsl.laws.limits import (
    EqualizerUniversal, ProductUniversal, PullbackUniversal, PushoutUniversal, TerminalUniversal,
)
from catdsl.laws.two_category import Boundary, Interchange
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free
from catdsl.semantics.interpret import Images, interpret
from catdsl.semantics.module import Module

from backends.symbolic import finset, generic, paths, smooth
from backends.symbolic.build import Env, limits
from backends.symbolic.check import Check


# ---- the theory of Paths beyond a 2-category's -------------------------------------------------


@dataclass(frozen=True)
class Endpoints(FunctorLaw):
    """F(g) starts at F(dom g) and ends at F(cod g)."""

    generator: str
    kind = "endpoints"
    template = "{functor}.endpoints[{generator}]"


@dataclass(frozen=True)
class LowLoss(FunctorLaw):
    """The path or homotopy F(x) stays at or below the level of `Paths(loss = …, level = …)`."""

    image: str
    kind = "low_loss"
    template = "{functor}.low_loss[{image}]"


# ---- interpretation ----------------------------------------------------------------------------


def _lacks(what: str, cat_name: str, span, hint: str = "") -> BackendError:
    return BackendError("E315", f"`{cat_name}` has no {what}", span, hints=(hint,) if hint else ())


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
            if F.source.name != F.target.name or not isinstance(self.cat, HasGenericFunctors):
                raise BackendError("E312", "functors given by rules with pattern variables go from "
                                   f"Vect to Vect; `{F.source.name} -> {F.target.name}` is not supported",
                                   F.source.span.to(F.target.span))
            self.generic = self.cat.functor([_mapping(r) for r in F.rules], self.env, F.name)
            return
        p = module.presentations[F.source]
        self.presentation = p
        if F.outer:
            self._compose(module, F)
            return
        self.objects = {x: self.cat.object(img.expr, self.env) for x, img in F.objects.items()}
        self.arrows = {}
        self.computed = set()
        # Generators are read once both ends are known, and unmapped pullbacks computed once their
        # cospans are: a generator into or out of a computed apex waits for the apex, and a
        # pullback of arrows out of another computed apex for those arrows.
        waiting = [g for g in p.generators if g.name in F.arrows]
        pending = [pb for pb in p.pullbacks if pb.apex not in self.objects]
        pushouts = [po for po in p.pushouts if po.apex not in self.objects]
        while True:
            ready = [g for g in waiting if g.dom in self.objects and g.cod in self.objects]
            for g in ready:
                self.arrows[g.name] = self.cat.morphism(F.arrows[g.name].expr, self.objects[g.dom],
                                                        self.objects[g.cod], self.env, name=g.name)
            waiting = [g for g in waiting if g not in ready]
            computable = [pb for pb in pending if all(x in self.arrows for x in (*pb.f.word, *pb.g.word))
                          and pb.f.dom in self.objects and pb.g.dom in self.objects]
            for pb in computable:
                if not isinstance(self.cat, HasPullbacks):
                    raise _lacks("pullbacks it can compute", F.target.name, F.span,
                                 f"map the pullback `{pb.apex}` and its projections explicitly")
                apex, left, right = self.cat.pullback(self.path(pb.f), self.path(pb.g))
                self.objects[pb.apex] = apex
                self.arrows.setdefault(pb.left, left)
                self.arrows.setdefault(pb.right, right)
                self.computed.add(pb.apex)
            pending = [pb for pb in pending if pb not in computable]
            colimits = _computed_pushouts(self, pushouts)
            pushouts = [po for po in pushouts if po not in colimits]
            if not ready and not computable and not colimits:
                break
        self.cells = {}
        for c in p.cells:
            img = F.cells.get(c.name)
            if img is None:
                continue
            if not isinstance(self.cat, HasTwoCellValues):
                raise _lacks(f"2-cells: `{c.name}` cannot be sent into it", F.target.name, img.span,
                             "a 1-category has no 2-cells; map the 2-cells into `Paths(…)` or a "
                             "presented 2-category")
            self.cells[c.name] = self.cat.two_cell(img.expr, self.path(c.source), self.path(c.target),
                                                   self.env, name=c.name)
        self.images = Images(self.cat, self.objects, self.arrows, self.cells)

    def _compose(self, module: Module, F) -> None:
        """`G . F` into this category: F's images (paths and 2-cell terms of a presentation)
        sent on by G's interpretation."""
        G = interpretation(module, F.outer)
        self.objects = {x: G.objects[img.value] for x, img in F.objects.items()}
        self.arrows = {g: G.path(img.value) for g, img in F.arrows.items()}
        self.cells = {c: G.term(img.value) for c, img in F.cells.items()}
        self.computed = set()
        self.images = Images(self.cat, self.objects, self.arrows, self.cells)

    def path(self, p: free.Path):
        return interpret(Images(self.cat, self.objects, self.arrows), p)

    def term(self, t):
        return interpret(self.images, t)


def _computed_pushouts(I: _Interpretation, pending: list) -> list:
    """Compute the unmapped pushouts of `pending` whose spans are known (dual to the pullback
    loop of `_Interpretation`); the ones computed."""
    done = [po for po in pending if all(x in I.arrows for x in (*po.f.word, *po.g.word))
            and all(x in I.objects for x in (po.f.dom, po.f.cod, po.g.cod))]
    for po in done:
        if not isinstance(I.cat, HasPushouts):
            raise _lacks("pushouts it can compute", I.F.target.name, I.F.span,
                         f"map the pushout `{po.apex}` and its injections explicitly")
        apex, left, right = I.cat.pushout(I.path(po.f), I.path(po.g))
        I.objects[po.apex] = apex
        I.arrows.setdefault(po.left, left)
        I.arrows.setdefault(po.right, right)
        I.computed.add(po.apex)
    return done


def _mapping(rule):
    from catdsl.syntax import ast as A

    return A.Mapping(rule.pattern, rule.image, span=rule.span)


def _category(ref: SemanticRef):
    return {"Vect": Vect, "FinSet": FinSet, "Smooth": Smooth, "Paths": Paths}[ref.name](ref)


def interpretation(module: Module, fname: str) -> _Interpretation:
    key = ("symbolic", fname)
    if key not in module.memo:
        with limits(module.memo.get("limits")):
            module.memo[key] = _Interpretation(module, fname)
    return module.memo[key]


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
    eta = {x: F.cat.morphism(img.expr, F.objects[x], G.objects[x], F.env, name=f"{t.name}[{x}]")
           for x, img in t.components.items()}
    for pb in F.presentation.pullbacks:
        if pb.apex not in eta and pb.apex in F.computed and pb.apex in G.computed:
            # the component at a computed pullback is the mediating map of the cone
            # (F P, η_A . F p, η_B . F q) over G's cospan: naturality at p and q holds by construction
            a, b = pb.f.dom, pb.g.dom
            if a in eta and b in eta:
                eta[pb.apex] = F.cat.mediate(G.objects[pb.apex], G.arrows[pb.left], G.arrows[pb.right],
                                             F.cat.compose(eta[a], F.arrows[pb.left]),
                                             F.cat.compose(eta[b], F.arrows[pb.right]))
    for po in F.presentation.pushouts:
        if po.apex not in eta and po.apex in F.computed and po.apex in G.computed:
            # dually, the comediating map of the cocone (G Q, G i . η_A, G j . η_B) under F's span
            a, b = po.f.cod, po.g.cod
            if a in eta and b in eta:
                eta[po.apex] = F.cat.comediate(F.objects[po.apex], F.arrows[po.left], F.arrows[po.right],
                                               F.cat.compose(G.arrows[po.left], eta[a]),
                                               F.cat.compose(G.arrows[po.right], eta[b]))
    return eta


# ---- discharge, one function per law kind ------------------------------------------------------


def _how(ctx) -> Check:
    o = ctx.options
    return Check(samples=o.samples, tol=o.tol, seed=o.seed)


def _of(law: FunctorLaw, ctx) -> _Interpretation:
    return interpretation(ctx.module, law.functor)


def _by_definition(law, ctx) -> Verdict:
    # a functor out of a presentation is its free extension from the generators
    return Verdict("proved", "definition")


def _generic(law, ctx) -> Verdict:
    g = _of(law, ctx).generic
    return (g.map_id if isinstance(law, GenericMapId) else g.map_comp)(_how(ctx))


def _generic_naturality(law: GenericNaturality, ctx) -> Verdict:
    return _components(ctx.module, ctx.module.transformations[law.transformation]).naturality(_how(ctx))


def _naturality(law: Naturality, ctx) -> Verdict:
    t = ctx.module.transformations[law.transformation]
    F, G = interpretation(ctx.module, t.source), interpretation(ctx.module, t.target)
    eta = _components(ctx.module, t)
    g = law.generator
    lhs = F.cat.compose(G.arrows[g.name], eta[g.dom])
    rhs = F.cat.compose(eta[g.cod], F.arrows[g.name])
    return F.cat.equal(lhs, rhs, _how(ctx))


def _respects(law: Respects, ctx) -> Verdict:
    I = _of(law, ctx)
    return I.cat.equal(I.term(law.equation.lhs), I.term(law.equation.rhs), _how(ctx))


def _boundary(law: Boundary, ctx) -> Verdict:
    I, cell = _of(law, ctx), law.cell
    sides = I.cat.boundary_laws(I.cells[cell.name], _how(ctx), cell.name, free.render(cell.source),
                                free.render(cell.target))
    return sides[law.side]


def _interchange(law: Interchange, ctx) -> Verdict:
    I = _of(law, ctx)
    return I.cat.equal(I.term(law.lhs), I.term(law.rhs), _how(ctx))


def _universal(law: PullbackUniversal, ctx) -> Verdict:
    I, pb = _of(law, ctx), law.pullback  # a computed pullback is checked like a given one: trust nothing
    return I.cat.universal(I.objects[pb.apex], I.arrows[pb.left], I.arrows[pb.right],
                           I.path(pb.f), I.path(pb.g), _how(ctx))


def _couniversal(law: PushoutUniversal, ctx) -> Verdict:
    I, po = _of(law, ctx), law.pushout  # a computed pushout is checked like a given one
    if not isinstance(I.cat, HasPushouts):
        raise _lacks("pushouts", I.F.target.name, po.span)
    return I.cat.couniversal(I.objects[po.apex], I.arrows[po.left], I.arrows[po.right],
                             I.path(po.f), I.path(po.g), _how(ctx))


def _endpoints(law: Endpoints, ctx) -> Verdict:
    I = _of(law, ctx)
    return I.cat.endpoints(I.arrows[law.generator], _how(ctx), law.generator)


def _low_loss(law: LowLoss, ctx) -> Verdict:
    I = _of(law, ctx)
    x = I.cells[law.image] if law.image in I.cells else I.arrows[law.image]
    return I.cat.low_loss(x, _how(ctx), law.image)


def _limits(I, law, ctx) -> Verdict:
    if not isinstance(I.cat, HasFiniteLimits):
        return Verdict("unknown", ctx.target.name, witness=f"{ctx.target.name} has no {law.kind.split('.')[0]}s here")
    return None


def _product(law: ProductUniversal, ctx) -> Verdict:
    I, pr = _of(law, ctx), law.product
    lacking = _limits(I, law, ctx)
    if lacking is not None:
        return lacking
    bang = I.cat.to_terminal  # a product is a pullback over the terminal object
    return I.cat.universal(I.objects[pr.apex], I.arrows[pr.left], I.arrows[pr.right],
                           bang(I.objects[pr.a]), bang(I.objects[pr.b]), _how(ctx))


def _equalizer(law: EqualizerUniversal, ctx) -> Verdict:
    I, eq = _of(law, ctx), law.equalizer
    lacking = _limits(I, law, ctx)
    if lacking is not None:
        return lacking
    return I.cat.equalizer_universal(I.objects[eq.apex], I.arrows[eq.map], I.path(eq.f), I.path(eq.g), _how(ctx))


def _terminal(law: TerminalUniversal, ctx) -> Verdict:
    I = _of(law, ctx)
    lacking = _limits(I, law, ctx)
    if lacking is not None:
        return lacking
    return I.cat.is_terminal(I.objects[law.obj])


DISCHARGES = {
    ProductUniversal: _product,
    EqualizerUniversal: _equalizer,
    TerminalUniversal: _terminal,
    MapId: _by_definition,
    MapComp: _by_definition,
    GenericMapId: _generic,
    GenericMapComp: _generic,
    GenericNaturality: _generic_naturality,
    Naturality: _naturality,
    Respects: _respects,
    PullbackUniversal: _universal,
    PushoutUniversal: _couniversal,
}
TWO_CELLS = {Boundary: _boundary, Interchange: _interchange}
PATHS = {**DISCHARGES, **TWO_CELLS, Endpoints: _endpoints, LowLoss: _low_loss}


def laws(module: Module, F) -> list[FunctorLaw]:
    """Laws of the Paths 2-category beyond the catalogue's: endpoints and the low-loss condition."""
    if isinstance(F.source, SemanticRef) or F.target.name != "Paths":
        return []
    p = module.presentations[F.source]
    out: list[FunctorLaw] = [Endpoints(F.name, g.name, span=F.arrows[g.name].span)
                             for g in p.generators if g.name in F.arrows]
    if F.target.kwarg("loss") is not None:
        out += [LowLoss(F.name, name, span=img.span) for name, img in [*F.arrows.items(), *F.cells.items()]]
    return out


def _hooks(base, discharges):
    """The category `base` with the checker's hooks attached."""
    return type(base.__name__, (base,), {
        "validate": staticmethod(validate), "laws": staticmethod(laws), "discharges": discharges,
        "__module__": __name__,
    })


Vect = _hooks(generic.Vect, DISCHARGES)
FinSet = _hooks(finset.FinSet, DISCHARGES)
Smooth = _hooks(smooth.Smooth, DISCHARGES)
Paths = _hooks(paths.Paths, PATHS)
_CATEGORIES = {"Vect", "FinSet", "Smooth", "Paths"}
