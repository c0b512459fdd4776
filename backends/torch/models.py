"""Model specs: layers as frozen values, composed in Para with `>>`, checked for shape, built as nn.Sequential.

A spec is data (hashable, canonical JSON, `eval(repr(spec)) == spec`); torch is imported only
when a spec is built, so plans can be compiled and hashed without it. Composition is
associative by construction: `Sequential.of` flattens, so `(a >> b) >> c == a >> (b >> c)`,
and the empty `Sequential(())` is the identity.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import math
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

Shape = tuple[int, ...]


class ShapeError(Exception):
    """Layer `layer_index` (0-based, top level) cannot accept the shape its predecessor produces."""

    def __init__(self, layer_index: int, message: str):
        super().__init__(layer_index, message)
        self.layer_index = layer_index
        self.message = message

    def __str__(self) -> str:
        return self.message


class LayerError(Exception):
    """A layer named or called wrongly (unknown name, wrong arguments, invalid value)."""

    def __init__(self, message: str, hint: str | None = None, keyword: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.keyword = keyword  # the keyword argument at fault, when one is


class _Mismatch(Exception):
    """Raised by one layer's shape rule; `infer_shapes` adds the layer index."""


class Layer:
    """Behaviour shared by all layer specs: composition, short repr, shape rule, module."""

    def __rshift__(self, other: "Layer") -> "Sequential":
        if not isinstance(other, Layer):
            return NotImplemented
        return Sequential.of(self, other)

    def __repr__(self) -> str:
        args = []
        for f in fields(self):
            value = getattr(self, f.name)
            if _required(f):
                args.append(repr(value))
            elif value != f.default:
                args.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(args)})"

    def out_shape(self, shape: Shape) -> Shape:
        return shape

    def trainable(self) -> int:
        """Number of trainable scalars: those of `module().parameters()`, counted without torch."""
        return 0

    def module(self) -> Any:
        raise NotImplementedError


def _required(f: Any) -> bool:
    from dataclasses import MISSING

    return f.default is MISSING and f.default_factory is MISSING


def _positive(layer: Layer, *names: str) -> None:
    for name in names:
        value = getattr(layer, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LayerError(f"{type(layer).__name__}: {name} must be a positive integer, got {value!r}")


def _features(layer: Layer, shape: Shape, n: int, what: str) -> None:
    if len(shape) != 1:
        raise _Mismatch(f"{layer!r} expects a flat input of {n} {what} but receives shape {shape}; "
                        f"insert Flatten before it")
    if shape[0] != n:
        raise _Mismatch(f"{layer!r} expects {n} input {what} but receives {shape[0]}")


def _image(layer: Layer, shape: Shape, channels: int | None) -> None:
    if len(shape) != 3:
        raise _Mismatch(f"{layer!r} expects a (channels, height, width) input but receives shape {shape}")
    if channels is not None and shape[0] != channels:
        raise _Mismatch(f"{layer!r} expects {channels} input channels but receives {shape[0]}")


@dataclass(frozen=True, repr=False)
class Linear(Layer):
    """Affine map R^in -> R^out."""

    in_features: int
    out_features: int
    bias: bool = True

    def __post_init__(self) -> None:
        _positive(self, "in_features", "out_features")

    def out_shape(self, shape: Shape) -> Shape:
        _features(self, shape, self.in_features, "features")
        return (self.out_features,)

    def trainable(self) -> int:
        return self.out_features * (self.in_features + bool(self.bias))

    def module(self) -> Any:
        return _nn().nn.Linear(self.in_features, self.out_features, bias=self.bias)


@dataclass(frozen=True, repr=False)
class Conv2d(Layer):
    """2-d convolution with a square kernel."""

    in_channels: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    bias: bool = True

    def __post_init__(self) -> None:
        _positive(self, "in_channels", "out_channels", "kernel", "stride")
        if not isinstance(self.padding, int) or isinstance(self.padding, bool) or self.padding < 0:
            raise LayerError(f"Conv2d: padding must be a non-negative integer, got {self.padding!r}")

    def out_shape(self, shape: Shape) -> Shape:
        _image(self, shape, self.in_channels)
        h, w = ((s + 2 * self.padding - self.kernel) // self.stride + 1 for s in shape[1:])
        if h < 1 or w < 1:
            raise _Mismatch(f"{self!r} needs an input of at least {self.kernel - 2 * self.padding} pixels "
                            f"per side but receives {shape[1]}×{shape[2]}")
        return (self.out_channels, h, w)

    def trainable(self) -> int:
        return self.out_channels * (self.in_channels * self.kernel**2 + bool(self.bias))

    def module(self) -> Any:
        return _nn().nn.Conv2d(self.in_channels, self.out_channels, self.kernel,
                               stride=self.stride, padding=self.padding, bias=self.bias)


@dataclass(frozen=True, repr=False)
class ReLU(Layer):
    """max(x, 0)."""

    def module(self) -> Any:
        return _nn().nn.ReLU()


@dataclass(frozen=True, repr=False)
class Tanh(Layer):
    """tanh(x)."""

    def module(self) -> Any:
        return _nn().nn.Tanh()


@dataclass(frozen=True, repr=False)
class GELU(Layer):
    """x Φ(x) (exact erf form)."""

    def module(self) -> Any:
        return _nn().nn.GELU()


@dataclass(frozen=True, repr=False)
class Flatten(Layer):
    """(c, h, w) -> (c·h·w,)."""

    def out_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)

    def module(self) -> Any:
        return _nn().nn.Flatten()


@dataclass(frozen=True, repr=False)
class MaxPool2d(Layer):
    """Max over non-overlapping k×k windows."""

    kernel: int

    def __post_init__(self) -> None:
        _positive(self, "kernel")

    def out_shape(self, shape: Shape) -> Shape:
        _image(self, shape, None)
        if shape[1] < self.kernel or shape[2] < self.kernel:
            raise _Mismatch(f"{self!r} needs at least {self.kernel}×{self.kernel} pixels "
                            f"but receives {shape[1]}×{shape[2]}")
        return (shape[0], shape[1] // self.kernel, shape[2] // self.kernel)

    def module(self) -> Any:
        return _nn().nn.MaxPool2d(self.kernel)


@dataclass(frozen=True, repr=False)
class GlobalAvgPool(Layer):
    """(c, h, w) -> (c,): the mean over all pixels."""

    def out_shape(self, shape: Shape) -> Shape:
        _image(self, shape, None)
        return (shape[0],)

    def module(self) -> Any:
        return _nn().GlobalAvgPool()


@dataclass(frozen=True, repr=False)
class Dropout(Layer):
    """Zero each unit with probability p while training (its mask is a function of seed and step)."""

    p: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.p, (int, float)) or isinstance(self.p, bool) or not 0 <= self.p < 1:
            raise LayerError(f"Dropout: p must lie in [0, 1), got {self.p!r}")

    def module(self) -> Any:
        return _nn().nn.Dropout(float(self.p))


@dataclass(frozen=True, repr=False)
class LayerNorm(Layer):
    """Normalize the last axis (n features) with a learned scale and shift."""

    features: int

    def __post_init__(self) -> None:
        _positive(self, "features")

    def out_shape(self, shape: Shape) -> Shape:
        if not shape or shape[-1] != self.features:
            got = shape[-1] if shape else "a scalar"
            raise _Mismatch(f"{self!r} expects {self.features} features on the last axis but receives {got}")
        return shape

    def trainable(self) -> int:
        return 2 * self.features  # scale and shift

    def module(self) -> Any:
        return _nn().nn.LayerNorm(self.features)


@dataclass(frozen=True, repr=False)
class GroupNorm(Layer):
    """Normalize channels in `groups` groups (batch-independent, so it vmaps)."""

    groups: int
    channels: int

    def __post_init__(self) -> None:
        _positive(self, "groups", "channels")
        if self.channels % self.groups:
            raise LayerError(f"GroupNorm: {self.channels} channels do not split into {self.groups} groups")

    def out_shape(self, shape: Shape) -> Shape:
        if not shape or shape[0] != self.channels:
            raise _Mismatch(f"{self!r} expects {self.channels} channels but receives shape {shape}")
        return shape

    def trainable(self) -> int:
        return 2 * self.channels  # scale and shift per channel

    def module(self) -> Any:
        return _nn().nn.GroupNorm(self.groups, self.channels)


@dataclass(frozen=True, repr=False)
class BatchNorm2d(Layer):
    """Batch normalization over (c, h, w) inputs; carries running-statistics buffers."""

    channels: int

    def __post_init__(self) -> None:
        _positive(self, "channels")

    def out_shape(self, shape: Shape) -> Shape:
        _image(self, shape, self.channels)
        return shape

    def trainable(self) -> int:
        return 2 * self.channels  # scale and shift; the running statistics are buffers

    def module(self) -> Any:
        return _nn().nn.BatchNorm2d(self.channels)


@dataclass(frozen=True, repr=False)
class Sequential(Layer):
    """Composition in Para: the layers applied left to right; `Sequential(())` is the identity."""

    layers: tuple[Layer, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise LayerError(f"Sequential: {layer!r} is not a layer")

    @classmethod
    def of(cls, *parts: Layer) -> "Sequential":
        """The composite of `parts`, flattened so that composition is strictly associative."""
        flat: list[Layer] = []
        for part in parts:
            flat.extend(part.layers if isinstance(part, Sequential) else (part,))
        return cls(tuple(flat))

    def __repr__(self) -> str:
        if len(self.layers) < 2:
            return f"Sequential({self.layers!r})"
        return " >> ".join(repr(layer) for layer in self.layers)

    def out_shape(self, shape: Shape) -> Shape:
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.out_shape(shape)
            except _Mismatch as e:
                raise _Mismatch(f"layer {i} of the composite: {e}") from None
        return shape

    def trainable(self) -> int:
        return sum(layer.trainable() for layer in self.layers)

    def module(self) -> Any:
        return _nn().nn.Sequential(*(layer.module() for layer in self.layers))


@dataclass(frozen=True, repr=False)
class Residual(Layer):
    """x ↦ body(x) + shortcut(x), the shortcut being the identity unless given (a projection)."""

    body: Layer
    shortcut: Layer | None = None

    def out_shape(self, shape: Shape) -> Shape:
        try:
            out = self.body.out_shape(shape)
        except _Mismatch as e:
            raise _Mismatch(f"in the body of a Residual: {e}") from None
        try:
            skip = self.shortcut.out_shape(shape) if self.shortcut is not None else shape
        except _Mismatch as e:
            raise _Mismatch(f"in the shortcut of a Residual: {e}") from None
        if out != skip:
            raise _Mismatch(f"Residual: the body maps {shape} to {out}, which cannot be added to "
                            f"the shortcut's {skip}; give a shortcut that maps to {out}")
        return out

    def trainable(self) -> int:
        return self.body.trainable() + (self.shortcut.trainable() if self.shortcut is not None else 0)

    def module(self) -> Any:
        shortcut = self.shortcut.module() if self.shortcut is not None else None
        return _nn().Residual(self.body.module(), shortcut)


@dataclass(frozen=True, repr=False)
class ResNet18(Layer):
    """ResNet-18 for 32×32 inputs (3×3 stem, no max-pool), as in the CIFAR literature."""

    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self) -> None:
        _positive(self, "num_classes", "in_channels")

    def expand(self) -> Sequential:
        """The named model as a composite of primitive layers (stem, 8 basic blocks, head)."""
        parts: list[Layer] = [Conv2d(self.in_channels, 64, 3, padding=1, bias=False), BatchNorm2d(64), ReLU()]
        width = 64
        for stage, out in enumerate((64, 128, 256, 512)):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                body = Sequential.of(Conv2d(width, out, 3, stride=stride, padding=1, bias=False), BatchNorm2d(out),
                                     ReLU(), Conv2d(out, out, 3, padding=1, bias=False), BatchNorm2d(out))
                shortcut = None
                if stride != 1 or width != out:
                    shortcut = Sequential.of(Conv2d(width, out, 1, stride=stride, bias=False), BatchNorm2d(out))
                parts += [Residual(body, shortcut), ReLU()]
                width = out
        parts += [GlobalAvgPool(), Linear(512, self.num_classes)]
        return Sequential.of(*parts)

    def out_shape(self, shape: Shape) -> Shape:
        return self.expand().out_shape(shape)

    def trainable(self) -> int:
        return self.expand().trainable()

    def module(self) -> Any:
        return self.expand().module()


# The names the language may call, each with its positional/keyword signature.
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Linear, Conv2d, ReLU, Tanh, GELU, Flatten, MaxPool2d, GlobalAvgPool, Dropout,
                LayerNorm, GroupNorm, BatchNorm2d, Residual, Sequential, ResNet18)
}

# Short keyword spellings the language allows (`Linear(in = 64, out = 32)`).
_ALIASES = {
    "Linear": {"in": "in_features", "out": "out_features"},
    "Conv2d": {"in": "in_channels", "out": "out_channels", "kernel_size": "kernel"},
    "MaxPool2d": {"kernel_size": "kernel"},
}


def make_layer(name: str, *args: Any, **kwargs: Any) -> Layer:
    """Build the layer `name` from positional/keyword arguments, with errors a user can act on:
    an unknown layer or keyword names the one meant when the spelling (or case) says so."""
    cls = LAYERS.get(name)
    if cls is None:
        close = _closest(name, LAYERS)
        hint = f"did you mean {close}?" if close else f"known layers: {', '.join(LAYERS)}"
        raise LayerError(f"unknown layer {name!r}", hint)
    aliases = _ALIASES.get(name, {})
    kwargs = {aliases.get(k, k): v for k, v in kwargs.items()}
    signature = inspect.signature(cls)
    unknown = [k for k in kwargs if k not in signature.parameters]
    if unknown:
        close = _closest(unknown[0], [*signature.parameters, *aliases])
        raise LayerError(f"{name}: unexpected keyword argument `{unknown[0]}`",
                         (f"did you mean `{close}`? " if close else "") + f"usage: {name}{_usage(signature)}",
                         keyword=unknown[0])
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:
        raise LayerError(f"{name}: {e}", f"usage: {name}{_usage(signature)}") from None
    return cls(*args, **kwargs)


def _closest(word: str, known) -> str | None:
    """The known name `word` most likely misspells (case aside), or None."""
    lower = {k.lower(): k for k in known}
    if word.lower() in lower:
        return lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lower), n=1)
    return lower[close[0]] if close else None


def _usage(signature: inspect.Signature) -> str:
    parts = [p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
             for p in signature.parameters.values()]
    return f"({', '.join(parts)})"


def _top(spec: Layer) -> tuple[Layer, ...]:
    """The top-level layers: those the built nn.Sequential indexes."""
    if isinstance(spec, ResNet18):
        spec = spec.expand()
    return spec.layers if isinstance(spec, Sequential) else (spec,)


def infer_shapes(spec: Layer, input_shape: Shape) -> list[Shape]:
    """The output shape (without batch axis) of each top-level layer; raises ShapeError on a mismatch."""
    shape = tuple(int(s) for s in input_shape)
    shapes = []
    for i, layer in enumerate(_top(spec)):
        try:
            shape = layer.out_shape(shape)
        except _Mismatch as e:
            raise ShapeError(i, str(e)) from None
        shapes.append(shape)
    return shapes


def build(spec: Layer) -> Any:
    """An nn.Sequential whose i-th child is the i-th top-level layer (so features can be read by index)."""
    return _nn().nn.Sequential(*(layer.module() for layer in _top(spec)))


def parameter_count(spec: Layer, input_shape: Shape) -> int:
    """Number of trainable scalars, after checking that the spec accepts `input_shape` (no torch:
    each layer counts its own, equal to the built module's `parameters()` by a test)."""
    infer_shapes(spec, input_shape)
    return spec.trainable()


def has_layer(spec: Layer, *kinds: type[Layer]) -> bool:
    """Whether any layer (at any depth) is one of `kinds`."""
    if isinstance(spec, kinds):
        return True
    if isinstance(spec, ResNet18):
        return has_layer(spec.expand(), *kinds)
    children = [getattr(spec, f.name) for f in fields(spec)]
    nested = [c for c in children if isinstance(c, Layer)]
    nested += [x for c in children if isinstance(c, tuple) for x in c if isinstance(x, Layer)]
    return any(has_layer(c, *kinds) for c in nested)


def _to_obj(spec: Any) -> Any:
    if isinstance(spec, Layer):
        return {"layer": type(spec).__name__, **{f.name: _to_obj(getattr(spec, f.name)) for f in fields(spec)}}
    if isinstance(spec, tuple):
        return [_to_obj(x) for x in spec]
    return spec


def spec_json(spec: Layer) -> str:
    """Canonical JSON of a spec (sorted keys, no whitespace), the input to content hashes."""
    return json.dumps(_to_obj(spec), sort_keys=True, separators=(",", ":"))


def spec_from_json(text: str) -> Layer:
    """Inverse of `spec_json`."""

    def obj(value: Any) -> Any:
        if isinstance(value, dict):
            kwargs = {k: obj(v) for k, v in value.items() if k != "layer"}
            return make_layer(value["layer"], **kwargs)
        if isinstance(value, list):
            return tuple(obj(v) for v in value)
        return value

    return obj(json.loads(text))


@functools.cache
def _nn() -> SimpleNamespace:
    """torch.nn plus our two module classes, imported on first build only."""
    from torch import nn

    class ResidualModule(nn.Module):
        def __init__(self, body: nn.Module, shortcut: nn.Module | None):
            super().__init__()
            self.body = body
            self.shortcut = shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    class GlobalAvgPoolModule(nn.Module):
        def forward(self, x):
            return x.mean(dim=(-2, -1))

    return SimpleNamespace(nn=nn, Residual=ResidualModule, GlobalAvgPool=GlobalAvgPoolModule)
