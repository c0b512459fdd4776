"""Homotopy classes of a sweep's runs (backends/torch/{homotopy,barrier,align}.py): the adaptive
partition is the exhaustive one on random graphs and on a real sweep, with fewer evaluations;
barriers, batched and one point at a time, agree; weight matching undoes a permutation; the
JSON has the issue's shape; bad options are diagnostics at their place."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from backends.torch.homotopy import components
from catdsl.cli import main

# ---- the algorithm on random graphs ---------------------------------------------------------------


def _graph(rng: random.Random):
    """Random barriers with planted classes plus noise: some pairs across classes are low,
    some pairs within a class high (so components are not the planted classes)."""
    n = rng.randint(2, 30)
    k = rng.randint(1, max(1, n // 3))
    label = [rng.randrange(k) for _ in range(n)]
    value = {}
    for i, j in itertools.combinations(range(n), 2):
        low = label[i] == label[j]
        if rng.random() < 0.15:
            low = not low
        value[(i, j)] = rng.uniform(0, 0.9) if low else rng.uniform(1.1, 3)
    return n, value


def _exact(n, value, level):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = [(i, j) for (i, j), v in value.items() if v <= level]
    rows, cols = zip(*edges) if edges else ((), ())
    _, labels = connected_components(coo_matrix(([1] * len(edges), (rows, cols)), shape=(n, n)), directed=False)
    return {frozenset(i for i in range(n) if labels[i] == c) for c in set(labels)}


@pytest.mark.parametrize("seed", range(25))
def test_the_adaptive_partition_is_the_exhaustive_one_on_random_graphs(seed):
    rng = random.Random(seed)
    n, value = _graph(rng)
    calls = []

    def evaluate(pairs):
        calls.append(len(pairs))
        return [value[p] for p in pairs]

    order = sorted(value, key=lambda p: value[p] + rng.uniform(-0.5, 0.5))  # a noisy similarity
    adaptive, seen = components(n, evaluate, 1.0, order=order, batch=rng.choice([1, 4, 32]))
    exhaustive, every = components(n, evaluate, 1.0, exhaustive=True)
    assert {frozenset(c) for c in adaptive} == {frozenset(c) for c in exhaustive} == _exact(n, value, 1.0)
    assert len(every) == n * (n - 1) // 2 and len(seen) <= len(every)
    assert all(seen[p] == value[p] for p in seen)


def test_one_class_takes_n_minus_1_evaluations_when_the_order_is_good():
    n = 40
    value = {p: 0.1 for p in itertools.combinations(range(n), 2)}
    classes, seen = components(n, lambda ps: [value[p] for p in ps], 1.0, order=sorted(value))
    assert classes == [list(range(n))] and len(seen) == n - 1


# ---- weight matching ------------------------------------------------------------------------------


def test_weight_matching_undoes_a_permutation_of_hidden_units():
    import numpy as np
    import torch

    from backends.torch.align import align, mlp_linears, permute
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import init_state

    spec = Linear(8, 12) >> ReLU() >> Linear(12, 12) >> ReLU() >> Linear(12, 3)
    linears = mlp_linears(spec)
    a = dict(init_state(spec, (8,), 0).params)
    rng = np.random.default_rng(1)
    perms = [rng.permutation(12), rng.permutation(12)]
    b = permute(a, linears, perms)
    x = torch.randn(5, 8)
    module = torch.nn.Sequential(torch.nn.Linear(8, 12), torch.nn.ReLU(), torch.nn.Linear(12, 12), torch.nn.ReLU(),
                                 torch.nn.Linear(12, 3))
    f = lambda p: torch.func.functional_call(module, p, (x,))  # noqa: E731
    assert torch.allclose(f(a), f(b), atol=1e-6)  # a permutation keeps the function
    assert any(not torch.equal(a[k], b[k]) for k in a)
    back = align(a, b, linears)
    assert all(torch.equal(a[k], back[k]) for k in a)


# ---- barriers -------------------------------------------------------------------------------------


def _digits(limit=200):
    from backends.torch.data import DataSpec, load_dataset

    return load_dataset(DataSpec.of("digits", test=0.25, seed=0, limit=limit))


def test_batched_barriers_equal_one_point_at_a_time():
    from backends.torch.barrier import PathSpec, mlp_path_values, path_values
    from backends.torch.models import Linear, ReLU
    from backends.torch.train import init_state

    spec = Linear(64, 16) >> ReLU() >> Linear(16, 10)
    data = _digits()
    states = [init_state(spec, (64,), s) for s in range(3)]
    for metric in ("loss", "error"):
        path = PathSpec(points=5, metric=metric)
        batched = mlp_path_values(spec, data, [(dict(states[0].params), dict(states[i].params)) for i in (1, 2)],
                                  path, "cross_entropy")
        for i, values in zip((1, 2), batched):
            single, _ = path_values(spec, data, states[0], states[i], path, "cross_entropy")
            assert values == pytest.approx(single, abs=1e-5)


def test_a_bezier_connector_keeps_its_endpoints_and_a_batchnorm_model_gets_fresh_statistics():
    from backends.torch.barrier import PathSpec, height, path_values
    from backends.torch.data import DataSpec, load_dataset
    from backends.torch.models import BatchNorm2d, Conv2d, Flatten, Linear, ReLU
    from backends.torch.train import init_state

    spec = Linear(64, 8) >> ReLU() >> Linear(8, 10)
    data = _digits(120)
    a, b = init_state(spec, (64,), 0), init_state(spec, (64,), 1)
    linear, _ = path_values(spec, data, a, b, PathSpec(points=5), "cross_entropy")
    bezier, tensors = path_values(spec, data, a, b, PathSpec(path="bezier", points=5, epochs=1), "cross_entropy")
    assert bezier[0] == pytest.approx(linear[0]) and bezier[-1] == pytest.approx(linear[-1])
    assert set(tensors) == {f"control/{k}" for k in a.params}
    assert height(bezier) >= 0
    cnn = Conv2d(1, 2, 3, padding=1) >> BatchNorm2d(2) >> ReLU() >> Flatten() >> Linear(128, 10)
    images = load_dataset(DataSpec.of("digits", test=0.25, seed=0, limit=60, image=True))
    a, b = init_state(cnn, (1, 8, 8), 0), init_state(cnn, (1, 8, 8), 1)
    values, _ = path_values(cnn, images, a, b, PathSpec(points=3), "cross_entropy")
    assert len(values) == 3 and all(v == v and v < 100 for v in values)


# ---- end to end -----------------------------------------------------------------------------------

PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 240)
model mlp = Linear(64, 12) >> ReLU >> Linear(12, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits, loss = cross_entropy) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 32, epochs = 2, seed = 0)
}

sweep S = Run.fit over seed in 0..3, lr in [0.02, 0.3]
"""


def _run(path: Path, capsys, *flags: str) -> dict:
    code = main(["run", "--format", "json", "--store", str(path.parent / "store"), str(path), *flags])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_a_sweeps_classes_adaptive_equal_exhaustive_with_the_issues_json_shape(tmp_path, capsys):
    path = tmp_path / "h.cat"
    path.write_text(PROGRAM + "classes C of S by homotopy(level = 0.05, points = 5, align = true)\n"
                              "classes of S by homotopy(level = 0.1, points = 5, metric = error)\n")
    adaptive = _run(path, capsys)["analyses"]
    exhaustive = _run(path, capsys, "--exhaustive")["analyses"]
    members = [f"S[{i}]" for i in range(8)]
    for key in ("C", "classes@17"):
        a, e = adaptive[key], exhaustive[key]
        assert {"kind", "of", "classes", "level", "path", "aligned", "evaluations", "pairs", "accuracy",
                "barriers"} <= set(a)
        assert a["kind"] == "classes" and a["of"] == "S" and a["path"] == "linear" and a["pairs"] == 28
        assert sorted(x for c in a["classes"] for x in c) == sorted(members) and set(a["accuracy"]) == set(members)
        assert {frozenset(c) for c in a["classes"]} == {frozenset(c) for c in e["classes"]}
        assert e["evaluations"] == 28 and a["evaluations"] <= 28 and len(a["barriers"]) == a["evaluations"]
        assert a["order"] == "adaptive" and e["order"] == "exhaustive"
        assert all(e["barriers"][p] == pytest.approx(v) for p, v in a["barriers"].items())
    assert adaptive["C"]["aligned"] is True and adaptive["classes@17"]["level"] == 0.1
    # the text table shows the classes with their accuracy
    assert main(["run", "--store", str(tmp_path / "store"), str(path)]) == 0
    out = capsys.readouterr().out
    assert "classes C of S" in out and "acc mean" in out and "pairs evaluated" in out


@pytest.mark.parametrize("statement, code, needle", [
    ("classes C of S by homotopy(level = 0.1, points = 1)", "E404", "`points` must be an integer of at least 2"),
    ("classes C of S by homotopy(level = 0)", "E404", "`level` must be positive"),
    ("classes C of S by homotopy(points = 5)", "E404", "need a `level`"),
    ("classes C of S by homotopy(level = 0.1, path = spline)", "E404", "`path` must be linear or bezier"),
    ("classes C of S by homotopy(level = 0.1, grid = 4)", "E404", "has no option `grid`"),
    ("classes C of Run by homotopy(level = 0.1)", "E222", "is of a sweep or a functor into"),
])
def test_bad_sweep_classes_are_diagnostics_at_their_place(tmp_path, capsys, statement, code, needle):
    path = tmp_path / "bad.cat"
    path.write_text(PROGRAM + statement + "\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error[{code}]" in err and needle in err, err


def test_align_refuses_a_model_that_is_not_an_mlp(tmp_path, capsys):
    path = tmp_path / "cnn.cat"
    path.write_text(PROGRAM.replace('limit = 240)', 'limit = 40, image = true)')
                    .replace("Linear(64, 12) >> ReLU >> Linear(12, 10)",
                             "Conv2d(1, 2, 3, padding = 1) >> ReLU >> Flatten >> Linear(128, 10)")
                    + "classes C of S by homotopy(level = 0.1, align = true)\n")
    assert main(["run", "--store", str(tmp_path / "store"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E404]" in err and "permutes the hidden units of MLPs" in err


# ---- the reproduction file (examples/paper/homotopy_classes.cat) ----------------------------------

PAPER = Path(__file__).resolve().parents[2] / "examples" / "paper" / "homotopy_classes.cat"


def _short(text: str) -> str:
    return (text.replace('dataset("digits", test = 0.25, seed = 0)', 'dataset("digits", test = 0.25, seed = 0, limit = 200)')
            .replace("seed in 0..24", "seed in 0..1").replace("epochs = 10", "epochs = 1"))


def test_the_reproduction_file_formats_and_its_short_version_runs(tmp_path, capsys):
    from catdsl.syntax.parse import parse_with_comments
    from catdsl.syntax.printer import to_text

    text = PAPER.read_text()
    tree, comments = parse_with_comments(text, "p.cat")
    once = to_text(tree, comments)
    assert to_text(*parse_with_comments(once, "p.cat")) == once
    path = tmp_path / "short.cat"
    path.write_text(_short(text))
    report = _run(path, capsys)
    analyses = report["analyses"]
    for name in ("Aligned", "Raw"):
        assert sorted(m for c in analyses[name]["classes"] for m in c) == sorted(f"S[{i}]" for i in range(8))
        affine = analyses[name]["two_functor"]  # `affine = true`: the 2-functor check ran
        assert affine["within"]["count"] + affine["across"]["count"] >= 1
    # `fisher = true`: every member's Fisher–Rao length, in the sweep's entry
    assert all(m["fisher_rao"] > 0 for m in analyses["S"]["members"].values())


MNIST1D = PAPER.with_name("homotopy_classes_mnist1d.cat")


def _short_mnist1d(text: str) -> str:
    return (text.replace('dataset("mnist1d", n = 5000, test = 0.2, seed = 42)',
                         'dataset("mnist1d", n = 200, test = 0.2, seed = 42)')
            .replace("seed in 0..24", "seed in 0..1").replace("epochs = 10", "epochs = 1"))


def test_the_mnist1d_reproduction_file_formats_and_its_short_version_runs(tmp_path, capsys):
    from catdsl.syntax.parse import parse_with_comments
    from catdsl.syntax.printer import to_text

    text = MNIST1D.read_text()
    assert to_text(*parse_with_comments(text, "m.cat")) == text
    short = _short_mnist1d(text)
    assert short.count("n = 200") == 1 and "seed in 0..1," in short and "epochs = 1," in short
    path = tmp_path / "short.cat"
    path.write_text(short)
    report = _run(path, capsys)
    members = report["analyses"]["S"]["members"]
    # 2 seeds × 2 learning rates × 2 momenta, the momentum varying fastest
    assert len(members) == 8 and members["S[1]"]["values"] == {"seed": 0, "lr": 0.02, "momentum": 0.9}
    for name in ("Aligned", "Raw"):
        assert sorted(m for c in report["analyses"][name]["classes"] for m in c) == sorted(members)


@pytest.mark.slow
def test_the_mnist1d_reproduction_runs_in_full(tmp_path, capsys):
    path = tmp_path / "full.cat"
    path.write_text(MNIST1D.read_text())
    analyses = _run(path, capsys)["analyses"]
    for name in ("Aligned", "Raw"):
        assert sum(len(c) for c in analyses[name]["classes"]) == 100


@pytest.mark.slow
def test_the_reproduction_runs_in_full(tmp_path, capsys):
    path = tmp_path / "full.cat"
    path.write_text(PAPER.read_text())
    analyses = _run(path, capsys)["analyses"]
    for name in ("Aligned", "Raw"):
        assert sum(len(c) for c in analyses[name]["classes"]) == 100
        assert analyses[name]["evaluations"] <= analyses[name]["pairs"] == 4950
