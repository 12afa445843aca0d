"""The toy architecture (`model.architecture: toy`) takes every code path the shared builds exercise:
tfmot wraps its kernels, the channel pruner finds its groups and rebuilds it exactly, int8 converts
it, and it learns the tests' stripes in a few epochs. If one of these stopped holding, the
orchestration tests built on it would prove less than they say."""

from __future__ import annotations

import numpy as np
import pytest

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.rebuild import masked_model, prune_channels
from pruneflow.config.dense import ModelConfig
from pruneflow.config.params import load_config
from pruneflow.config.prune import PruneConfig
from pruneflow.models.classifier import build_classifier
from pruneflow.models.fit import compile_classifier
from pruneflow.tf_env import keras
from tests.helpers import write_params, write_stripes

SIZE = 32
L = keras.layers


def _toy(alpha: float = 1.0, classes: int = 2) -> keras.Model:
    return build_classifier(ModelConfig(architecture="toy", alpha=alpha, dense_units=32), classes, SIZE)


def test_toy_has_every_layer_kind_the_pipeline_handles() -> None:
    kinds = {type(layer) for layer in _toy().layers}
    assert {L.Conv2D, L.BatchNormalization, L.ReLU, L.DepthwiseConv2D, L.Add, L.Concatenate,
            L.GlobalAveragePooling2D, L.Dense} <= kinds


def test_width_multiplier_scales_every_convolution() -> None:
    wide, narrow = _toy(1.0), _toy(0.5)
    for layer in wide.layers:
        if isinstance(layer, L.Conv2D):
            assert narrow.get_layer(layer.name).filters == layer.filters // 2, layer.name
    assert narrow.count_params() < wide.count_params() / 2


def test_toy_is_refused_imagenet_weights_in_one_line() -> None:
    with pytest.raises(ValueError, match="toy architecture has no ImageNet weights; use weights: null"):
        ModelConfig(architecture="toy", weights="imagenet")


def test_channel_pruner_finds_several_groups_and_rebuilds_the_toy_exactly() -> None:
    model = _toy()
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial statistics: a wrongly sliced BatchNorm changes the output
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    groups = ChannelGraph(model).prunable("all")
    assert len(groups) >= 2
    assert any(group.merged for group in groups), "the residual Add couples the stem and the projection"
    narrow, plan = prune_channels(model, 0.5, "all", "l2", 4)
    x = rng.uniform(0, 255, (4, SIZE, SIZE, 3)).astype(np.float32)
    full, zeroed, pruned = (m.predict(x, verbose=0) for m in (model, masked_model(model, plan), narrow))
    assert np.abs(full - zeroed).max() > 1e-4, "removing channels changed nothing: the check would be vacuous"
    np.testing.assert_allclose(pruned, zeroed, atol=2e-6)
    assert narrow.get_layer("branch_concat").output_shape[-1] < model.get_layer("branch_concat").output_shape[-1]


def test_tfmot_wraps_every_convolution_and_dense_layer_of_the_toy() -> None:
    from pruneflow.magnitude.pruning import wrap_for_pruning
    from pruneflow.models.schedule import plan_fine_tune

    cfg = PruneConfig()
    wrapped = wrap_for_pruning(_toy(), cfg, plan_fine_tune(cfg, 100, 16))
    names = {layer.name for layer in wrapped.layers if layer.name.startswith("prune_low_magnitude_")}
    assert {f"prune_low_magnitude_{n}" for n in ("stem_conv", "block_project_conv", "branch_1x1_conv",
                                                 "branch_3x3_conv", "last_conv", "head_dense")} <= names


def test_toy_converts_to_int8_and_agrees_with_float(tmp_path) -> None:
    from pruneflow.deploy.tflite import representative_data, to_tflite
    from pruneflow.deploy.tflite_runner import TFLiteRunner

    model = _toy()
    x = np.random.default_rng(1).uniform(0, 255, (8, SIZE, SIZE, 3)).astype(np.float32)
    flatbuffer = to_tflite(model, "int8", representative_data(x, 8))
    path = tmp_path / "toy.int8.tflite"
    path.write_bytes(flatbuffer)
    got = TFLiteRunner(path, threads=1, batch=8).predict(x)
    assert np.abs(got - model.predict(x, verbose=0)).max() < 0.1


def test_toy_learns_the_stripes_in_a_few_epochs(tmp_path) -> None:
    from PIL import Image

    write_stripes(tmp_path / "raw", per_class=80)
    images, labels = [], []
    for k, name in enumerate(("horizontal", "vertical")):
        for path in sorted((tmp_path / "raw" / name).glob("*.png")):
            images.append(np.asarray(Image.open(path).convert("RGB"), np.float32))
            labels.append(k)
    order = np.random.default_rng(0).permutation(len(images))
    x, y = np.stack(images)[order], np.array(labels)[order]
    cfg = load_config(write_params(tmp_path))
    keras.utils.set_random_seed(cfg.seed)
    model = _toy()
    compile_classifier(model, 0.003, 1e-4)
    model.fit(x[:120], y[:120], epochs=10, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x[120:], y[120:], verbose=0)
    assert accuracy >= 0.9
