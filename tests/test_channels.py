"""Channel pruning invariants (no training): the rebuilt narrow model computes what the full model
computes with the removed channels ignored, for every supported graph; groups and counts are as asked."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import kept_count
from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.config.dense import ModelConfig
from pruneflow.errors import PipelineError
from pruneflow.models.classifier import build_classifier
from pruneflow.tf_env import keras

L = keras.layers
SIZE = 32


def _random_statistics(model: keras.Model) -> keras.Model:
    """Non-trivial BatchNorm statistics, so a wrongly sliced BatchNorm changes the output."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    return model


def custom_cnn(num_classes: int = 5) -> keras.Model:
    """A small CNN with a residual block, a 1x1 keepdims pooling + Flatten and a Dense head."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Rescaling(1 / 255.0, name="scale")(inputs)
    x = L.Conv2D(24, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    y = L.Conv2D(40, 1, name="wide")(x)
    y = L.ReLU(name="wide_relu")(y)
    y = L.ZeroPadding2D(1, name="pad")(y)
    y = L.DepthwiseConv2D(3, name="dw")(y)
    y = L.BatchNormalization(name="dw_bn")(y)
    y = L.Conv2D(24, 1, name="narrow")(y)
    x = L.Add(name="residual")([x, y])
    x = L.MaxPooling2D(name="pool")(x)
    x = L.Conv2D(48, 3, padding="same", activation="relu", name="top")(x)
    x = L.GlobalAveragePooling2D(keepdims=True, name="gap")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(32, activation="relu", name="fc")(x)
    x = L.Dropout(0.2, name="drop")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="logits")(x)
    return _random_statistics(keras.Model(inputs, outputs))


def _classifier(architecture: str, alpha: float) -> keras.Model:
    return _random_statistics(build_classifier(ModelConfig(architecture=architecture, alpha=alpha), 10, SIZE))


MODELS = {
    "mobilenet_v2": lambda: _classifier("mobilenet_v2", 0.35),
    "mobilenet_v1": lambda: _classifier("mobilenet", 0.25),
    "custom_cnn": custom_cnn,
}
CASES = [("mobilenet_v2", "internal"), ("mobilenet_v2", "all"), ("mobilenet_v1", "internal"),
         ("custom_cnn", "internal"), ("custom_cnn", "all")]


@pytest.mark.parametrize(("name", "scope"), CASES)
@pytest.mark.parametrize("criterion", ["l2", "bn_scale"])
def test_pruned_model_predicts_as_the_full_model_with_removed_channels_zeroed(name, scope, criterion):
    model = MODELS[name]()
    narrow, plan = prune_channels(model, 0.5, scope, criterion, 8)
    x = np.random.default_rng(1).uniform(0, 255, (6, SIZE, SIZE, 3)).astype(np.float32)
    full, zeroed, pruned = (m.predict(x, verbose=0) for m in (model, masked_model(model, plan), narrow))
    assert narrow.count_params() < model.count_params()
    assert plan.kept, "the scope found nothing to prune"
    assert np.abs(full - zeroed).max() > 1e-4, "removing channels changed nothing: the check would be vacuous"
    np.testing.assert_allclose(pruned, zeroed, atol=2e-6)


def test_residual_scope_prunes_add_coupled_channels_identically_in_every_branch():
    model = MODELS["mobilenet_v2"]()
    graph = ChannelGraph(model)
    coupled = [g for g in graph.groups if g.merged and not g.fixed]
    assert coupled and all(len(g.producers) >= 2 for g in coupled)
    narrow, plan = prune_channels(model, 0.5, "all", "l2", 4)
    for group in coupled:
        widths = {narrow.get_layer(p).filters for p in group.producers}
        assert widths == {kept_count(group.size, 0.5, 4)} and max(widths) < group.size, group.key
        assert len(plan.kept[group.key]) == widths.pop()


def test_internal_scope_leaves_residual_streams_whole():
    model = MODELS["custom_cnn"]()
    narrow, plan = prune_channels(model, 0.5, "internal", "l2", 8)
    assert narrow.get_layer("stem").filters == 24 and narrow.get_layer("narrow").filters == 24
    assert narrow.get_layer("wide").filters == 24  # 40 → 20 → nearest multiple of 8
    assert narrow.get_layer("top").filters == 24 and narrow.get_layer("fc").units == 16
    assert narrow.get_layer("logits").units == 5, "the output's classes are never pruned"


@pytest.mark.parametrize(("size", "keep", "multiple", "kept"),
                         [(96, 0.5, 8, 48), (96, 0.35, 8, 32), (960, 0.35, 8, 336), (40, 0.5, 8, 24),
                          (16, 0.1, 8, 8), (30, 0.9, 16, 30), (100, 0.33, 1, 33), (57, 1.0, 8, 57)])
def test_kept_count_is_the_nearest_multiple_within_bounds(size, keep, multiple, kept):
    assert kept_count(size, keep, multiple) == kept


def test_kept_channel_counts_follow_the_keep_fraction_in_every_group():
    model = MODELS["mobilenet_v2"]()
    graph = ChannelGraph(model)
    narrow, _ = prune_channels(model, 0.35, "internal", "l1", 8)
    for group in graph.prunable("internal"):
        for producer in group.producers:
            layer = narrow.get_layer(producer)
            width = layer.filters if isinstance(layer, L.Conv2D) else layer.units
            assert width == kept_count(group.size, 0.35, 8), producer


def test_pruned_model_saves_loads_and_converts_to_tflite(tmp_path):
    from pruneflow.deploy.tflite import to_tflite
    from pruneflow.deploy.tflite_runner import TFLiteRunner
    from pruneflow.models.store import load_model, save_model

    narrow, _ = prune_channels(MODELS["mobilenet_v2"](), 0.5, "all", "l2", 8)
    save_model(narrow, tmp_path / "narrow.keras")
    loaded = load_model(tmp_path / "narrow.keras")
    x = np.random.default_rng(2).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), narrow.predict(x, verbose=0), atol=1e-6)
    (tmp_path / "narrow.tflite").write_bytes(to_tflite(loaded))
    tflite = TFLiteRunner(tmp_path / "narrow.tflite", threads=1, batch=3).predict(x)
    np.testing.assert_allclose(tflite, narrow.predict(x, verbose=0), atol=1e-4)


def test_unsupported_layer_stops_with_one_line_naming_it():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.Conv2D(8, 3, name="conv")(inputs)
    x = L.PReLU(name="learned_slope")(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, L.Dense(3)(x))
    with pytest.raises(PipelineError, match=r"layer 'learned_slope' \(PReLU\) is not supported") as info:
        ChannelGraph(model)
    assert "\n" not in str(info.value)


def test_channels_read_by_a_reshape_are_kept_and_concatenated_ones_pruned_by_range():
    inputs = keras.Input((SIZE, SIZE, 3))
    a = L.Conv2D(16, 3, name="a")(inputs)
    b = L.Conv2D(16, 3, name="b")(inputs)
    x = L.Concatenate(name="cat")([a, b])
    x = L.Conv2D(16, 1, name="c")(x)
    x = L.Reshape((-1, 8), name="regroup")(x)  # mixes the channel axis with space: c stays whole
    x = L.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, L.Dense(3)(x))
    prunable = {g.key for g in ChannelGraph(model).prunable("all")}
    assert prunable == {"a", "b"}


def test_gradual_schedule_ends_at_the_kept_fraction_and_spends_every_epoch():
    from pruneflow.channels.training import step_epochs, step_keeps

    keeps = step_keeps(0.4, "gradual", 3)
    assert keeps == pytest.approx([0.8, 0.6, 0.4]) and step_keeps(0.4, "oneshot", 3) == [0.4]
    assert step_epochs(12, 3) == [4, 4, 4] and step_epochs(8, 3) == [2, 2, 4]
