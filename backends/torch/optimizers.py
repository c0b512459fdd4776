"""The optimizers a training segment can name (`sgd(lr = 0.1, …)`), one registry entry each.

An entry says everything the rest of the backend needs to know about an optimizer: which
hyperparameters it takes (their defaults and validation), its update over plain tensors, the
optimizer-state keys it writes, what the members of a batched ensemble may differ in, and what a
sweep may bind. `segment.OptimizerSpec` (validation, JSON), `train` and `ensemble` (the update,
per-member hyperparameters, state keys), the executor's ensemble batching key and the program
reader (sweeps, hint texts) all read it; nothing else names an optimizer.

Adding one is a module with its update function and a line in `OPTIMIZERS` (see
`docs/architecture.md`). Torch-free: the update is named as "module:function" and imported on
first use, so reading a program never imports torch.

The classic hyperparameters (`lr`, `momentum`, `weight_decay`, `nesterov`, `betas`, `eps`) are
fields of every segment so that its JSON — hence every stored job key — stays as it always was;
an optimizer's own further hyperparameters go to `OptimizerSpec.options`.
"""

from __future__ import annotations

import functools
import importlib
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

# An update maps (params, grads, opt_state, hyper) to (params', opt_state'), out of place. `hyper`
# holds the segment's hyperparameters at the current step (`OptimizerSpec.hyper`); in an ensemble
# the per-member ones are tensors of shape (members,) broadcasting over stacked parameters.
Update = Callable[[Mapping, Mapping, Mapping, Mapping], tuple[dict, dict]]


@dataclass(frozen=True)
class Hyperparameter:
    """A hyperparameter, its default and `canonical`: the value as hashed (1 and 1.0 hash alike),
    raising ValueError when the value is not allowed."""

    name: str
    default: Any
    canonical: Callable[[Any], Any] = float


def _positive_lr(value: Any) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"lr must be a positive number, got {value!r}")
    return float(value)


def _momentum(value: Any) -> float:
    if not 0 <= value < 1:
        raise ValueError(f"momentum must lie in [0, 1), got {value!r}")
    return float(value)


LR = Hyperparameter("lr", None, _positive_lr)
MOMENTUM = Hyperparameter("momentum", 0.0, _momentum)
WEIGHT_DECAY = Hyperparameter("weight_decay", 0.0)
NESTEROV = Hyperparameter("nesterov", False, lambda v: v)
BETAS = Hyperparameter("betas", (0.9, 0.999), lambda v: tuple(float(b) for b in v))
EPS = Hyperparameter("eps", 1e-8)

# The hyperparameters every segment carries as fields, in field order (see the module docstring).
CLASSIC = (LR, MOMENTUM, WEIGHT_DECAY, NESTEROV, BETAS, EPS)
CLASSIC_NAMES = tuple(h.name for h in CLASSIC)
# Segment keywords of every optimizer: a sweep may bind them whatever the optimizer.
SEGMENT = ("batch", "epochs", "seed")


def _no_state(spec: Any, params: Iterable[str]) -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class Optimizer:
    """One optimizer. `hyperparameters` are those its update reads, in the order hints list them
    (`lr` first: the schedule scales it); entries outside `CLASSIC` are its own."""

    name: str
    update: str | Update  # "module:function", imported on first use, or the function itself
    hyperparameters: tuple[Hyperparameter, ...] = (LR,)
    # classic hyperparameters it accepts (and hashes) without reading them, so files that set them
    # read as before; any other classic one must keep its default
    ignores: tuple[str, ...] = ()
    # hyperparameters the members of one batched ensemble may differ in, besides `lr` (with its
    # schedule) and the data-order seed, which always may; the rest must agree
    per_member: tuple[str, ...] = ()
    # what a sweep may bind besides seed, batch and epochs; None: every hyperparameter it takes
    sweepable: tuple[str, ...] | None = None
    # the optimizer-state keys a run with `spec` alone holds after a step from an empty state,
    # for parameters `params` (namespaced: `sgd.momentum/0.weight`)
    state_keys: Callable[[Any, Iterable[str]], frozenset[str]] = _no_state
    # fixed values handed to the update with the hyperparameters (adamw: decoupled = True)
    constants: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "constants", MappingProxyType(dict(self.constants)))

    @property
    def takes(self) -> tuple[str, ...]:
        """Every hyperparameter name it accepts: the classic ones in field order, then its own."""
        read = {"lr"} | {h.name for h in self.hyperparameters}  # every segment has a learning rate
        return tuple(n for n in CLASSIC_NAMES if n in read or n in self.ignores) + self.own_names

    @property
    def own(self) -> tuple[Hyperparameter, ...]:
        """Its hyperparameters beyond the classic ones (stored in `OptimizerSpec.options`)."""
        return tuple(h for h in self.hyperparameters if h.name not in CLASSIC_NAMES)

    @property
    def own_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.own)

    @property
    def bindable(self) -> tuple[str, ...]:
        """What a sweep over a generator trained with it may bind besides seed, batch and epochs."""
        return self.takes if self.sweepable is None else self.sweepable

    @property
    def shared(self) -> tuple[str, ...]:
        """The hyperparameters the members of one ensemble must agree on."""
        return tuple(n for n in self.takes if n != "lr" and n not in self.per_member)

    def function(self) -> Update:
        return _resolve(self.update) if isinstance(self.update, str) else self.update

    def check(self, spec: Any) -> tuple[tuple[str, Any], ...]:
        """Validate what a segment gives this optimizer; returns its own hyperparameters with
        defaults filled in and canonical values, sorted by name (the segment's `options`)."""
        takes = set(self.takes)
        for h in CLASSIC:
            if h.name not in takes and getattr(spec, h.name) != h.default:
                raise ValueError(f"{self.name} takes no `{h.name}`; it takes {', '.join(self.takes + SEGMENT)}")
        given = dict(spec.options)
        unknown = sorted(set(given) - set(self.own_names))
        if unknown:
            raise ValueError(f"{self.name} takes no `{unknown[0]}`; it takes {', '.join(self.takes + SEGMENT)}")
        return tuple(sorted((h.name, h.canonical(given.get(h.name, h.default))) for h in self.own))


@functools.cache
def _resolve(path: str) -> Update:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _sgd_state(spec: Any, params: Iterable[str]) -> frozenset[str]:
    return frozenset(f"sgd.momentum/{n}" for n in params) if spec.momentum else frozenset()


def _adam_state(spec: Any, params: Iterable[str]) -> frozenset[str]:
    params = tuple(params)
    return frozenset({"adam.step", *(f"adam.exp_avg/{n}" for n in params), *(f"adam.exp_avg_sq/{n}" for n in params)})


def _positive(name: str) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
        return float(value)
    return check


def _ema(value: Any) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value < 1):
        raise ValueError(f"ema must lie in [0, 1), got {value!r}")
    return float(value)


FISHER_KINDS = ("diagonal", "kfac")


def _fisher_kind(value: Any) -> str:
    if value not in FISHER_KINDS:
        raise ValueError(f"kind must be one of {', '.join(FISHER_KINDS)}, got {value!r}")
    return str(value)


def _natgrad_state(spec: Any, params: Iterable[str]) -> frozenset[str]:
    # names only: with kind = kfac a weight matrix holds Kronecker factors, anything else a
    # diagonal; both are listed (a superset is what ensembles need: the keys a member may keep)
    params = tuple(params)
    keys = {f"natgrad.fisher/{n}" for n in params}
    if dict(spec.options).get("kind") == "kfac":
        keys |= {f"natgrad.kfac_{f}/{n}" for n in params for f in "as"}
    return frozenset(keys)


_ADAM = dict(update="backends.torch.updates:adam_update", hyperparameters=(LR, BETAS, EPS, WEIGHT_DECAY),
             ignores=("momentum", "nesterov"), per_member=("momentum", "weight_decay"), state_keys=_adam_state)

OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "backends.torch.updates:sgd_update", (LR, MOMENTUM, WEIGHT_DECAY, NESTEROV),
              ignores=("betas", "eps"), per_member=("momentum", "weight_decay"), state_keys=_sgd_state),
    Optimizer("adam", **_ADAM, constants={"decoupled": False}),
    Optimizer("adamw", **_ADAM, constants={"decoupled": True}),
    # natural gradient with a running empirical Fisher (paper §8; backends/torch/fisher.py)
    Optimizer("natgrad", "backends.torch.updates:natgrad_update",
              (LR, Hyperparameter("damping", 1e-3, _positive("damping")), Hyperparameter("kind", "diagonal", _fisher_kind),
               Hyperparameter("ema", 0.95, _ema)),
              per_member=("damping", "ema"), state_keys=_natgrad_state),
)}


def optimizer(name: str) -> Optimizer:
    """The registered optimizer `name`; ValueError naming the known ones otherwise."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def ensemble_key(o: Mapping[str, Any]) -> list:
    """What the members of one batched ensemble must share, read from an optimizer's JSON."""
    entry = optimizer(o["name"])
    return [o["name"], o["batch"], o["epochs"], *(o[n] for n in entry.shared)]


def hint() -> str:
    """The optimizers and their keywords, for diagnostics: the first in full, each later one by
    `lr` and the hyperparameters it adds to those before it (`…` for the rest)."""
    shown: set[str] = set()
    parts = []
    for i, o in enumerate(OPTIMIZERS.values()):
        names = [h.name for h in o.hyperparameters]
        if i == 0:
            parts.append(f"{o.name}({', '.join(names + list(SEGMENT))})")
        else:
            new = [n for n in names if n not in shown]
            parts.append(f"{o.name}({', '.join((['lr'] if new else []) + new + ['…'])})")
        shown.update(names)
    return "optimizers: " + ", ".join(parts)
