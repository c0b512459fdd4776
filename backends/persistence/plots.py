"""Plots (PNG) of `persistence` reports: the persistence diagram, the landscape heat map with the
minima (births) and saddles (deaths) of its bars marked, and the scatter of the generalization
gap against each measure of a sweep.

    python -m backends.persistence.plots REPORT.json OUT_DIR [--store DIR]

REPORT.json is the output of `catdsl run FILE --format json`; the heat maps of landscapes read
their grids from the run store (`--store`, default `.catdsl/` beside the file). matplotlib is
imported here only.
"""

from __future__ import annotations

import math
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def diagram_plot(report: dict, path: Path, title: str) -> None:
    """Births against deaths, one colour per dimension, the essential class on a top line, noise
    bars hollow."""
    plt = _plt()
    bars = report["bars"]
    finite = [b["death"] for b in bars if b["death"] is not None]
    top = max(finite + [b["birth"] for b in bars] + [0.0])
    low = min([b["birth"] for b in bars] + [0.0])
    inf_line = top + 0.1 * (top - low or 1.0)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for dim, colour in ((0, "tab:blue"), (1, "tab:orange"), (2, "tab:green")):
        mine = [b for b in bars if b["dimension"] == dim]
        if not mine:
            continue
        for noise in (False, True):
            pts = [(b["birth"], inf_line if b["death"] is None else b["death"]) for b in mine if b["noise"] == noise]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(xs, ys, s=18, label=f"H{dim}{' (noise)' if noise else ''}",
                           facecolors="none" if noise else colour, edgecolors=colour)
    ax.plot([low, inf_line], [low, inf_line], color="grey", lw=0.8)
    ax.axhline(inf_line, color="grey", lw=0.5, ls="--")
    ax.set_xlabel("birth")
    ax.set_ylabel("death (dashed line: never)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def heat_map(values, axes, report: dict, path: Path, title: str) -> None:
    """The sampled landscape with the minima (births, ●) and saddles (deaths, ×) of the bars that
    are not noise."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.2))
    xs, ys = axes
    im = ax.imshow(values.T, origin="lower", extent=(xs[0], xs[-1], ys[0], ys[-1]), aspect="auto", cmap="viridis")
    fig.colorbar(im, ax=ax)
    for b in report["bars"]:
        if b["noise"]:
            continue
        ax.plot(*b["born_at"][:2], "o", color="white", ms=5, mec="black")
        if b["dies_at"] is not None:
            ax.plot(*b["dies_at"][:2], "x", color="red", ms=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scatter(report: dict, path: Path, title: str) -> None:
    """The gap (train − test accuracy) against each measure, one panel each, with Kendall τ."""
    plt = _plt()
    measures = list(report["statistics"])
    fig, axs = plt.subplots(1, len(measures), figsize=(3.4 * len(measures), 3.2))
    runs = list(report["runs"].values())
    for ax, m in zip(axs, measures):
        pts = [(r[m], r["gap"]) for r in runs if r.get(m) is not None and r.get("gap") is not None
               and math.isfinite(r[m])]
        if pts:
            ax.scatter(*zip(*pts), s=12)
        s = report["statistics"][m]
        tau = "-" if s.get("kendall_tau") is None else f"{s['kendall_tau']:.2f}"
        r2 = "-" if s.get("r2") is None else f"{s['r2']:.2f}"
        ax.set_title(f"{m}\nR² {r2}, τ {tau}", fontsize=8)
        ax.set_xlabel(m, fontsize=8)
    axs[0].set_ylabel("gap (train − test accuracy)", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_report(run: dict, out: Path, store_dir: Path | None) -> list[Path]:
    """Every plot of every persistence analysis of a `catdsl run --format json` report."""
    out.mkdir(parents=True, exist_ok=True)
    made = []
    from backends.run.saved_report import open_store

    store = open_store(store_dir)
    for name, a in run["analyses"].items():
        if a.get("kind") != "persistence":
            continue
        safe = name.replace("@", "_")
        if "runs" in a:
            scatter(a, out / f"{safe}-scatter.png", f"persistence {name}")
            made.append(out / f"{safe}-scatter.png")
            label, first = next(iter(a["runs"].items()))
            single = {**first, "options": a["options"]}
        else:
            label, single = name, a
        diagram_plot(single, out / f"{safe}-diagram.png", f"{label}: persistence diagram")
        made.append(out / f"{safe}-diagram.png")
        if store is not None and single.get("job"):
            t = {k: v.numpy() for k, v in store.tensors(single["job"]).items()}
            values = t[single.get("options", {}).get("metric", "loss")]
            heat_map(values, (t["axis"], t["axis"]), single, out / f"{safe}-landscape.png",
                     f"{label}: landscape (● minima, × saddles)")
            made.append(out / f"{safe}-landscape.png")
    return made


def main(argv: list[str] | None = None) -> int:
    from backends.run.saved_report import command

    return command("python -m backends.persistence.plots", plot_report, argv)


if __name__ == "__main__":
    raise SystemExit(main())
