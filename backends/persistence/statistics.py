"""Does a measure predict generalization? The statistics of one measure against the
generalization gap over a sweep's runs, as a sceptical reader asks for them (Jiang et al.
2020, Tan et al. 2024):

- `r2` of the least-squares line gap ~ measure (= Pearson r² for one predictor), `pearson`,
  `spearman`, `kendall_tau`;
- `granulated_tau` (Jiang et al.'s Ψ): for each hyperparameter axis, Kendall τ among the runs
  that differ only in that axis, averaged over the groups of the axis, then over the axes —
  a measure that only tracks a confounded hyperparameter scores low on the other axes;
- `partial` — the Pearson correlation of measure and gap after regressing both on the
  controlled hyperparameters (log-scaled learning rate and batch size when the sweep varies
  them).

A statistic that cannot be computed (fewer than three runs, a constant measure) is None, never
NaN. numpy and scipy only.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Mapping, Sequence

import numpy as np

CONTROLLED = ("lr", "batch")


def _finite(v) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def statistics(measure: Sequence[float], gap: Sequence[float],
               hyper: Sequence[Mapping[str, object]] = ()) -> dict[str, float | None]:
    """r2, pearson, spearman, kendall_tau, granulated_tau and partial of `measure` against `gap`;
    `hyper[i]` are run i's hyperparameter values (its sweep bindings)."""
    from scipy import stats

    m, g = np.asarray(measure, dtype=float), np.asarray(gap, dtype=float)
    keep = np.isfinite(m) & np.isfinite(g)
    m, g = m[keep], g[keep]
    hyper = [h for h, k in zip(hyper, keep) if k] if hyper else []
    out: dict[str, float | None] = dict.fromkeys(("r2", "pearson", "spearman", "kendall_tau",
                                                  "granulated_tau", "partial"))
    out["n"] = int(len(m))
    if len(m) < 3 or np.ptp(m) == 0 or np.ptp(g) == 0:
        return out
    r = stats.pearsonr(m, g).statistic
    out.update(r2=_finite(r * r), pearson=_finite(r), spearman=_finite(stats.spearmanr(m, g).statistic),
               kendall_tau=_finite(stats.kendalltau(m, g).statistic))
    if hyper:
        out["granulated_tau"] = granulated_tau(m, g, hyper)
        out["partial"] = partial_correlation(m, g, hyper)
    return out


def granulated_tau(measure, gap, hyper: Sequence[Mapping[str, object]]) -> float | None:
    """Jiang et al.'s Ψ: the mean over axes of the mean Kendall τ within the groups of runs equal
    in every other axis."""
    from scipy import stats

    axes = [k for k in hyper[0] if k != "seed" and len({repr(h[k]) for h in hyper}) > 1]
    per_axis = []
    for axis in axes:
        groups: dict[tuple, list[int]] = defaultdict(list)
        for i, h in enumerate(hyper):
            groups[tuple(repr(h[k]) for k in sorted(h) if k != axis)].append(i)
        taus = []
        for members in groups.values():
            if len(members) < 2:
                continue
            m, g = np.asarray(measure)[members], np.asarray(gap)[members]
            if np.ptp(m) == 0 or np.ptp(g) == 0:
                continue
            tau = stats.kendalltau(m, g).statistic
            if math.isfinite(tau):
                taus.append(tau)
        if taus:
            per_axis.append(float(np.mean(taus)))
    return float(np.mean(per_axis)) if per_axis else None


def partial_correlation(measure, gap, hyper: Sequence[Mapping[str, object]],
                        controlled: Sequence[str] = CONTROLLED) -> float | None:
    """Pearson r of the residuals of measure and gap after least squares on log(lr), log(batch)
    (those the runs vary)."""
    columns = []
    for key in controlled:
        values = [h.get(key) for h in hyper]
        if any(not isinstance(v, (int, float)) or v <= 0 for v in values) or len(set(values)) < 2:
            continue
        columns.append(np.log(np.asarray(values, dtype=float)))
    if not columns:
        return None
    design = np.column_stack([np.ones(len(measure)), *columns])
    resid = lambda v: v - design @ np.linalg.lstsq(design, v, rcond=None)[0]  # noqa: E731
    rm, rg = resid(np.asarray(measure, float)), resid(np.asarray(gap, float))
    if np.std(rm) < 1e-15 or np.std(rg) < 1e-15:
        return None
    return _finite(np.corrcoef(rm, rg)[0, 1])


__all__ = ["statistics", "granulated_tau", "partial_correlation"]
