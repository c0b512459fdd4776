"""The 2-functor check (paper Thm 5.3): per-stage affine maps between the representations of
sweep members, with held-out residuals, reported within and across homotopy classes."""

from __future__ import annotations

import json

import pytest
import torch

from backends.torch.two_functor import affine_residual, pick_pairs
from catdsl.cli import main


def test_an_affine_image_has_zero_residual_and_noise_does_not():
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(200, 6, generator=g)
    a, b = torch.randn(6, 4, generator=g), torch.randn(4, generator=g)
    assert affine_residual(phi, phi @ a + b, ridge=0.0) < 1e-10
    assert affine_residual(phi, phi @ a + b) < 1e-5  # the ridge costs O(RIDGE²)
    assert affine_residual(phi, torch.randn(200, 4, generator=g)) > 0.9  # held out: no better than the mean
    assert affine_residual(phi, torch.tanh(3 * phi @ a)) > 0.01


def test_a_rarely_active_unit_does_not_blow_up_the_ridge_fit():
    # a unit active on one fitted point (barely) and one held-out point (fully): plain least
    # squares gives it a huge weight to fit that point's noise, which the held-out point pays
    g = torch.Generator().manual_seed(0)
    phi = torch.randn(64, 6, generator=g, dtype=torch.float64)
    a = torch.randn(6, 4, generator=g, dtype=torch.float64)
    rare = torch.zeros(64, 1, dtype=torch.float64)
    rare[0], rare[1] = 1e-3, 1.0
    y = phi @ a + 0.1 * torch.randn(64, 4, generator=g, dtype=torch.float64)
    x = torch.cat([phi, rare], 1)
    assert affine_residual(x, y, ridge=0.0) > 10
    assert affine_residual(x, y) < 2 * affine_residual(phi, y) < 0.01


def test_stage_residuals_stay_on_the_features_device_until_the_end():
    from backends.torch.two_functor import stage_residuals

    g = torch.Generator().manual_seed(1)
    path0 = [torch.randn(40, 3, generator=g) for _ in range(3)]
    path1 = [p @ torch.randn(3, 2, generator=g) for p in path0]
    found = stage_residuals(path0, path1)
    assert len(found) == 3 and all(isinstance(v, float) and 0 <= v < 1e-5 for v in found)


def test_pairs_are_taken_round_robin_and_capped():
    within, across = pick_pairs([[0, 1, 2], [3, 4], [5]], cap=3)
    assert within == [(0, 1), (3, 4), (0, 2)]
    assert across == [(0, 3), (0, 5), (3, 5)]
    assert pick_pairs([[0], [1]]) == ([], [(0, 1)])


PROGRAM = """
data digits = dataset("digits", test = 0.25, seed = 0, limit = 300)
model mlp = Linear(64, 16) >> ReLU >> Linear(16, 10)

category Training {{
  objects init, final
  fit : init -> final
}}

functor Run : Training -> Param(mlp, digits) {{
  init |-> init(seed = 0)
  fit |-> sgd(lr = 0.1, batch = 32, epochs = 2, seed = 1)
}}
{rep}
sweep S = Run.fit over seed in [0, 1, 2]
classes C of S by homotopy(level = {level}{affine})
"""


@pytest.mark.parametrize("level, affine, rep", [
    (100.0, ", affine = true", ""),
    (1e-6, "", "functor L : Training -> Rep(probe = digits.test, layer = -2) = features(Run)"),
])
def test_classes_report_affine_residuals_within_and_across(tmp_path, capsys, level, affine, rep):
    path = tmp_path / "c.cat"
    path.write_text(PROGRAM.format(level=level, affine=affine, rep=rep))
    store = str(tmp_path / "store")
    assert main(["run", "--format", "json", "--store", store, str(path)]) == 0
    report = json.loads(capsys.readouterr().out)["analyses"]["C"]
    affine_maps = report["two_functor"]
    n_classes = len(report["classes"])
    if level > 1:  # one class: pairs within only
        assert n_classes == 1 and affine_maps["within"]["count"] == 3 and affine_maps["across"]["count"] == 0
    else:  # every run its own class: pairs across only
        assert n_classes == 3 and affine_maps["within"]["count"] == 0 and affine_maps["across"]["count"] == 3
    for row in affine_maps["pairs"]:
        assert len(row["residuals"]) == 3  # the start and two epochs
        assert all(0 <= r < 100 for r in row["residuals"])  # held out: may exceed 1 (worse than the mean)
    assert affine_maps["width"] == 16 and not affine_maps["degenerate"]
    assert main(["run", "--store", store, str(path)]) == 0
    assert "affine maps between the runs' representations" in capsys.readouterr().out


def test_affine_must_be_a_boolean(tmp_path, capsys):
    path = tmp_path / "c.cat"
    path.write_text(PROGRAM.format(level=0.5, affine=", affine = 3", rep=""))
    assert main(["check", str(path)]) != 0
    assert "affine" in capsys.readouterr().err
