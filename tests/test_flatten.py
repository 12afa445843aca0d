"""Flattening nested models: the flat model has no nested layers, keeps the weights and names, and
predicts exactly what the nested one predicts; a shared nested model stops with one line."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.errors import PipelineError
from pruneflow.models.flatten import flatten_model
from pruneflow.models.zoo import build_family, randomise_statistics
from pruneflow.tf_env import keras

L = keras.layers


@pytest.mark.parametrize("family", ["MobileNetV2", "EfficientNetB0"])
def test_flat_model_predicts_exactly_as_the_nested_one(family):
    model = randomise_statistics(build_family(family, 32, nested=True, head_activation=None))
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    randomise_statistics(base)
    flat = flatten_model(model)
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    expected = model(x, training=False).numpy()
    assert not any(isinstance(layer, keras.Model) for layer in flat.layers)
    assert {layer.name for layer in base.layers[1:]} <= {layer.name for layer in flat.layers}
    assert flat.count_params() == model.count_params()
    assert np.ptp(expected, axis=0).max() > 0, "constant outputs would make the check vacuous"
    np.testing.assert_array_equal(flat(x, training=False).numpy(), expected)


def test_flat_model_without_nesting_is_the_model_itself():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, L.Conv2D(4, 3)(inputs))
    assert flatten_model(model) is model


def test_clashing_layer_name_takes_the_nested_model_prefix():
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, L.Conv2D(4, 3, name="conv")(inner_in), name="base")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, L.Conv2D(2, 1, name="conv")(inner(inputs)))
    names = {layer.name for layer in flatten_model(model).layers}
    assert {"conv", "base_conv"} <= names


def test_shared_nested_model_stops_with_one_line():
    inner_in = keras.Input((8, 8, 3))
    inner = keras.Model(inner_in, L.Conv2D(3, 3, padding="same")(inner_in), name="twice")
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, inner(inner(inputs)))
    with pytest.raises(PipelineError, match=r"nested model 'twice' is called 2 times") as info:
        flatten_model(model)
    assert "\n" not in str(info.value)
