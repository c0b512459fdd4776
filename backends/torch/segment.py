"""A training segment as a value: the optimizer, its hyperparameters and learning-rate schedule,
batch size, epochs and data-order seed (`sgd(lr = 0.1, …)` in a .cat file).

Plain frozen dataclasses with no torch, so a program is read and compiled into a plan — and a
fully cached `catdsl run` finishes — without importing torch. `backends.torch.train` applies
them (and re-exports them: `from backends.torch.train import OptimizerSpec` keeps working).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from .optimizers import CLASSIC, CLASSIC_NAMES, OPTIMIZERS, optimizer

# The losses `train` implements (its `LOSSES` has these keys); optimizers: `optimizers.OPTIMIZERS`.
LOSS_NAMES = ("cross_entropy", "mse")


# --- learning-rate schedules: functions of the global step --------------------------------------


@dataclass(frozen=True)
class Constant:
    """lr(t) = lr."""

    def factor(self, step: int) -> float:
        return 1.0


@dataclass(frozen=True)
class Step:
    """lr(t) = lr · gamma^⌊t / every⌋."""

    every: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"step schedule: every must be a positive integer, got {self.every!r}")

    def factor(self, step: int) -> float:
        return self.gamma ** (step // self.every)


@dataclass(frozen=True)
class Cosine:
    """lr(t) = lr · (floor + (1 − floor) · (1 + cos(π · min(t, total) / total)) / 2)."""

    total: int
    floor: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.total, int) or self.total < 1:
            raise ValueError(f"cosine schedule: total must be a positive integer, got {self.total!r}")

    def factor(self, step: int) -> float:
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * min(step, self.total) / self.total))


SCHEDULES = {"constant": Constant, "step": Step, "cosine": Cosine}


@dataclass(frozen=True)
class OptimizerSpec:
    """One training segment: optimizer, its hyperparameters, batch size, epochs and the data-order seed.

    What the optimizer takes is its registry entry's (`optimizers.OPTIMIZERS`): the classic
    hyperparameters are fields, its own further ones `options` (name, value) pairs."""

    name: str
    lr: float
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    batch: int = 64
    epochs: int = 1
    seed: int = 0
    schedule: Constant | Step | Cosine | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        entry = optimizer(self.name)
        for h in CLASSIC:  # canonical values: 1 and 1.0 must hash alike
            object.__setattr__(self, h.name, h.canonical(getattr(self, h.name)))
            if h.name == "momentum" and self.nesterov and self.momentum == 0:
                raise ValueError("nesterov needs momentum > 0")
        for key in ("batch", "epochs", "seed"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "batch" else 0):
                raise ValueError(f"{key} must be a {'positive' if key == 'batch' else 'non-negative'} integer, "
                                 f"got {value!r}")
        options = self.options.items() if isinstance(self.options, dict) else self.options
        object.__setattr__(self, "options", tuple(options))
        object.__setattr__(self, "options", entry.check(self))

    @classmethod
    def of(cls, name: str, **values: Any) -> "OptimizerSpec":
        """A segment from keywords as a file writes them: the optimizer's own hyperparameters go
        to `options`; an unknown keyword is a TypeError as for any call."""
        mine = OPTIMIZERS[name].own_names if name in OPTIMIZERS else ()  # an unknown name: __post_init__ says so
        own = {k: values.pop(k) for k in mine if k in values}
        return cls(name, **values, options=tuple(own.items()))

    def replace(self, **changes: Any) -> "OptimizerSpec":
        """This segment with some keywords changed (a sweep member's overrides)."""
        name = changes.get("name", self.name)
        own = {k: changes.pop(k) for k in (OPTIMIZERS[name].own_names if name in OPTIMIZERS else ()) if k in changes}
        return dataclasses.replace(self, **changes, options=tuple({**dict(self.options), **own}.items()))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace) for content hashes."""
        fields_ = {k: v for k, v in self.__dict__.items() if k not in ("schedule", "options")}
        fields_.update(self.options)
        schedule = self.schedule or Constant()
        kind = next(name for name, cls in SCHEDULES.items() if isinstance(schedule, cls))
        fields_["schedule"] = {"kind": kind, **schedule.__dict__}
        return json.dumps(fields_, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, o: dict) -> "OptimizerSpec":
        """Inverse of `to_json` (read as JSON data)."""
        o = dict(o)
        schedule = o.pop("schedule", None)
        if schedule is not None:
            schedule = dict(schedule)
            schedule = SCHEDULES[schedule.pop("kind")](**schedule)
        fields_ = {f.name for f in dataclasses.fields(cls)} - {"options"}
        options = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in o.items() if k not in fields_)
        return cls(**{k: v for k, v in o.items() if k in fields_}, schedule=schedule, options=options)

    def lr_at(self, step: int) -> float:
        """The learning rate of the update made at global step `step` (0-based)."""
        return self.lr * (self.schedule.factor(step) if self.schedule is not None else 1.0)

    def hyper(self, step: int) -> dict[str, Any]:
        """The hyperparameters an update function reads, at global step `step`."""
        return {**{n: getattr(self, n) for n in CLASSIC_NAMES}, "lr": self.lr_at(step), **dict(self.options),
                **OPTIMIZERS[self.name].constants}
