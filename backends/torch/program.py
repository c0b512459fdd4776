"""Read the learning part of a Module: data, models, and functors into `Param(model, data, …)`.

This is the torch backend's elaboration: it turns value expressions (`dataset(...)`,
`Linear(64, 32) >> ReLU`, `sgd(lr = 0.1, …)`, `init(seed = 0)`) into frozen specs and
checks them statically (shapes, hyperparameters, resource limits) — without importing torch
beyond the spec classes, and without training anything. Problems are `Diagnostic`s (E4xx).
"""

from __future__ import annotations

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
class Program:
    module: Module
    data: dict[str, Any]
    models: dict[str, Any]
    functors: dict[str, LearningFunctor]


def literal(e: A.Expr, what: str) -> Any:
    """A number, string, bool or bare name (read as a string) from a value expression."""
    match e:
        case A.Number(text=t):
            return float(t) if any(c in t for c in ".eE") else int(t)
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


def read_program(module: Module, limits: Limits = Limits()) -> Program:
    """Specs for every data, model and Param functor of the module; raises ProgramError."""
    problems: list[Diagnostic] = []
    data: dict[str, Any] = {}
    models: dict[str, Any] = {}
    data_spans: dict[str, Span] = {}
    for decl in module.declarations:
        try:
            if decl.kind == "data":
                data[decl.name] = _data_spec(decl.statement.value)
                data_spans[decl.name] = decl.span
            elif decl.kind == "model":
                models[decl.name] = _model_spec(decl.statement.value)
        except _Problem as p:
            problems.append(p.diagnostic)
    functors: dict[str, LearningFunctor] = {}
    for F in module.functors.values():
        if isinstance(F.target, SemanticRef) and F.target.name == "Param":
            try:
                functors[F.name] = _learning_functor(module, F, data, models, limits)
            except _Problem as p:
                problems.append(p.diagnostic)
            except ProgramError as e:
                problems.extend(e.diagnostics)
    if problems:
        raise ProgramError(problems)
    return Program(module, data, models, functors)


def _call(e: A.Expr) -> tuple[str, tuple, dict, A.Expr]:
    if isinstance(e, A.Name):
        return e.id, (), {}, e
    if isinstance(e, A.Call) and isinstance(e.func, A.Name):
        return (e.func.id, tuple(literal(a, f"an argument of {e.func.id}") for a in e.positional),
                {k: literal(v, f"`{k}`") for k, v in e.keywords.items()}, e)
    raise _Problem("E404", f"expected a call like `name(key = value)`, found `{text_of(e)}`", e.span)


def _data_spec(e: A.Expr):
    from backends.torch.data import DataSpec

    name, args, kwargs, _ = _call(e)
    if name != "dataset" or len(args) != 1 or not isinstance(args[0], str):
        raise _Problem("E403", f"`{text_of(e)}` is not a dataset", e.span,
                       'write `dataset("digits", test = 0.25, seed = 0)`')
    return DataSpec.of(args[0], **kwargs)


def _model_spec(e: A.Expr):
    from backends.torch.models import LayerError, Sequential, make_layer

    parts = e.parts if isinstance(e, A.Compose) else (e,)
    layers = []
    for part in reversed(parts):  # applicative order -> the order data flows
        if isinstance(part, A.Compose):
            layers.append(_model_spec(part))
            continue
        name, args, kwargs, _ = _call(part)
        try:
            layers.append(make_layer(name, *args, **kwargs))
        except (LayerError, TypeError, ValueError) as err:
            hint = getattr(err, "hint", None)
            raise _Problem("E402", str(getattr(err, "message", err)), part.span, hint or "")
    return layers[0] if len(layers) == 1 else Sequential.of(*layers)


def _learning_functor(module: Module, F: Functor, data, models, limits: Limits) -> LearningFunctor:
    from backends.torch.data import DataError, load_dataset
    from backends.torch.models import ShapeError, parameter_count
    from backends.torch.train import OptimizerSpec

    ref: SemanticRef = F.target
    if len(ref.args) != 2 or not all(isinstance(a, A.Name) for a in ref.args):
        raise _Problem("E404", "Param takes a model and a data set: `Param(mlp, digits, loss = …)`",
                       ref.span)
    model_name, data_name = (a.id for a in ref.args)
    if model_name not in models:
        raise _Problem("E201" if model_name not in data else "E404",
                       f"`{model_name}` is not a declared model", ref.args[0].span)
    if data_name not in data:
        raise _Problem("E404", f"`{data_name}` is not a declared data set", ref.args[1].span)
    loss_expr = ref.kwarg("loss")
    loss = literal(loss_expr, "loss") if loss_expr is not None else "cross_entropy"
    from backends.torch.train import LOSSES

    if loss not in LOSSES:
        raise _Problem("E404", f"unknown loss `{loss}`", loss_expr.span, f"known: {', '.join(LOSSES)}")
    try:
        dataset = load_dataset(data[data_name], cache_dir=None)
    except DataError as e:
        raise _Problem("E403", e.message, module.declarations and _span_of(module, data_name) or ref.span,
                       e.hint or "")
    try:
        count = parameter_count(models[model_name], dataset.input_shape)
    except ShapeError as e:
        raise _Problem("E402", f"model `{model_name}` does not fit `{data_name}` "
                       f"(input shape {dataset.input_shape}): layer {e.args[0]}: {e.args[1] if len(e.args) > 1 else e}",
                       _span_of(module, model_name) or ref.span)
    if count > limits.params:
        raise _Problem("E401", f"model `{model_name}` has {count:,} parameters, over the limit of "
                       f"{limits.params:,}", _span_of(module, model_name) or ref.span,
                       f"raise it with {Limits.FLAGS['params']}")
    p = module.presentations[F.source]
    incoming = {g.cod for g in p.generators}
    inits: dict[str, int] = {}
    problems: list[Diagnostic] = []
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
            inits[obj] = int(kwargs.get("seed", 0))
        except _Problem as e:
            problems.append(e.diagnostic)
    segments: dict[str, Any] = {}
    for g in p.generators:
        img = F.arrows.get(g.name)
        if img is None:
            continue
        try:
            name, args, kwargs, _ = _call(img.expr)
            if args:
                raise _Problem("E404", f"`{name}` takes keyword arguments only", img.expr.span)
            sched = kwargs.pop("schedule", None)
            if "betas" in kwargs:
                kwargs["betas"] = tuple(kwargs["betas"])
            for key in ("batch", "epochs", "seed"):
                if isinstance(kwargs.get(key), float) and float(kwargs[key]).is_integer():
                    kwargs[key] = int(kwargs[key])
            if sched is not None:
                if sched != "constant":
                    raise _Problem("E404", f"schedule `{sched}` cannot be written in a .cat file yet",
                                   img.expr.span, "only `schedule = constant` is supported in v0")
                from backends.torch.train import SCHEDULES

                kwargs["schedule"] = SCHEDULES["constant"]()
            spec = OptimizerSpec(name, **kwargs)
        except _Problem as e:
            problems.append(e.diagnostic)
            continue
        except (TypeError, ValueError) as e:
            problems.append(Diagnostic("E404", f"`{g.name} |-> {text_of(img.expr)}`: {e}", img.expr.span,
                                       hints=("optimizers: sgd(lr, momentum, weight_decay, nesterov, batch, "
                                              "epochs, seed), adam(lr, betas, eps, …), adamw(…)",)))
            continue
        if spec.epochs > limits.epochs:
            problems.append(Diagnostic("E401", f"`{g.name}` asks for {spec.epochs} epochs, over the limit "
                                       f"of {limits.epochs}", img.expr.span,
                                       hints=(f"raise it with {Limits.FLAGS['epochs']}",)))
        segments[g.name] = spec
    if problems:
        raise ProgramError(problems)
    target = ParamTarget(model_name, data_name, models[model_name], data[data_name], loss)
    return LearningFunctor(F.name, p, target, inits, segments,
                           {k: v.span for k, v in {**F.objects, **F.arrows}.items()})


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
