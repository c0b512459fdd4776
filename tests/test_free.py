"""Free categories and Knuth–Bendix decisions (catdsl.semantics.free): examples and laws."""

from __future__ import annotations

import doctest
import itertools
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catdsl.semantics import free
from catdsl.semantics.free import (
    Budget,
    Generator,
    NotComposable,
    Path,
    RewriteSystem,
    compose,
    decide,
    generator_path,
    identity,
    render,
    then,
)

# A typed graph where every object has an outgoing arrow, so random walks never get stuck.
GRAPH = [
    Generator("f", "A", "B"),
    Generator("g", "B", "C"),
    Generator("h", "B", "B"),
    Generator("k", "C", "A"),
    Generator("e", "A", "A"),
]
GENS = {gen.name: gen for gen in GRAPH}


def loops(*words: str, obj: str = "X") -> list[Path]:
    """Paths on one object, one letter per generator: `loops("xy")` is x then y."""
    return [Path(obj, obj, tuple(word)) for word in words]


def monoid(letters: str, equations: list[tuple[str, str]], budget: Budget = Budget()):
    """A one-object presentation: generators `letters`, equations between words of them."""
    gens = [Generator(x, "X", "X") for x in letters]
    eqs = [(f"eq{i}", *loops(lhs, rhs)) for i, (lhs, rhs) in enumerate(equations)]
    return RewriteSystem(gens, eqs, budget)


@st.composite
def walks(draw, graph=GRAPH, start: str | None = None, max_len: int = 5) -> Path:
    """A random well-typed path, starting at `start` or anywhere."""
    objects = sorted({gen.dom for gen in graph})
    dom = start if start is not None else draw(st.sampled_from(objects))
    at, word = dom, []
    for _ in range(draw(st.integers(0, max_len))):
        gen = draw(st.sampled_from([g for g in graph if g.dom == at]))
        word.append(gen.name)
        at = gen.cod
    return Path(dom, at, tuple(word))


# --- the free category -------------------------------------------------------------------


def test_doctests_state_the_axioms():
    assert doctest.testmod(free).failed == 0


def test_import_stays_cheap():
    heavy = "{'sympy', 'torch', 'hypothesis', 'lark'}"
    code = f"import sys, catdsl.semantics.free; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_compose_and_render():
    p, q = generator_path(GENS["f"]), generator_path(GENS["h"])
    qqp = compose(q, compose(q, p))
    assert qqp == Path("A", "B", ("f", "h", "h"))
    assert render(qqp) == "h . h . f"
    assert render(qqp, applicative=False) == "f >> h >> h"
    assert render(identity("A")) == "id(A)"
    assert then(p, q) == compose(q, p)


def test_not_composable_carries_both_paths():
    f, g = generator_path(GENS["f"]), generator_path(GENS["g"])
    with pytest.raises(NotComposable) as err:
        compose(f, g)
    assert (err.value.g, err.value.f) == (f, g)
    assert "cod = C but dom = A" in str(err.value)


def test_empty_path_must_be_an_identity():
    with pytest.raises(ValueError):
        Path("A", "B", ())


# Associativity and the unit laws of the free category: tests/symbolic/test_category_axioms.py.


# --- deciding equations ------------------------------------------------------------------


def issue_target() -> tuple[RewriteSystem, Path, Path]:
    """The issue's example: p : A -> B, q : B -> B, eq idem : q . q = q."""
    p_gen, q_gen = Generator("p", "A", "B"), Generator("q", "B", "B")
    p, q = generator_path(p_gen), generator_path(q_gen)
    return RewriteSystem([p_gen, q_gen], [("idem", compose(q, q), q)]), p, q


def test_idempotent_q_proves_qqp_equals_qp():
    system, p, q = issue_target()
    decision = decide(system, compose(q, compose(q, p)), compose(q, p))
    assert decision.status == "proved"
    assert decision.lhs_normal == decision.rhs_normal == compose(q, p)
    assert "q . p" in decision.reason


def test_idempotent_q_refutes_p_equals_qp():
    system, p, q = issue_target()
    decision = decide(system, p, compose(q, p))
    assert decision.status == "refuted"
    assert (render(decision.lhs_normal), render(decision.rhs_normal)) == ("p", "q . p")
    assert system.completion.confluent


def test_completion_runs_once():
    system, p, q = issue_target()
    assert system.completion is system.completion
    decide(system, p, p)
    assert system.completion is system.completion


def test_s3_completes_to_a_finite_system():
    """x^3 = 1, y^2 = 1, (xy)^2 = 1 presents S3: completion must find its 6 normal forms."""
    system = monoid("xy", [("xxx", ""), ("yy", ""), ("xyxy", "")])
    done = system.completion
    assert done.confluent and done.stopped is None
    words = [Path("X", "X", w) for n in range(7) for w in itertools.product("xy", repeat=n)]
    assert len({system.normal_form(w) for w in words}) == 6
    assert decide(system, *loops("yxy", "xx")).status == "proved"  # y x y = x^-1
    assert decide(system, *loops("x", "y")).status == "refuted"
    assert decide(system, *loops("xy", "yx")).status == "refuted"  # S3 is not abelian


def test_group_with_inverse_relations_completes():
    """The free group on one generator (a A = A a = 1) with a^2 = 1 is Z/2."""
    system = monoid("aA", [("aA", ""), ("Aa", ""), ("aa", "")])
    assert system.completion.confluent
    assert decide(system, *loops("A", "a")).status == "proved"
    assert decide(system, *loops("a", "")).status == "refuted"


@pytest.mark.parametrize(
    "letters, equations",
    [
        ("ab", [("aba", "bab")]),  # the positive braid monoid: infinitely many shortlex rules
        ("aAbB", [("aA", ""), ("Aa", ""), ("bB", ""), ("Bb", ""), ("Bab", "aa")]),  # BS(1, 2)
    ],
)
def test_tiny_budget_gives_unknown(letters, equations):
    system = monoid(letters, equations, Budget(max_rules=5))
    done = system.completion
    assert not done.confluent and done.stopped == "max_rules=5"
    decision = decide(system, *loops("a", "b"))
    assert decision.status == "unknown"
    assert "max_rules=5" in decision.reason
    # Rules found so far are still sound: what they join is proved.
    lhs, rhs = equations[-1]
    assert decide(system, *loops(lhs, rhs)).status == "proved"


def test_step_budget_is_reported():
    system = monoid("ab", [("aba", "bab")], Budget(max_steps=3))
    assert system.completion.stopped == "max_steps=3"
    assert "max_steps=3" in decide(system, *loops("a", "b")).reason


def test_trivial_equation_is_dropped():
    system = monoid("x", [("xx", "xx")])
    assert system.oriented == ()
    assert decide(system, *loops("x", "xx")).status == "refuted"


def test_equations_are_oriented_by_shortlex():
    system = monoid("ab", [("b", "a"), ("a", "bb"), ("ab", "ba")])
    assert system.oriented == (
        ("eq0", ("b",), ("a",)),
        ("eq1", ("b", "b"), ("a",)),
        ("eq2", ("b", "a"), ("a", "b")),
    )


def test_ill_typed_input_is_rejected():
    f, g = generator_path(GENS["f"]), generator_path(GENS["g"])
    with pytest.raises(ValueError, match="not parallel"):
        RewriteSystem(GRAPH, [("bad", f, g)])
    with pytest.raises(ValueError):
        RewriteSystem(GRAPH, [("bad", Path("A", "C", ("g", "f")), Path("A", "C", ("f", "g")))])
    with pytest.raises(ValueError, match="not parallel"):
        decide(RewriteSystem(GRAPH), f, g)


# --- laws of the decision procedure on random presentations -------------------------------


@st.composite
def typed_presentations(draw) -> RewriteSystem:
    """Equations between random parallel walks on GRAPH, under a small budget."""
    paths = draw(st.lists(walks(max_len=4), min_size=2, max_size=10))
    pairs = [
        (p, q) for p, q in itertools.combinations(paths, 2) if (p.dom, p.cod) == (q.dom, q.cod)
    ]
    eqs = [(f"eq{i}", p, q) for i, (p, q) in enumerate(pairs[:3])]
    return RewriteSystem(GRAPH, eqs, Budget(max_rules=20, max_steps=300, seconds=0.5))


@settings(deadline=None, max_examples=60)
@given(typed_presentations(), st.lists(walks(max_len=8), min_size=1, max_size=5))
def test_normal_forms_are_idempotent_and_typed(system, paths):
    for path in paths:
        normal = system.normal_form(path)
        assert (normal.dom, normal.cod) == (path.dom, path.cod)
        assert system.normal_form(normal) == normal
        assert decide(system, path, normal).status == "proved"


def brute_force_classes(letters: str, equations, bound: int) -> dict:
    """Union-find over all words up to `bound` letters, linked by one use of an equation."""
    words = [w for n in range(bound + 1) for w in itertools.product(letters, repeat=n)]
    parent = {w: w for w in words}

    def find(w):
        while parent[w] != w:
            parent[w] = parent[parent[w]]
            w = parent[w]
        return w

    for w in words:
        for lhs, rhs in equations:
            for old, new in ((lhs, rhs), (rhs, lhs)):
                for i in range(len(w) - len(old) + 1):
                    if w[i : i + len(old)] == old:
                        v = w[:i] + new + w[i + len(old) :]
                        if len(v) <= bound:
                            parent[find(v)] = find(w)
    return {w: find(w) for w in words}


def transformation_models(letters: str, equations, size: int = 3) -> list[dict]:
    """Every assignment of self-maps of {0..size-1} to the letters that satisfies the equations.

    Each one is a model of the presentation, so every true equation holds in each: an exact
    soundness oracle, unlike a bounded search, whose proofs may need longer detour words.
    """
    maps = list(itertools.product(range(size), repeat=size))
    models = []
    for images in itertools.product(maps, repeat=len(letters)):
        model = dict(zip(letters, images))
        if all(evaluate(model, lhs, size) == evaluate(model, rhs, size) for lhs, rhs in equations):
            models.append(model)
    return models


def evaluate(model: dict, word, size: int = 3) -> tuple[int, ...]:
    """The self-map a word denotes, first letter applied first."""
    point = tuple(range(size))
    for letter in word:
        point = tuple(model[letter][i] for i in point)
    return point


word2 = st.text("ab", max_size=3).map(tuple)


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(word2, word2).filter(lambda e: e[0] != e[1]), min_size=1, max_size=3),
    st.lists(st.tuples(st.text("ab", max_size=4), st.text("ab", max_size=4)), max_size=8),
)
def test_decide_is_sound_and_symmetric(equations, queries):
    """Proved holds in every finite model; equal by breadth-first search is never refuted."""
    gens = [Generator(x, "X", "X") for x in "ab"]
    eqs = [(f"eq{i}", Path("X", "X", l), Path("X", "X", r)) for i, (l, r) in enumerate(equations)]
    system = RewriteSystem(gens, eqs, Budget(max_rules=30, max_steps=500, seconds=0.5))
    classes = brute_force_classes("ab", equations, bound=8)
    models = transformation_models("ab", equations)
    for u, v in queries:
        lhs, rhs = loops(u, v)
        there, back = decide(system, lhs, rhs), decide(system, rhs, lhs)
        assert there.status == back.status
        if there.status == "proved":
            assert all(evaluate(m, u) == evaluate(m, v) for m in models), (equations, u, v)
        if classes[lhs.word] == classes[rhs.word]:
            assert there.status != "refuted", (equations, u, v)
