"""Discharge obligations: decide each law in its owner's target category, and time it.

Each target decides the law kinds it knows through a table `{law type: discharge function}`:
a presentation (the free category, decided here by Knuth–Bendix) through `FREE`, a semantic
category through the `discharges` table of its registered factory (found through the backend
registry, so this module never imports a backend). A kind a category has no entry for is
`unknown` with the reason, never a silent pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from catdsl import backend
from catdsl.laws.adjunction import (
    MonadAssociativity, MonadLeftUnit, MonadRightUnit, TriangleLeft, TriangleRight,
)
from catdsl.laws.category import MapComp, MapId, Naturality, Respects
from catdsl.laws.law import Law, target_of
from catdsl.laws.limits import (
    EqualizerUniversal, ProductUniversal, PullbackUniversal, PushoutUniversal, TerminalUniversal,
)
from catdsl.laws.options import LawOptions
from catdsl.laws.two_category import Boundary, Interchange
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free, free2
from catdsl.semantics.interpret import image_path, interpret, presented_images
from catdsl.semantics.module import Functor, Module


@dataclass(frozen=True)
class Context:
    """What a discharge function gets besides the law: the module, the owner's target and the
    options resolved for this law."""

    module: Module
    target: backend.SemanticRef | str
    options: LawOptions


Discharge = Callable[[Law, Context], Verdict]


@dataclass(frozen=True)
class Result:
    law: Law
    verdict: Verdict
    seconds: float


def discharge(law: Law, module: Module, options: LawOptions = LawOptions()) -> Result:
    start = time.perf_counter()
    try:
        verdict = _decide(law, module, options)
    except backend.BackendError as e:
        verdict = Verdict("error", "backend", witness=f"{e.span}: {e.message}")
    return Result(law, verdict, time.perf_counter() - start)


def table_of(target) -> tuple[str, Mapping[type, Discharge]]:
    """The discharge table of a target: the free category's, or a semantic category's."""
    if isinstance(target, str):
        return "knuth-bendix", FREE
    return target.name, getattr(backend.load(target.name), "discharges", {})


def _decide(law: Law, module: Module, options: LawOptions) -> Verdict:
    target = target_of(module, law)
    via, table = table_of(target)
    decide = next((table[t] for t in type(law).__mro__ if t in table), None)
    if decide is None:
        where = target if isinstance(target, str) else target.name
        return Verdict("unknown", via, witness=f"{law.kind} is not decided in {where} yet")
    return decide(law, Context(module, target, options))


# ---- the free category on a presentation --------------------------------------------------------


def _system(ctx: Context) -> free.RewriteSystem:
    return ctx.module.presentations[ctx.target].rewrite_system


def _by_definition(law: Law, ctx: Context) -> Verdict:
    # A functor out of a presentation is defined on generators and extended freely, so
    # identities and composites are preserved by construction; interchange is an axiom of
    # every 2-category, the presented one included.
    return Verdict("proved", "definition")


def _typed(law: Law, ctx: Context) -> Verdict:
    # elaboration typed the image 2-cell's source and target as F(p) => F(q)
    return Verdict("proved", "typing")


def _respects(law: Respects, ctx: Context) -> Verdict:
    F: Functor = ctx.module.functors[law.functor]
    eq = law.equation
    if not isinstance(eq.lhs, free.Path):
        return _decide_cells(ctx, interpret(presented_images(F), eq.lhs),
                             interpret(presented_images(F), eq.rhs))
    return _decide_paths(_system(ctx), image_path(F, eq.lhs), image_path(F, eq.rhs))


def _naturality(law: Naturality, ctx: Context) -> Verdict:
    m = ctx.module
    t = m.transformations[law.transformation]
    F, G = m.functors[t.source], m.functors[t.target]
    g = law.generator
    if g.dom not in t.components or g.cod not in t.components:
        return Verdict("unknown", "knuth-bendix", witness="a component is computed, not given")
    lhs = free.compose(G.arrows[g.name].value, t.components[g.dom].value)
    rhs = free.compose(t.components[g.cod].value, F.arrows[g.name].value)
    return _decide_paths(_system(ctx), lhs, rhs)


def _same(system: free.RewriteSystem, a: free.Path, b: free.Path) -> bool:
    """Parallel paths equal modulo the target's equations."""
    return (a.dom, a.cod) == (b.dom, b.cod) and free.decide(system, a, b).status == "proved"


def _declared_pullback(law: PullbackUniversal, ctx: Context) -> Verdict:
    return _declared_cone(law.functor, law.pullback, "pullback", ctx)


def _declared_pushout(law: PushoutUniversal, ctx: Context) -> Verdict:
    return _declared_cone(law.functor, law.pushout, "pushout", ctx)


def _declared_cone(functor: str, cone, what: str, ctx: Context) -> Verdict:
    """A presentation has no limits or colimits but those it declares: F's (co)cone is universal
    when F sends it onto a pullback (pushout) the target declares — same apex, legs and
    (co)span modulo equations, read either way round (swapping the legs of a pullback gives a
    pullback of the swapped cospan, and dually)."""
    m, system = ctx.module, _system(ctx)
    F: Functor = m.functors[functor]
    target = m.presentations[F.target]
    apex = F.objects[cone.apex].value
    f, g = image_path(F, cone.f), image_path(F, cone.g)
    left, right = F.arrows[cone.left].value, F.arrows[cone.right].value
    declared = target.pullbacks if what == "pullback" else target.pushouts
    for q in declared:
        if q.apex != apex:
            continue
        ql = free.generator_path(target.generator[q.left])
        qr = free.generator_path(target.generator[q.right])
        for pairs in ([(left, ql), (right, qr), (f, q.f), (g, q.g)],
                      [(left, qr), (right, ql), (f, q.g), (g, q.f)]):
            if all(_same(system, a, b) for a, b in pairs):
                return Verdict("proved", "declaration",
                               witness=f"{cone.apex} goes to the {what} {q.apex} that {target.name} declares")
    return Verdict("unknown", "knuth-bendix",
                   witness=f"{target.name} declares no {what} that F({cone.apex}) is; a presentation "
                           "has no other universal properties")


def _decide_cells(ctx: Context, lhs, rhs) -> Verdict:
    """Two 2-cell terms of the target presentation: equal in the 2-category it presents
    (interchange and the declared 2-cell equations, `catdsl.semantics.free2`)."""
    target = ctx.module.presentations[ctx.target]
    free_1cells = not any(e.dimension == 1 for e in target.equations)
    key = ("computad", target.name)
    if key not in ctx.module.memo:  # the 2-cells with the 2-cell equations as rewrite rules
        ctx.module.memo[key] = free2.Computad(
            target.cells, [(e.name, e.lhs, e.rhs) for e in target.equations if e.dimension == 2])
    c = ctx.module.memo[key]
    d = free2.decide2(c, lhs, rhs, free_1cells=free_1cells)
    if d.status == "refuted":
        return Verdict("refuted", "rewriting", witness=f"{d.reason}: `{c.render(d.lhs_normal)}` vs "
                       f"`{c.render(d.rhs_normal)}`")
    return Verdict(d.status, "rewriting", witness=None if d.status == "proved" else d.reason)


def _decide_paths(system: free.RewriteSystem, lhs: free.Path, rhs: free.Path) -> Verdict:
    d = free.decide(system, lhs, rhs)
    if d.status == "proved":
        return Verdict("proved", "knuth-bendix")
    if d.status == "refuted":
        return Verdict("refuted", "knuth-bendix",
                       witness=f"normal forms differ: `{free.render(d.lhs_normal)}` vs "
                               f"`{free.render(d.rhs_normal)}`")
    return Verdict("unknown", "knuth-bendix", witness=d.reason)


def _component(module: Module, name: str, obj: str) -> free.Path:
    return module.transformations[name].components[obj].value


def _image(module: Module, functor: str, path: free.Path) -> free.Path:
    return image_path(module.functors[functor], path)


def _triangle(law, ctx: Context) -> Verdict:
    """ε_{F X} . F(η_X) = id_{F X} (left) or G(ε_Y) . η_{G Y} = id_{G Y} (right), in the
    presentation the composite lives in."""
    m, adj = ctx.module, ctx.module.adjunctions[law.owner_name]
    F, G = m.functors[adj.left], m.functors[adj.right]
    if isinstance(law, TriangleLeft):
        fx = F.objects[law.obj].value
        lhs = free.compose(_component(m, adj.counit, fx), _image(m, adj.left, _component(m, adj.unit, law.obj)))
        return _decide_paths(_system(ctx), lhs, free.identity(fx))
    gy = G.objects[law.obj].value
    lhs = free.compose(_image(m, adj.right, _component(m, adj.counit, law.obj)), _component(m, adj.unit, gy))
    return _decide_paths(_system(ctx), lhs, free.identity(gy))


def _monad(law, ctx: Context) -> Verdict:
    m, monad = ctx.module, ctx.module.monads[law.owner_name]
    T = m.functors[monad.functor]
    x = law.obj
    tx = T.objects[x].value
    mu, eta = (lambda y: _component(m, monad.mult, y)), (lambda y: _component(m, monad.unit, y))  # noqa: E731
    if isinstance(law, MonadAssociativity):
        lhs = free.compose(mu(x), _image(m, monad.functor, mu(x)))
        rhs = free.compose(mu(x), mu(tx))
    elif isinstance(law, MonadLeftUnit):
        lhs, rhs = free.compose(mu(x), _image(m, monad.functor, eta(x))), free.identity(tx)
    else:
        lhs, rhs = free.compose(mu(x), eta(tx)), free.identity(tx)
    return _decide_paths(_system(ctx), lhs, rhs)


def _declared_limit(law, ctx: Context) -> Verdict:
    """A product, equalizer or terminal object of a presentation goes to one its target declares
    (products and equalizers in either order of their factors); a presentation has no others."""
    m, system = ctx.module, _system(ctx)
    F: Functor = m.functors[law.functor]
    target = m.presentations[F.target]
    same = lambda a, b: _same(system, a, b)  # noqa: E731
    gen = lambda name: free.generator_path(target.generator[name])  # noqa: E731
    obj = lambda x: F.objects[x].value  # noqa: E731
    arrow = lambda x: F.arrows[x].value  # noqa: E731
    if isinstance(law, TerminalUniversal):
        found = obj(law.obj) in target.terminals
        what = f"{obj(law.obj)} is a terminal object {target.name} declares"
    elif isinstance(law, ProductUniversal):
        pr = law.product
        found = any(q.apex == obj(pr.apex) and any(
            (obj(pr.a), obj(pr.b)) == (qa, qb) and same(arrow(pr.left), gen(ql)) and same(arrow(pr.right), gen(qr))
            for qa, qb, ql, qr in ((q.a, q.b, q.left, q.right), (q.b, q.a, q.right, q.left)))
            for q in target.products)
        what = f"{obj(pr.apex)} is a product {target.name} declares"
    else:
        eq = law.equalizer
        f, g = image_path(F, eq.f), image_path(F, eq.g)
        found = any(q.apex == obj(eq.apex) and same(arrow(eq.map), gen(q.map)) and (
            (same(f, q.f) and same(g, q.g)) or (same(f, q.g) and same(g, q.f))) for q in target.equalizers)
        what = f"{obj(eq.apex)} is an equalizer {target.name} declares"
    if found:
        return Verdict("proved", "declaration", witness=what)
    return Verdict("unknown", "knuth-bendix",
                   witness=f"{target.name} declares no such {law.kind.split('.')[0]}; a presentation "
                           "has no other universal properties")


FREE: Mapping[type, Discharge] = {
    ProductUniversal: _declared_limit,
    EqualizerUniversal: _declared_limit,
    TerminalUniversal: _declared_limit,
    TriangleLeft: _triangle,
    TriangleRight: _triangle,
    MonadAssociativity: _monad,
    MonadLeftUnit: _monad,
    MonadRightUnit: _monad,
    MapId: _by_definition,
    MapComp: _by_definition,
    Interchange: _by_definition,
    Boundary: _typed,
    Respects: _respects,
    Naturality: _naturality,
    PullbackUniversal: _declared_pullback,
    PushoutUniversal: _declared_pushout,
}
