"""Elaboration is linear in the size of one category and of one functor: checked by counting
work (presentations made, Python lines run), never by timing, so the test is exact on any
machine. A category whose presentation or indexes are rebuilt per item does quadratic work and
fails here."""

from __future__ import annotations

import sys

import pytest

from catdsl.semantics import elaborate as E
from catdsl.syntax.parse import parse


def big_category(n: int) -> str:
    """A category with `n` objects, ~2n generators and ~2n equations, and a functor mapping it
    into itself, every object and generator (the forms of bench/bench_parse.py)."""
    lines = ["category Big {"]
    for i in range(0, n, 10):
        lines.append("  objects " + ", ".join(f"X{j}" for j in range(i, min(i + 10, n))))
        for j in range(i, min(i + 10, n)):
            if j >= 1:
                lines.append(f"  f{j - 1} : X{j - 1} -> X{j}")
            if j >= 2:
                lines.append(f"  g{j - 2} : X{j - 2} -> X{j}")
                lines.append(f"  eq e{j - 2} : f{j - 1} . f{j - 2} = g{j - 2}")
            if j >= 3:
                lines.append(f"  eq s{j - 3} : g{j - 2} . f{j - 3} = f{j - 1} . g{j - 3}")
                lines.append(f"  eq t{j - 3} : id(X{j}) . g{j - 2} >> id(X{j}) = g{j - 2}")
    lines.append("  eq loop : id . f0 = f0 . id(X0)")
    lines.append("}")
    lines.append("functor Same : Big -> Big {")
    lines += [f"  X{j} |-> X{j}" for j in range(n)]
    lines += [f"  f{j} |-> f{j}" for j in range(n - 1)]
    lines += [f"  g{j} |-> f{j + 1} . f{j}" for j in range(n - 2)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def lines_run(tree, module=E) -> int:
    """The number of Python lines run while elaborating `tree` (sys.settrace line events)."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        module.elaborate(tree, "big.cat")
    finally:
        sys.settrace(None)
    return count


def test_the_big_category_elaborates_fully():
    n = 60
    m = E.elaborate(parse(big_category(n), "big.cat"), "big.cat")
    (p,) = m.presentations.values()
    assert len(p.objects) == n and len(p.generators) == 2 * n - 3
    assert len(p.equations) == (n - 2) + 2 * (n - 3) + 1
    assert len(m.functors["Same"].arrows) == 2 * n - 3


def test_one_presentation_is_made_per_category(monkeypatch):
    made = []
    real = E.Presentation

    def counting(*args, **kwargs):
        made.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "Presentation", counting)
    text = big_category(50) + "category Small { objects A; f : A -> A; eq idem : f . f = f }\n"
    E.elaborate(parse(text, "big.cat"), "big.cat")
    assert made == ["Big", "Small"]


@pytest.mark.parametrize("n", [150])
def test_elaborating_twice_the_category_does_about_twice_the_work(n):
    small = lines_run(parse(big_category(n), "big.cat"))
    large = lines_run(parse(big_category(2 * n), "big.cat"))
    # linear work doubles (a little under: the fixed cost of a file); quadratic work quadruples
    assert 1.8 < large / small < 2.3, (small, large)
