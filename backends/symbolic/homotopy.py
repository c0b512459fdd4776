"""Homotopy classes of parallel paths in the sublevel set {loss <= level} of `Paths(loss, level)`.

Two paths p, q : A -> B are homotopic relative to their endpoints inside X = {loss <= level}
when the loop p · q⁻¹ is null-homotopic in X (paper Def 3.1). In R^n with no level every two
are; the level is what makes classes.

- **2-D, decided on a grid.** X's complement {loss > level} splits into connected components;
  a loop in X can only wind around the bounded ones (an unbounded component lies in the
  unbounded face of the loop). So p ~ q when the winding number of p · q⁻¹ around each bounded
  component is 0. This is exact up to homology, hence exact whenever p · q⁻¹ is a simple loop
  (a simple loop bounding no obstacle bounds a disc inside X, Jordan–Schoenflies); the grid only
  has to resolve the components (`grid` points a side over the paths' bounding box).
- **Any dimension, a certificate.** The straight-line homotopy H(s, t) = (1 − t) p(s) + t q(s),
  or a 2-cell `α : p => q` of the functor, kept under the level on a dense (s, t) grid joins p
  and q. Where no certificate is found (and n != 2) the pair is left `undecided`: the classes are
  then the finest partition the certificates allow, and are reported as not exact.

Values are evaluated by `numeric.compile_numeric` (a walk of the sympy tree, never `exec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backends.symbolic.numeric import compile_numeric
from backends.symbolic.paths import S, T
from backends.symbolic.smooth import coordinates

# Samples along each path (for the level check and the winding numbers), and the grids of the
# sublevel set (2-D) and of the straight-line homotopy certificate.
PATH_SAMPLES = 4097
GRID = 401
SQUARE = (129, 33)


@dataclass(frozen=True)
class PathClasses:
    """The classes of a functor's parallel generators, hom-set by hom-set.

    `classes` lists generator names; `outside` the generators whose path leaves {loss <= level}
    (they are no paths of X, so in no class); `undecided` the pairs in different classes that no
    certificate joins (only where the decision is not exact); `holes` the bounded components of
    {loss > level} found per hom-set; `method` "winding" (2-D, exact) or "certificate"."""

    classes: tuple[tuple[str, ...], ...]
    level: float
    method: str
    exact: bool
    outside: tuple[str, ...] = ()
    undecided: tuple[tuple[str, str], ...] = ()
    holes: dict[str, int] = field(default_factory=dict)
    windings: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"classes": [list(c) for c in self.classes], "level": self.level, "method": self.method,
                "exact": self.exact, "outside": list(self.outside),
                "undecided": [list(p) for p in self.undecided], "holes": self.holes,
                "windings": {k: list(v) for k, v in self.windings.items()}}


def path_classes(category, paths: dict, cells: dict | None = None, level: float | None = None,
                 grid: int = GRID) -> PathClasses:
    """Classes of the paths `{name: Path}` of `category` (a `Paths(loss, level)`), under homotopy
    rel endpoints in {loss <= level} (`level` defaults to the category's). `cells` maps
    (source, target) generator names to a Homotopy between them, used as a certificate."""
    if category.loss is None:
        raise ValueError("homotopy classes need `Paths(loss = …, level = …)`")
    level = float(category.level) if level is None else float(level)
    n = category.dim
    xs = coordinates(n)
    loss = compile_numeric((category.loss,), xs)
    f = lambda *c: loss(*c)[0]  # noqa: E731

    samples = {name: _samples(p) for name, p in paths.items()}
    outside = tuple(name for name, pts in samples.items() if not np.all(f(*pts.T) <= level + 1e-12))
    inside = [name for name in paths if name not in outside]
    groups: dict[tuple, list[str]] = {}
    for name in inside:
        groups.setdefault((paths[name].dom, paths[name].cod), []).append(name)

    classes, undecided, holes, windings = [], [], {}, {}
    for (dom, cod), names in groups.items():
        key = f"{dom} -> {cod}"
        if n == 2:
            obstacles = _obstacles(f, level, [samples[m] for m in names], grid)
            holes[key] = len(obstacles)
            ref = samples[names[0]]
            by: dict[tuple[int, ...], list[str]] = {}
            for m in names:
                w = tuple(_winding(samples[m], ref, z) for z in obstacles)
                windings[m] = w
                by.setdefault(w, []).append(m)
            classes.extend(tuple(ms) for ms in by.values())
            continue
        # other dimensions: union of certified pairs
        parent = {m: m for m in names}

        def find(m):
            while parent[m] != m:
                parent[m] = parent[parent[m]]
                m = parent[m]
            return m

        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if find(a) == find(b):
                    continue
                cell = (cells or {}).get((a, b)) or (cells or {}).get((b, a))
                if _certified(f, level, paths[a], paths[b], cell):
                    parent[find(b)] = find(a)
        by = {}
        for m in names:
            by.setdefault(find(m), []).append(m)
        found = [tuple(ms) for ms in by.values()]
        classes.extend(found)
        if n != 1:
            undecided.extend((c[0], d[0]) for i, c in enumerate(found) for d in found[i + 1:])
    return PathClasses(tuple(classes), level, "winding" if n == 2 else "certificate", not undecided, outside,
                       tuple(undecided), holes, windings)


def _samples(p) -> np.ndarray:
    """(PATH_SAMPLES, n) points of the path on [0, 1]."""
    t = np.linspace(0.0, 1.0, PATH_SAMPLES)
    return np.stack(compile_numeric(p.coords, (T,))(t), axis=1)


def _obstacles(f, level: float, curves: list[np.ndarray], grid: int) -> list[np.ndarray]:
    """One point (the highest grid point) of each bounded component of {loss > level} near the
    curves: components of the grid cells above the level inside a box around the curves, except
    those touching the box's border (they reach the unbounded face of every loop in the box)."""
    from scipy import ndimage

    pts = np.concatenate(curves)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    margin = 0.25 * np.maximum(hi - lo, 1e-3).max() + 0.1
    lo, hi = lo - margin, hi + margin
    gx, gy = np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid)
    X, Y = np.meshgrid(gx, gy, indexing="ij")
    values = f(X, Y)
    above = ~(values <= level)  # NaN counts as above: the loss is not low there
    labels, count = ndimage.label(above, structure=np.ones((3, 3)))
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))) - {0}
    found = []
    for k in range(1, count + 1):
        if k in border:
            continue
        mask = labels == k
        masked = np.where(mask, np.nan_to_num(values, nan=np.inf), -np.inf)
        i, j = np.unravel_index(np.argmax(masked), masked.shape)
        found.append(np.array([X[i, j], Y[i, j]]))
    return found


def _angle(curve: np.ndarray, z: np.ndarray) -> float:
    """The total change of the argument of curve(t) − z along the curve."""
    d = curve - z
    a = np.arctan2(d[:, 1], d[:, 0])
    step = np.diff(a)
    step = (step + np.pi) % (2 * np.pi) - np.pi
    return float(step.sum())


def _winding(p: np.ndarray, q: np.ndarray, z: np.ndarray) -> int:
    """Winding number of the loop p · q⁻¹ around z."""
    w = (_angle(p, z) - _angle(q, z)) / (2 * np.pi)
    return int(round(w))


def _certified(f, level: float, p, q, cell=None) -> bool:
    """A homotopy from p to q under the level on a dense grid: the given 2-cell, else the
    straight line (1 − t) p(s) + t q(s)."""
    s, t = np.meshgrid(np.linspace(0, 1, SQUARE[0]), np.linspace(0, 1, SQUARE[1]), indexing="ij")
    if cell is not None:
        pts = compile_numeric(cell.coords, (S, T))(s, t)
        if np.all(f(*pts) <= level):
            return True
    ps, qs = compile_numeric(p.coords, (T,))(s), compile_numeric(q.coords, (T,))(s)
    pts = [(1 - t) * a + t * b for a, b in zip(ps, qs)]
    return bool(np.all(f(*pts) <= level))
