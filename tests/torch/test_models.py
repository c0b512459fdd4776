"""Model specs: composition in Para, shape inference and its errors, building, the name table."""

import pytest
import torch

from backends.torch.models import (LAYERS, BatchNorm2d, Conv2d, Dropout, Flatten, GroupNorm, LayerError, Linear,
                                   MaxPool2d, ReLU, Residual, ResNet18, Sequential, ShapeError, Tanh, build,
                                   infer_shapes, make_layer, parameter_count, spec_from_json, spec_json)

MLP = Linear(64, 32) >> ReLU() >> Linear(32, 10)
CNN = (Conv2d(1, 8, 3, padding=1) >> GroupNorm(2, 8) >> ReLU() >> MaxPool2d(2)
       >> Residual(Conv2d(8, 8, 3, padding=1) >> Tanh()) >> Flatten() >> Dropout(0.1) >> Linear(128, 10))


def test_composition_is_associative_with_identity():
    a, b, c = Linear(64, 32), ReLU(), Linear(32, 10)
    assert (a >> b) >> c == a >> (b >> c) == MLP
    assert Sequential.of(Sequential(()), MLP, Sequential(())) == MLP
    assert eval(repr(MLP)) == MLP and eval(repr(CNN)) == CNN


def test_infer_shapes():
    assert infer_shapes(MLP, (64,)) == [(32,), (32,), (10,)]
    assert infer_shapes(CNN, (1, 8, 8))[-1] == (10,)
    assert infer_shapes(CNN, (1, 8, 8))[3] == (8, 4, 4)


def test_shape_mismatch_names_layer_and_sizes():
    with pytest.raises(ShapeError) as e:
        infer_shapes(MLP >> Linear(64, 32), (64,))
    assert e.value.layer_index == 3
    assert e.value.message == "Linear(64, 32) expects 64 input features but receives 10"
    with pytest.raises(ShapeError) as e:
        infer_shapes(Linear(64, 10), (1, 8, 8))
    assert "Flatten" in e.value.message
    with pytest.raises(ShapeError) as e:
        infer_shapes(Conv2d(3, 8, 3) >> ReLU(), (1, 8, 8))
    assert e.value.layer_index == 0 and "3 input channels but receives 1" in e.value.message
    with pytest.raises(ShapeError, match="Residual"):
        infer_shapes(Residual(Linear(4, 5)), (4,))


def test_build_is_indexable_and_matches_inferred_shapes():
    net = build(CNN)
    assert isinstance(net, torch.nn.Sequential) and len(net) == len(CNN.layers)
    x = torch.zeros(5, 1, 8, 8)
    for layer, shape in zip(net, infer_shapes(CNN, (1, 8, 8))):
        x = layer(x)
        assert tuple(x.shape[1:]) == shape


def test_parameter_count():
    assert parameter_count(MLP, (64,)) == 64 * 32 + 32 + 32 * 10 + 10
    with pytest.raises(ShapeError):
        parameter_count(MLP, (63,))


def test_resnet18_small_input_variant():
    spec = ResNet18(num_classes=10, in_channels=3)
    assert infer_shapes(spec, (3, 32, 32))[-2:] == [(512,), (10,)]
    assert parameter_count(spec, (3, 32, 32)) == 11_173_962
    assert spec_from_json(spec_json(spec)) == spec


def test_layer_table_by_name():
    assert make_layer("Linear", 64, 32) == Linear(64, 32)
    assert make_layer("Linear", **{"in": 64, "out": 32}) == Linear(64, 32)
    assert make_layer("Conv2d", 3, 16, 3, padding=1) == Conv2d(3, 16, 3, 1, 1)
    assert set(LAYERS) >= {"Linear", "Conv2d", "ReLU", "Tanh", "GELU", "Flatten", "MaxPool2d", "Dropout",
                           "LayerNorm", "GroupNorm", "BatchNorm2d", "Residual", "ResNet18"}


def test_layer_errors_are_clear():
    with pytest.raises(LayerError) as e:
        make_layer("Lineer", 64, 32)
    assert "Lineer" in e.value.message and e.value.hint == "did you mean Linear?"
    with pytest.raises(LayerError) as e:
        make_layer("Linear", 64)
    assert "out_features" in e.value.message and "Linear(in_features, out_features" in e.value.hint
    with pytest.raises(LayerError, match="unexpected keyword"):
        make_layer("ReLU", inplace=True)
    with pytest.raises(LayerError, match="p must lie"):
        Dropout(1.5)
    with pytest.raises(LayerError, match="groups"):
        GroupNorm(3, 8)
    with pytest.raises(LayerError, match="positive integer"):
        Linear(0, 3)


def test_spec_json_is_canonical_and_round_trips():
    assert spec_json(MLP) == spec_json(eval(repr(MLP)))
    assert spec_json(Linear(2, 3)) == '{"bias":true,"in_features":2,"layer":"Linear","out_features":3}'
    assert spec_from_json(spec_json(CNN)) == CNN
    assert spec_json(BatchNorm2d(4)) != spec_json(GroupNorm(1, 4))
