"""Datasets for the torch backend: a hashable `DataSpec` in, tensors out (the objects of `Dom`).

Every source is read from local files or generated locally; nothing is downloaded and nothing
is unpickled. Splits and subsets are functions of the spec's seed only, so a spec names one
dataset exactly and its JSON can key a content hash.

With a `cache_dir` (a run store's `data/` folder), what is expensive to make is kept there: the
arrays of generated or split data sets as .npz (digits, mnist1d), and the `DataFacts` of every
spec loaded (input shape, classes, split sizes) in `facts.json`, so that the static checks of a
program need no torch once a spec has been loaded. Digits is scikit-learn's bundled copy, read
from its file with numpy and split as scikit-learn splits it, without importing scikit-learn.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # numpy is imported where arrays are made: specs and facts need none of it
    import numpy as np


class DataError(Exception):
    """Bad data input (unknown name, bad option, missing file): rendered as a diagnostic, never a traceback."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.spec: DataSpec | None = None  # the spec being loaded, set by `load_dataset`


@dataclass(frozen=True)
class DataSpec:
    """A dataset by name plus options, kept as a sorted tuple of (key, value) so equal specs hash equal."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        opts = self.options.items() if isinstance(self.options, dict) else self.options
        # lists (as read back from JSON) become tuples, so a spec read back hashes like the original
        object.__setattr__(self, "options", tuple(sorted((str(k), _frozen(v)) for k, v in opts)))

    @classmethod
    def of(cls, name: str, **options: Any) -> "DataSpec":
        """`DataSpec.of("digits", test=0.25)`: the spec the language's `dataset(...)` call denotes."""
        return cls(name, tuple(options.items()))

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no whitespace) for content hashes."""
        return json.dumps({"name": self.name, "options": dict(self.options)},
                          sort_keys=True, separators=(",", ":"))


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class DataFacts:
    """What the static checks need of a data set, without its tensors."""

    input_shape: tuple[int, ...]  # of one example
    num_classes: int
    train_size: int
    test_size: int

    def to_obj(self) -> dict:
        return {"input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "train_size": self.train_size, "test_size": self.test_size}

    @classmethod
    def from_obj(cls, obj: Any) -> "DataFacts | None":
        """The facts `to_obj` wrote; None for anything else (a damaged file is only a cache miss)."""
        try:
            facts = cls(tuple(obj["input_shape"]), obj["num_classes"], obj["train_size"], obj["test_size"])
        except (KeyError, TypeError):
            return None
        counts = (*facts.input_shape, facts.num_classes, facts.train_size, facts.test_size)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            return None
        return facts


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train and test tensors (float32 inputs, int64 labels) with the per-example input shape."""

    name: str
    x_train: Any
    y_train: Any
    x_test: Any
    y_test: Any
    input_shape: tuple[int, ...]
    num_classes: int
    spec: DataSpec | None = field(default=None)

    @property
    def facts(self) -> DataFacts:
        return DataFacts(self.input_shape, self.num_classes, len(self.y_train), len(self.y_test))

    def to(self, device: Any) -> "Dataset":
        """The same dataset with its tensors on `device`."""
        return Dataset(self.name, self.x_train.to(device), self.y_train.to(device),
                       self.x_test.to(device), self.y_test.to(device),
                       self.input_shape, self.num_classes, self.spec)


def load_dataset(spec: DataSpec, cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Load the dataset `spec` names; with `cache_dir`, generated or split data (mnist1d, digits)
    is cached there as .npz and the spec's facts are recorded (see `data_facts`)."""
    import numpy as np
    import torch

    x_tr, y_tr, x_te, y_te, shape, classes = _arrays(spec, cache_dir)
    dataset = Dataset(
        name=spec.name,
        x_train=torch.from_numpy(np.ascontiguousarray(x_tr, dtype=np.float32)),
        y_train=torch.from_numpy(np.ascontiguousarray(y_tr, dtype=np.int64)),
        x_test=torch.from_numpy(np.ascontiguousarray(x_te, dtype=np.float32)),
        y_test=torch.from_numpy(np.ascontiguousarray(y_te, dtype=np.int64)),
        input_shape=tuple(int(s) for s in shape),
        num_classes=int(classes),
        spec=spec,
    )
    if cache_dir is not None:
        _record_facts(Path(cache_dir), spec, dataset.facts)
    return dataset


def data_facts(spec: DataSpec, cache_dir: str | os.PathLike | None = None) -> DataFacts:
    """The facts of `spec`: as recorded under `cache_dir`, else from its arrays (loaded without
    torch; DataError as `load_dataset`), then recorded there.

    Facts are keyed by the spec's JSON, as stored jobs are: a spec names its data exactly.
    """
    if cache_dir is not None:
        found = DataFacts.from_obj(_read_facts(Path(cache_dir)).get(spec.to_json()))
        if found is not None:
            return found
    x_tr, y_tr, x_te, y_te, shape, classes = _arrays(spec, cache_dir)
    facts = DataFacts(tuple(int(s) for s in shape), int(classes), len(y_tr), len(y_te))
    if cache_dir is not None:
        _record_facts(Path(cache_dir), spec, facts)
    return facts


# --- the facts file ---------------------------------------------------------------------------

FACTS_FILE = "facts.json"
# Part of the file: a change to what a loader produces must bump it, so old facts are ignored.
FACTS_FORMAT = "catdsl-data-facts/1"


def _read_facts(cache_dir: Path) -> dict[str, Any]:
    try:
        found = json.loads((cache_dir / FACTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict) or found.get("format") != FACTS_FORMAT or not isinstance(found.get("facts"), dict):
        return {}
    return found["facts"]


def _record_facts(cache_dir: Path, spec: DataSpec, facts: DataFacts) -> None:
    """Add one spec's facts to the file, written atomically (a concurrent writer may drop an
    entry, which costs one reload later, never a wrong fact)."""
    known = _read_facts(cache_dir)
    if known.get(spec.to_json()) == facts.to_obj():
        return
    known[spec.to_json()] = facts.to_obj()
    path = cache_dir / FACTS_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"format": FACTS_FORMAT, "facts": known}, sort_keys=True, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only store still runs; it only keeps no facts
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _arrays(spec: DataSpec, cache_dir: Any):
    """(x_train, y_train, x_test, y_test, input shape, classes) as numpy arrays; DataError on bad input."""
    try:
        return _load_arrays(spec, cache_dir)
    except DataError as e:
        e.spec = spec
        raise


def _load_arrays(spec: DataSpec, cache_dir: Any):
    source = SOURCES.get(spec.name)
    if source is None:
        raise DataError(f"unknown dataset {spec.name!r}",
                        f"known datasets: {', '.join(sorted(SOURCES))}")
    loader, defaults = source
    defaults = {**defaults, **DOMAIN_OPTIONS}
    opts = dict(spec.options)
    unknown = sorted(set(opts) - set(defaults))
    if unknown:
        raise DataError(f"dataset {spec.name!r} has no option {unknown[0]!r}",
                        f"its options are: {', '.join(sorted(defaults))}")
    for key in DOMAIN_OPTIONS:
        check_option(key, opts.get(key))
    opts = {**defaults, **opts}
    if "seed" in opts and not (_integer(opts["seed"]) and 0 <= opts["seed"] < 2**32):
        raise DataError(f"dataset {spec.name!r}: seed must be a whole number from 0 to 2^32 - 1, got {opts['seed']!r}",
                        "give seed = 0, 1, 2, … (it seeds the split and the subsets)")
    x_tr, y_tr, x_te, y_te, shape, classes = loader(opts, cache_dir)
    seed = int(opts.get("seed") or 0)
    if opts["classes"] is not None:
        (x_tr, y_tr), (x_te, y_te) = _subset(opts["classes"], classes, (x_tr, y_tr), (x_te, y_te), spec.name)
        classes = len(opts["classes"])
    x_tr, y_tr = _limit(x_tr, y_tr, opts.get("limit"), seed, spec.name)
    if opts["shard"] is not None:
        x_tr, y_tr = _shard(x_tr, y_tr, opts["shard"], seed)
    for name, args in opts["transform"] or ():
        x_tr, x_te = (_TRANSFORMS[name][0](x, shape, IMAGE_SHAPES.get(spec.name), dict(args), split, spec.name)
                      for x, split in ((x_tr, "train"), (x_te, "test")))
    if opts["label_noise"]:
        y_tr = _label_noise(y_tr, classes, float(opts["label_noise"]), seed)
    return x_tr, y_tr, x_te, y_te, shape, classes


def _limit(x: np.ndarray, y: np.ndarray, limit: Any, seed: int, name: str):
    """A seeded subset of `limit` training examples (the same subset for the same seed)."""
    import numpy as np

    if limit is None:
        return x, y
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise DataError(f"dataset {name!r}: limit must be a positive integer, got {limit!r}")
    if limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng([seed, 1]).permutation(len(y))[:limit])
    return x[keep], y[keep]


# --- target domains: a subset of labels, input transforms, noisy labels ------------------------
#
# `dataset(…, classes = [5, 6, 7, 8, 9], transform = permute(seed = 3), label_noise = 0.1)`. Each
# is a function of the spec alone, applied once when the data is loaded: first the label subset
# (relabelled 0..k-1 in the order given), then `limit`, then `shard = [i, n]` (part i of n seeded
# disjoint parts of the training split: the clients of a federation), then the transforms in order (the same
# map on both splits; `>>` composes them), then label noise on the training labels only. A spec
# without them has the JSON it always had, so stored jobs keep their keys.

# every source takes these (None: not applied)
DOMAIN_OPTIONS: dict[str, Any] = {"classes": None, "transform": None, "label_noise": None, "shard": None}

# the data options a sweep may bind (`sweep S = Run.fit over label_noise in [0, 0.2]`): each
# member's swept segment trains on the functor's data set with that option replaced
SWEEPABLE_OPTIONS = ("label_noise",)


def with_option(spec: DataSpec, key: str, value: Any) -> DataSpec:
    """`spec` with option `key` set to `value` (DataError for a malformed value); a value that
    applies nothing (`label_noise = 0`) removes the option, so the spec is the clean one."""
    check_option(key, value)
    opts = {k: v for k, v in spec.options if k != key}
    if value not in (None, 0):
        opts[key] = value
    return DataSpec(spec.name, tuple(opts.items()))


# the (channels, height, width) of a source's inputs, for transforms that move pixels: a flat
# digits input is an 8×8 image
IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_option(key: str, value: Any) -> None:
    """DataError when the value of a domain option (`classes`, `transform`, `label_noise`) is
    malformed; what only the data can tell (a class it lacks) is found when it is loaded."""
    if value is None:
        return
    if key == "classes":
        if not isinstance(value, tuple) or len(value) < 2 or not all(_integer(c) and c >= 0 for c in value):
            raise DataError(f"classes must be a list of at least two labels, not {value!r}",
                            "write `classes = [5, 6, 7, 8, 9]` (relabelled 0..4 in that order)")
        if len(set(value)) != len(value):
            raise DataError(f"classes lists a label twice: {list(value)}")
    elif key == "label_noise":
        if not _number(value) or not 0 <= value < 1:
            raise DataError(f"label_noise must be a fraction in [0, 1), not {value!r}",
                            "the fraction of training labels replaced by another label, e.g. `label_noise = 0.2`")
    elif key == "shard":
        if not (isinstance(value, tuple) and len(value) == 2 and all(_integer(v) for v in value)
                and 0 <= value[0] < value[1]):
            raise DataError(f"shard must be `[i, n]` with 0 <= i < n, not {value!r}",
                            "`shard = [0, 4]` keeps the first of 4 seeded disjoint parts of the training split")
    elif key == "transform":
        if not isinstance(value, tuple) or not all(isinstance(t, tuple) and len(t) == 2 for t in value):
            raise DataError(f"transform must be a transform call, not {value!r}", TRANSFORM_HINT)
        for name, args in value:
            if name not in _TRANSFORMS:
                raise DataError(f"unknown transform `{name}`", TRANSFORM_HINT)
            _, required, optional = _TRANSFORMS[name]
            given = dict(args)
            for k, v in given.items():
                if k not in required and k not in optional:
                    raise DataError(f"`{name}` has no option `{k}`",
                                    f"`{name}` takes {', '.join((*required, *optional))}")
                if not _number(v) or (k in ("seed", "pixels") and not _integer(v)) or (k in ("seed", "std") and v < 0):
                    raise DataError(f"`{name}({k} = …)` must be a {'non-negative ' if k in ('seed', 'std') else ''}"
                                    f"{'integer' if k in ('seed', 'pixels') else 'number'}, not {v!r}")
            missing = [k for k in required if k not in given]
            if missing:
                raise DataError(f"`{name}` needs `{missing[0]} = …`", f"e.g. `{_TRANSFORM_EXAMPLES[name]}`")
    else:
        raise DataError(f"not a domain option: {key!r}")


TRANSFORM_HINT = ("transforms: permute(seed = 0), rotate(degrees = 30), noise(std = 0.1, seed = 0), "
                  "shift(pixels = 2); compose them with `>>`")
_TRANSFORM_EXAMPLES = {"permute": "permute(seed = 0)", "rotate": "rotate(degrees = 30)",
                       "noise": "noise(std = 0.1)", "shift": "shift(pixels = 2)"}


def _subset(classes: tuple[int, ...], available: int, train, test, name: str):
    import numpy as np

    missing = [c for c in classes if c >= available]
    if missing:
        raise DataError(f"dataset {name!r} has labels 0..{available - 1}, not {missing[0]}")
    relabel = np.full(available, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    out = []
    for x, y in (train, test):
        keep = relabel[y] >= 0
        out.append((x[keep], relabel[y[keep]]))
    return out


def _image_view(x: np.ndarray, shape: tuple[int, ...], image: tuple[int, ...] | None, what: str, name: str):
    """The inputs as (N, channels, height, width) images, for transforms that move pixels."""
    import numpy as np

    if len(shape) == 3:
        return x.reshape(-1, *shape)
    if image is None or int(np.prod(image)) != int(np.prod(shape)):
        if len(shape) == 1 and what == "shift":  # a signal (mnist1d): shift along it
            return x.reshape(-1, 1, 1, shape[0])
        raise DataError(f"dataset {name!r}: `{what}` moves pixels of images, and these inputs of shape "
                        f"{shape} are not images", "use permute or noise, or shift for 1-d signals")
    return x.reshape(-1, *image)


def _permute(x, shape, image, args, split, name):
    import numpy as np

    flat = x.reshape(len(x), -1)
    order = np.random.default_rng([int(args.get("seed", 0)), 7]).permutation(flat.shape[1])
    return flat[:, order].reshape(x.shape)


def _rotate(x, shape, image, args, split, name):
    from scipy.ndimage import rotate

    images = _image_view(x, shape, image, "rotate", name)
    turned = rotate(images, float(args["degrees"]), axes=(-2, -1), reshape=False, order=1, mode="constant")
    return turned.astype(x.dtype).reshape(x.shape)


def _shift(x, shape, image, args, split, name):
    import numpy as np

    images = _image_view(x, shape, image, "shift", name)
    k, out = int(args["pixels"]), np.zeros_like(images)
    if k >= 0:
        out[..., k:] = images[..., :images.shape[-1] - k]
    else:
        out[..., :k] = images[..., -k:]
    return out.reshape(x.shape)


def _noise(x, shape, image, args, split, name):
    import numpy as np

    rng = np.random.default_rng([int(args.get("seed", 0)), 11, 0 if split == "train" else 1])
    return (x + rng.normal(0.0, float(args["std"]), size=x.shape)).astype(x.dtype)


# name -> (function, required options, optional options)
_TRANSFORMS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "permute": (_permute, (), ("seed",)),
    "rotate": (_rotate, ("degrees",), ()),
    "noise": (_noise, ("std",), ("seed",)),
    "shift": (_shift, ("pixels",), ()),
}


def _shard(x: np.ndarray, y: np.ndarray, shard: tuple[int, int], seed: int):
    """Part i of n seeded disjoint parts of the training split (a client of a federation); the
    parts of one spec's seed cover the split, their sizes differ by at most one."""
    import numpy as np

    i, n = shard
    keep = np.sort(np.array_split(np.random.default_rng([seed, 17]).permutation(len(y)), n)[i])
    return x[keep], y[keep]


def _label_noise(y: np.ndarray, classes: int, p: float, seed: int) -> np.ndarray:
    """Each training label replaced, with probability p, by one of the other labels (uniformly)."""
    import numpy as np

    rng = np.random.default_rng([seed, 13])
    flip = rng.random(len(y)) < p
    other = (y + rng.integers(1, classes, size=len(y))) % classes
    return np.where(flip, other, y).astype(y.dtype)


def _fraction(opts: dict, key: str, name: str) -> float:
    value = opts[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
        raise DataError(f"dataset {name!r}: {key} must be a fraction strictly between 0 and 1, got {value!r}")
    return float(value)


# --- digits (scikit-learn's bundled file, read without scikit-learn) -------------------------


def _digits(opts: dict, cache_dir: Any):
    import numpy as np

    test, seed = _fraction(opts, "test", "digits"), int(opts["seed"])
    key = hashlib.sha256(json.dumps({"test": test, "seed": seed}, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"digits-{key}.npz" if cache_dir is not None else None
    if path is not None and path.exists():  # the split as first made
        with np.load(path, allow_pickle=False) as z:
            x_tr, y_tr, x_te, y_te = (z[k] for k in ("x", "y", "x_test", "y_test"))
    else:
        x_tr, y_tr, x_te, y_te = _split_digits(test, seed)
        if path is not None:
            _write_npz_atomic(path, {"x": x_tr, "y": y_tr, "x_test": x_te, "y_test": y_te})
    shape: tuple[int, ...] = (64,)
    if opts["image"]:
        x_tr, x_te, shape = x_tr.reshape(-1, 1, 8, 8), x_te.reshape(-1, 1, 8, 8), (1, 8, 8)
    return x_tr, y_tr, x_te, y_te, shape, 10


def _split_digits(test: float, seed: int):
    """scikit-learn's bundled digits, scaled to [0, 1], split stratified by class: the arrays
    `train_test_split(x, y, test_size=test, random_state=seed, stratify=y)` gives, made here
    with numpy (`_stratified_split`) so that neither scikit-learn nor scipy is imported (2 s of
    a command's start-up on a fresh store)."""
    import numpy as np

    data, target = _digits_data()
    x = data.astype(np.float32) / 16.0  # pixel counts are 0..16
    y = target.astype(np.int64)
    train, held_out = _stratified_split(y, test, seed)
    return x[train], y[train], x[held_out], y[held_out]


DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the sklearn package


def _digits_data():
    """(data, target) as `sklearn.datasets.load_digits()` has them (float64 pixels, int labels):
    its bundled CSV file read with numpy as scikit-learn reads it, found without importing
    scikit-learn; `load_digits` itself where the file is not found."""
    import importlib.util

    import numpy as np

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or ()) if spec is not None else ():
        path = Path(folder).joinpath(*DIGITS_FILE)
        if path.is_file():
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1], data[:, -1].astype(int, copy=False)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("dataset 'digits' is scikit-learn's bundled copy, and scikit-learn is not installed",
                        "pip install scikit-learn") from None
    bunch = load_digits()
    return bunch.data, bunch.target


def _stratified_split(y: np.ndarray, test: float, seed: int):
    """(train indices, test indices) of scikit-learn's stratified shuffle split, as
    `train_test_split(…, test_size=test, random_state=seed, stratify=y)` draws them: the same
    RandomState draws in the same order (tests/torch/test_data.py checks it against scikit-learn)."""
    import math

    import numpy as np

    n_test = math.ceil(test * len(y))
    n_train = len(y) - n_test
    classes, y_indices, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2 or n_train < len(classes) or n_test < len(classes):
        raise DataError(f"test = {test} leaves {n_train} training and {n_test} test examples for "
                        f"{len(classes)} classes; a stratified split needs at least one of each class in each",
                        "use a test fraction such as 0.25")
    by_class = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    train: list = []
    held_out: list = []
    for i in range(len(classes)):
        members = by_class[i].take(rng.permutation(counts[i]), mode="clip")
        train.extend(members[:n_i[i]])
        held_out.extend(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(held_out)


def _approximate_mode(counts: np.ndarray, draws: int, rng) -> np.ndarray:
    """How many of `draws` to take from each class (scikit-learn's approximate mode of the
    multivariate hypergeometric: floor of the proportional share, then the largest remainders,
    ties broken by `rng`)."""
    import numpy as np

    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    need = int(draws - floored.sum())
    if need > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add = min(len(inds), need)
            floored[rng.choice(inds, size=add, replace=False)] += 1
            need -= add
            if need == 0:
                break
    return floored.astype(int)


# --- mnist1d (generated locally, cached) ----------------------------------------------------


def _mnist1d(opts: dict, cache_dir: Any):
    import mnist1d.data as m1d
    import numpy as np

    n, seed, test = opts["n"], opts["seed"], _fraction(opts, "test", "mnist1d")
    if not isinstance(n, int) or isinstance(n, bool) or n < 20:
        raise DataError(f"dataset 'mnist1d': n must be an integer of at least 20, got {n!r}")
    args = m1d.get_dataset_args(as_dict=True)
    args.update(num_samples=n, seed=int(seed), train_split=1.0 - test)
    args.pop("url", None)  # never used: we generate, we do not download
    key = hashlib.sha256(json.dumps(args, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"mnist1d-{key}.npz" if cache_dir is not None else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x", "y", "x_test", "y_test")}
    else:
        arrays = _generate_mnist1d(m1d, args)
        if path is not None:
            _write_npz_atomic(path, arrays)
    return arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"], (arrays["x"].shape[1],), 10


def _generate_mnist1d(m1d: Any, args: dict) -> dict[str, np.ndarray]:
    """Run mnist1d's generator without leaking its global seeding into the caller's RNGs."""
    import random

    import numpy as np

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        made = m1d.make_dataset(m1d.ObjectView(dict(args)))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x": made["x"].astype(np.float32), "y": made["y"].astype(np.int64),
            "x_test": made["x_test"].astype(np.float32), "y_test": made["y_test"].astype(np.int64)}


def _write_npz_atomic(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Keep `arrays` at `path` (write, then rename); a cache that cannot be written is not kept."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# --- MNIST (IDX files) -----------------------------------------------------------------------

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _mnist(opts: dict, cache_dir: Any):
    import numpy as np

    root = _root(opts, "mnist", MNIST_FILES)
    paths = [_find(root, name, (name, name + ".gz"), "mnist", MNIST_FILES) for name in MNIST_FILES]
    x_tr, y_tr, x_te, y_te = (_read_idx(p) for p in paths)
    for images, labels, which in ((x_tr, y_tr, "train"), (x_te, y_te, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"mnist: {which} images {images.shape} and labels {labels.shape} do not match",
                            "expected N×28×28 images and N labels")
    shape = (1,) + tuple(x_tr.shape[1:])
    return (x_tr.reshape((-1,) + shape) / np.float32(255), y_tr,
            x_te.reshape((-1,) + shape) / np.float32(255), y_te, shape, 10)


_IDX_TYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (magic: two zero bytes, a type code, the number of dimensions)."""
    import numpy as np

    opener: Callable = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file", "expected the MNIST files as distributed (optionally .gz)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim:]
    if len(body) != int(np.prod(dims)) * dtype.itemsize:
        raise DataError(f"{path} is truncated: header says {dims} but the file holds {len(body)} bytes")
    values = np.frombuffer(body, dtype=dtype).reshape(dims)
    return values.astype(np.float32) if ndim > 1 else values.astype(np.int64)  # images, labels


# --- CIFAR-10 (binary version) ---------------------------------------------------------------

CIFAR10_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
_CIFAR_RECORD = 1 + 3 * 32 * 32


def _cifar10(opts: dict, cache_dir: Any):
    import numpy as np

    root = _root(opts, "cifar10", CIFAR10_FILES)
    if not any((root / f).exists() or (root / f.removesuffix(".bin")).exists() for f in CIFAR10_FILES):
        nested = root / "cifar-10-batches-bin"  # the folder the official archive unpacks to
        if nested.is_dir():
            root = nested
    batches = []
    for name in CIFAR10_FILES:
        path = _find(root, name, (name, name.removesuffix(".bin")), "cifar10", CIFAR10_FILES)
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise DataError(f"{path} is not a CIFAR-10 binary batch: {raw.size} bytes is not a multiple of {_CIFAR_RECORD}",
                            "use the 'CIFAR-10 binary version' (1 label byte + 3072 pixel bytes per record)")
        records = raw.reshape(-1, _CIFAR_RECORD)
        batches.append((records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64)))
    x_tr = np.concatenate([b[0] for b in batches[:5]]).astype(np.float32) / np.float32(255)
    y_tr = np.concatenate([b[1] for b in batches[:5]])
    x_te = batches[5][0].astype(np.float32) / np.float32(255)
    if (y_tr > 9).any() or (batches[5][1] > 9).any():
        raise DataError(f"{root}: CIFAR-10 labels must be 0..9", "is this the CIFAR-100 binary version?")
    return x_tr, y_tr, x_te, batches[5][1], (3, 32, 32), 10


# --- shared file helpers ---------------------------------------------------------------------


def _root(opts: dict, name: str, expected: tuple[str, ...]) -> Path:
    root = opts.get("root")
    if root is None:
        raise DataError(f"dataset {name!r} needs root = \"<folder>\"",
                        f"the folder must hold: {', '.join(expected)}")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise DataError(f"dataset {name!r}: folder {path} does not exist",
                        f"the folder must hold: {', '.join(expected)}")
    return path


def _find(root: Path, name: str, candidates: tuple[str, ...], dataset: str, expected: tuple[str, ...]) -> Path:
    for candidate in candidates:
        if (root / candidate).is_file():
            return root / candidate
    raise DataError(f"dataset {dataset!r}: {root / name} is missing",
                    f"the folder must hold: {', '.join(expected)}")


# name -> (loader, options with their defaults); `limit` caps the training set.
SOURCES: dict[str, tuple[Callable, dict[str, Any]]] = {
    "digits": (_digits, {"test": 0.25, "seed": 0, "limit": None, "image": False}),
    "mnist1d": (_mnist1d, {"n": 5000, "test": 0.2, "seed": 42, "limit": None}),
    "mnist": (_mnist, {"root": None, "seed": 0, "limit": None}),
    "cifar10": (_cifar10, {"root": None, "seed": 0, "limit": None}),
}
