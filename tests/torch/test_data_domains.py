"""Target domains from bundled data: `classes`, `transform` and `label_noise` of `dataset(…)`
(docs/language.md §8.1) — functions of the spec, applied once, part of its JSON; bad values
are E404 at the place."""

from __future__ import annotations

import numpy as np
import pytest

from backends.torch.data import DataError, DataSpec, check_option, load_dataset
from catdsl.cli import main


def test_specs_without_domain_options_keep_their_json():
    assert DataSpec.of("digits", test=0.25, seed=0).to_json() == '{"name":"digits","options":{"seed":0,"test":0.25}}'


def test_domain_options_are_part_of_the_json_and_survive_a_round_trip():
    import json

    spec = DataSpec.of("digits", classes=(5, 6), transform=(("permute", (("seed", 1),)),), label_noise=0.1)
    again = DataSpec.of("digits", **json.loads(spec.to_json())["options"])
    assert again == spec and hash(again) == hash(spec)
    assert '"classes":[5,6]' in spec.to_json() and '"transform":[["permute",[["seed",1]]]]' in spec.to_json()


def test_classes_keep_a_subset_relabelled_in_the_order_given():
    full = load_dataset(DataSpec.of("digits"))
    high = load_dataset(DataSpec.of("digits", classes=(9, 5)))
    assert high.num_classes == 2 and set(high.y_train.tolist()) == {0, 1}
    nines = full.x_train[full.y_train == 9]
    assert (high.x_train[high.y_train == 0] == nines).all()
    assert len(high.y_test) == int(((full.y_test == 9) | (full.y_test == 5)).sum())
    few = load_dataset(DataSpec.of("digits", classes=(5, 6, 7, 8, 9), limit=50))
    assert len(few.y_train) == 50 and few.y_train.max() <= 4
    with pytest.raises(DataError, match="labels 0..9, not 12"):
        load_dataset(DataSpec.of("digits", classes=(3, 12)))


def test_permute_is_one_permutation_of_both_splits():
    plain = load_dataset(DataSpec.of("digits"))
    mixed = load_dataset(DataSpec.of("digits", transform=(("permute", (("seed", 1),)),)))
    x, z = plain.x_train.numpy(), mixed.x_train.numpy()
    xt, zt = plain.x_test.numpy(), mixed.x_test.numpy()
    assert (np.sort(x, 1) == np.sort(z, 1)).all() and not (x == z).all()
    for j in range(64):  # column j is one column of the original, the same one in both splits
        assert any((xt[:, i] == zt[:, j]).all() for i in np.flatnonzero((x == z[:, [j]]).all(0)))
    assert (mixed.y_train == plain.y_train).all()


def test_transforms_are_seeded_deterministic_and_compose_in_order():
    def load(*transforms, **more):
        return load_dataset(DataSpec.of("digits", transform=transforms, **more)).x_test.numpy()

    plain = load_dataset(DataSpec.of("digits")).x_test.numpy()
    rotate, shift = ("rotate", (("degrees", 90),)), ("shift", (("pixels", 2),))
    turned = load(rotate)
    assert np.allclose(turned.reshape(-1, 8, 8), np.rot90(plain.reshape(-1, 8, 8), axes=(1, 2)), atol=1e-5)
    moved = load(shift)
    assert (moved.reshape(-1, 8, 8)[:, :, 2:] == plain.reshape(-1, 8, 8)[:, :, :-2]).all()
    assert (moved.reshape(-1, 8, 8)[:, :, :2] == 0).all()
    assert (load(("noise", (("std", 0.1),))) == load(("noise", (("std", 0.1),)))).all()
    assert not (load(("noise", (("std", 0.1),))) == load(("noise", (("std", 0.1), ("seed", 1))))).all()
    image = load_dataset(DataSpec.of("digits", image=True, transform=(shift,))).x_test.numpy()
    assert (image.reshape(-1, 64) == moved).all()


def test_label_noise_flips_about_that_fraction_of_training_labels_only():
    plain = load_dataset(DataSpec.of("digits"))
    noisy = load_dataset(DataSpec.of("digits", label_noise=0.2))
    flipped = float((noisy.y_train != plain.y_train).float().mean())
    assert 0.15 < flipped < 0.25 and (noisy.y_test == plain.y_test).all()
    assert (noisy.x_train == plain.x_train).all()


@pytest.mark.parametrize("key, value, needle", [
    ("classes", (5,), "at least two labels"),
    ("classes", (5, 5), "a label twice"),
    ("label_noise", 1.0, "label_noise must be a fraction"),
    ("transform", (("flip", ()),), "unknown transform `flip`"),
    ("transform", (("rotate", ()),), "`rotate` needs `degrees = …`"),
    ("transform", (("shift", (("pixels", 1.5),)),), "must be a integer") ,
    ("transform", (("noise", (("std", 0.1), ("mean", 1))),), "`noise` has no option `mean`"),
])
def test_bad_domain_options(key, value, needle):
    with pytest.raises(DataError) as e:
        check_option(key, value)
    assert needle.replace("a integer", "an integer") in e.value.message or needle in e.value.message


@pytest.mark.parametrize("option, needle, column", [
    ("classes = [5]", "classes must be a list of at least two labels", 31),
    ("transform = flip(seed = 1)", "unknown transform `flip`", 43),
    ("transform = rotate(degrees = 9) >> permute(7)", "the options of `permute` are named", 64),
    ("label_noise = 1.5", "label_noise must be a fraction", 45),
])
def test_bad_domain_options_are_e404_at_the_place(tmp_path, capsys, option, needle, column):
    path = tmp_path / "d.cat"
    path.write_text(f'data d = dataset("digits", {option})\nmodel m = Linear(64, 10)\n'
                    "category C { objects A }\nfunctor Run : C -> Param(m, d) { A |-> init(seed = 0) }\n")
    assert main(["compile", str(path)]) == 2
    err = capsys.readouterr().err
    assert "error[E404]" in err and needle in err and f"d.cat:1:" in err, err


def test_rotate_needs_images(tmp_path):
    with pytest.raises(DataError, match="not images"):
        load_dataset(DataSpec.of("mnist1d", n=100, transform=(("rotate", (("degrees", 10),)),)), tmp_path)
    signal = load_dataset(DataSpec.of("mnist1d", n=100), tmp_path).x_train.numpy()
    moved = load_dataset(DataSpec.of("mnist1d", n=100, transform=(("shift", (("pixels", -3),)),)), tmp_path)
    assert (moved.x_train.numpy()[:, :-3] == signal[:, 3:]).all()


def test_a_composite_transform_applies_left_to_right(tmp_path, capsys):
    import json

    path = tmp_path / "d.cat"
    path.write_text('data d = dataset("digits", transform = rotate(degrees = 9) >> noise(std = 0.1))\n'
                    "model m = Linear(64, 10)\ncategory C { objects A }\n"
                    "functor Run : C -> Param(m, d) { A |-> init(seed = 0) }\n")
    assert main(["compile", str(path)]) == 0
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    assert job["spec"]["data"]["options"]["transform"] == [["rotate", [["degrees", 9]]], ["noise", [["std", 0.1]]]]
