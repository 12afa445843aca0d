"""int8 conversion of all-zero output channels, as magnitude pruning leaves them: such a channel computes
a constant (its folded bias), which full-integer quantization must keep.

The converter quantizes weights per channel (scale max|w| / 127) and the bias at `input scale *
weight scale`; an all-zero channel gets a floor scale (~3.9e-9) that could leave its int32 bias unable
to hold the constant. TF 2.x's converter raises such a channel's scale until the bias fits (|int32| <=
2**30); these tests pin that, so a converter that stops doing it fails here, not in a sweep point.

The channels *after* such a channel are the harder case: their BatchNormalization trained on a constant
input, so its variance is ~0 and its folded scale ~30 amplifies int8's rounding of that constant
(pruneflow/deploy/int8_fold.py); `chain_model` reproduces that and the fold's tests prove the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import pruneflow.deploy.tflite
from pruneflow.deploy.int8_fold import constant_channels, fold_constant_channels
from pruneflow.deploy.tflite import representative_data, to_tflite
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.tf_env import keras

pytestmark = pytest.mark.slow  # each test converts a tiny model to int8 (a few seconds)

# Conv2D, DepthwiseConv2D (multiplier 2) and Dense output channels zeroed as magnitude pruning leaves them.
CONV_DEAD, DEPTHWISE_DEAD, DENSE_DEAD = [1, 4, 6], [0, 5, 9], [2, 7]


def tiny_model(seed: int = 0) -> keras.Model:
    """Raw pixels → rescale → 1x1 conv → BN → ReLU → 3x3 'same' depthwise (x2) → BN → ReLU → pooling →
    Dense(relu) → Dense: every kernel type magnitude pruning zeroes, BN statistics that fold to non-zero biases."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 1, use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(12, activation="relu", name="head")(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, outputs)
    for bn in ("conv_bn", "depthwise_bn"):
        layer = model.get_layer(bn)
        n = layer.gamma.shape[0]
        layer.set_weights([rng.uniform(0.5, 1.5, n), rng.uniform(0.5, 2.0, n),  # gamma, beta > 0
                           rng.uniform(-0.2, 0.2, n), rng.uniform(0.5, 1.5, n)])  # moving mean, variance
    model.get_layer("conv").set_weights([rng.normal(0, 1.0, (1, 1, 3, 8))])  # seeded: the same model every run
    model.get_layer("depthwise").set_weights([rng.normal(0, 0.3, (3, 3, 8, 2))])
    model.get_layer("head").set_weights([rng.normal(0, 0.5, (16, 12)), rng.uniform(1.5, 3.0, 12)])
    model.get_layer("logits").set_weights([rng.normal(0, 0.5, (12, 4)), np.zeros(4)])
    return model


def with_dead_channels(model: keras.Model) -> keras.Model:
    """Zero whole output channels of each kernel (their folded biases stay non-zero)."""
    conv = model.get_layer("conv")
    conv.kernel.assign(conv.kernel.numpy() * np.isin(np.arange(8), CONV_DEAD, invert=True))
    depthwise = model.get_layer("depthwise")
    kernel = depthwise.depthwise_kernel.numpy().reshape(3, 3, 16)  # output channel = in * 2 + m
    kernel[..., DEPTHWISE_DEAD] = 0.0
    depthwise.depthwise_kernel.assign(kernel.reshape(3, 3, 8, 2))
    head = model.get_layer("head")
    head.kernel.assign(head.kernel.numpy() * np.isin(np.arange(12), DENSE_DEAD, invert=True))
    return model


def pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 8, 8, 3)).astype(np.uint8)


def int8_outputs(model: keras.Model, tmp_path: Path, x: np.ndarray) -> np.ndarray:
    path = tmp_path / "model.int8.tflite"
    path.write_bytes(to_tflite(model, "int8", representative_data(pixels(64, seed=1), 64)))
    return TFLiteRunner(path).predict(x)


def folded_constants(model: keras.Model, layer: str, bn: str | None, channels: list[int]) -> np.ndarray:
    """What each listed channel of an all-zero kernel computes: its bias, folded through the BN after it."""
    own = model.get_layer(layer)
    bias = own.bias.numpy().astype(np.float64) if own.use_bias else np.zeros(own.output_shape[-1])
    if bn is not None:
        norm = model.get_layer(bn)
        gamma, beta, mean, var = (w.astype(np.float64) for w in norm.get_weights())
        bias = beta + gamma * (bias - mean) / np.sqrt(var + norm.epsilon)
    return bias[channels]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    model = with_dead_channels(tiny_model())
    path = tmp_path_factory.mktemp("int8") / "model.int8.tflite"
    path.write_bytes(to_tflite(model, "int8", representative_data(pixels(64, seed=1), 64)))
    return model, path


def test_int8_output_keeps_the_constant_of_all_zero_channels(converted):
    model, path = converted
    x = pixels(32, seed=2)
    expected = model.predict(x.astype(np.float32), verbose=0)
    error = np.abs(TFLiteRunner(path).predict(x) - expected).max()
    # measured: int8 error 0.25 on outputs spread over 24; losing the constants of any one layer's
    # dead channels moves them by 1.1 (head), 1.8 (conv) or 2.9 (depthwise)
    assert error < 0.5, f"int8 max abs error {error:.3f}"


@pytest.mark.parametrize(("layer", "bn", "channels"), [("conv", "conv_bn", CONV_DEAD),
                                                       ("depthwise", "depthwise_bn", DEPTHWISE_DEAD),
                                                       ("head", None, DENSE_DEAD)])
def test_int8_bias_of_an_all_zero_channel_holds_its_folded_constant(converted, layer, bn, channels):
    model, path = converted
    interpreter = TFLiteRunner(path).interpreter
    biases = [d for d in interpreter.get_tensor_details()
              if d["dtype"] == np.int32 and f"/{layer}/" in d["name"] and len(d["quantization_parameters"]["scales"]) > 1]
    assert len(biases) == 1, [d["name"] for d in biases]
    stored = interpreter.get_tensor(biases[0]["index"]).astype(np.float64) * biases[0]["quantization_parameters"]["scales"]
    expected = folded_constants(model, layer, bn, channels)
    assert np.all(np.abs(expected) > 0.3)  # constants a floor-scaled int32 bias (max ~0.03 here) cannot hold
    np.testing.assert_allclose(stored[channels], expected, rtol=1e-5)


# The chain of pruneflow/deploy/int8_fold.py in miniature: conv channel DEAD has an all-zero kernel, so it
# outputs the constant 0.0157 (off int8's grid); the depthwise BN after it trained on that constant
# (variance 1e-7), and a 1x1 conv reads the result with weight 3. Depthwise channel NEAR is near-constant
# (a kernel of ~1e-4 on a live input, variance 1e-7): folding it changes the float output a little.
DEAD, NEAR, CONSTANT = 2, 5, 0.0157


def chain_model(seed: int = 0) -> keras.Model:
    """Raw 16x16 pixels → rescale → 3x3 conv → BN → ReLU6 → 3x3 depthwise → BN → ReLU6 → 1x1 conv → BN →
    pooling → Dense, seeded, with the dead chain above."""
    rng = np.random.default_rng(seed)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(8, 3, use_bias=False, name="conv")(x)
    x = keras.layers.BatchNormalization(name="conv_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.DepthwiseConv2D(3, use_bias=False, name="depthwise")(x)
    x = keras.layers.BatchNormalization(name="depthwise_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(8, 1, use_bias=False, name="project")(x)
    x = keras.layers.BatchNormalization(name="project_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    model = keras.Model(inputs, outputs)
    kernel = rng.normal(0, 0.5, (3, 3, 3, 8))
    kernel[..., DEAD] = 0.0
    model.get_layer("conv").set_weights([kernel])
    var, mean, beta = rng.uniform(0.5, 1.5, 8), rng.uniform(-0.2, 0.2, 8), rng.uniform(0.5, 1.0, 8)
    var[DEAD], mean[DEAD], beta[DEAD] = 1e-7, 0.0, CONSTANT
    model.get_layer("conv_bn").set_weights([rng.uniform(0.5, 1.5, 8), beta, mean, var])
    depthwise = rng.normal(0, 0.3, (3, 3, 8, 1))
    depthwise[:, :, DEAD, 0] = np.abs(depthwise[:, :, DEAD, 0]) + 0.2
    depthwise[:, :, NEAR, 0] = rng.normal(0, 1e-4, (3, 3))
    model.get_layer("depthwise").set_weights([depthwise])
    var, mean, gamma = rng.uniform(0.5, 1.5, 8), rng.uniform(-0.2, 0.2, 8), rng.uniform(0.5, 1.5, 8)
    var[[DEAD, NEAR]], gamma[DEAD] = 1e-7, 1.0
    mean[DEAD], mean[NEAR] = CONSTANT * depthwise[:, :, DEAD, 0].sum(), 2e-4
    model.get_layer("depthwise_bn").set_weights([gamma, rng.uniform(0.5, 1.0, 8), mean, var])
    project = rng.normal(0, 0.3, (1, 1, 8, 8))
    project[0, 0, DEAD, :] = 3.0
    model.get_layer("project").set_weights([project])
    model.get_layer("project_bn").set_weights([np.ones(8), np.zeros(8), np.zeros(8), np.ones(8)])
    model.get_layer("logits").set_weights([rng.normal(0, 1.0, (8, 4)), np.zeros(4)])
    return model


def chain_pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 16, 16, 3)).astype(np.uint8)


def chain_int8_error(model: keras.Model, tmp_path: Path) -> float:
    path = tmp_path / "chain.int8.tflite"
    path.write_bytes(to_tflite(model, "int8", representative_data(chain_pixels(64, seed=1), 64)))
    x = chain_pixels(32, seed=2)
    return float(np.abs(TFLiteRunner(path).predict(x) - model.predict(x.astype(np.float32), verbose=0)).max())


def test_int8_matches_float_after_a_constant_channel_feeds_a_zero_variance_batchnorm(tmp_path):
    model = chain_model()
    assert {name: list(c) for name, c in constant_channels(model).items()} == {
        "conv_bn": [DEAD], "depthwise_bn": [DEAD, NEAR]}
    error = chain_int8_error(model, tmp_path)
    # measured: 0.055 with the fold, 1.96 without it (outputs spread over 1.1..11.1)
    assert error < 0.5, f"int8 max abs error {error:.3f} against float"


def test_fold_returns_the_same_model_and_bytes_when_no_channel_is_constant(tmp_path, monkeypatch):
    model = with_dead_channels(tiny_model())  # all-zero kernels, but BN variances 0.5..1.5
    assert fold_constant_channels(model) is model
    data = representative_data(pixels(64, seed=1), 64)
    folded = to_tflite(model, "int8", data)
    monkeypatch.setattr(pruneflow.deploy.tflite, "fold_constant_channels", lambda m: m)
    assert to_tflite(model, "int8", data) == folded


def test_fold_changes_float_output_within_the_documented_bound_and_leaves_the_original_alone():
    model = chain_model()
    before = [w.copy() for w in model.get_weights()]
    folded = fold_constant_channels(model)
    assert folded is not model
    for kept, now in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, now)
    x = chain_pixels(32, seed=3).astype(np.float32)
    probe = ["depthwise", "depthwise_bn", "logits"]
    original = keras.Model(model.input, [model.get_layer(n).output for n in probe]).predict(x, verbose=0)
    changed = keras.Model(folded.input, [folded.get_layer(n).output for n in probe]).predict(x, verbose=0)
    conv_x, before_bn, before_out = original
    _, after_bn, after_out = changed
    norm = model.get_layer("depthwise_bn")
    gamma, _, mean, var = (w.astype(np.float64) for w in norm.get_weights())
    bound = np.abs(gamma) * np.abs(conv_x - mean) / np.sqrt(var + norm.epsilon)
    change = np.abs(after_bn.astype(np.float64) - before_bn)
    live = np.setdiff1d(np.arange(8), [DEAD, NEAR])
    np.testing.assert_allclose(after_bn[..., live], before_bn[..., live], rtol=1e-6, atol=1e-6)
    assert np.all(change[..., [DEAD, NEAR]] <= bound[..., [DEAD, NEAR]] + 1e-5)
    assert change[..., NEAR].max() > 1e-3  # the near-constant channel did move: the bound is exercised
    np.testing.assert_allclose(after_out, before_out, atol=0.1)


def test_fold_zeroes_the_right_slice_of_a_depthwise_kernel_with_a_multiplier():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=True, name="depthwise")(inputs)
    outputs = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.get_layer("depthwise").set_weights([rng.normal(0, 1, (3, 3, 3, 2)), rng.normal(0, 1, 6)])
    var = np.ones(6)
    var[[1, 4]] = 1e-6  # channel = input * 2 + m: (0, 1) and (2, 0)
    model.get_layer("bn").set_weights([np.ones(6), np.zeros(6), np.ones(6), var])
    layer = fold_constant_channels(model).get_layer("depthwise")
    kernel, bias = (w.reshape(-1, 6) if w.ndim == 4 else w for w in layer.get_weights())
    assert list(np.flatnonzero(np.all(kernel == 0, axis=0))) == [1, 4]
    assert list(np.flatnonzero(bias == 0)) == [1, 4]
