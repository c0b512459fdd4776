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
        return Verdict("proved", "typing")
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


def _decide_paths(system: free.RewriteSystem, lhs: free.Path, rhs: free.Path) -> Verdict:
    d = free.decide(system, lhs, rhs)
    if d.status == "proved":
        return Verdict("proved", "knuth-bendix")
    if d.status == "refuted":
        return Verdict("refuted", "knuth-bendix",
                       witness=f"normal forms differ: `{free.render(d.lhs_normal)}` vs "
                               f"`{free.render(d.rhs_normal)}`")
    return Verdict("unknown", "knuth-bendix", witness=d.reason)
