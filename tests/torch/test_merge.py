"""Limits and colimits of learners (docs/language.md §8.10): FedAvg and its permutation-aligned
variant as a merge of client models with the cocone defect measured, a shared trunk with task
heads as the limit of task representations, their laws, and diagnostics at the place."""

from __future__ import annotations

import pytest

from checking import command_json

CLIENTS = """
data digits = dataset("digits", limit = 600)
data part0  = dataset("digits", limit = 600, shard = [0, 2])
data part1  = dataset("digits", limit = 600, shard = [1, 2])
data low    = dataset("digits", limit = 600, classes = [0, 1, 2, 3, 4])
data high   = dataset("digits", limit = 600, classes = [5, 6, 7, 8, 9])
model mlp   = Linear(64, 32) >> ReLU >> Linear(32, 10)

category Training {
  objects init, final
  fit : init -> final
}

functor A : Training -> Param(mlp, part0) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 3, seed = 0)
}

functor B : Training -> Param(mlp, part1) {
  init |-> init(seed = 1)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 3, seed = 0)
}

functor C : Training -> Param(mlp, part1) {
  init |-> init(seed = 0)
  fit  |-> adam(lr = 0.01, batch = 32, epochs = 3, seed = 0)
}
"""


def test_shards_are_disjoint_and_cover_the_training_split():
    import torch

    from backends.torch.data import DataSpec, load_dataset

    whole = load_dataset(DataSpec.of("digits", limit = 600))
    parts = [load_dataset(DataSpec.of("digits", limit = 600, shard = (i, 3))) for i in range(3)]
    assert sum(len(p.y_train) for p in parts) == len(whole.y_train)
    rows = {tuple(r.tolist()) for p in parts for r in p.x_train}
    assert len(rows) == len({tuple(r.tolist()) for r in whole.x_train})
    assert all(torch.equal(p.x_test, whole.x_test) for p in parts)


def test_fedavg_and_aligned_fedavg_with_the_cocone_defect(tmp_path, capsys):
    """Clients from different initialisations: plain FedAvg averages unrelated hidden units and
    loses accuracy; aligning them first by weight matching restores it and shrinks the cocone
    defect. Clients from one initialisation average well without alignment."""
    code, report, err = command_json(tmp_path, capsys, CLIENTS + """
transfer Fed  = fedavg(source = A.final, clients = [A.final, B.final], align = true, data = digits)
transfer Same = fedavg(source = A.final, clients = [A.final, C.final], data = digits)
""")
    assert code == 0, err
    fed, same = report["analyses"]["Fed"], report["analyses"]["Same"]
    assert fed["kind"] == "transfer" and fed["method"] == "fedavg" and fed["merge"] == "aligned"
    assert list(fed["methods"]) == ["A.final", "B.final", "fedavg", "aligned", "ensemble"]
    m = fed["methods"]
    assert m["aligned"]["accuracy"] > m["fedavg"]["accuracy"] + 0.05
    assert m["aligned"]["cocone"]["defect"] < m["fedavg"]["cocone"]["defect"]
    assert m["aligned"]["accuracy"] >= min(m["A.final"]["accuracy"], m["B.final"]["accuracy"]) - 0.03
    # the reference client's leg is the identity either way; fitted legs are never worse
    for variant in ("fedavg", "aligned"):
        c = m[variant]["cocone"]
        assert set(c["clients"]) == {"A.final", "B.final"}
        assert all(v["fitted"] <= v["defect"] + 1e-9 for v in c["clients"].values())
    assert same["merge"] == "fedavg" and same["methods"]["fedavg"]["accuracy"] > 0.8
    assert same["cocone"]["defect"] == same["methods"]["fedavg"]["cocone"]["defect"]


def test_the_cocone_is_a_law_with_a_tolerance(tmp_path, capsys):
    code, report, err = command_json(tmp_path, capsys, CLIENTS + """
transfer Fed = fedavg(source = A.final, clients = [A.final, B.final], align = false, data = digits)
check Fed.cocone with tol = 0.01
""", command="check")
    (law,) = [o for o in report["obligations"] if o["name"] == "Fed.cocone"]
    assert code == 1 and law["verdict"].startswith("failed") and "worst cocone defect" in law["witness"], err


def test_multitask_is_a_shared_trunk_with_task_heads(tmp_path, capsys):
    code, report, err = command_json(tmp_path, capsys, CLIENTS + """
transfer Tasks = multitask(source = A.init, data = [low, high], train = adam(lr = 0.01, batch = 32, epochs = 3, seed = 0))
""")
    assert code == 0, err
    t = report["analyses"]["Tasks"]
    assert t["method"] == "multitask" and t["tasks"] == ["low", "high"]
    mt, single = t["methods"]["multitask"], t["methods"]["single"]
    # one trunk (64·32 + 32) and two 5-way heads, against two whole single-task models
    assert mt["trainable"] == 64 * 32 + 32 + 2 * (32 * 5 + 5) and single["trainable"] == 2 * (64 * 32 + 32 + 32 * 5 + 5)
    assert all(a > 0.8 for a in mt["tasks"].values()) and all(a > 0.8 for a in single["tasks"].values())
    assert 0 <= t["limit"]["worst"] < 0.5 and 0 <= t["limit"]["mediating"] < 0.5


@pytest.mark.parametrize("statement, needle", [
    ("transfer M = fedavg(source = A.final, clients = A.final, data = digits)", "`clients` is a list"),
    ("transfer M = fedavg(source = A.final, clients = [A.final], data = digits)", "at least two clients"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = digits, colour = red)",
     "`fedavg` has no option `colour`"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], align = maybe, data = digits)",
     "`align` is true or false"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = nothing)", "is a declared data set"),
    ("model wide = Linear(64, 16) >> ReLU >> Linear(16, 10)\n"
     "functor W : Training -> Param(wide, part1) { init |-> init(seed = 0); fit |-> adam(lr = 0.01, epochs = 1) }\n"
     "transfer M = fedavg(source = A.final, clients = [W.final], data = digits)", "has another model"),
    ("transfer MT = multitask(source = A.init, data = [low])", "a list of at least two data sets"),
    ("data image = dataset(\"digits\", image = true)\n"
     "transfer MT = multitask(source = A.init, data = [low, image])", "task `image` has inputs of shape"),
])
def test_bad_merges_are_e404_at_the_place(tmp_path, capsys, statement, needle):
    code, _, err = command_json(tmp_path, capsys, CLIENTS + statement + "\n")
    assert code == 2 and "error[E404]" in err and needle in err, err


def test_a_bad_shard_is_e404():
    from backends.torch.data import DataError, check_option

    with pytest.raises(DataError, match="shard must be"):
        check_option("shard", (2, 2))


# ---- FedAvg rounds and the colimit's universal property ---------------------------------------------


def test_fedavg_rounds_train_locally_from_the_merge_and_the_colimit_is_checked(tmp_path, capsys):
    """Clients from different initialisations: one round of plain FedAvg loses accuracy and is no
    cocone (so no colimit); three rounds of local training from the merge recover the accuracy,
    make the cocone commute, and every competing cocone factors through the merge."""
    code, report, err = command_json(tmp_path, capsys, CLIENTS + """
transfer One    = fedavg(source = A.final, clients = [A.final, B.final], data = digits)
transfer Rounds = fedavg(source = A.final, clients = [A.final, B.final], data = digits, rounds = 3,
                         train = adam(lr = 0.01, batch = 32, epochs = 1, seed = 0))
""")
    assert code == 0, err
    one, rounds = report["analyses"]["One"], report["analyses"]["Rounds"]
    assert one["rounds"] == 1 and "rounds" not in one["methods"]["fedavg"]
    curve = rounds["methods"]["fedavg"]["rounds"]
    assert rounds["rounds"] == 3 and len(curve) == 3
    # round 1 is the one-shot merge of the given states
    assert curve[0] == one["methods"]["fedavg"]["accuracy"]
    assert curve[-1] > curve[0] + 0.05 and rounds["methods"]["fedavg"]["accuracy"] == curve[-1]
    assert rounds["cocone"]["defect"] < one["cocone"]["defect"] / 2
    assert one["colimit"]["verdict"] == "failed" and rounds["colimit"]["verdict"].startswith("passed")
    c = rounds["colimit"]
    assert c["control"] > 0.5 and c["uniqueness"] < 1e-6
    assert [k["name"] for k in c["cocones"]][:2] == ["ensemble", "random 1"]
    # the other merge of the same clients competes only when both merged the given states
    assert "aligned" in [k["name"] for k in one["colimit"]["cocones"]]
    assert "aligned" not in [k["name"] for k in c["cocones"]]


def test_the_colimit_verdicts():
    from backends.torch.merge import colimit_verdict

    def metrics(defect, cocones, uniqueness=0.0, control=1.0):
        return {"methods": {"fedavg": {"cocone": {"defect": defect}, "colimit": {
            "cocones": [{"name": n, "defect": d, "residual": r} for n, d, r in cocones],
            "uniqueness": uniqueness, "control": control}}}}

    good = [("ensemble", 0.05, 0.02), ("random 1", 0.06, 0.03), ("far", 0.9, 0.8)]
    v = colimit_verdict(metrics(0.1, good), "fedavg", 0.3)
    assert v.word() == "passed 2" and v.difference == 0.03
    assert colimit_verdict(metrics(0.5, good), "fedavg", 0.3).status == "failed"
    v = colimit_verdict(metrics(0.1, [("ensemble", 0.2, 0.45)]), "fedavg", 0.3)
    assert v.status == "refuted" and "`ensemble` does not factor" in v.witness
    assert colimit_verdict(metrics(0.1, [("far", 0.9, 0.1)]), "fedavg", 0.3).status == "unknown"
    assert colimit_verdict(metrics(0.1, good, uniqueness=0.5), "fedavg", 0.3).status == "failed"
    assert colimit_verdict(metrics(0.1, good, control=0.1), "fedavg", 0.3).status == "error"


def test_a_merge_equal_to_its_clients_is_a_colimit():
    """Clients whose carried features all equal the merge's: every competing cocone commutes and
    factors exactly; unrelated features do not."""
    import torch

    from backends.torch.merge import colimit_cocones

    g = torch.Generator().manual_seed(0)
    phi, fit = torch.randn(80, 6, generator=g), torch.randn(300, 6, generator=g)
    c = colimit_cocones(phi, fit, [phi, phi], [fit, fit], [1, 3])
    assert len(c["cocones"]) == 9 and all(k["defect"] < 1e-12 and k["residual"] < 1e-9 for k in c["cocones"])
    assert c["uniqueness"] < 1e-9 and c["control"] > 0.9 and c["rank"] == 7


@pytest.mark.parametrize("statement, needle", [
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = digits, rounds = 0)", "`rounds` is a whole"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = digits, rounds = 2.5)", "`rounds` is a whole"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = digits, train = adam(lr = 0.01))",
     "one round has none"),
    ("transfer M = fedavg(source = A.final, clients = [B.final], data = digits, rounds = 2, train = adam(lr = -1))",
     "train = adam(lr = -1)"),
])
def test_bad_rounds_are_e404_at_the_place(tmp_path, capsys, statement, needle):
    code, _, err = command_json(tmp_path, capsys, CLIENTS + statement + "\n")
    assert code == 2 and "error[E404]" in err and needle in err, err


def test_rounds_over_the_epoch_limit_are_e401(tmp_path, capsys):
    code, _, err = command_json(tmp_path, capsys, CLIENTS + "transfer M = fedavg(source = A.final, clients = [B.final], "
                        "data = digits, rounds = 11, train = adam(lr = 0.01, epochs = 5))\n", "--max-epochs", "40")
    assert code == 2 and "error[E401]" in err and "50 epochs over 10 rounds" in err, err
