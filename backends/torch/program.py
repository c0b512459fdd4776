"""Read the learning part of a Module: data, models, functors into `Param(model, data, …)` and
`Rep(probe = …, layer = …)`, and sweeps.

This is the torch backend's elaboration: it turns value expressions (`dataset(...)`,
`Linear(64, 32) >> ReLU`, `sgd(lr = 0.1, …)`, `init(seed = 0)`, `features(Run)`,
`sweep S = Run.full over seed in 0..3`) into frozen specs and checks them statically (shapes,
hyperparameters, layer indices, resource limits) — without importing torch, and without training
anything. What it needs of a data set (input shape, split sizes) are its `DataFacts`, taken from
the run store's data folder when recorded there (then scikit-learn is not imported either).
Problems are `Diagnostic`s (E4xx).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from catdsl.backend import SemanticRef
from catdsl.diagnostics import Diagnostic
from catdsl.semantics import free
from catdsl.semantics.module import Functor, Module, Presentation
from catdsl.span import Span
from catdsl.syntax import ast as A
from catdsl.syntax.printer import expr as text_of


@dataclass(frozen=True)
class Limits:
    """Resource bounds, checked before anything is allocated; each names the flag that raises it."""

    epochs: int = 50
    runs: int = 128
    probe: int = 2048
    params: int = 5_000_000

    FLAGS = {"epochs": "--max-epochs", "runs": "--max-runs", "probe": "--max-probe",
             "params": "--max-params"}


def limits_of(module: Module) -> Limits:
    """The limits the command line handed to this module (`module.memo["limits"]`), else defaults."""
    given = module.memo.get("limits") or {}
    return Limits(**{k: int(v) for k, v in given.items() if k in Limits.FLAGS and v is not None})


class ProgramError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class ParamTarget:
    """`Param(model, data, loss = …)`: which model trains on which data."""

    model_name: str
    data_name: str
    model: Any  # backends.torch.models.Layer
    data: Any  # backends.torch.data.DataSpec
    loss: str
    parameters: int = 0  # trainable scalars of the model on this data's input shape
    input_shape: tuple[int, ...] = ()
    fisher: str | None = None  # `fisher = true | empirical`: the Fisher–Rao length of every trajectory
    level: float | None = None  # `level = τ`: the loss level of the functor's 2-cells (low_loss)


@dataclass(frozen=True)
class LearningFunctor:
    """A functor from a presentation into Param: initial states and training segments."""

    name: str
    presentation: Presentation
    target: ParamTarget
    inits: dict[str, int]  # source object -> init seed
    segments: dict[str, Any]  # generator -> OptimizerSpec
    spans: dict[str, Span] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Member:
    """One run of a sweep: its binding values and the optimizer and init seed they give."""

    index: int
    values: tuple[tuple[str, Any], ...]  # (binding name, value), in binding order
    optimizer: Any  # OptimizerSpec of the swept generator, overrides applied
    init_seed: int | None  # the source object's init seed, when `seed` is bound
    data: Any = None  # DataSpec the swept segment trains on, when a data option is bound (else the functor's)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values)


@dataclass(frozen=True)
class Sweep:
    """`sweep S = Run.full over seed in 0..3, lr in [0.01, 0.1]`: the cartesian product of the
    bindings, each member a run of generator `full` of functor `Run` from its source object."""

    name: str
    functor: str
    generator: str
    bindings: tuple[str, ...]
    members: tuple[Member, ...]
    span: Span = field(default=None, compare=False)  # type: ignore[assignment]


@dataclass(frozen=True)
class Probe:
    """The probe set of Rep: the first `size` inputs of one split of a declared data set."""

    data_name: str
    split: str  # "test" | "train"
    size: int
    data: Any  # DataSpec

    def to_json(self) -> dict:
        import json

        return {"data": json.loads(self.data.to_json()), "split": self.split, "size": self.size}


@dataclass(frozen=True)
class RepFunctor:
    """`functor L : Training -> Rep(probe = digits.test, layer = -2) = features(Run)`: the learning
    functor L after the functor `Run` into Param (L ∘ Run : Training -> Rep)."""

    name: str
    base: str  # the functor into Param it follows
    layer: int
    probe: Probe
    span: Span = field(default=None, compare=False)  # type: ignore[assignment]


@dataclass(frozen=True)
class Program:
    module: Module
    data: dict[str, Any]
    models: dict[str, Any]
    functors: dict[str, LearningFunctor]
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    reps: dict[str, RepFunctor] = field(default_factory=dict)


def literal(e: A.Expr, what: str) -> Any:
    """A number, string, bool or bare name (read as a string) from a value expression."""
    match e:
        case A.Number(text=t):
            try:
                return float(t) if any(c in t for c in ".eE") else int(t)
            except ValueError:  # over Python's 4,300 digits of int(): no value a program could use
                raise _Problem("E404", f"{what}: a number of {len(t):,} digits is too large", e.span) from None
        case A.Neg(operand=A.Number() as n):
            return -literal(n, what)
        case A.String(value=v):
            return v
        case A.Name(id="true"):
            return True
        case A.Name(id="false"):
            return False
        case A.Name(id=i):
            return i
        case A.Tuple(items=items) | A.ListExpr(items=items):
            return tuple(literal(x, what) for x in items)
    raise _Problem("E404", f"{what} must be a number, string or name, not `{text_of(e)}`", e.span)


class _Problem(Exception):
    def __init__(self, code: str, message: str, span: Span, *hints: str):
        self.diagnostic = Diagnostic(code, message, span, hints=tuple(h for h in hints if h))


def read_program(module: Module, limits: Limits | None = None,
                 cache_dir: str | os.PathLike | None = None) -> Program:
    """Specs for every data, model, Param and Rep functor and sweep of the module; raises
    ProgramError. Without `limits`, those of the command line (`limits_of`); memoized per module.
    `cache_dir` (a run store's data folder) is where data facts are looked up and recorded."""
    limits = limits_of(module) if limits is None else limits
    key = ("torch-program", limits)
    if key not in module.memo:
        try:
            module.memo[key] = _read_program(module, limits, cache_dir)
        except ProgramError as e:
            module.memo[key] = e
    found = module.memo[key]
    if isinstance(found, ProgramError):
        raise found
    return found


def _facts(module: Module, spec, cache_dir):
    """The DataFacts of a data spec, once per module; raises DataError (also for an option of a
    value a loader cannot use, `seed = "."`: found by `make fuzz`, once an internal error)."""
    from backends.torch.data import DataError, data_facts

    key = ("torch-data-facts", spec.to_json())
    if key not in module.memo:
        try:
            module.memo[key] = data_facts(spec, cache_dir)
        except (ValueError, TypeError) as e:
            raise DataError(f"the data set cannot be read with these options: {e}",
                            "options are numbers: e.g. `dataset(\"digits\", test = 0.25, seed = 0)`") from None
    return module.memo[key]


def _read_program(module: Module, limits: Limits, cache_dir) -> Program:
    """Every problem of the learning declarations at once: each declaration is read on its own,
    and one that has problems is remembered as invalid, so what refers to it says nothing more."""
    problems: list[Diagnostic] = []
    data: dict[str, Any] = {}
    models: dict[str, Any] = {}
    invalid: set[str] = set()  # data and models declared with problems: no "not declared" after
    layer_spans: dict[str, tuple[Span, ...]] = {}  # model -> the span of each top-level layer
    for decl in module.declarations:
        try:
            if decl.kind == "data":
                data[decl.name] = _data_spec(decl.statement.value)
            elif decl.kind == "model":
                found: list[Diagnostic] = []
                spans: list[Span] = []
                spec = _model_spec(decl.statement.value, found, spans)
                if found:
                    problems.extend(found)
                    invalid.add(decl.name)
                else:
                    models[decl.name] = spec
                    layer_spans[decl.name] = tuple(spans)
        except _Problem as p:
            problems.append(p.diagnostic)
            invalid.add(decl.name)
    functors: dict[str, LearningFunctor] = {}
    broken: set[str] = set()  # functors into Param with problems: no follow-up errors about them
    for F in module.functors.values():
        if isinstance(F.target, SemanticRef) and F.target.name == "Param":
            try:
                functors[F.name] = _learning_functor(module, F, data, models, limits, cache_dir,
                                                     invalid, layer_spans)
            except _Problem as p:
                problems.append(p.diagnostic)
                broken.add(F.name)
            except ProgramError as e:
                problems.extend(e.diagnostics)
                broken.add(F.name)
    sweeps: dict[str, Sweep] = {}
    for decl in module.declarations:
        if decl.kind == "sweep":
            try:
                sweeps[decl.name] = _sweep(decl.statement, functors, broken, limits)
            except _Problem as p:
                problems.append(p.diagnostic)
            except ProgramError as e:
                problems.extend(e.diagnostics)
    reps: dict[str, RepFunctor] = {}
    for F in module.functors.values():
        if isinstance(F.target, SemanticRef) and F.target.name == "Rep":
            try:
                reps[F.name] = _rep_functor(module, F, data, functors, broken, limits, cache_dir)
            except _Problem as p:
                problems.append(p.diagnostic)
            except ProgramError as e:
                problems.extend(e.diagnostics)
    if problems:
        raise ProgramError(problems)
    return Program(module, data, models, functors, sweeps, reps)


def _without_schedule(e: A.Expr) -> tuple[A.Expr, A.Expr | None]:
    """An optimizer call split into the call without `schedule = …` and that schedule's value."""
    if not isinstance(e, A.Call) or "schedule" not in e.keywords:
        return e, None
    rest = tuple(a for a in e.args if not (isinstance(a, A.Keyword) and a.name == "schedule"))
    return A.Call(e.func, rest, span=e.span), e.keywords["schedule"]


def _schedule(e: A.Expr):
    """`constant`, `step(every = 100, gamma = 0.5)` or `cosine(total = 500, floor = 0.1)`: the
    learning-rate factor as a function of the global step, so resumed training follows it."""
    from backends.torch.segment import SCHEDULES

    name, args, kwargs, _ = _call(e)
    if name not in SCHEDULES:
        raise _Problem("E404", f"unknown schedule `{name}`", e.span,
                       f"schedules: {', '.join(SCHEDULES)}, e.g. `schedule = step(every = 100, gamma = 0.5)`")
    kwargs = {k: int(v) if isinstance(v, float) and v.is_integer() and k in ("every", "total") else v
              for k, v in kwargs.items()}
    try:
        return SCHEDULES[name](*args, **kwargs)
    except (TypeError, ValueError) as err:
        raise _Problem("E404", f"schedule `{text_of(e)}`: {err}", e.span) from None


# Keywords of other libraries, and what they are called here (did-you-mean beyond spelling).
KEYWORD_SYNONYMS = {"learning_rate": "lr", "rate": "lr", "step_size": "lr", "batch_size": "batch",
                    "bs": "batch", "n_epochs": "epochs", "num_epochs": "epochs", "epoch": "epochs",
                    "wd": "weight_decay", "decay": "weight_decay", "random_state": "seed",
                    "beta": "betas", "epsilon": "eps", "mom": "momentum"}


def _known_keywords(name: str, call: A.Expr) -> None:
    """Raise the first of `unknown_keywords` (for readers that stop at one problem)."""
    found = unknown_keywords(name, call)
    if found:
        raise _Problem(found[0].code, found[0].message, found[0].span, *found[0].hints)


def unknown_keywords(name: str, call: A.Expr) -> list[Diagnostic]:
    """Each optimizer keyword its registry entry does not take: E404 at that keyword, with the
    keyword meant when the spelling or a common synonym says so (`learning_rate` → `lr`)."""
    from backends.torch.optimizers import OPTIMIZERS, SEGMENT

    if name not in OPTIMIZERS or not isinstance(call, A.Call):
        return []  # an unknown optimizer: the spec says so, with the list of optimizers
    entry = OPTIMIZERS[name]
    takes = (*entry.takes, *SEGMENT)
    reads = [n for n in takes if n not in entry.ignores]  # accepted but unused ones are not advertised
    found = []
    for kw in call.args:
        if isinstance(kw, A.Keyword) and kw.name not in takes:
            close = did_you_mean(kw.name, reads, KEYWORD_SYNONYMS)
            found.append(Diagnostic("E404", f"`{name}` has no hyperparameter `{kw.name}`", kw.span,
                                    hints=tuple(h for h in (close, f"`{name}` takes {', '.join(reads)}") if h)))
    return found


def did_you_mean(word: str, known, synonyms: dict[str, str] | None = None) -> str:
    """"did you mean `x`?" for the known name closest to `word` (spelling, case, a synonym), or ""."""
    import difflib

    known = list(known)
    meant = (synonyms or {}).get(word.lower())
    if meant not in known:
        lower = {k.lower(): k for k in known}
        meant = lower.get(word.lower())
    if meant is None:
        close = difflib.get_close_matches(word.lower(), list({k.lower(): k for k in known}), n=1)
        meant = {k.lower(): k for k in known}[close[0]] if close else None
    return f"did you mean `{meant}`?" if meant else ""


def _call(e: A.Expr) -> tuple[str, tuple, dict, A.Expr]:
    if isinstance(e, A.Name):
        return e.id, (), {}, e
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        return (e.func.id, tuple(literal(a, f"an argument of {e.func.id}") for a in e.positional),
                {k: literal(v, f"`{k}`") for k, v in e.keywords.items()}, e)
    raise _Problem("E404", f"expected a call like `name(key = value)`, found `{text_of(e)}`", e.span)


def _data_spec(e: A.Expr):
    from backends.torch.data import DOMAIN_OPTIONS, DataError, DataSpec, check_option

    transform = e.keywords.get("transform") if isinstance(e, A.Call) else None
    if transform is not None:  # a transform is a call (or `>>` of calls), not a literal
        e = A.Call(e.func, tuple(a for a in e.args if not (isinstance(a, A.Keyword) and a.name == "transform")),
                   span=e.span)
    name, args, kwargs, _ = _call(e)
    if name != "dataset" or len(args) != 1 or not isinstance(args[0], str):
        raise _Problem("E403", f"`{text_of(e)}` is not a dataset", e.span,
                       'write `dataset("digits", test = 0.25, seed = 0)`')
    if transform is not None:
        kwargs["transform"] = _transform(transform)
    for key in DOMAIN_OPTIONS:
        try:
            check_option(key, kwargs.get(key))
        except DataError as err:
            raise _Problem("E404", err.message, (transform if key == "transform" else e.keywords[key]).span,
                           err.hint or "")
    return DataSpec.of(args[0], **kwargs)


def _transform(e: A.Expr) -> tuple:
    """`permute(seed = 3)` or `rotate(degrees = 15) >> noise(std = 0.1)`: ((name, ((key, value), …)), …)
    in the order the transforms apply."""
    parts = e.parts if isinstance(e, A.Compose) else (e,)
    out: list = []
    for part in reversed(parts):  # applicative order -> the order they apply
        if isinstance(part, A.Compose):
            out.extend(_transform(part))
            continue
        name, args, kwargs, _ = _call(part)
        if args:
            raise _Problem("E404", f"the options of `{name}` are named", part.span,
                           "e.g. `transform = rotate(degrees = 15)`")
        out.append((name, tuple(sorted(kwargs.items()))))
    return tuple(out)


def _model_spec(e: A.Expr, problems: list[Diagnostic], spans: list[Span]):
    """The layer spec of a model expression; each wrong layer is one E402 at that layer (added to
    `problems`, and the spec is then None), and `spans` gets the span of each top-level layer."""
    from backends.torch.models import LayerError, Sequential, make_layer

    parts = e.parts if isinstance(e, A.Compose) else (e,)
    layers = []
    for part in reversed(parts):  # applicative order -> the order data flows
        if isinstance(part, A.Compose):
            layers.append(_model_spec(part, problems, spans))
            continue
        try:
            name, args, kwargs, _ = _call(part)
        except _Problem as p:
            problems.append(Diagnostic("E402", p.diagnostic.message, p.diagnostic.span, hints=p.diagnostic.hints))
            layers.append(None)
            continue
        spans.append(part.span)
        try:
            layers.append(make_layer(name, *args, **kwargs))
        except (LayerError, TypeError, ValueError) as err:
            hint = getattr(err, "hint", None)
            problems.append(Diagnostic("E402", str(getattr(err, "message", err)),
                                       _keyword_span(part, err) or part.span,
                                       hints=(hint,) if hint else ()))
            layers.append(None)
    if problems or any(layer is None for layer in layers):
        return None
    return layers[0] if len(layers) == 1 else Sequential.of(*layers)


def _keyword_span(call: A.Expr, err: Exception) -> Span | None:
    """The span of the keyword an error names (`bais = true`), when it names one."""
    keyword = getattr(err, "keyword", None)
    if keyword is None or not isinstance(call, A.Call):
        return None
    return next((a.span for a in call.args if isinstance(a, A.Keyword) and a.name == keyword), None)


def _learning_functor(module: Module, F: Functor, data, models, limits: Limits, cache_dir,
                      invalid: frozenset[str] | set[str] = frozenset(),
                      layer_spans: dict[str, tuple[Span, ...]] | None = None) -> LearningFunctor:
    """Read a functor into Param; every problem of it at once (ProgramError). A model or data set
    in `invalid` was declared with problems of its own: nothing more is said about it here."""
    from backends.torch.data import DataError
    from backends.torch.models import ShapeError, parameter_count
    from backends.torch.optimizers import hint as optimizer_hint
    from backends.torch.segment import LOSS_NAMES, OptimizerSpec

    ref: SemanticRef = F.target
    problems: list[Diagnostic] = []
    model_name = data_name = None
    if len(ref.args) != 2 or not all(isinstance(a, A.Name) for a in ref.args):
        problems.append(Diagnostic("E404", "Param takes a model and a data set: `Param(mlp, digits, loss = …)`",
                                   ref.span))
    else:
        model_name, data_name = (a.id for a in ref.args)
        if model_name not in models:
            if model_name not in invalid:
                problems.append(Diagnostic("E201" if model_name not in data else "E404",
                                           f"`{model_name}` is not a declared model", ref.args[0].span,
                                           hints=tuple(h for h in (did_you_mean(model_name, models),) if h)))
            model_name = None
        if data_name not in data:
            if data_name not in invalid:
                problems.append(Diagnostic("E404", f"`{data_name}` is not a declared data set", ref.args[1].span,
                                           hints=tuple(h for h in (did_you_mean(data_name, data),) if h)))
            data_name = None
    loss_expr = ref.kwarg("loss")
    loss = "cross_entropy"
    if loss_expr is not None:
        try:
            loss = literal(loss_expr, "loss")
            if loss not in LOSS_NAMES:
                close = did_you_mean(str(loss), LOSS_NAMES)
                raise _Problem("E404", f"unknown loss `{loss}`", loss_expr.span, close,
                               f"known: {', '.join(LOSS_NAMES)}")
        except _Problem as e:
            problems.append(e.diagnostic)
    fisher, level = _geometry(ref, problems)
    facts = None
    if data_name is not None:
        try:
            facts = _facts(module, data[data_name], cache_dir)
        except DataError as e:
            problems.append(Diagnostic("E403", e.message, _span_of(module, data_name) or ref.span,
                                       hints=(e.hint,) if e.hint else ()))
    count = 0
    if model_name is not None and facts is not None:
        try:
            count = parameter_count(models[model_name], facts.input_shape)
            if count > limits.params:
                problems.append(Diagnostic(
                    "E401", f"model `{model_name}` has {count:,} parameters, over the limit of "
                    f"{limits.params:,}", _span_of(module, model_name) or ref.span,
                    hints=(f"raise it with {Limits.FLAGS['params']}",)))
        except ShapeError as e:
            problems.append(Diagnostic(
                "E402", f"model `{model_name}` does not fit `{data_name}` (input shape {facts.input_shape}): "
                f"layer {e.layer_index}: {e.message}",
                _layer_span(module, model_name, models[model_name], e.layer_index, layer_spans) or ref.span))
    p = module.presentations[F.source]
    incoming = {g.cod for g in p.generators}
    inits: dict[str, int] = {}
    for obj in p.objects:
        img = F.objects.get(obj)
        if obj in incoming:
            if img is not None:
                problems.append(Diagnostic("E407", f"`{obj}` is reached by training, so it takes no value",
                                           img.span, hints=("only objects with no incoming arrow take "
                                                            "`init(seed = …)`",)))
            continue
        if img is None:
            problems.append(Diagnostic("E207", f"`{obj}` has no incoming arrow, so it needs an initial "
                                       "state", F.span, hints=(f"add `{obj} |-> init(seed = 0)`",)))
            continue
        try:
            name, args, kwargs, _ = _call(img.expr)
            if name != "init" or args or set(kwargs) - {"seed"}:
                raise _Problem("E406", f"`{text_of(img.expr)}` is not an initial state", img.expr.span,
                               "write `init(seed = 0)`")
            seed = kwargs.get("seed", 0)
            if isinstance(seed, float) and seed.is_integer():
                seed = int(seed)
            if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
                raise _Problem("E406", f"the seed of an initial state must be a non-negative integer, "
                               f"not `{text_of(img.expr.keywords['seed'])}`", img.expr.keywords["seed"].span)
            inits[obj] = seed
        except _Problem as e:
            problems.append(e.diagnostic)
    segments: dict[str, Any] = {}
    for g in p.generators:
        img = F.arrows.get(g.name)
        if img is None:
            continue
        try:
            expr, sched = _without_schedule(img.expr)
            name, args, kwargs, _ = _call(expr)
            if args:
                raise _Problem("E404", f"`{name}` takes keyword arguments only", img.expr.span)
            if "betas" in kwargs:
                kwargs["betas"] = tuple(kwargs["betas"])
            for key in ("batch", "epochs", "seed"):
                if isinstance(kwargs.get(key), float) and float(kwargs[key]).is_integer():
                    kwargs[key] = int(kwargs[key])
            if sched is not None:
                kwargs["schedule"] = _schedule(sched)
            unknown = unknown_keywords(name, expr)
            if unknown:
                problems.extend(unknown)
                continue
            spec = OptimizerSpec.of(name, **kwargs)
        except _Problem as e:
            problems.append(e.diagnostic)
            continue
        except (TypeError, ValueError) as e:
            problems.append(Diagnostic("E404", f"`{g.name} |-> {text_of(img.expr)}`: {e}", img.expr.span,
                                       hints=(optimizer_hint(),)))
            continue
        if spec.epochs > limits.epochs:
            problems.append(Diagnostic("E401", f"`{g.name}` asks for {spec.epochs} epochs, over the limit "
                                       f"of {limits.epochs}", img.expr.span,
                                       hints=(f"raise it with {Limits.FLAGS['epochs']}",)))
        segments[g.name] = spec
    if problems or model_name is None or data_name is None or facts is None:
        raise ProgramError(problems)
    target = ParamTarget(model_name, data_name, models[model_name], data[data_name], loss, count,
                         tuple(facts.input_shape), fisher, level)
    lf = LearningFunctor(F.name, p, target, inits, segments,
                         {k: v.span for k, v in {**F.objects, **F.arrows}.items()})
    unreached = [o for o in p.objects if o not in object_paths(lf)]
    if unreached:
        raise _Problem("E207", f"no training reaches {', '.join(f'`{o}`' for o in unreached)} from an initial "
                       "state", F.span, "every object must be reached by generators from an object with no "
                       "incoming arrow, which takes `init(seed = …)`")
    return lf


def _geometry(ref, problems: list) -> tuple[str | None, float | None]:
    """`Param(…, fisher = true | empirical, level = τ)`: which Fisher measures trajectory lengths
    (true: the model's; backends/torch/fisher.py) and the loss level of 2-cells (a number > 0)."""
    fisher, level = None, None
    expr = ref.kwarg("fisher")
    if expr is not None:
        value = _literal_or_none(expr)
        if value is True or value in ("model", "empirical"):
            fisher = "model" if value in (True, "model") else "empirical"
        elif value is not False:
            problems.append(Diagnostic("E404", f"fisher must be `true` or `empirical`, not `{text_of(expr)}`",
                                       expr.span, hints=("true: the model's Fisher (Fisher–Rao); empirical: "
                                                         "per-example gradients with the data's labels",)))
    expr = ref.kwarg("level")
    if expr is not None:
        value = _literal_or_none(expr)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            level = float(value)
        else:
            problems.append(Diagnostic("E404", f"level must be a positive number, not `{text_of(expr)}`",
                                       expr.span))
    return fisher, level


def _literal_or_none(expr):
    try:
        return literal(expr, "value")
    except _Problem:
        return None


def _layer_span(module: Module, model: str, spec, index: int,
                layer_spans: dict[str, tuple[Span, ...]] | None) -> Span | None:
    """The span of top-level layer `index` of a model, when its layers are written one by one
    (a `ResNet18` or `Sequential(…)` expands into several: then the model's declaration)."""
    from backends.torch.models import _top

    spans = (layer_spans or {}).get(model)
    if spans is not None and len(spans) == len(_top(spec)) and 0 <= index < len(spans):
        return spans[index]
    return _span_of(module, model)


def _span_of(module: Module, name: str) -> Span | None:
    for d in module.declarations:
        if d.name == name:
            return d.span
    return None


def object_paths(lf: LearningFunctor) -> dict[str, free.Path]:
    """For each object, the path from a source object by which its state is computed: the first
    incoming generator (in declaration order) whose start is already reached."""
    p = lf.presentation
    paths = {o: free.identity(o) for o in lf.inits}
    changed = True
    while changed:
        changed = False
        for g in p.generators:
            if g.dom in paths and g.cod not in paths:
                paths[g.cod] = free.compose(free.generator_path(g), paths[g.dom])
                changed = True
    return paths


# ---- sweeps -------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _domain(b: A.Binding) -> tuple[int, Any]:
    """(size, values) of a binding's domain; a range's values are made only after the size
    passes the limit, so `seed in 0..10^9` costs nothing."""
    d = b.domain
    if isinstance(d, A.Range):
        lo, hi = literal(d.start, "a range end"), literal(d.stop, "a range end")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
            raise _Problem("E404", f"`{text_of(d)}`: a range runs between integers", d.span,
                           "write `0..9`, or a list `[0.01, 0.1]` for other values")
        if hi < lo:
            raise _Problem("E404", f"`{b.name.id} in {text_of(d)}` is empty", d.span,
                           f"a range `a..b` includes both ends; write `{hi}..{lo}`")
        return hi - lo + 1, range(lo, hi + 1)
    if isinstance(d, A.ListExpr):
        values = tuple(literal(x, f"a value of `{b.name.id}`") for x in d.items)
        if not values:
            raise _Problem("E404", f"`{b.name.id}` is bound to no values", d.span)
        return len(values), values
    raise _Problem("E404", f"`{b.name.id}` must range over `a..b` or a list `[…]`, not `{text_of(d)}`",
                   d.span)


def _sweep(decl: A.SweepDecl, functors: dict[str, LearningFunctor], broken: set[str],
           limits: Limits) -> Sweep:
    """Expand a sweep into its members (the cartesian product of its bindings, first binding
    slowest). `seed` sets both the data-order seed of the swept generator and the init seed of
    the source object its run starts from; a data option (`label_noise`, `SWEEPABLE_OPTIONS` of
    backends.torch.data) replaces that option of the data set the swept generator trains on;
    every other binding overrides that keyword of the generator's optimizer."""
    import itertools

    from backends.torch.data import SWEEPABLE_OPTIONS, DataError, with_option

    base = decl.base
    if not (isinstance(base, A.QualName) and len(base.parts) == 2):
        raise _Problem("E404", f"a sweep runs a generator of a functor into Param, not `{text_of(base)}`",
                       base.span, "write `sweep S = Run.full over seed in 0..3`")
    fname, gname = base.parts
    if fname in broken:
        raise ProgramError([])
    if fname not in functors:
        raise _Problem("E404", f"`{fname}` is not a functor into Param", base.span,
                       *(f"functors into Param: {', '.join(functors)}",) if functors else ())
    lf = functors[fname]
    if gname not in lf.segments:
        known = ", ".join(g.name for g in lf.presentation.generators if g.name in lf.segments)
        raise _Problem("E404", f"`{fname}` maps no generator `{gname}`", base.span, f"its generators: {known}")
    problems: list[Diagnostic] = []
    names: list[str] = []
    domains: list[tuple[int, Any]] = []
    sweepable = (*sweepable_keywords(lf.segments[gname].name), *SWEEPABLE_OPTIONS)
    for b in decl.bindings:
        key = b.name.id
        if key in names:
            problems.append(Diagnostic("E404", f"`{key}` is bound twice", b.name.span))
            continue
        if key != "seed" and key not in sweepable:
            problems.append(Diagnostic("E404", f"a sweep cannot vary `{key}`", b.name.span,
                                       hints=(f"it may vary seed, {', '.join(sweepable)}",)))
            continue
        try:
            domains.append(_domain(b))
            names.append(key)
        except _Problem as p:
            problems.append(p.diagnostic)
    if problems:
        raise ProgramError(problems)
    size = math.prod(n for n, _ in domains)
    if size > limits.runs:
        raise _Problem("E401", f"sweep `{decl.name.id}` has {size:,} runs, over the limit of {limits.runs:,}",
                       decl.span, f"raise it with {Limits.FLAGS['runs']}")
    spans = {b.name.id: b.domain.span for b in decl.bindings}
    members: list[Member] = []
    for index, values in enumerate(itertools.product(*(v for _, v in domains))):
        chosen = tuple(zip(names, values))
        overrides = {k: v for k, v in chosen if k not in SWEEPABLE_OPTIONS}
        data = None
        for k, v in chosen:
            if k in SWEEPABLE_OPTIONS:
                try:
                    data = with_option(data or lf.target.data, k, v)
                except DataError as e:
                    raise _Problem("E404", f"sweep `{decl.name.id}`, member {', '.join(f'{k}={_show(v)}' for k, v in chosen)}: "
                                   f"{e.message}", spans[k], e.hint or "") from None
        init_seed = overrides.get("seed")
        for key in ("batch", "epochs", "seed"):
            if isinstance(overrides.get(key), float) and float(overrides[key]).is_integer():
                overrides[key] = int(overrides[key])
        if "betas" in overrides and isinstance(overrides["betas"], tuple):
            overrides["betas"] = tuple(overrides["betas"])
        try:
            opt = lf.segments[gname].replace(**overrides)
        except (TypeError, ValueError) as e:
            culprit = next((k for k in names if k in str(e)), names[-1])
            raise _Problem("E404", f"sweep `{decl.name.id}`, member {', '.join(f'{k}={_show(v)}' for k, v in chosen)}: "
                           f"{e}", spans[culprit]) from None
        if opt.epochs > limits.epochs:
            raise _Problem("E401", f"sweep `{decl.name.id}` asks for {opt.epochs} epochs, over the limit of "
                           f"{limits.epochs}", spans.get("epochs", decl.span),
                           f"raise it with {Limits.FLAGS['epochs']}")
        members.append(Member(index, chosen, opt, None if init_seed is None else int(init_seed), data))
    return Sweep(decl.name.id, fname, gname, tuple(names), tuple(members), decl.span)


def sweepable_keywords(optimizer_name: str) -> tuple[str, ...]:
    """What a sweep binding may override besides `seed`: the keywords of the generator's optimizer
    its registry entry lets a sweep bind, then batch size and epochs."""
    from backends.torch.optimizers import optimizer

    return (*optimizer(optimizer_name).bindable, "batch", "epochs")


def sweep_source(lf: LearningFunctor, generator: str) -> tuple[str, free.Path]:
    """The source object a sweep member's run starts from, and the path from it to the start
    of the swept generator."""
    dom = lf.presentation.generator[generator].dom
    path = object_paths(lf)[dom]
    return path.dom, path


# ---- Rep: the learning functor -----------------------------------------------------------------

REP_OPTIONS = ("probe", "layer", "size")


def _rep_functor(module: Module, F: Functor, data: dict, functors: dict[str, LearningFunctor],
                 broken: set[str], limits: Limits, cache_dir) -> RepFunctor:
    """Read `functor L : Training -> Rep(probe = digits.test, layer = -2) = features(Run)`."""
    from backends.torch.data import DataError
    from backends.torch.models import _top, infer_shapes

    ref: SemanticRef = F.target
    usage = "write `functor L : Training -> Rep(probe = digits.test, layer = -2) = features(Run)`"
    if ref.args:
        raise _Problem("E404", "Rep takes keyword arguments: `Rep(probe = digits.test, layer = -2)`",
                       ref.args[0].span)
    d = F.definition
    if d is None:
        raise _Problem("E404", f"`{F.name}` into Rep is defined by the learning functor, not by a body",
                       F.span, usage)
    if not (isinstance(d, A.Call) and isinstance(d.func, A.Name) and d.func.id == "features"):
        raise _Problem("E404", f"a functor into Rep is `features(…)`, not `{text_of(d)}`", d.span, usage)
    if len(d.positional) != 1 or not isinstance(d.positional[0], A.Name):
        raise _Problem("E404", "`features` takes the functor into Param whose runs it reads: `features(Run)`",
                       d.span, usage + " (L after Run); `L : Param -> Rep` on all of Param is not "
                       "supported in this version")
    base = d.positional[0].id
    if base in broken:
        raise ProgramError([])  # `base` has errors of its own; nothing more to say here
    if base not in functors:
        raise _Problem("E404", f"`{base}` is not a functor into Param", d.positional[0].span, usage)
    lf = functors[base]
    if F.source != lf.presentation.name:
        raise _Problem("E404", f"`{F.name}` goes out of `{F.source if isinstance(F.source, str) else F.source.name}` "
                       f"but `{base}` goes out of `{lf.presentation.name}`", F.span,
                       f"write `functor {F.name} : {lf.presentation.name} -> Rep(…) = features({base})`")
    options: dict[str, A.Expr] = {}
    for key, value in list(ref.kwargs) + list(d.keywords.items()):
        if key not in REP_OPTIONS:
            raise _Problem("E404", f"Rep has no option `{key}`", value.span,
                           f"its options are {', '.join(REP_OPTIONS)}")
        if key in options and text_of(options[key]) != text_of(value):
            raise _Problem("E404", f"`{key}` is given twice", value.span)
        options[key] = value
    # the probe set: `digits` or `digits.test` (the test split), or `digits.train`
    probe_expr = options.get("probe")
    if probe_expr is None:
        data_name, split, probe_span = lf.target.data_name, "test", ref.span
    elif isinstance(probe_expr, A.Name):
        data_name, split, probe_span = probe_expr.id, "test", probe_expr.span
    elif isinstance(probe_expr, A.QualName) and len(probe_expr.parts) == 2 and \
            probe_expr.parts[1] in ("test", "train"):
        (data_name, split), probe_span = probe_expr.parts, probe_expr.span
    else:
        raise _Problem("E404", f"the probe set is a data set's split, not `{text_of(probe_expr)}`",
                       probe_expr.span, "write `probe = digits.test` (or `digits.train`)")
    if data_name not in data:
        raise _Problem("E404", f"`{data_name}` is not a declared data set", probe_span)
    try:
        probe_facts = _facts(module, data[data_name], cache_dir)
        reads = _facts(module, lf.target.data, cache_dir).input_shape
    except DataError as e:
        raise _Problem("E403", e.message, probe_span, e.hint or "")
    available = probe_facts.test_size if split == "test" else probe_facts.train_size
    size = available
    if "size" in options:
        size = literal(options["size"], "size")
        if not isinstance(size, int) or isinstance(size, bool) or not 4 <= size <= available:
            raise _Problem("E404", f"probe size must be an integer from 4 to {available} "
                           f"(the size of `{data_name}.{split}`), not {_show(size)}", options["size"].span)
    if size > limits.probe:
        raise _Problem("E401", f"the probe set `{data_name}.{split}` has {size:,} points, over the limit of "
                       f"{limits.probe:,}", options.get("size", probe_expr or ref).span,
                       f"raise it with {Limits.FLAGS['probe']}, or take fewer with `size = …`")
    if size < 4:
        raise _Problem("E404", f"the probe set `{data_name}.{split}` has {size} points; Rep needs at least 4",
                       probe_span)
    if probe_facts.input_shape != reads:
        raise _Problem("E402", f"the probe `{data_name}.{split}` has inputs of shape {probe_facts.input_shape}, "
                       f"but `{lf.target.model_name}` reads {reads}", probe_span)
    # the layer: an index into the built nn.Sequential, Python style (-2: the penultimate output)
    layer_expr = options.get("layer")
    layer = -2 if layer_expr is None else literal(layer_expr, "layer")
    count = len(_top(lf.target.model))
    if not isinstance(layer, int) or isinstance(layer, bool) or not -count <= layer < count:
        raise _Problem("E404", f"layer {_show(layer)} is not a layer of `{lf.target.model_name}`, which has "
                       f"{count} layer{'s' if count != 1 else ''}", (layer_expr or ref).span,
                       f"index its layers with {-count}..{count - 1} (-2: the output of the layer before the last)")
    infer_shapes(lf.target.model, probe_facts.input_shape)
    return RepFunctor(F.name, base, layer, Probe(data_name, split, size, data[data_name]), F.span)
