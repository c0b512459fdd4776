"""Homotopy classes of a sweep's runs: the connected components of the graph whose edges join
runs with a barrier at most the level τ between their final states (single linkage at τ).

The paper computes all N(N−1)/2 barriers. The components need fewer: a pair whose runs are
already joined (through other pairs) cannot change them, so it is skipped (union-find), and
pairs are tried most similar first (fraction of test predictions on which the two runs
disagree), so that joins come early and many pairs are skipped, as AutoNEB's
"connect the disconnected components first" does. Pairs are evaluated in rounds: each round
takes, in that order, pairs that would join different components *even if every pair before
it in the round succeeded*, so no evaluation of a round is wasted on a pair another pair of the
round already joined. Pairs between different final classes must all be evaluated, so the
saving is within classes: a sweep of one class takes N − 1 evaluations at best, k classes at
least the Σ_{i<j} n_i n_j pairs between them. The partition is the exhaustive one exactly
(`catdsl run --exhaustive` evaluates every pair, for comparison).

`components` is the algorithm over any batched pair evaluator (tested on random graphs); the
`classes` job kind runs it over `barrier` jobs (`barrier.py`) and stores the partition.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Callable, Sequence

from backends.run.jobs import JobContext, JobKind, compute_batches
from backends.run.plan import CODE_VERSION, Job
from backends.torch.barrier import CODE as BARRIER_CODE, PathSpec, barrier_batches, barrier_job
from backends.torch.results import Results

CODE = f"{CODE_VERSION}/classes-1"
ROUND = 32  # most pairs evaluated together in one adaptive round


class UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> bool:
        a, b = self.find(i), self.find(j)
        if a == b:
            return False
        self.parent[max(a, b)] = min(a, b)
        return True

    def classes(self) -> list[list[int]]:
        by: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            by.setdefault(self.find(i), []).append(i)
        return sorted(by.values(), key=lambda c: (-len(c), c[0]))


def components(n: int, evaluate: Callable[[list[tuple[int, int]]], Sequence[float]], level: float,
               order: Sequence[tuple[int, int]] | None = None, exhaustive: bool = False,
               batch: int = ROUND) -> tuple[list[list[int]], dict[tuple[int, int], float]]:
    """The components of {(i, j) : evaluate(i, j) <= level} on n nodes, and the values evaluated.

    `evaluate` takes a list of pairs and returns their values (one batched call per round);
    `order` is the order in which pairs are tried (default: lexicographic). With `exhaustive`,
    every pair is evaluated."""
    pairs = list(order) if order is not None else list(itertools.combinations(range(n), 2))
    found: dict[tuple[int, int], float] = {}
    uf = UnionFind(n)
    if exhaustive:
        for begin in range(0, len(pairs), max(batch, 1) * 8):
            chunk = pairs[begin:begin + max(batch, 1) * 8]
            found.update(zip(chunk, evaluate(chunk)))
        for (i, j), v in found.items():
            if v <= level:
                uf.union(i, j)
        return uf.classes(), found
    pending = pairs
    while pending:
        tentative = UnionFind(n)
        tentative.parent = list(uf.parent)
        round_, later = [], []
        for i, j in pending:
            if uf.find(i) == uf.find(j):
                continue  # joined already: this pair cannot change the components
            if len(round_) < batch and tentative.union(i, j):
                round_.append((i, j))
            else:
                later.append((i, j))
        if not round_:
            break
        for (i, j), v in zip(round_, evaluate(round_)):
            found[(i, j)] = v
            if v <= level:
                uf.union(i, j)
        pending = later
    return uf.classes(), found


# ---- the `classes` job kind ------------------------------------------------------------------------


def classes_job(members: list[Job], labels: list[str], level: float, spec: PathSpec, exhaustive: bool,
                label: str, barriers: Sequence[Job] = ()) -> Job:
    """The partition of the runs `members` (train jobs) at `level`; `barriers` are the plan's
    barrier jobs it reads (every pair's, when exhaustive; none otherwise: it makes its own)."""
    body = {"members": [m.key for m in members], "labels": labels, "level": level, "path": spec.to_json(),
            "order": "exhaustive" if exhaustive else "adaptive", "code": CODE}
    return Job.of("classes", body, label, tuple(m.key for m in members) + tuple(b.key for b in barriers),
                  members[0].origin if members else None)


def _pair_label(labels, i, j) -> str:
    return f"barrier {labels[i]} ~ {labels[j]}"


def disagreement(states, model_spec, data, device: str = "cpu") -> list[list[float]]:
    """Fraction of test points on which each two runs predict different classes (computed on
    `device`, copied to the host once)."""
    import torch
    from torch.func import functional_call

    from backends.torch.train import template

    module = template(model_spec).eval()
    x = data.x_test.to(device)
    with torch.no_grad():
        preds = torch.stack([functional_call(module, ({k: v.to(device) for k, v in s.params.items()},
                                                      {k: v.to(device) for k, v in s.buffers.items()}),
                                             (x,)).argmax(-1)
                             for s in states])
    d = (preds[:, None, :] != preds[None, :, :]).double().mean(-1)
    return d.cpu().tolist()


def _run_classes(jobs: Sequence[Job], ctx: JobContext) -> None:
    results = Results(ctx)
    for job in jobs:
        start = time.perf_counter()
        keys, labels = job.spec["members"], job.spec["labels"]
        trained = [ctx.store.get(k) for k in keys]
        model, data = results.model_and_data(trained[0].spec)
        spec = PathSpec(**job.spec["path"])
        members = [Job(k, "train", labels[i], t.spec) for i, (k, t) in enumerate(zip(keys, trained))]
        n = len(keys)

        def evaluate(pairs):
            made = [barrier_job(members[i], members[j], spec, _pair_label(labels, i, j)) for i, j in pairs]
            compute_batches(ctx, barrier_batches([b for b in made if not ctx.store.has(b.key)], ctx))
            return [ctx.store.get(b.key).metrics["barrier"] for b in made]

        exhaustive = job.spec["order"] == "exhaustive"
        order = None
        if not exhaustive:
            from backends.run.execute import device_for

            d = disagreement([results.state(k) for k in keys], model, data, device_for(ctx.device))
            order = sorted(itertools.combinations(range(n), 2), key=lambda p: (d[p[0]][p[1]], p))
        partition, found = components(n, evaluate, job.spec["level"], order=order, exhaustive=exhaustive)
        metrics = {"classes": partition, "evaluations": len(found), "pairs": n * (n - 1) // 2,
                   "barriers": {f"{i},{j}": v for (i, j), v in sorted(found.items())},
                   "order": job.spec["order"], "evaluation_code": BARRIER_CODE}
        ctx.store.put(job.key, job.kind, {"label": job.label, **job.spec}, None, metrics, None,
                      seconds=time.perf_counter() - start)


CLASSES = JobKind("classes", _run_classes, work=lambda jobs, ctx: 0.0)


def sweep_classes(plan, sweep_name: str, labels: list[str], level: float, spec: PathSpec, exhaustive: bool,
                  label: str) -> Job:
    """Add the classes job of a sweep (and, when exhaustive, every pair's barrier job) to `plan`."""
    members = [plan.jobs[k] for k in plan.index[sweep_name].values()]
    barriers = []
    if exhaustive:
        for i, j in itertools.combinations(range(len(members)), 2):
            b = barrier_job(members[i], members[j], spec, _pair_label(labels, i, j))
            plan.add(b)
            barriers.append(b)
    job = classes_job(members, labels, level, spec, exhaustive, label, barriers)
    plan.add(job)
    return job


def stored_json(store, key: str) -> dict:
    return json.loads(json.dumps(store.get(key).metrics))
