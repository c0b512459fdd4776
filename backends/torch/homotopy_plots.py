"""Plots (PNG) of `classes C of S by homotopy(…)` over a sweep: the barrier curves of chosen pairs
and the dendrogram of the classes.

    python -m backends.torch.homotopy_plots REPORT.json OUT_DIR [--store DIR]

REPORT.json is the output of `catdsl run FILE --format json`; `catdsl run FILE --plots DIR` writes
the same files (through the `plots` hook of `backends/analyses/classes.py`). For an analysis `C`:

- `C-curves.png`: the metric along the path (linear or Bezier, t from 0 to 1) for up to six
  evaluated pairs, spread over the range of their barriers (the lowest, the highest and evenly
  between), with the mean of the endpoints (dotted) and that mean plus the level (dashed): a
  pair is joined when its curve stays at or below the dashed line. The per-point values are the
  `values` of each pair's `barrier` job in the run store (`backends/torch/barrier.py`); without
  the store, this plot is not drawn.
- `C-dendrogram.png`: single linkage on the matrix of barriers, the level τ a horizontal line;
  cut at τ it gives exactly the classes (`partition_at`). It needs only the report's `barriers`.

Pairs the adaptive order skipped (`catdsl run` without `--exhaustive`) have no barrier. They all
lie within a class (every pair between two classes is evaluated), and every class is connected
by evaluated pairs of barrier ≤ τ, so the merges above τ (and the cut at τ) are exact; below τ
the merge heights are upper bounds (a skipped pair could only lower them). The dendrogram says
so and shades that band; with `--exhaustive` every height is exact. A barrier that is not a
number (a diverged point) never joins, as in the classes; such pairs and skipped ones enter the
linkage as a height above every barrier, where no merge happens for them.

Nothing here imports torch: matplotlib and scipy are imported when a plot is drawn, the store is
read for job metrics only.
"""

from __future__ import annotations

import math
from pathlib import Path

PANELS = 6  # barrier curves drawn


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pairs(report: dict) -> dict[tuple[str, str], float]:
    """The report's barriers by (label, label)."""
    out = {}
    for pair, v in report["barriers"].items():
        a, _, b = pair.partition(" ~ ")
        out[(a, b)] = v
    return out


def linkage(report: dict):
    """(scipy single-linkage matrix, labels in its order, pairs without a finite barrier) of a
    classes report; the matrix is None for fewer than two runs."""
    import numpy as np
    from scipy.cluster.hierarchy import linkage as scipy_linkage
    from scipy.spatial.distance import squareform

    labels = sorted((x for c in report["classes"] for x in c), key=_natural)  # every run is in a class
    index = {x: i for i, x in enumerate(labels)}
    n = len(labels)
    known = {(index[a], index[b]): v for (a, b), v in _pairs(report).items() if v is not None and math.isfinite(v)}
    top = max([*known.values(), report["level"], 0.0])
    fill = 2.0 * top + 1.0  # above every barrier and the level
    D = np.full((n, n), fill)
    np.fill_diagonal(D, 0.0)
    for (i, j), v in known.items():
        D[i, j] = D[j, i] = max(v, 0.0)
    missing = n * (n - 1) // 2 - len(known)
    if n < 2:
        return None, labels, missing  # nothing to link
    return scipy_linkage(squareform(D, checks=False), method="single"), labels, missing


def _natural(label: str):
    """S[10] after S[9]."""
    head, _, rest = label.partition("[")
    digits = rest.rstrip("]")
    return (head, int(digits) if digits.isdigit() else math.inf, label)


def partition_at(report: dict) -> list[set[str]]:
    """The dendrogram cut at the level: the runs whose single-linkage distance is at most τ."""
    from scipy.cluster.hierarchy import fcluster

    Z, labels, _ = linkage(report)
    if len(labels) < 2:
        return [set(labels)]
    flat = fcluster(Z, t=report["level"], criterion="distance")
    by: dict[int, set[str]] = {}
    for label, c in zip(labels, flat):
        by.setdefault(int(c), set()).add(label)
    return list(by.values())


def dendrogram_plot(report: dict, path: Path, title: str) -> bool:
    """The single-linkage dendrogram of the barriers with the level marked; False when the sweep
    has fewer than two runs."""
    from scipy.cluster.hierarchy import dendrogram

    Z, labels, missing = linkage(report)
    if len(labels) < 2:
        return False
    plt = _plt()
    level = report["level"]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.22 * len(labels) + 2.0), 4.2))
    dendrogram(Z, labels=labels, ax=ax, color_threshold=level, above_threshold_color="grey",
               leaf_font_size=7 if len(labels) <= 40 else 5)
    ax.axhline(level, color="tab:red", ls="--", lw=1.0, label=f"level τ = {level:g}")
    finite = [v for v in report["barriers"].values() if v is not None and math.isfinite(v)]
    filler = 2 * max([*finite, level, 0.0])  # `linkage` puts pairs with no finite barrier above this
    heights = [h for h in Z[:, 2] if h <= filler]
    notes = []
    if len(heights) < len(Z):
        notes.append("merges off the top: pairs with no finite barrier")
    ax.set_ylim(0, 1.15 * max([*heights, level]) + 1e-12)
    if missing and report.get("order") != "exhaustive":
        ax.axhspan(0, level, color="tab:orange", alpha=0.08)
        notes.append(f"shaded, below τ: upper bounds ({missing} pair(s) not evaluated, adaptive order)")
    ax.set_xlabel("\n".join(notes), fontsize=7)
    ax.set_ylabel(f"barrier ({report.get('metric', 'loss')})")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def chosen(report: dict, curves: dict[str, list[float]], panels: int = PANELS) -> list[str]:
    """Up to `panels` evaluated pairs with curves, spread evenly over the sorted barriers (the
    lowest and the highest included)."""
    pairs = sorted((p for p, v in report["barriers"].items() if p in curves and v is not None and math.isfinite(v)),
                   key=lambda p: (report["barriers"][p], p))
    if len(pairs) <= panels:
        return pairs
    picks = sorted({round(k * (len(pairs) - 1) / (panels - 1)) for k in range(panels)})
    return [pairs[k] for k in picks]


def curves_plot(report: dict, curves: dict[str, list[float]], path: Path, title: str) -> bool:
    """The metric along the path of the chosen pairs; False when no pair has a curve."""
    pairs = chosen(report, curves)
    if not pairs:
        return False
    plt = _plt()
    level, metric = report["level"], report.get("metric", "loss")
    cols = min(3, len(pairs))
    rows = math.ceil(len(pairs) / cols)
    fig, axs = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.7 * rows), squeeze=False)
    for ax in axs.flat[len(pairs):]:
        ax.axis("off")
    for ax, pair in zip(axs.flat, pairs):
        values = curves[pair]
        ts = [k / (len(values) - 1) for k in range(len(values))] if len(values) > 1 else [0.0]
        ends = (values[0] + values[-1]) / 2
        barrier = report["barriers"][pair]
        joined = barrier <= level
        ax.plot(ts, values, "o-", ms=3, color="tab:blue" if joined else "tab:red")
        ax.axhline(ends, color="grey", ls=":", lw=1.0, label="mean of endpoints")
        ax.axhline(ends + level, color="tab:red", ls="--", lw=1.0, label="mean + τ")
        ax.set_title(f"{pair}\nbarrier {barrier:.4g} ({'joined: ≤ τ' if joined else 'apart: > τ'})", fontsize=8)
        ax.set_xlabel("t", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.tick_params(labelsize=7)
    axs.flat[0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def barrier_curves(store, classes_key: str) -> dict[str, list[float]]:
    """The per-point values of every evaluated pair of a classes job, by "A ~ B" label pair, read
    from the pairs' `barrier` jobs in the store (the keys are recomputed as the job computed them;
    a pair whose job is not in the store is left out)."""
    from backends.run.plan import Job
    from backends.torch.barrier import PathSpec, barrier_job

    if not store.has(classes_key):
        return {}
    classes = store.get(classes_key)
    keys, labels = classes.spec["members"], classes.spec["labels"]
    spec = PathSpec(**classes.spec["path"])
    members = [Job(k, "train", labels[i], store.get(k).spec) for i, k in enumerate(keys)]
    out = {}
    for pair in classes.metrics["barriers"]:
        i, j = map(int, pair.split(","))
        key = barrier_job(members[i], members[j], spec, "").key  # a key depends on the spec only
        if store.has(key):
            out[f"{labels[i]} ~ {labels[j]}"] = list(store.get(key).metrics["values"])
    return out


def plot_classes(name: str, report: dict, out: Path, curves: dict[str, list[float]] | None = None) -> list[Path]:
    """Every plot of one classes report of a sweep (none for the classes of a Paths functor)."""
    if "barriers" not in report or report.get("evaluations") is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    safe = name.replace("@", "_")
    made = []
    how = (f"{report.get('metric', 'loss')} on {report.get('split', 'train')}, {report.get('path', 'linear')} path"
           f"{', aligned' if report.get('aligned') else ''}")
    target = out / f"{safe}-dendrogram.png"
    if dendrogram_plot(report, target, f"classes {name} of {report['of']}: single linkage of barriers\n{how}"):
        made.append(target)
    target = out / f"{safe}-curves.png"
    if curves and curves_plot(report, curves, target, f"classes {name} of {report['of']}: {how}, level τ = "
                                                       f"{report['level']:g}"):
        made.append(target)
    return made


def plot_report(run: dict, out: Path, store_dir: Path | None) -> list[Path]:
    """Every plot of every classes analysis of a `catdsl run --format json` report; the curves
    when the run store is at `store_dir`."""
    from backends.run.saved_report import open_store

    store = open_store(store_dir)
    jobs = {(j["kind"], j["label"]): j["key"] for j in run.get("jobs", [])}
    made = []
    for name, a in run["analyses"].items():
        if a.get("kind") != "classes":
            continue
        key = jobs.get(("classes", f"classes {name} of {a.get('of')}"))
        curves = barrier_curves(store, key) if store is not None and key is not None else None
        made.extend(plot_classes(name, a, out, curves))
    return made


def main(argv: list[str] | None = None) -> int:
    from backends.run.saved_report import command

    return command("python -m backends.torch.homotopy_plots", plot_report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
