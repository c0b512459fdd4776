"""Discharge obligations: decide each `Law` and time it.

Laws into a presentation are decided in the free category (Knuth–Bendix, catdsl.semantics.free).
Laws into a semantic category go to that category's `discharge(law, options)`, found through
the backend registry, so this module never imports a backend itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from catdsl import backend
from catdsl.laws.catalogue import Law, image_path
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free
from catdsl.semantics.module import Functor, Module


@dataclass(frozen=True)
class Options:
    """Effort and reproducibility of a check run (`--seed`, `--samples`, `with …`)."""

    seed: int = 0
    samples: int = 200
    tol: float = 1e-9
    store: str | None = None  # the run store directory (default: .catdsl/ beside the file)


@dataclass(frozen=True)
class Result:
    law: Law
    verdict: Verdict
    seconds: float


def discharge(law: Law, options: Options = Options()) -> Result:
    start = time.perf_counter()
    try:
        verdict = _decide(law, options)
    except backend.BackendError as e:
        verdict = Verdict("error", "backend", witness=f"{e.span}: {e.message}")
    return Result(law, verdict, time.perf_counter() - start)


def _target(law: Law):
    m: Module = law.context["module"]
    if "functor" in law.context:
        return m, m.functors[law.context["functor"]].target
    t = m.transformations[law.context["transformation"]]
    return m, m.functors[t.source].target


def _decide(law: Law, options: Options) -> Verdict:
    m, target = _target(law)
    if isinstance(target, str):
        return _decide_free(law, m, m.presentations[target].rewrite_system)
    factory = backend.load(target.name)
    hook = getattr(factory, "discharge", None)
    if hook is None:
        return Verdict("unknown", target.name, witness=f"{target.name} does not discharge laws yet")
    return hook(law, target, options)


def _decide_free(law: Law, m: Module, system: free.RewriteSystem) -> Verdict:
    kind = law.kind
    if kind in ("map_id", "map_comp"):
        # A functor out of a presentation is defined on generators and extended freely, so
        # identities and composites are preserved by construction.
        return Verdict("proved", "definition")
    if kind == "boundary":
        # elaboration typed the image 2-cell's source and target as F(p) => F(q)
        return Verdict("proved", "typing")
    if kind == "interchange":
        # interchange is an axiom of every 2-category, the presented one included
        return Verdict("proved", "definition")
    if kind == "pullback.universal":
        return _declared_pullback(law, m, system)
    if kind == "respects":
        F: Functor = m.functors[law.context["functor"]]
        if not isinstance(law.lhs, free.Path):
            return Verdict("unknown", "knuth-bendix",
                           witness="equations between 2-cells of a presented 2-category are not decided in v0")
        return _decide_paths(system, image_path(F, law.lhs), image_path(F, law.rhs))
    if kind == "naturality":
        t = m.transformations[law.context["transformation"]]
        F, G = m.functors[t.source], m.functors[t.target]
        g = law.lhs
        eta = lambda x: t.components[x].value  # noqa: E731
        if g.dom not in t.components or g.cod not in t.components:
            return Verdict("unknown", "knuth-bendix", witness="a component is computed, not given")
        lhs = free.compose(G.arrows[g.name].value, eta(g.dom))
        rhs = free.compose(eta(g.cod), F.arrows[g.name].value)
        return _decide_paths(system, lhs, rhs)
    return Verdict("unknown", "knuth-bendix",
                   witness=f"{kind} is not decided for presented categories in v0")


def _declared_pullback(law: Law, m: Module, system: free.RewriteSystem) -> Verdict:
    """A presentation has no limits but those it declares: F's cone is universal when F sends it
    onto a pullback the target declares (same apex, projections and cospan, modulo equations)."""
    F: Functor = m.functors[law.context["functor"]]
    pb = law.lhs
    target = m.presentations[F.target]
    apex = F.objects[pb.apex].value
    f, g = image_path(F, pb.f), image_path(F, pb.g)
    left, right = F.arrows[pb.left].value, F.arrows[pb.right].value
    for q in target.pullbacks:
        if q.apex != apex:
            continue
        ql = free.generator_path(target.generator[q.left])
        qr = free.generator_path(target.generator[q.right])
        # the declared cone, or the same cone read the other way round (swapping the legs of
        # a pullback gives a pullback of the swapped cospan)
        for pairs in ([(left, ql), (right, qr), (f, q.f), (g, q.g)],
                      [(left, qr), (right, ql), (f, q.g), (g, q.f)]):
            if all((a.dom, a.cod) == (b.dom, b.cod) and free.decide(system, a, b).status == "proved"
                   for a, b in pairs):
                return Verdict("proved", "declaration",
                               witness=f"{pb.apex} goes to the pullback {q.apex} that {target.name} declares")
    return Verdict("unknown", "knuth-bendix",
                   witness=f"{target.name} declares no pullback that F({pb.apex}) is; a presentation "
                           "has no other universal properties")


def _decide_paths(system: free.RewriteSystem, lhs: free.Path, rhs: free.Path) -> Verdict:
    d = free.decide(system, lhs, rhs)
    if d.status == "proved":
        return Verdict("proved", "knuth-bendix")
    if d.status == "refuted":
        return Verdict("refuted", "knuth-bendix",
                       witness=f"normal forms differ: `{free.render(d.lhs_normal)}` vs "
                               f"`{free.render(d.rhs_normal)}`")
    return Verdict("unknown", "knuth-bendix", witness=d.reason)
