"""Datasets: bundled digits, generated mnist1d with its .npz cache, MNIST IDX and CIFAR-10 binary files."""

import gzip
import struct

import numpy as np
import pytest

from backends.torch.data import CIFAR10_FILES, MNIST_FILES, DataError, DataSpec, load_dataset


def test_digits_shapes_ranges_and_determinism():
    d = load_dataset(DataSpec.of("digits"))
    assert d.x_train.shape == (1347, 64) and d.x_test.shape == (450, 64)
    assert d.x_train.dtype.is_floating_point and str(d.y_train.dtype) == "torch.int64"
    assert 0.0 <= float(d.x_train.min()) and float(d.x_train.max()) == 1.0
    assert d.input_shape == (64,) and d.num_classes == 10
    again = load_dataset(DataSpec.of("digits", seed=0))
    assert (again.x_train == d.x_train).all() and (again.y_test == d.y_test).all()
    other = load_dataset(DataSpec.of("digits", seed=1))
    assert not (other.y_train == d.y_train).all()


def test_digits_limit_test_fraction_and_image_shape():
    d = load_dataset(DataSpec.of("digits", limit=100, test=0.5, image=True))
    assert d.x_train.shape == (100, 1, 8, 8) and d.input_shape == (1, 8, 8)
    assert len(d.y_test) in (898, 899)
    assert (load_dataset(DataSpec.of("digits", limit=100, test=0.5, image=True)).x_train == d.x_train).all()


def test_digits_are_scikit_learns_arrays_and_split_without_importing_it():
    """The bundled CSV read with numpy is `load_digits()`, and the split is `train_test_split`'s
    stratified one, for several fractions and seeds; scikit-learn is not imported to make them."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from backends.torch import data

    bunch = load_digits()
    x, y = data._digits_data()
    assert x.dtype == bunch.data.dtype and y.dtype == bunch.target.dtype
    assert np.array_equal(x, bunch.data) and np.array_equal(y, bunch.target)
    xs, ys = bunch.data.astype(np.float32) / 16.0, bunch.target.astype(np.int64)
    for test, seed in ((0.25, 0), (0.25, 1), (0.2, 42), (0.5, 7), (0.1, 3), (0.9, 5), (0.006, 2)):
        x_tr, x_te, y_tr, y_te = train_test_split(xs, ys, test_size=test, random_state=seed, stratify=ys)
        mine = data._split_digits(test, seed)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(mine, (x_tr, y_tr, x_te, y_te)))
    code = ("import sys; from backends.torch.data import DataSpec, data_facts; "
            "data_facts(DataSpec.of('digits')); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sklearn', 'scipy', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_digits_split_too_small_for_the_classes_is_a_data_error():
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("digits", test=0.001))
    assert "2 test examples for 10 classes" in e.value.message and e.value.hint


def test_digits_fall_back_to_scikit_learn_without_the_bundled_file(monkeypatch):
    from backends.torch import data

    monkeypatch.setattr(data, "DIGITS_FILE", ("no", "such", "file.csv.gz"))
    x, y = data._digits_data()
    from sklearn.datasets import load_digits

    assert np.array_equal(x, load_digits().data) and np.array_equal(y, load_digits().target)


def test_digits_split_is_cached_and_read_back(tmp_path, monkeypatch):
    from backends.torch import data

    d = load_dataset(DataSpec.of("digits"), tmp_path)
    assert len(list(tmp_path.glob("digits-*.npz"))) == 1

    def no_split(*args, **kwargs):
        raise AssertionError("the .npz cache should have been used")

    monkeypatch.setattr(data, "_split_digits", no_split)
    again = load_dataset(DataSpec.of("digits"), tmp_path)
    assert (again.x_train == d.x_train).all() and (again.y_test == d.y_test).all()


def test_spec_is_order_independent_and_canonical():
    a, b = DataSpec.of("digits", test=0.25, seed=0), DataSpec.of("digits", seed=0, test=0.25)
    assert a == b and hash(a) == hash(b)
    assert a.to_json() == '{"name":"digits","options":{"seed":0,"test":0.25}}'


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("imagenet"))
    assert "imagenet" in e.value.message
    for known in ("digits", "mnist1d", "mnist", "cifar10"):
        assert known in e.value.hint


def test_unknown_option_names_the_options():
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("digits", tset=0.2))
    assert "tset" in e.value.message and "test" in e.value.hint


def test_mnist1d_generated_then_loaded_from_cache(tmp_path, monkeypatch):
    import mnist1d.data

    state = np.random.get_state()[1].copy()
    spec = DataSpec.of("mnist1d", n=200, seed=3)
    d = load_dataset(spec, tmp_path)
    assert d.x_train.shape == (160, 40) and d.x_test.shape == (40, 40) and d.input_shape == (40,)
    assert (np.random.get_state()[1] == state).all(), "generation must not reseed the caller's numpy RNG"
    cached = list(tmp_path.glob("mnist1d-*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as z:
        assert sorted(z.files) == ["x", "x_test", "y", "y_test"]

    def no_generation(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(mnist1d.data, "make_dataset", no_generation)
    again = load_dataset(spec, tmp_path)
    assert (again.x_train == d.x_train).all() and (again.y_test == d.y_test).all()


def _idx(path, array, gz=False):
    code = {1: 0x0801, 3: 0x0803}[array.ndim]
    payload = struct.pack(">I", code) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(payload)


def test_mnist_idx_files_plain_and_gz(tmp_path):
    rng = np.random.default_rng(0)
    x_tr, y_tr = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)
    x_te, y_te = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
    _idx(tmp_path / "train-images-idx3-ubyte", x_tr)
    _idx(tmp_path / "train-labels-idx1-ubyte", y_tr)
    _idx(tmp_path / "t10k-images-idx3-ubyte.gz", x_te, gz=True)
    _idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y_te, gz=True)
    d = load_dataset(DataSpec.of("mnist", root=str(tmp_path)))
    assert d.x_train.shape == (12, 1, 28, 28) and d.input_shape == (1, 28, 28)
    np.testing.assert_allclose(d.x_train.numpy()[:, 0], x_tr / 255, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test.numpy(), y_te)
    assert load_dataset(DataSpec.of("mnist", root=str(tmp_path), limit=4)).x_train.shape[0] == 4


def test_mnist_missing_folder_and_file_name_the_path_and_files(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("mnist", root=str(tmp_path / "nowhere")))
    assert str(tmp_path / "nowhere") in e.value.message
    assert all(name in e.value.hint for name in MNIST_FILES)
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("mnist", root=str(tmp_path)))
    assert str(tmp_path / "train-images-idx3-ubyte") in e.value.message
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("mnist"))
    assert "root" in e.value.message


def test_cifar10_binary_batches(tmp_path):
    rng = np.random.default_rng(1)
    records = {}
    for name, count in zip(CIFAR10_FILES, (3, 3, 3, 3, 3, 2)):
        labels = rng.integers(0, 10, count, dtype=np.uint8)
        pixels = rng.integers(0, 256, (count, 3072), dtype=np.uint8)
        records[name] = (labels, pixels)
        np.concatenate([labels[:, None], pixels], axis=1).tofile(tmp_path / name)
    d = load_dataset(DataSpec.of("cifar10", root=str(tmp_path)))
    assert d.x_train.shape == (15, 3, 32, 32) and d.x_test.shape == (2, 3, 32, 32)
    labels, pixels = records["data_batch_2.bin"]
    assert int(d.y_train[3]) == labels[0]
    # channel-major planes, row-major within a plane: byte 1024 * c + 32 * row + col
    assert float(d.x_train[3, 1, 2, 3]) == pytest.approx(pixels[0, 1024 + 64 + 3] / 255)
    np.testing.assert_array_equal(d.y_test.numpy(), records["test_batch.bin"][0])


def test_cifar10_missing_file_and_bad_size(tmp_path):
    (tmp_path / "data_batch_1.bin").write_bytes(bytes(3073))
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("cifar10", root=str(tmp_path)))
    assert "data_batch_2" in e.value.message and "test_batch" in e.value.hint
    for name in CIFAR10_FILES:
        (tmp_path / name).write_bytes(bytes(100))
    with pytest.raises(DataError) as e:
        load_dataset(DataSpec.of("cifar10", root=str(tmp_path)))
    assert "3073" in e.value.message
