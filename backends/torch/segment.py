"""A training segment as a value: the optimizer, its hyperparameters and learning-rate schedule,
batch size, epochs and data-order seed (`sgd(lr = 0.1, …)` in a .cat file).

Plain frozen dataclasses with no torch, so a program is read and compiled into a plan — and a
fully cached `catdsl run` finishes — without importing torch. `backends.torch.train` applies
them (and re-exports them: `from backends.torch.train import OptimizerSpec` keeps working).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# The optimizers and losses `train` implements (its `OPTIMIZERS` and `LOSSES` have these keys).
OPTIMIZER_NAMES = ("sgd", "adam", "adamw")
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
    """One training segment: optimizer, its hyperparameters, batch size, epochs and the data-order seed."""

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

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZER_NAMES:
            raise ValueError(f"unknown optimizer {self.name!r}; known: {', '.join(OPTIMIZER_NAMES)}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        for key in ("batch", "epochs", "seed"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "batch" else 0):
                raise ValueError(f"{key} must be a {'positive' if key == 'batch' else 'non-negative'} integer, "
                                 f"got {value!r}")
        for key in ("lr", "momentum", "weight_decay", "eps"):  # 1 and 1.0 must hash alike
            object.__setattr__(self, key, float(getattr(self, key)))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace) for content hashes."""
        fields_ = {k: v for k, v in self.__dict__.items() if k != "schedule"}
        schedule = self.schedule or Constant()
        kind = next(name for name, cls in SCHEDULES.items() if isinstance(schedule, cls))
        fields_["schedule"] = {"kind": kind, **schedule.__dict__}
        return json.dumps(fields_, sort_keys=True, separators=(",", ":"))

    def lr_at(self, step: int) -> float:
        """The learning rate of the update made at global step `step` (0-based)."""
        return self.lr * (self.schedule.factor(step) if self.schedule is not None else 1.0)

    def hyper(self, step: int) -> dict[str, Any]:
        """The hyperparameters an update function reads, at global step `step`."""
        return {"lr": self.lr_at(step), "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov, "betas": self.betas, "eps": self.eps, "decoupled": self.name == "adamw"}
