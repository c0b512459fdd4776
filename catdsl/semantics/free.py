"""Free categories on a typed graph, and equality modulo equations by Knuth–Bendix completion.

A morphism of the free category on a graph is a path of generators. Modulo associativity and
the identity laws every composite *is* its flattened word, so `Path` stores just that word in
diagrammatic order (first applied first) and equal morphisms are equal values. Equations of a
presentation are decided by string rewriting on those words: each equation is oriented by the
shortlex order, then completed (Knuth–Bendix) within a `Budget`, since the word problem is
undecidable in general.

Axioms, as running examples:

>>> p, q = generator_path(Generator("p", "A", "B")), generator_path(Generator("q", "B", "B"))
>>> compose(q, compose(q, p)) == compose(compose(q, q), p)            # associativity
True
>>> compose(p, identity("A")) == p == compose(identity("B"), p)       # unit laws
True
>>> render(compose(q, compose(q, p))), render(then(p, q), applicative=False)
('q . q . p', 'p >> q')
>>> system = RewriteSystem([Generator("p", "A", "B"), Generator("q", "B", "B")],
...                        [("idem", compose(q, q), q)])
>>> decide(system, compose(q, compose(q, p)), compose(q, p)).status
'proved'
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Word = tuple[str, ...]
Rule = tuple[Word, Word]


@dataclass(frozen=True)
class Generator:
    """A generating arrow `name : dom -> cod` of the graph."""

    name: str
    dom: str
    cod: str


@dataclass(frozen=True)
class Path:
    """A morphism `dom -> cod` of the free category: its generators, first applied first.

    The flattened word is the normal form modulo associativity and identities; the identity
    on A is `Path(A, A, ())`.
    """

    dom: str
    cod: str
    word: Word = ()

    def __post_init__(self) -> None:
        if not self.word and self.dom != self.cod:
            raise ValueError(f"an empty path is an identity, but {self.dom} != {self.cod}")


class NotComposable(Exception):
    """`g . f` was asked for but cod(f) != dom(g); carries both paths for the diagnostic."""

    def __init__(self, g: Path, f: Path) -> None:
        super().__init__(
            f"`{render(g)} . {render(f)}` does not compose: cod = {f.cod} but dom = {g.dom}"
        )
        self.g, self.f = g, f


def identity(obj: str) -> Path:
    """The identity on `obj`: the empty path."""
    return Path(obj, obj, ())


def generator_path(gen: Generator) -> Path:
    """The path of length one through `gen`."""
    return Path(gen.dom, gen.cod, (gen.name,))


def compose(g: Path, f: Path) -> Path:
    """`g . f` (g after f): concatenation of words, which is why it is associative and unital."""
    if f.cod != g.dom:
        raise NotComposable(g, f)
    return Path(f.dom, g.cod, f.word + g.word)


def then(f: Path, g: Path) -> Path:
    """`f >> g`, the diagrammatic spelling of `g . f`."""
    return compose(g, f)


def render(path: Path, applicative: bool = True) -> str:
    """`.cat` text: `q . q . p` (outermost first) or `p >> q >> q`; `id(A)` for an identity."""
    if not path.word:
        return f"id({path.dom})"
    return " . ".join(reversed(path.word)) if applicative else " >> ".join(path.word)


@dataclass(frozen=True)
class Budget:
    """Limits on completion: live rules and critical pairs examined (steps).

    Both are counts, so completion stops at the same point on an idle and on a loaded
    machine, and a file gets the same verdict everywhere. There is deliberately no
    wall-clock limit; `seconds` is accepted from older callers and ignored.
    """

    max_rules: int = 200
    max_steps: int = 10_000
    seconds: float | None = None


@dataclass(frozen=True)
class Completion:
    """The outcome of completion: oriented rules, sound in any case, confluent if it finished.

    `stopped` names the budget that ran out (e.g. "max_rules=5"), None when completion finished.
    `seconds` is how long it took, for reports only: it never decides where completion stops.
    """

    rules: tuple[Rule, ...]
    confluent: bool
    stopped: str | None
    steps: int
    seconds: float


@dataclass(frozen=True)
class Decision:
    """Whether `lhs = rhs` holds in the presented category, with both normal forms and why."""

    status: Literal["proved", "refuted", "unknown"]
    lhs_normal: Path
    rhs_normal: Path
    reason: str


def _contains(word: Word, part: Word) -> bool:
    """Whether `part` occurs in `word` as a contiguous subword."""
    n = len(part)
    return any(word[i : i + n] == part for i in range(len(word) - n + 1))


def _trie(rules: dict[Word, Word]) -> dict:
    """Left sides read backwards, as nested dicts; the key None marks a whole left side."""
    root: dict = {}
    for lhs, rhs in rules.items():
        node = root
        for letter in reversed(lhs):
            node = node.setdefault(letter, {})
        node[None] = (len(lhs), rhs)
    return root


def _rewrite(word: Word, trie: dict) -> Word:
    """The normal form of `word`: scan left to right, keeping the scanned prefix irreducible.

    Only a suffix of the prefix can become reducible when a letter arrives, so each step walks
    the trie of reversed left sides from the end; a right side goes back onto the input.
    """
    done: list[str] = []
    todo = list(reversed(word))
    while todo:
        done.append(todo.pop())
        node, i = trie, len(done)
        while i and done[i - 1] in node:
            node, i = node[done[i - 1]], i - 1
            if None in node:
                _, rhs = node[None]
                del done[i:]
                todo.extend(reversed(rhs))
                break
    return tuple(done)


def _critical_pairs(first: Rule, second: Rule) -> Iterator[tuple[Word, Word, Word]]:
    """Each word where `first`'s left side meets `second`'s, with its two one-step rewrites.

    Overlaps l1 = u v, l2 = v w (v non-empty) give u v w -> (r1 w, u r2); an inclusion
    l1 = u l2 w gives l1 -> (r1, u r2 w).
    """
    (l1, r1), (l2, r2) = first, second
    for k in range(1, min(len(l1), len(l2))):
        if l1[-k:] == l2[:k]:
            yield l1 + l2[k:], r1 + l2[k:], l1[:-k] + r2
    if l1 != l2:
        n = len(l2)
        for i in range(len(l1) - n + 1):
            if l1[i : i + n] == l2:
                yield l1, r1, l1[:i] + r2 + l1[i + n :]


class RewriteSystem:
    """A presentation's equations, oriented by shortlex, with their Knuth–Bendix completion.

    Shortlex compares length first, then words letter by letter in the generators' declaration
    order. It is a well-order, so rewriting always terminates. Completion runs once, on first
    use, and is cached: complete once, decide many.
    """

    def __init__(
        self,
        generators: Sequence[Generator],
        equations: Iterable[tuple[str, Path, Path]] = (),
        budget: Budget = Budget(),
    ) -> None:
        self.generators = {g.name: g for g in generators}
        if len(self.generators) != len(generators):
            raise ValueError("generator names must be distinct")
        self.precedence = {name: i for i, name in enumerate(self.generators)}
        self.budget = budget
        self.equations = tuple(equations)
        for name, lhs, rhs in self.equations:
            self._check(lhs)
            self._check(rhs)
            if (lhs.dom, lhs.cod) != (rhs.dom, rhs.cod):
                raise ValueError(f"equation {name}: sides are not parallel")

    def _check(self, path: Path) -> None:
        """Raise ValueError unless `path` is a well-typed walk through known generators."""
        at = path.dom
        for name in path.word:
            gen = self.generators.get(name)
            if gen is None or gen.dom != at:
                raise ValueError(f"`{render(path)}` is not a path {path.dom} -> {path.cod}")
            at = gen.cod
        if at != path.cod:
            raise ValueError(f"`{render(path)}` ends at {at}, not {path.cod}")

    def _well_typed(self, word: Word) -> bool:
        """Whether consecutive generators of `word` meet (cod of each = dom of the next)."""
        gens = self.generators
        return all(gens[a].cod == gens[b].dom for a, b in zip(word, word[1:]))

    def shortlex(self, word: Word) -> tuple[int, tuple[int, ...]]:
        """The sort key of the reduction order: length, then generator precedence."""
        return len(word), tuple(self.precedence[x] for x in word)

    def orient(self, a: Word, b: Word) -> Rule:
        """The rule bigger -> smaller for the equation a = b (a != b)."""
        return (a, b) if self.shortlex(a) > self.shortlex(b) else (b, a)

    @property
    def oriented(self) -> tuple[tuple[str, Word, Word], ...]:
        """The named equations as rules, leaving out those whose sides are the same word."""
        return tuple((n, *self.orient(l.word, r.word)) for n, l, r in self.equations if l != r)

    @cached_property
    def completion(self) -> Completion:
        """Knuth–Bendix completion with inter-reduction, stopped when a budget runs out.

        Pairs wait in a queue, smallest first; each is normalised, oriented and added as a rule.
        A new rule evicts rules whose left side it reduces (their equations re-enter the queue),
        re-normalises right sides, and contributes its critical pairs with every live rule.
        """
        start, budget = time.monotonic(), self.budget
        rules: dict[Word, Word] = {}
        trie: dict = {}
        queue: list[tuple[int, int, Word, Word]] = []
        pushed = 0

        def push(a: Word, b: Word) -> None:
            nonlocal pushed
            pushed += 1
            heapq.heappush(queue, (len(a) + len(b), pushed, a, b))

        for _, lhs, rhs in self.oriented:
            push(lhs, rhs)
        steps, stopped = 0, None
        while queue:
            if len(rules) > budget.max_rules:
                stopped = f"max_rules={budget.max_rules}"
            elif steps >= budget.max_steps:
                stopped = f"max_steps={budget.max_steps}"
            if stopped:
                break
            steps += 1
            _, _, a, b = heapq.heappop(queue)
            a, b = _rewrite(a, trie), _rewrite(b, trie)
            if a == b:
                continue
            new = self.orient(a, b)
            for lhs, rhs in list(rules.items()):
                if _contains(lhs, new[0]):
                    del rules[lhs]
                    push(lhs, rhs)
            rules[new[0]] = new[1]
            trie = _trie(rules)
            stale = [lhs for lhs, rhs in rules.items() if _contains(rhs, new[0])]
            for lhs in stale:
                rules[lhs] = _rewrite(rules[lhs], trie)
            if stale:
                trie = _trie(rules)
            for old in list(rules.items()):
                overlaps = [*_critical_pairs(new, old)]
                if old[0] != new[0]:
                    overlaps += _critical_pairs(old, new)
                for overlap, x, y in overlaps:
                    # Rules join parallel paths, so overlaps are well typed; checked all the same.
                    if self._well_typed(overlap):
                        push(x, y)
        return Completion(
            rules=tuple(rules.items()),
            confluent=stopped is None,
            stopped=stopped,
            steps=steps,
            seconds=time.monotonic() - start,
        )

    @cached_property
    def _trie(self) -> dict:
        return _trie(dict(self.completion.rules))

    def normal_form(self, path: Path) -> Path:
        """`path` rewritten by the completed rules as far as it goes."""
        self._check(path)
        return Path(path.dom, path.cod, _rewrite(path.word, self._trie))


def decide(system: RewriteSystem, lhs: Path, rhs: Path) -> Decision:
    """Decide `lhs = rhs` modulo the system's equations.

    Equal normal forms prove it (rules are consequences of the equations even when completion
    stopped early); distinct normal forms refute it only when the rules are confluent.
    """
    if (lhs.dom, lhs.cod) != (rhs.dom, rhs.cod):
        raise ValueError(f"`{render(lhs)}` and `{render(rhs)}` are not parallel")
    done = system.completion
    a, b = system.normal_form(lhs), system.normal_form(rhs)
    if a == b:
        return Decision("proved", a, b, f"both sides rewrite to `{render(a)}`")
    forms = f"normal forms `{render(a)}` and `{render(b)}` differ"
    if done.confluent:
        return Decision("refuted", a, b, f"{forms} in a complete system of {len(done.rules)} rules")
    return Decision(
        "unknown",
        a,
        b,
        f"{forms}, but completion stopped at {done.stopped} "
        f"({len(done.rules)} rules, {done.steps} steps) before becoming confluent",
    )
