"""The verdict of one obligation (docs/checking.md, "Verdicts and exit codes")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["proved", "refuted", "conditional", "passed", "failed", "error", "unknown"]

HOLDS = frozenset({"proved", "passed"})


@dataclass(frozen=True)
class Verdict:
    """What discharging one law found.

    `via` names the engine that decided it ("sympy", "hypothesis", "knuth-bendix", "torch").
    `witness` is a counterexample in `.cat` notation (refuted/failed), the solved condition
    (conditional) or the reason (error/unknown). `samples` counts property-test samples.
    `difference` is the largest numeric difference seen, where one was measured.
    """

    status: Status
    via: str
    witness: str | None = None
    samples: int | None = None
    difference: float | None = None

    @property
    def holds(self) -> bool:
        return self.status in HOLDS

    def word(self) -> str:
        """The verdict word of the report (`passed 200` carries its sample count)."""
        if self.status == "passed" and self.samples is not None:
            return f"passed {self.samples}"
        return self.status
