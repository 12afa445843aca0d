"""Channel pruning beyond MobileNet: one tiny model per layer handler, and every keras.applications
family of `pruneflow.models.zoo`, each rebuilt narrower and computing what its masked twin computes (random
weights and BatchNorm statistics, logits compared relative to their scale; no training)."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.errors import PipelineError
from pruneflow.models.zoo import FAMILIES, build_family, min_size, randomise_statistics
from pruneflow.tf_env import keras, tf

L = keras.layers
SIZE = 16


def _assert_rebuilt_as_masked(model: keras.Model, size: int, tolerance: float = 1e-4) -> keras.Model:
    """Prune half of every group; the rebuilt model is smaller and equals the masked twin within
    `tolerance` of the output scale, and the masked twin differs from the full model (not vacuous)."""
    narrow, plan = prune_channels(model, 0.5, "all", "l2", 8)
    x = tf.constant(np.random.default_rng(1).uniform(0, 255, (2, size, size, 3)), tf.float32)
    full, masked, pruned = (m(x, training=False).numpy() for m in (model, masked_model(model, plan), narrow))
    scale = np.abs(masked).max()
    assert plan.kept and narrow.count_params() < model.count_params()
    assert np.abs(full - masked).max() > tolerance * scale, "removing channels changed nothing: vacuous check"
    assert np.abs(masked - pruned).max() <= tolerance * scale
    return narrow


def _head(x) -> keras.layers.Layer:
    return L.Dense(4, name="logits")(L.GlobalAveragePooling2D(name="pool")(x))


def _conv(filters: int, name: str, **kwargs) -> keras.layers.Layer:
    return L.Conv2D(filters, 3, padding="same", name=name, **kwargs)


def _finish(inputs, x) -> keras.Model:
    return randomise_statistics(keras.Model(inputs, _head(x)))


def test_concatenated_branches_are_pruned_by_index_ranges():
    inputs = keras.Input((SIZE, SIZE, 3))
    a, b = _conv(16, "a")(inputs), _conv(24, "b")(inputs)
    x = L.Concatenate(name="cat")([a, b])
    x = L.ReLU(name="relu")(L.BatchNormalization(name="bn")(x))  # per-channel weights across both ranges
    model = _finish(inputs, _conv(16, "c")(x))
    groups = {g.key: g for g in ChannelGraph(model).prunable("all")}
    assert {"a", "b"} <= set(groups) and groups["b"].offsets["c"] == [16] and groups["b"].offsets["bn"] == [16]
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert narrow.get_layer("c").kernel.shape[2] == 8 + 16  # 16 → 8 and 24 → 16 (nearest multiples of 8)


def test_squeeze_excitation_gate_shares_the_channels_it_scales():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = _conv(16, "features")(inputs)
    gate = L.Reshape((1, 1, 16), name="unit_reshape")(L.GlobalAveragePooling2D(name="squeeze")(x))
    gate = L.Conv2D(8, 1, activation="relu", name="reduce")(gate)
    gate = L.Conv2D(16, 1, activation="sigmoid", name="expand")(gate)
    model = _finish(inputs, L.Multiply(name="excite")([x, gate]))
    keys = {g.key for g in ChannelGraph(model).prunable("all")}
    assert "expand+features" in keys and "reduce" in keys
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert narrow.get_layer("unit_reshape").target_shape == (1, 1, 8)


def test_grouped_conv_keeps_its_groups_with_the_same_count_in_each():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.ReLU(name="relu")(_conv(32, "wide")(inputs))
    x = L.BatchNormalization(name="bn")(_conv(32, "grouped", groups=4)(x))
    model = _finish(inputs, _conv(16, "out")(x))
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    grouped = narrow.get_layer("grouped")
    assert grouped.groups == 4 and grouped.filters == 16 and grouped.kernel.shape[2] == 4


def test_depthwise_as_grouped_conv_carries_its_channels():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = _conv(16, "wide")(inputs)
    model = _finish(inputs, _conv(16, "depthwise", groups=16)(x))
    assert ChannelGraph(model).handlers["depthwise"].role == "carrier"
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert narrow.get_layer("depthwise").groups == narrow.get_layer("depthwise").filters == 8


def test_separable_conv_prunes_its_depthwise_inputs_and_pointwise_outputs():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.SeparableConv2D(24, 3, name="sep1")(_conv(16, "stem")(inputs))
    model = _finish(inputs, L.SeparableConv2D(16, 3, name="sep2")(x))
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert narrow.get_layer("sep2").depthwise_kernel.shape[2] == 16 and narrow.get_layer("sep1").filters == 16


def test_tf_op_arithmetic_carries_with_scalars_and_merges_with_tensors():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = _conv(16, "a")(inputs)
    hard_sigmoid = L.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    x = x * hard_sigmoid  # hard-swish: a two-tensor multiply
    model = _finish(inputs, x + _conv(16, "b")(inputs))  # a two-tensor add
    assert any(g.key == "a+b" and g.merged for g in ChannelGraph(model).groups)
    _assert_rebuilt_as_masked(model, SIZE)


def test_spatial_slice_carries_channels_and_a_channel_slice_keeps_them():
    inputs = keras.Input((SIZE, SIZE, 3))
    cropped = _conv(16, "a")(inputs)[:, 1:, 1:, :]
    first_half = _conv(16, "b")(inputs)[..., :8]
    model = _finish(inputs, L.Add(name="add")([_conv(8, "c")(cropped), first_half[:, 1:, 1:, :]]))
    prunable = {g.key for g in ChannelGraph(model).prunable("all")}
    assert "a" in prunable and "b" not in prunable
    _assert_rebuilt_as_masked(model, SIZE)


def test_unknown_tf_op_stops_with_one_line_naming_it():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = tf.math.cumsum(_conv(8, "a")(inputs), axis=-1)
    model = keras.Model(inputs, _head(x))
    with pytest.raises(PipelineError, match=r"\(TFOpLambda math.cumsum\) is not supported") as info:
        ChannelGraph(model)
    assert "\n" not in str(info.value)


def test_layer_norm_fixes_its_channels_and_leaves_the_mlp_prunable():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = _conv(16, "stem")(inputs)
    y = L.LayerNormalization(epsilon=1e-6, name="ln")(x)
    y = L.Dense(32, activation="gelu", name="hidden")(y)  # Dense on a 4-D map: ConvNeXt's pointwise conv
    model = _finish(inputs, L.Add(name="residual")([x, L.Dense(16, name="project")(y)]))
    prunable = {g.key for g in ChannelGraph(model).prunable("all")}
    assert prunable == {"hidden"}
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert narrow.get_layer("hidden").units == 16 and narrow.get_layer("ln").gamma.shape == (16,)


def test_merge_of_misaligned_concatenation_keeps_those_channels_whole():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Concatenate(name="cat")([_conv(16, "a")(inputs), _conv(16, "b")(inputs)])
    x = L.Add(name="add")([x, _conv(32, "whole")(inputs)])
    model = _finish(inputs, L.ReLU(name="relu")(_conv(16, "next")(x)))
    prunable = {g.key for g in ChannelGraph(model).prunable("all")}
    assert prunable == {"next"}
    _assert_rebuilt_as_masked(model, SIZE)


def test_nested_model_is_flattened_and_pruned_end_to_end():
    inner_in = keras.Input((SIZE, SIZE, 3))
    inner = keras.Model(inner_in, L.ReLU(name="relu")(_conv(16, "conv")(inner_in)), name="base")
    inputs = keras.Input((SIZE, SIZE, 3))
    model = _finish(inputs, _conv(16, "after")(inner(inputs)))
    narrow = _assert_rebuilt_as_masked(model, SIZE)
    assert "base" not in [layer.name for layer in narrow.layers] and narrow.get_layer("conv").filters == 8


@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_zoo_family_is_rebuilt_narrower_as_its_masked_twin(family):
    size = min_size(family)
    model = randomise_statistics(build_family(family, size, head_activation=None))
    narrow = _assert_rebuilt_as_masked(model, size)
    # every family loses at least a third of its parameters at keep 0.5 (LayerNorm-fixed ConvNeXt the least)
    assert narrow.count_params() < 0.67 * model.count_params()
