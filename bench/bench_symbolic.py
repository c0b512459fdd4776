"""Obligations per second of the symbolic backend: the exact engine and the property engine
side by side, on generated obligations of five families, in one run.

    python bench/bench_symbolic.py            # 1,000 obligations per family
    python bench/bench_symbolic.py --quick    # 100 per family

Families (about half of each family's laws hold):
  vect-numeric   h . (g . f) = (h . g) . f or g . f = f . g, integer and rational matrices
  vect-symbolic  entries with params: q . q = q, m . n = n . m  (solved: conditional/refuted)
  generic        map_id and map_comp of random rule functors `R^n |-> …`, `m |-> … (+) …`
  finset         associativity and commutation of random functions on sets of up to 6
  paths          boundary laws H(s, 0) = p(s) of straight-line homotopies (some perturbed)

The exact engine is sympy (block algebra for generic rules); the property engine is the
numeric one (numpy for closed matrices, hypothesis with --samples draws elsewhere, shrinking
included). `agree` counts obligations on which both engines say the same (holds or not).
"""

from __future__ import annotations

import argparse

from summary import emit, row
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import sympy  # noqa: E402

from backends.symbolic import Check, Env, FinSet, Vect  # noqa: E402
from backends.symbolic.finset import FiniteSet, Function  # noqa: E402
from backends.symbolic.paths import (S, T, Homotopy, Path as PathCell, Point,  # noqa: E402
                                     compare_numerically)
from backends.symbolic.vect import (Linear, Space, decide, property_decide,  # noqa: E402
                                    vanishes)
from catdsl.syntax import ast as A  # noqa: E402


# ---- generators: each returns a list of (symbolic thunk, property thunk) ---------------------


def vect_numeric(rng: random.Random, n: int, how: Check):
    V = Vect()

    def mat(r, c):
        return sympy.ImmutableMatrix(r, c, [sympy.Rational(rng.randint(-4, 4), rng.choice([1, 2]))
                                            for _ in range(r * c)])

    out = []
    for _ in range(n):
        d = [rng.randint(1, 4) for _ in range(4)]
        if rng.random() < 0.5:
            f, g, h = (Linear(Space(d[i]), Space(d[i + 1]), mat(d[i + 1], d[i])) for i in range(3))
            lhs = lambda f=f, g=g, h=h: V.compose(h, V.compose(g, f))
            rhs = lambda f=f, g=g, h=h: V.compose(V.compose(h, g), f)
        else:
            k = d[0]
            f, g = (Linear(Space(k), Space(k), mat(k, k)) for _ in range(2))
            lhs = lambda f=f, g=g: V.compose(g, f)
            rhs = lambda f=f, g=g: V.compose(f, g)

        def exact(lhs=lhs, rhs=rhs):
            return V.equal(lhs(), rhs(), how).holds

        def numeric(lhs=lhs, rhs=rhs):
            a = np.array(lhs().matrix.tolist(), dtype=float)
            b = np.array(rhs().matrix.tolist(), dtype=float)
            return bool(np.allclose(a, b, rtol=how.tol, atol=how.tol))

        out.append((exact, numeric))
    return out


def vect_symbolic(rng: random.Random, n: int, how: Check):
    a, b = sympy.symbols("a b", real=True)
    out = []
    for _ in range(n):
        k = rng.randint(1, 2)
        entries = [a, b, 0, 1, -1, 2, a + 1, a * b]
        m = sympy.ImmutableMatrix(k, k, [rng.choice(entries) for _ in range(k * k)])
        if rng.random() < 0.5:
            lhs, rhs = m * m, m
        else:
            other = sympy.ImmutableMatrix(k, k, [rng.choice(entries) for _ in range(k * k)])
            lhs, rhs = m * other, other * m

        def exact(lhs=lhs, rhs=rhs):
            return decide(lhs, rhs, how).holds

        def prop(lhs=lhs, rhs=rhs):
            syms = sorted((lhs - rhs).free_symbols, key=str)
            if not syms:
                return lhs == rhs
            return property_decide(lhs, rhs, syms, how).holds

        out.append((exact, prop))
    return out


def generic(rng: random.Random, n: int, how: Check):
    """Rules m |-> part (+) part …, each part `c * m` or `c * I(j)`; R^n |-> R^(k*n + J)."""
    V = Vect()
    out = []
    for i in range(n):
        parts, k, J = [], 0, 0
        for _ in range(rng.randint(1, 3)):
            c = rng.choice([1, 1, 1, 2, 0]) if rng.random() < 0.5 else 1
            if rng.random() < 0.6:
                part, k = A.Name("m"), k + 1
            else:
                j = rng.randint(1, 2)
                part, J = A.Call(A.Name("I"), (A.Number(str(j)),)), J + j
            parts.append(part if c == 1 else A.BinOp("*", A.Number(str(c)), part))
        if k == 0:
            parts.append(A.Name("m"))
            k = 1
        image = parts[0]
        for p in parts[1:]:
            image = A.BinOp("(+)", image, p)
        dim = A.BinOp("+", A.BinOp("*", A.Number(str(k)), A.Name("n")), A.Number(str(J)))
        rules = (A.Mapping(A.BinOp("^", A.Name("R"), A.Name("n")), A.BinOp("^", A.Name("R"), dim)),
                 A.Mapping(A.Name("m"), image))
        F = V.functor(rules, Env(), f"F{i}")
        law = rng.choice(["map_id", "map_comp"])
        out.append((lambda F=F, law=law: getattr(F, law)(how, route="symbolic").holds,
                    lambda F=F, law=law: getattr(F, law)(how, route="property").holds))
    return out


def finset(rng: random.Random, n: int, how: Check):
    from hypothesis import strategies as st

    from backends.symbolic.check import search

    C = FinSet()
    out = []
    for _ in range(n):
        X = FiniteSet(tuple(range(rng.randint(1, 6))))

        def fn(X=X):
            return Function(X, X, tuple(rng.choice(X.elements) for _ in X.elements))

        f, g, h = fn(), fn(), fn()
        if rng.random() < 0.5:
            lhs, rhs = C.compose(h, C.compose(g, f)), C.compose(C.compose(h, g), f)
        else:
            lhs, rhs = C.compose(g, f), C.compose(f, g)

        def prop(lhs=lhs, rhs=rhs):
            return not search(st.sampled_from(lhs.dom.elements), lambda x: lhs(x) != rhs(x),
                              how).found

        out.append((lambda lhs=lhs, rhs=rhs: C.equal(lhs, rhs, how).holds, prop))
    return out


def paths(rng: random.Random, n: int, how: Check):
    A_ = Point((sympy.Integer(-1), sympy.Integer(0)))
    B_ = Point((sympy.Integer(1), sympy.Integer(0)))
    out = []
    for _ in range(n):
        c1, c2 = (sympy.Rational(rng.randint(-4, 4), 4) for _ in range(2))
        p = PathCell(A_, B_, (2 * T - 1, c1 * sympy.sin(sympy.pi * T)))
        q = PathCell(A_, B_, (2 * T - 1, c2 * sympy.sin(sympy.pi * T) * (1 + T)))
        bump = sympy.Rational(rng.choice([0, 0, 1]), 10) * S * (1 - S) * (1 - T)
        straight = [(1 - T) * x + T * y for x, y in zip(p.at(S), q.at(S))]
        H = Homotopy(p, q, (straight[0], straight[1] + bump))
        x = sympy.Dummy("x", real=True)
        lhs, rhs = H.at(x, 0), p.at(x)
        out.append((lambda lhs=lhs, rhs=rhs: all(vanishes(u - v) for u, v in zip(lhs, rhs)),
                    lambda lhs=lhs, rhs=rhs, x=x: compare_numerically(
                        lhs, rhs, (x,), ("s",), "lhs", "rhs", how)[0].holds))
    return out


FAMILIES = {"vect-numeric": vect_numeric, "vect-symbolic": vect_symbolic, "generic": generic,
            "finset": finset, "paths": paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 obligations per family")
    parser.add_argument("--count", type=int, default=None, help="obligations per family")
    parser.add_argument("--samples", type=int, default=20, help="property-test samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=",".join(FAMILIES), help="families, comma separated")
    args = parser.parse_args()
    count = args.count or (100 if args.quick else 1000)
    how = Check(samples=args.samples, seed=args.seed)
    print(f"{count} obligations per family; property engine: {args.samples} samples, "
          f"tol {how.tol}")
    print(f"{'family':<15}{'exact obl/s':>13}{'property obl/s':>16}{'exact/property':>16}"
          f"{'hold':>7}{'agree':>8}")
    rows = []
    for name in args.only.split(","):
        rng = random.Random(args.seed)
        obligations = FAMILIES[name](rng, count, how)
        t0 = time.perf_counter()
        exact = [e() for e, _ in obligations]
        t1 = time.perf_counter()
        prop = [p() for _, p in obligations]
        t2 = time.perf_counter()
        rate_e, rate_p = count / (t1 - t0), count / (t2 - t1)
        agree = sum(x == y for x, y in zip(exact, prop))
        print(f"{name:<15}{rate_e:>13.0f}{rate_p:>16.0f}{rate_e / rate_p:>15.1f}x"
              f"{sum(exact):>7}{agree:>8}", flush=True)
        rows.append(row(f"obligations/s, {name}: exact vs property engine",
                        f"{rate_e:.0f} vs {rate_p:.0f} obl/s, agree {agree}/{count}", rate_e / rate_p))
    emit("bench_symbolic", rows)


if __name__ == "__main__":
    main()
