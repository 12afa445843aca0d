"""Channel pruning through Flatten: a Flatten of an (H, W, C) map writes channel c at features
(h*W + w)*C + c, so the Dense after it loses H*W kernel rows per removed channel and the rebuilt model
computes what its masked twin computes. Tiny untrained models built here; no training."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.models.zoo import randomise_statistics
from pruneflow.tf_env import keras, tf

pytestmark = pytest.mark.timeout(60)
L = keras.layers
KEEP, MULTIPLE, TOLERANCE = 0.5, 4, 2e-6


def _rebuilt_as_masked(model: keras.Model, scope: str = "internal"):
    """Prune at keep 0.5, multiple 4; the rebuilt model equals the masked twin within TOLERANCE of the
    output scale, and the masked twin differs from the full model (else the check proves nothing)."""
    narrow, plan = prune_channels(model, KEEP, scope, "l2", MULTIPLE)
    x = tf.constant(np.random.default_rng(1).uniform(0, 1, (4, *model.input_shape[1:])), tf.float32)
    full, masked, pruned = (m(x, training=False).numpy() for m in (model, masked_model(model, plan), narrow))
    scale = np.abs(masked).max()
    assert plan.kept, "the plan removed nothing"
    assert np.abs(full - masked).max() > 1e-3 * scale, "removing channels changed nothing: vacuous check"
    assert np.abs(masked - pruned).max() <= TOLERANCE * scale
    return narrow, plan


def guide_model(side: int = 28) -> keras.Model:
    """tfmot's pruning guide model: Conv2D(12, 3) → MaxPool(2) → Flatten → Dense(10)."""
    inputs = keras.Input((side, side, 1))
    x = L.MaxPooling2D(2, name="pool")(L.Conv2D(12, 3, activation="relu", name="conv")(inputs))
    return keras.Model(inputs, L.Dense(10, name="classes")(L.Flatten(name="flat")(x)))


def test_guide_model_prunes_conv_channels_through_flatten_and_rebuilds_as_its_masked_twin():
    model = guide_model()
    narrow, plan = _rebuilt_as_masked(model)
    kept = plan.kept["conv"]
    assert 0 < len(kept) < 12 and narrow.get_layer("conv").filters == len(kept)
    # the Dense keeps 13*13 rows per kept channel: fewer input rows than the 13*13*12 it had
    assert narrow.get_layer("classes").kernel.shape == (13 * 13 * len(kept), 10)
    assert narrow.count_params() < model.count_params()


def test_removing_a_channel_removes_its_rows_at_every_spatial_position_of_the_dense_kernel():
    model = guide_model()
    narrow, plan = prune_channels(model, KEEP, "internal", "l2", MULTIPLE)
    kept = plan.kept["conv"]
    # feature (h*W + w)*C + c: the kernel's rows are (h, w, c) in row-major order
    expected = model.get_layer("classes").kernel.numpy().reshape(13, 13, 12, 10)[:, :, kept, :].reshape(-1, 10)
    np.testing.assert_array_equal(narrow.get_layer("classes").kernel.numpy(), expected)


def test_two_conv_model_with_batchnorm_prunes_every_hidden_group_through_flatten():
    inputs = keras.Input((12, 12, 3))
    x = L.ReLU(name="relu")(L.BatchNormalization(name="bn")(L.Conv2D(16, 3, name="conv1")(inputs)))
    x = L.Flatten(name="flat")(L.Conv2D(12, 3, name="conv2")(x))
    x = L.Dense(32, activation="relu", name="hidden")(x)
    model = randomise_statistics(keras.Model(inputs, L.Dense(10, name="classes")(x)))
    narrow, plan = _rebuilt_as_masked(model)
    assert set(plan.kept) == {"conv1", "conv2", "hidden"}
    assert (narrow.get_layer("conv1").filters, narrow.get_layer("conv2").filters) == (8, 8)
    assert narrow.get_layer("hidden").kernel.shape == (8 * 8 * 8, 16)
    assert narrow.get_layer("bn").gamma.shape == (8,)


def test_flatten_after_channel_keeping_layers_prunes_through_them_and_a_batchnorm_after_it():
    inputs = keras.Input((10, 10, 1))
    x = L.MaxPooling2D(name="pool")(L.Conv2D(12, 3, name="conv")(inputs))
    x = L.Dropout(0.3, name="drop")(L.BatchNormalization(name="bn")(x))
    x = L.Flatten(name="flat")(L.Activation("relu", name="act")(x))
    x = L.BatchNormalization(name="flat_bn")(x)  # per feature: 4*4 copies of each channel's statistics
    model = randomise_statistics(keras.Model(inputs, L.Dense(10, name="classes")(x)))
    narrow, plan = _rebuilt_as_masked(model)
    assert narrow.get_layer("conv").filters == len(plan.kept["conv"]) < 12
    assert narrow.get_layer("flat_bn").gamma.shape == (4 * 4 * len(plan.kept["conv"]),)


def test_reshape_to_one_dim_prunes_as_a_flatten_and_carries_the_width_in_its_target():
    inputs = keras.Input((10, 10, 1))
    x = L.Reshape((-1,), name="to_vector")(L.MaxPooling2D()(L.Conv2D(12, 3, name="conv")(inputs)))
    model = keras.Model(inputs, L.Dense(10, name="classes")(x))
    narrow, plan = _rebuilt_as_masked(model)
    assert narrow.get_layer("to_vector").output_shape == (None, 4 * 4 * len(plan.kept["conv"]))
    assert narrow.get_layer("classes").kernel.shape[0] < model.get_layer("classes").kernel.shape[0]


def test_flatten_of_a_map_of_unknown_size_is_a_barrier_that_keeps_its_channels():
    inputs = keras.Input((None, None, 1))
    conv = L.Conv2D(12, 3, name="conv")(inputs)
    model = keras.Model(inputs, [L.Flatten(name="flat")(conv),
                                 L.Dense(10, name="classes")(L.GlobalAveragePooling2D()(conv))])
    graph = ChannelGraph(model)
    assert graph.handlers["flat"].role == "barrier"
    assert [g.key for g in graph.groups if g.fixed] == ["conv", "classes"] and not graph.prunable("all")
