"""A `Scene` as a PNG image, drawn with matplotlib (imported here only, on first use)."""

from __future__ import annotations

from catdsl.draw.scene import Curve, Polygon, Scene, Text


class NoMatplotlib(Exception):
    """`--to png` needs matplotlib, which is not installed."""


def to_png(scene: Scene, path: str, scale: float = 2.0) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import PathPatch
        from matplotlib.patches import Polygon as PolygonPatch
        from matplotlib.path import Path as MPath
    except ImportError as e:  # pragma: no cover - matplotlib is installed with the backends
        raise NoMatplotlib(f"--to png needs matplotlib ({e}); --to svg needs nothing") from None

    dpi = 72.0 * scale  # one scene pixel is one point
    fig = Figure(figsize=(scene.width / 72.0, scene.height / 72.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    codes = {2: [MPath.MOVETO, MPath.LINETO], 3: [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3],
             4: [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4]}
    for item in scene.items:
        if isinstance(item, Text):
            ax.text(item.x, item.y, item.text, fontsize=item.size,
                    ha="left" if item.anchor == "start" else "center", va="center_baseline",
                    fontweight="bold" if item.bold else "normal",
                    fontstyle="italic" if item.role in ("object", "arrow", "cell") else "normal")
        elif isinstance(item, Curve):
            curve = MPath(list(item.points), codes[len(item.points)])
            if item.double:
                ax.add_patch(PathPatch(curve, fill=False, lw=4.2, edgecolor="black", capstyle="butt"))
                ax.add_patch(PathPatch(curve, fill=False, lw=1.8, edgecolor="white", capstyle="butt"))
            else:
                ax.add_patch(PathPatch(curve, fill=False, lw=item.width, edgecolor="black"))
        elif isinstance(item, Polygon):
            ax.add_patch(PolygonPatch(list(item.points), closed=item.filled, fill=item.filled,
                                      facecolor="black", edgecolor="black", lw=1.2))
    fig.savefig(path, dpi=dpi, facecolor="white")
