"""`Dom` (paper Def 7.1; docs/language.md §8.11): data sets as objects, domain maps as morphisms.

    functor D : Shifts -> Dom { X |-> digits; Y |-> turned; f |-> rotate(degrees = 30) }

An object goes to a declared data set; a generator to a domain map: a fixed map — an input
transform `permute(seed = s)`, `rotate(degrees = d)`, `shift(pixels = k)`, `noise(std = σ, seed =
s)`, or several composed with `>>` (applied left to right, as in `dataset(…, transform = …)`) —
or a learned one, `adapter(kind = …, rank = …, at = …)` (trained by a pullback transfer, §8.9).
The identity is the empty map, composition the concatenation of the maps; a word of generators
goes to the maps of its letters in order.

Obligations, decided on the data (both splits of the domain's data set):
- `D.map_id[X]`, `D.map_comp[f, g]`: proved by definition (the image of a word is the
  concatenation of its letters' maps, the identity's is the empty one);
- `D.maps[f]` (for fixed maps): F(f) carries the inputs of F(X) onto those of F(Y) — the
  largest difference of transformed inputs, `proved` when 0, `passed` within `tol`;
- `D.respects[eq]`: both sides of an equation, applied to the inputs of their domain, agree —
  the same measure. Permutations compose exactly, shifts exactly while no pixel leaves the
  image (shift 1 then 1 = shift 2; shift 2 then −2 ≠ id), rotations only up to interpolation
  (rotate 10 then 20 differs from rotate 30 by the bilinear resampling: pass a `tol`), noise only
  in distribution (never pointwise).
Learned maps are `unknown` here: what a trained adapter computes is a transfer's to say.
"""

from __future__ import annotations

from dataclasses import dataclass

from catdsl.diagnostics import Diagnostic
from catdsl.laws.category import MapComp, MapId, Respects
from catdsl.laws.law import FunctorLaw
from catdsl.laws.verdict import Verdict
from catdsl.semantics import free
from catdsl.syntax import ast as A
from catdsl.syntax.printer import expr as text_of

USAGE = "a domain map is a transform such as `rotate(degrees = 30)` (`>>` composes them) or `adapter(kind = linear)`"


@dataclass(frozen=True)
class Maps(FunctorLaw):
    """`D.maps[f]`: the fixed map F(f) carries the inputs of F(dom f) onto those of F(cod f)."""

    generator: str
    kind = "dom.maps"
    template = "{functor}.maps[{generator}]"


def _functors(module):
    from catdsl.backend import SemanticRef

    return [F for F in module.functors.values()
            if isinstance(F.target, SemanticRef) and F.target.name == "Dom" and not F.derived]


def _map(e: A.Expr):
    """("fixed", ((name, args), …)) or ("learned", AdapterSpec); raises _Problem (E404)."""
    from backends.torch.data import DataError, check_option
    from backends.torch.program import _Problem, _transform
    from backends.torch.transfer import _adapter

    if isinstance(e, A.Call) and isinstance(e.func, A.Name) and e.func.id == "adapter" or \
            isinstance(e, A.Name) and e.id == "adapter":
        return "learned", _adapter(e, e.span)
    if isinstance(e, A.Name) and e.id == "id":
        return "fixed", ()
    if not isinstance(e, (A.Call, A.Compose)):
        raise _Problem("E404", f"`{text_of(e)}` is not a domain map", e.span, USAGE)
    words = _transform(e)
    try:
        check_option("transform", words)
    except DataError as err:
        raise _Problem("E404", err.message, e.span, err.hint or "")
    return "fixed", words


def _read(module):
    """{functor: (objects {X: data name}, arrows {f: (kind, map)})}; raises ProgramError."""
    from backends.torch.program import ProgramError, _Problem, read_program
    from backends.torch.session import data_dir

    key = ("torch-dom",)
    if key in module.memo:
        found = module.memo[key]
        if isinstance(found, ProgramError):
            raise found
        return found
    problems: list[Diagnostic] = []
    out = {}
    try:
        program = read_program(module, cache_dir=data_dir(module))
    except ProgramError as e:
        module.memo[key] = e
        raise
    for F in _functors(module):
        objects, arrows = {}, {}
        for x, image in F.objects.items():
            e = image.expr
            if not isinstance(e, A.Name) or e.id not in program.data:
                problems.append(Diagnostic("E404", f"`{F.name}` sends `{x}` to `{text_of(e)}`, not a declared data set",
                                           e.span, hints=("the objects of Dom are data sets: `X |-> digits`",)))
                continue
            objects[x] = e.id
        for f, image in F.arrows.items():
            try:
                arrows[f] = _map(image.expr)
            except _Problem as p:
                problems.append(p.diagnostic)
        out[F.name] = (objects, arrows, program)
    found = ProgramError(problems) if problems else out
    module.memo[key] = found
    if problems:
        raise found
    return out


class Dom:
    """The registered factory; the checker calls its class-level hooks."""

    @staticmethod
    def validate(module) -> list:
        from backends.torch.program import ProgramError

        try:
            _read(module)
        except ProgramError as e:
            return list(e.diagnostics)
        return []

    @staticmethod
    def laws(module, functor) -> list:
        if not isinstance(functor.source, str) or functor.source not in module.presentations:
            return []
        p = module.presentations[functor.source]
        return [Maps(functor.name, g.name, span=functor.span) for g in p.generators if g.name in functor.arrows]


def apply(words, spec, split: str, x):
    """The fixed maps `words` applied in order to inputs `x` of data set `spec` (numpy, float32)."""
    from backends.torch.data import _TRANSFORMS, IMAGE_SHAPES

    shape = tuple(x.shape[1:])
    for name, args in words:
        x = _TRANSFORMS[name][0](x, shape, IMAGE_SHAPES.get(spec.name), dict(args), split, spec.name)
    return x


def _inputs(spec):
    from backends.torch.data import load_dataset

    data = load_dataset(spec)
    return {"train": data.x_train.numpy(), "test": data.x_test.numpy()}


def _difference(a: dict, b: dict) -> float | str:
    import numpy as np

    for split in a:
        if a[split].shape != b[split].shape:
            return f"the {split} inputs have shapes {a[split].shape[1:]} × {len(a[split])} and " \
                   f"{b[split].shape[1:]} × {len(b[split])}"
    return max(float(np.abs(a[s].astype(np.float64) - b[s].astype(np.float64)).max(initial=0.0)) for s in a)


def _verdict(value, tol: float, what: str) -> Verdict:
    if isinstance(value, str):
        return Verdict("refuted", "torch", witness=f"{what}: {value}")
    if value == 0:
        return Verdict("proved", "torch (exact)", difference=0.0, witness=f"{what}: equal inputs")
    if value <= tol:
        return Verdict("passed", "torch", difference=value, witness=f"{what}: largest difference {value:.3g} <= tol {tol:g}")
    return Verdict("refuted", "torch", difference=value, witness=f"{what}: largest difference {value:.6g} > tol {tol:g}")


def _word(arrows, path: free.Path):
    words = []
    for g in path.word:
        kind, m = arrows[g]
        if kind == "learned":
            return None
        words.extend(m)
    return tuple(words)


def _maps(law: Maps, ctx) -> Verdict:
    objects, arrows, program = _read(ctx.module)[law.functor]
    kind, words = arrows[law.generator]
    if kind == "learned":
        return Verdict("unknown", "torch", witness="a learned domain map is trained by a pullback transfer (§8.9)")
    F = ctx.module.functors[law.functor]
    g = ctx.module.presentations[F.source].generator[law.generator]
    dom, cod = program.data[objects[g.dom]], program.data[objects[g.cod]]
    moved = {s: apply(words, dom, s, x) for s, x in _inputs(dom).items()}
    return _verdict(_difference(moved, _inputs(cod)), ctx.options.tol,
                    f"{law.generator} applied to `{objects[g.dom]}` against `{objects[g.cod]}`")


def _respects(law: Respects, ctx) -> Verdict:
    objects, arrows, program = _read(ctx.module)[law.functor]
    lhs, rhs = law.equation.lhs, law.equation.rhs
    if not isinstance(lhs, free.Path):
        return Verdict("unknown", "torch", witness="Dom has no 2-cells")
    a, b = _word(arrows, lhs), _word(arrows, rhs)
    if a is None or b is None:
        return Verdict("unknown", "torch", witness="a side has a learned domain map, trained by a pullback transfer")
    if a == b:
        return Verdict("proved", "definition", witness="both sides are the same sequence of fixed maps")
    spec = program.data[objects[lhs.dom]]
    inputs = _inputs(spec)
    left = {s: apply(a, spec, s, x) for s, x in inputs.items()}
    right = {s: apply(b, spec, s, x) for s, x in inputs.items()}
    return _verdict(_difference(left, right), ctx.options.tol, f"both sides applied to `{objects[lhs.dom]}`")


def _by_definition(law, ctx) -> Verdict:
    return Verdict("proved", "definition", witness="the image of a word is the concatenation of its letters' maps")


Dom.discharges = {MapId: _by_definition, MapComp: _by_definition, Respects: _respects, Maps: _maps}
