"""`Rep(probe = …, layer = …)` and the learning functor L (paper Def 2.4, Thm 2.6).

    functor L : Training -> Rep(probe = digits.test, layer = -2) = features(Run)

is L ∘ Run : Training -> Rep, with Run a functor into Param: an object X goes to the feature
map of the state Run(X) on the probe set (the activations after `layer` of the model's
nn.Sequential), a generator f to the path of feature maps at the start of Run(f) and after
each of its epochs (`backends.torch.features.RepPath`); composition is concatenation.

Obligations, each decided on real runs through the run store:

- `L.map_id[X]`: L of the identity trajectory of Run(X) (zero steps of training) is the
  one-point path at L(Run X);
- `L.map_comp[f, g]`: the features along the composite trajectory g∘f (checkpoints of f, then of
  g resumed from f's end, joined in Param where the junction states must be equal) equal the
  concatenation in Rep of the stored feature paths L(f), L(g) (whose junction must agree);
- `L.respects[eq]`: both sides of an equation of the source give the same representation: the
  feature paths agree point by point when they have as many points, else at both ends;
- `L.structure[f]`: the structure condition on the Rep morphism L(f) — probe pairs k-close under
  the start features stay k-close along the path — measured as a violation rate and passed when
  it is at most `tol` (defaults `k = 10`, `tol = 0.8`; set only by `check L.structure with k = …,
  tol = …`, so that `check L with tol = …` is the tolerance of L's equalities alone);
- `L.pullback[P].universal` for a declared `pullback (P, p, q) of f, g`: the ε-fibre product of
  the representations at the ends of L(f) and L(g) (`backends.torch.fibre.declared_pullback`),
  with ε from `check L.pullback with eps = …` (`unknown` without it).

Equalities are `proved` when bitwise, `passed` within `tol` (1e-9, or `check L with tol = …`), else
`refuted` with the largest difference; the structure condition is `passed` or `failed`, with
the violation rate as its witness either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.laws.category import MapComp, MapId, Respects
from catdsl.laws.law import COMMON_OPTIONS, FunctorLaw
from catdsl.laws.limits import PullbackUniversal
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free

# The structure condition's defaults. A feature map re-drawn at random keeps about k/(n-1) of the
# start's k-nearest-neighbour pairs (2% for k = 10 on 450 probe points), the identity all of
# them; trained digits MLPs keep 25-70% (measured over lr, width and epochs), so the default
# threshold asks that a fifth of the neighbourhoods survive on average.
STRUCTURE_K = 10
STRUCTURE_TOL = 0.8


@dataclass(frozen=True)
class Structure(FunctorLaw):
    """The structure condition on the Rep morphism L(f): probe pairs k-close under the start
    features stay k-close along the path, for all but a `tol` fraction of (pair, checkpoint)."""

    generator: str
    kind = "structure"
    options = (*COMMON_OPTIONS, "k")
    # only statements naming `L.structure` set these: `check L with tol = …` is meant for L's
    # equalities, and a tolerance of 1e-9 on a violation rate would fail every run
    own_options = ("tol", "k")
    template = "{functor}.structure[{generator}]"

    @classmethod
    def check_option(cls, option: str, value: object) -> str | None:
        if option == "tol" and not 0 <= value <= 1:
            return f"the structure condition's tol is a violation rate in [0, 1], not {value!r}"
        return None


class Rep:
    """The registered factory; the checker calls its class-level hooks."""

    @staticmethod
    def validate(module) -> list:
        """Static problems (E4xx): the probe set, the layer, and the functor into Param."""
        from backends.torch.program import ProgramError, read_program

        try:
            read_program(module)
        except ProgramError as e:
            return list(e.diagnostics)
        return []

    @staticmethod
    def laws(module, functor) -> list[FunctorLaw]:
        """`L.structure[f]` for every generator f the functor into Param maps."""
        d = functor.definition
        base = getattr(d, "positional", ())[:1]
        base = module.functors.get(getattr(base[0], "id", None)) if base else None
        if base is None or not isinstance(base.source, str) or base.source != functor.source:
            return []
        p = module.presentations[base.source]
        return [Structure(functor.name, g.name, span=functor.span) for g in p.generators if g.name in base.arrows]


def _discharge(decide):
    """A Rep law decided on real runs: the module's session, threads sized to the probe pass,
    divergence reported as an error verdict. Training is deterministic: `samples` and `seed`
    are accepted (they are options of every law) and change nothing."""
    def run(law, ctx) -> Verdict:
        from backends.run.execute import threads_for, torch_threads
        from backends.torch.results import TrainingDiverged
        from backends.torch.session import Session

        s = Session.of(ctx.module, ctx.options.store)
        rep = s.program.reps[law.functor]
        with torch_threads(threads_for(_probe_work(s, rep))):
            try:
                return decide(s, rep, law, ctx.options)
            except TrainingDiverged as e:
                return Verdict("error", "torch", witness=str(e))
    return run


# ---- the obligations ---------------------------------------------------------------------------


def _probe_work(s, rep) -> float:
    """Multiply-adds of one pass of the probe set through the model (for the thread count)."""
    import json

    from backends.torch.jobs import step_work
    from backends.torch.models import spec_json

    return step_work(json.loads(spec_json(_model(s, rep))), tuple(_probe(s, rep).shape[1:]), rep.probe.size)


def _model(s, rep):
    return s.program.functors[rep.base].target.model


def _probe(s, rep):
    return s.results.probe(rep.probe.to_json())


def _equality(value: float, tol: float, what: str, points: int) -> Verdict:
    if value == 0:
        return Verdict("proved", "torch (bitwise)", difference=0.0, samples=points, witness=what)
    if value <= tol:
        return Verdict("passed", "torch", samples=points, difference=value,
                       witness=f"{what}: largest difference {value:.3g} <= tol {tol:g}")
    return Verdict("refuted", "torch", samples=points, difference=value,
                   witness=f"{what}: largest difference {value:.6g} > tol {tol:g}")


def _map_id(s, rep, law: MapId, options) -> Verdict:
    """L(id_θ) = id_{Lθ}: zero steps of training from Run(X), then its features."""
    obj, tol = law.obj, options.tol
    from backends.torch.jobs import along
    from backends.torch.features import RepPath, functor_map_id
    from backends.torch.train import OptimizerSpec, train

    lf = s.program.functors[rep.base]
    key = s.plan.index[lf.name][obj]
    s.executor.run(s.plan, [key], progress=False)
    state = s.results.state(key)
    zero = train(state, lf.target.model, s.results.dataset(lf.target.data), OptimizerSpec("sgd", lr=1.0, epochs=0),
                 loss=lf.target.loss)
    image = along(_model(s, rep), zero.checkpoints, rep.layer, _probe(s, rep))
    point = along(_model(s, rep), [state], rep.layer, _probe(s, rep)).start
    m = functor_map_id(image, RepPath.identity(point).start, tol)
    return _equality(m.value, tol, f"L(id) has {len(image)} point(s)", len(image))


def _map_comp(s, rep, law: MapComp, options) -> Verdict:
    """L(g ∘ f) = L(g) ∘ L(f), with g resumed from the end of f."""
    f, g, tol = law.f, law.g, options.tol
    from backends.torch.jobs import along
    from backends.torch.plan import features_job, generator_job, train_job
    from backends.torch.features import functor_map_comp
    from backends.torch.train import NotComposable, Trajectory, compose

    lf = s.program.functors[rep.base]
    first = generator_job(s.plan, lf, f)
    then = train_job(lf, g, first)
    s.plan.add(then)
    parts = [features_job(s.plan, s.program, rep, j) for j in (first, then)]
    s.executor.run(s.plan, [j.key for j in parts], progress=False)
    trajectories = []
    for job in parts:
        points = s.results.checkpoints(job.deps[0])
        trajectories.append(Trajectory(points[0], points[-1], tuple(points), (), (), lf.target.loss))
    try:
        composite = compose(trajectories[1], trajectories[0])
    except NotComposable as e:
        return Verdict("refuted", "torch", witness=f"Run({g}) does not start where Run({f}) ends: {e}")
    path12 = along(_model(s, rep), composite.checkpoints, rep.layer, _probe(s, rep))
    path1, path2 = (s.results.feature_path(j.key) for j in parts)
    m = functor_map_comp(path12, path1, path2, tol)
    if m.witness is not None:
        return Verdict("refuted", "torch", difference=m.value, witness=m.witness)
    return _equality(m.value, tol, f"{len(path12)} points along {g} . {f}", len(path12))


def _side(s, rep, lf, path: free.Path):
    """L of a composite of generators: the stored feature paths of its segments, concatenated."""
    from backends.torch.jobs import along
    from backends.torch.plan import features_job, path_job, train_job
    from backends.torch.features import RepPath, rep_compose

    job = path_job(s.plan, lf, free.identity(path.dom))
    feats = []
    for g in path.word:
        job = train_job(lf, g, job)
        s.plan.add(job)
        feats.append(features_job(s.plan, s.program, rep, job))
    s.executor.run(s.plan, [job.key] + [j.key for j in feats], progress=False)
    if not feats:
        return RepPath.identity(along(_model(s, rep), [s.results.state(job.key)], rep.layer, _probe(s, rep)).start)
    result = s.results.feature_path(feats[0].key)
    for j in feats[1:]:
        result = rep_compose(s.results.feature_path(j.key), result, tol=0.0)
    return result


def _respects(s, rep, law: Respects, options) -> Verdict:
    from backends.torch.features import _max_difference

    lf = s.program.functors[rep.base]
    lhs, rhs, tol = law.equation.lhs, law.equation.rhs, options.tol
    if not isinstance(lhs, free.Path):
        return Verdict("unknown", "torch", witness="2-cell equations in Rep wait for the homotopy issue")
    try:
        a, b = _side(s, rep, lf, lhs), _side(s, rep, lf, rhs)
    except ValueError as e:  # a side's segments do not compose in Rep
        return Verdict("refuted", "torch", witness=str(e))
    if len(a) == len(b):
        value = max(_max_difference(x, y) for x, y in zip(a.points, b.points))
        what = f"feature paths of {len(a)} points each"
    else:
        value = max(_max_difference(a.start, b.start), _max_difference(a.end, b.end))
        what = f"paths of {len(a)} and {len(b)} points, compared at their ends"
    return _equality(value, tol, what, max(len(a), len(b)))


def _structure(s, rep, law: Structure, options) -> Verdict:
    from backends.torch.plan import features_job, generator_job
    from backends.torch.features import structure_violation_rate

    k, tol = options.get("k", STRUCTURE_K), options.get("tol", STRUCTURE_TOL)
    lf = s.program.functors[rep.base]
    job = features_job(s.plan, s.program, rep, generator_job(s.plan, lf, law.generator))
    s.executor.run(s.plan, [job.key], progress=False)
    path = s.results.feature_path(job.key)
    n = path.start.shape[0]
    k = min(k, n - 1)
    m = structure_violation_rate(path, k=k, tol=float(tol))
    what = (f"violation rate {m.value:.3f} over {m.checked} (pair, checkpoint) cases, k = {k}, "
            f"{len(path)} points; threshold {float(tol):g}")
    if m.holds:
        return Verdict("passed", "torch", samples=m.checked, difference=m.value, witness=what)
    return Verdict("failed", "torch", samples=m.checked, difference=m.value, witness=what)


def _pullback(s, rep, law: PullbackUniversal, options) -> Verdict:
    """A declared `pullback (P, p, q) of f, g`: the ε-fibre product of the representations at the
    ends of L(f) and L(g) (`backends.torch.fibre.declared_pullback`), ε from `check L.pullback with
    eps = …`; `unknown` without one."""
    from backends.torch.fibre import FIT_POINTS, UNIVERSAL_TOL, declared_pullback
    from backends.torch.jobs import along
    from backends.torch.plan import path_job
    from catdsl.semantics.free import render as show

    pb = law.pullback
    eps = options.get("eps")
    if eps is None:
        return Verdict("unknown", "torch", witness=f"a pullback in Rep is the ε-fibre product of L({show(pb.f)}) and "
                       f"L({show(pb.g)}): give ε with `check {law.functor}.pullback[{pb.apex}] with eps = …`")
    lf = s.program.functors[rep.base]
    legs = [path_job(s.plan, lf, pb.f), path_job(s.plan, lf, pb.g)]
    s.executor.run(s.plan, [j.key for j in legs], progress=False)
    fit = s.results.dataset(lf.target.data).x_train[:FIT_POINTS]
    model, probe = _model(s, rep), _probe(s, rep)
    states = [s.results.state(j.key) for j in legs]
    phi = [along(model, [state], rep.layer, probe).start for state in states]
    fits = [along(model, [state], rep.layer, fit).start for state in states]
    _, verdict = declared_pullback(phi[0], phi[1], fits[0], fits[1], float(eps), float(options.get("tol", UNIVERSAL_TOL)),
                                   f"the ends of L({show(pb.f)}) and L({show(pb.g)}) at layer {rep.layer}")
    return verdict


Rep.discharges = {
    MapId: _discharge(_map_id),
    MapComp: _discharge(_map_comp),
    Respects: _discharge(_respects),
    Structure: _discharge(_structure),
    PullbackUniversal: _discharge(_pullback),
}
# the law options Rep decides with beyond the common ones (Law.target_options): a pullback's
# ε-fibre product needs its ε
Rep.law_options = {PullbackUniversal: ("eps",)}
