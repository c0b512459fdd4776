"""Sublevel-set persistence of a function sampled on a grid (paper §4.3, S Defs 6.1–6.2).

The filtration is gudhi's cubical complex built from **vertex values**: each grid point is a
vertex carrying the sampled value, an edge (square, cube) enters at the largest value of its
vertices. So a bar's birth and death are sampled values — birth at a grid minimum, death at
the grid saddle where its component merges into an older one (the elder rule) or where its
loop is filled — and gudhi's `vertices_of_persistence_pairs` maps every bar back to those two
grid points. (Top-dimensional cells would make each sample a pixel and join diagonal
neighbours, and the vertex map of a bar would be undefined there.)

Conventions, stated once:

- **The essential class.** The component of the global minimum never dies; its bar is
  `(min, None)` — `null` in JSON — and it is excluded from total persistence and from the
  distances between diagrams. `range` (max − min of the samples) is reported beside it.
- **Noise.** A grid turns a ring of minima into many tiny H0 bars. A finite bar is flagged
  `noise` when its persistence is at most the grid's local resolution: the largest change of
  the function along one grid edge at its birth or death vertex (or at most a given absolute
  threshold). Flagged bars are kept in the diagram and left out of total persistence.
- **Total persistence** is (Σ (d − b)^p)^(1/p) over the finite bars not flagged as noise.

Only numpy and gudhi are imported (gudhi when a diagram is computed); no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


class NotFinite(ValueError):
    """The sampled function is not a finite real number at some grid point."""

    def __init__(self, index: tuple[int, ...], value: float):
        super().__init__(f"the value at grid index {index} is {value}")
        self.index, self.value = index, value


@dataclass(frozen=True)
class Bar:
    """One point (birth, death) of a persistence diagram, with the grid points it comes from:
    the vertex where the class is born (a minimum, for H0) and the one where it dies (a saddle
    for H0; the vertex filling the loop for H1). `death` is None for the essential class."""

    dimension: int
    birth: float
    death: float | None
    born_at: tuple[int, ...]
    dies_at: tuple[int, ...] | None
    noise: bool = False

    @property
    def persistence(self) -> float:
        return math.inf if self.death is None else self.death - self.birth

    @property
    def essential(self) -> bool:
        return self.death is None


@dataclass(frozen=True)
class Diagram:
    """The persistence diagram of sampled values on a grid with coordinate `axes`."""

    bars: tuple[Bar, ...]
    axes: tuple[tuple[float, ...], ...]
    minimum: float
    maximum: float

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a) for a in self.axes)

    def of(self, dimension: int, finite: bool = False, noise: bool = True) -> list[Bar]:
        return [b for b in self.bars if b.dimension == dimension and not (finite and b.essential)
                and (noise or not b.noise)]

    def pairs(self, dimension: int, noise: bool = True) -> np.ndarray:
        """The finite bars of one dimension as an (n, 2) array (for the distances)."""
        bars = self.of(dimension, finite=True, noise=noise)
        return np.array([[b.birth, b.death] for b in bars], dtype=float).reshape(-1, 2)

    def point(self, index: tuple[int, ...]) -> tuple[float, ...]:
        """The coordinates of a grid index."""
        return tuple(axis[i] for axis, i in zip(self.axes, index))

    def to_json(self) -> dict[str, list[list[float | None]]]:
        """`{"0": [[b, d], …], "1": […]}`, the essential class with death null, longest first."""
        dims = range(len(self.axes)) if self.axes else range(1)
        return {str(k): [[b.birth, b.death] for b in self.of(k)] for k in dims}

    def bars_json(self) -> list[dict]:
        """Every bar with its grid points and coordinates, for the report."""
        return [{"dimension": b.dimension, "birth": b.birth, "death": b.death,
                 "persistence": None if b.essential else b.persistence, "noise": b.noise,
                 "born_at": list(self.point(b.born_at)),
                 "dies_at": None if b.dies_at is None else list(self.point(b.dies_at))}
                for b in self.bars]


def diagram(values: np.ndarray, axes: Sequence[Sequence[float]] | None = None,
            noise: float | None = None) -> Diagram:
    """The sublevel persistence diagram of `values` (an n-dimensional array, one value per grid
    point) by gudhi's vertex-valued cubical complex. `noise`: an absolute threshold for the
    noise flag; None uses the grid's local resolution (module docstring). Raises NotFinite."""
    import gudhi

    values = np.asarray(values, dtype=float)
    if axes is None:
        axes = [range(n) for n in values.shape]
    axes = tuple(tuple(float(v) for v in a) for a in axes)
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NotFinite(index, float(values[index]))
    complex_ = gudhi.CubicalComplex(vertices=values)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0.0)
    regular, essential = complex_.vertices_of_persistence_pairs()
    flat = values.ravel(order="F")  # gudhi numbers vertices in Fortran order
    at = lambda i: tuple(int(j) for j in np.unravel_index(int(i), values.shape, order="F"))  # noqa: E731
    resolution = _edge_variation(values) if noise is None else None
    bars: list[Bar] = []
    for dim, rows in enumerate(regular):
        for b, d in np.asarray(rows).reshape(-1, 2):
            birth, death = float(flat[b]), float(flat[d])
            if death <= birth:
                continue  # a zero-length pair of a flat region: not a feature
            threshold = noise if noise is not None else max(resolution.ravel(order="F")[b],
                                                            resolution.ravel(order="F")[d])
            bars.append(Bar(dim, birth, death, at(b), at(d), noise=bool(death - birth <= threshold)))
    for dim, rows in enumerate(essential):
        for b in np.asarray(rows).reshape(-1):
            bars.append(Bar(dim, float(flat[b]), None, at(b), None))
    bars.sort(key=lambda bar: (bar.dimension, -bar.persistence, bar.birth))
    return Diagram(tuple(bars), axes, float(values.min()), float(values.max()))


def total_persistence(d: Diagram, p: float = 1.0, dimensions: Iterable[int] | None = None,
                      noise: bool = False, essential: str = "exclude") -> float:
    """(Σ (death − birth)^p)^(1/p) over the finite bars of `dimensions` (default all); bars
    flagged as noise only when `noise` is true. The essential classes are excluded, or with
    `essential = "truncate"` counted as dying at the largest sampled value (on a smooth basin,
    whose diagram has no finite bar, this is the loss range of the grid)."""
    dims = set(range(max(len(d.axes), 1))) if dimensions is None else set(dimensions)
    lengths = [b.persistence for b in d.bars if b.dimension in dims and not b.essential
               and (noise or not b.noise)]
    if essential == "truncate":
        lengths += [d.maximum - b.birth for b in d.bars if b.dimension in dims and b.essential]
    if p == math.inf:
        return max(lengths, default=0.0)
    return float(sum(x ** p for x in lengths) ** (1.0 / p))


def bottleneck(a: Diagram, b: Diagram, dimension: int = 0, noise: bool = True) -> float:
    """The bottleneck distance between the finite bars of one dimension of two diagrams."""
    import gudhi

    return float(gudhi.bottleneck_distance(a.pairs(dimension, noise), b.pairs(dimension, noise)))


def wasserstein(a: Diagram, b: Diagram, dimension: int = 0, order: float = 1.0,
                noise: bool = True) -> float:
    """The q-Wasserstein distance (sup ground metric, as the bottleneck) between the finite bars
    of one dimension of two diagrams (gudhi's hera)."""
    from gudhi.hera import wasserstein_distance

    pa, pb = a.pairs(dimension, noise), b.pairs(dimension, noise)
    if len(pa) == 0 and len(pb) == 0:
        return 0.0
    return float(wasserstein_distance(pa, pb, order=order, internal_p=np.inf))


def _edge_variation(values: np.ndarray) -> np.ndarray:
    """At each grid point, the largest |f(u) − f(v)| over the grid edges at it."""
    out = np.zeros_like(values)
    for axis in range(values.ndim):
        step = np.abs(np.diff(values, axis=axis))
        lo = [slice(None)] * values.ndim
        hi = [slice(None)] * values.ndim
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        out[tuple(lo)] = np.maximum(out[tuple(lo)], step)
        out[tuple(hi)] = np.maximum(out[tuple(hi)], step)
    return out


__all__ = ["Bar", "Diagram", "NotFinite", "diagram", "total_persistence", "bottleneck",
           "wasserstein"]
