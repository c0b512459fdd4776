"""The analyses' job kinds on the process pool: transfer (pullback and its baselines), merge
(FedAvg) and fibre jobs compute on workers and return their results, and the adaptive `classes`
job sends its rounds of barrier evaluations to the workers; each gives the digests and numbers of
a local run (docs/scaling.md). A local Ray is left to the sweep's equivalence test: it starts too
slowly to repeat here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATDSL = [sys.executable, "-c", "from catdsl.cli import entry; entry()"]  # the console script

ANALYSES = """
data digits   = dataset("digits", test = 0.25, seed = 0, limit = 300)
data permuted = dataset("digits", test = 0.25, seed = 0, limit = 300, transform = permute(seed = 1))
data part0    = dataset("digits", test = 0.25, seed = 0, limit = 300, shard = [0, 2])
data part1    = dataset("digits", test = 0.25, seed = 0, limit = 300, shard = [1, 2])
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {
  objects init, final
  fit : init -> final
}

functor A : Training -> Param(mlp, part0) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 64, epochs = 2, seed = 0)
}

functor B : Training -> Param(mlp, part1) {
  init |-> init(seed = 1)
  fit  |-> adam(lr = 0.01, batch = 64, epochs = 2, seed = 0)
}

transfer T = pullback(source = A.final, along = adapter(kind = linear, at = input), data = permuted,
                      train = adam(lr = 0.01, batch = 64, epochs = 2, seed = 0))
transfer M = fedavg(source = A.final, clients = [A.final, B.final], data = digits, rounds = 2,
                    train = adam(lr = 0.01, batch = 64, epochs = 1, seed = 0))
transfer P = fibre(source = A.final, other = B.final, data = digits, eps = 2.5, layer = -2)
"""


CLASSES = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 240)
model mlp = Linear(64, 12) >> ReLU >> Linear(12, 10)

category Training {
  objects init, trained
  fit : init -> trained
}

functor Run : Training -> Param(mlp, digits) {
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, momentum = 0.9, batch = 32, epochs = 2, seed = 0)
}

sweep S = Run.fit over seed in 0..5, lr in [0.02, 0.3]
classes C of S by homotopy(level = 0.05, points = 5, align = true)
"""


def _run(where: Path, *executor: str, text: str = ANALYSES) -> dict:
    where.mkdir()
    (where / "a.cat").write_text(text)
    out = subprocess.run([*CATDSL, "run", str(where / "a.cat"), "--executor", *executor, "--device", "cpu",
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_transfer_merge_and_fibre_jobs_on_a_process_pool_have_the_digests_of_a_local_run(tmp_path):
    local = _run(tmp_path / "local", "local")
    pool = _run(tmp_path / "process", "process", "--workers", "2")
    kinds = {j["kind"] for j in local["jobs"]}
    assert {"transfer", "merge", "fibre"} <= kinds, kinds
    assert pool["counts"]["ran"] == len(pool["jobs"]) == len(local["jobs"])
    digests = {j["label"]: (j["kind"], j["digest"]) for j in local["jobs"]}
    assert {j["label"]: (j["kind"], j["digest"]) for j in pool["jobs"]} == digests
    # the analyses read from the jobs are the same numbers, all but the wall times
    for name in ("T", "M", "P"):
        assert _timeless(local["analyses"][name]) == _timeless(pool["analyses"][name])


def test_adaptive_classes_on_a_process_pool_equal_a_local_run(tmp_path):
    """The rounds of the adaptive order go to the workers in the same batches as here."""
    local = _run(tmp_path / "local", "local", text=CLASSES)
    pool = _run(tmp_path / "process", "process", "--workers", "2", text=CLASSES)
    a, b = local["analyses"]["C"], pool["analyses"]["C"]
    assert a["evaluations"] > 8  # more than one batch of barriers (barrier.CHUNK)
    assert (a["classes"], a["evaluations"], a["barriers"]) == (b["classes"], b["evaluations"], b["barriers"])
    assert {j["label"]: j["digest"] for j in local["jobs"]} == {j["label"]: j["digest"] for j in pool["jobs"]}


def _timeless(x):
    if isinstance(x, dict):
        return {k: _timeless(v) for k, v in x.items() if k not in ("seconds", "time", "wall")}
    if isinstance(x, list):
        return [_timeless(v) for v in x]
    return x
