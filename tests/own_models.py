"""Classifiers written in plain tf_keras, outside pruneflow, as a user would bring them (model.file)."""

from __future__ import annotations

import numpy as np

from pruneflow.tf_env import keras, tf

L = keras.layers


def user_base(side: int | None) -> keras.Model:
    """A small convolutional base with a squeeze-excitation block, a concatenation and a residual add."""
    inputs = keras.Input((side, side, 3), name="base_in")
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU(name="stem_relu")(x)
    a = L.Conv2D(8, 1, activation="relu", name="branch_a")(x)
    b = L.Conv2D(8, 3, padding="same", activation="relu", name="branch_b")(x)
    x = L.Concatenate(name="concat")([a, b])
    squeeze = L.GlobalAveragePooling2D(name="se_pool")(x)
    squeeze = L.Dense(4, activation="relu", name="se_reduce")(squeeze)
    gate = L.Dense(16, activation="sigmoid", name="se_expand")(squeeze)
    gate = L.Reshape((1, 1, 16), name="se_reshape")(gate)
    x = L.Multiply(name="se_gate")([x, gate])
    y = L.Conv2D(16, 3, padding="same", use_bias=False, name="res_conv")(x)
    y = L.BatchNormalization(name="res_bn")(y)
    x = L.Add(name="residual")([x, y])
    x = L.Conv2D(24, 3, strides=2, padding="same", activation="relu", name="top")(x)
    return keras.Model(inputs, x, name="user_base")


def user_classifier(num_classes: int, side: int | None = 32, logits: bool = False, scale: bool = True) -> keras.Model:
    """The nested shape of tfmot #656: scaling → base (a Functional layer) → pooling → Dense head."""
    inputs = keras.Input((side, side, 3), name="pixels")
    x = L.Rescaling(1 / 255.0, name="to_unit")(inputs) if scale else inputs
    x = user_base(side)(x)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(16, activation="relu", name="hidden")(x)
    outputs = L.Dense(num_classes, activation=None if logits else "softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="user_classifier")


def structured_pixels(count: int, side: int, seed: int) -> np.ndarray:
    """Raw 0-255 RGB images (float32) with structure at every scale: a random 4x4 colour field, upsampled,
    plus pixel noise. The deep features of uniform-noise images are all alike (each averages thousands of
    independent pixels), so statistics calibrated on them would leave a network whose output hardly
    depends on its input."""
    rng = np.random.default_rng(seed)
    field = tf.image.resize(rng.uniform(0, 255, (count, 4, 4, 3)).astype(np.float32), (side, side)).numpy()
    return np.clip(field + rng.uniform(-20, 20, field.shape), 0, 255).round().astype(np.float32)


def calibrate_statistics(model: keras.Model, images: np.ndarray, seed: int = 0) -> keras.Model:
    """Set each BatchNormalization's moving mean and variance to those of its own input on `images`, layer
    after layer, and draw gamma and beta around 1 and 0: every block then passes on an input-dependent
    signal, as a trained model's do. (A fresh keras.applications base keeps mean 0 and variance 1, and
    a random MobileNetV3Small's activations shrank to 1e-11 by its last blocks; with
    `pruneflow.models.zoo.randomise_statistics` instead, its output varied by under 1e-7 from image to image.)
    Changes `model` (flat: its BatchNormalization layers are its own) in place and returns it."""
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.inputs, [layer.input for layer in norms])
    for k, norm in enumerate(norms):
        x = probe(images, training=False)[k].numpy()  # after the statistics of every norm before it
        axes, n = tuple(range(x.ndim - 1)), x.shape[-1]
        norm.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), x.mean(axes), x.var(axes)])
    return model


def applications_classifier(num_classes: int, side: int = 64, seed: int = 0) -> keras.Model:
    """A keras.applications base (MobileNetV3Small: preprocessing, SE, hard-swish arithmetic) nested under
    a user's head: random weights (no network here), drawn from `seed`, with the BatchNorm statistics
    of `calibrate_statistics`.

    Depthwise kernels are drawn He-normal by their own fan-in (kh x kw): Keras' glorot default counts
    every channel as fan-in (5x5x432 in the last blocks), and most of those channels' variance then fell
    under 1e-4 (333 of 432 in one block), which `pruneflow.deploy.int8_fold` takes for constant channels.
    64 px, not 32: at 32 px the last blocks see 1x1 maps and int8's class probabilities differed from
    float's by 0.13 on average (correlation 0.81); at 64 px by 0.04 (0.98).
    """
    keras.utils.set_random_seed(seed)  # keras.applications draws its initial weights from the global seed
    rng = np.random.default_rng(seed)
    base = keras.applications.MobileNetV3Small(input_shape=(side, side, 3), include_top=False, weights=None,
                                               alpha=0.75, minimalistic=False)
    for layer in base.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            shape = layer.depthwise_kernel.shape
            layer.depthwise_kernel.assign(rng.normal(0, np.sqrt(2.0 / (shape[0] * shape[1])), shape).astype(np.float32))
    calibrate_statistics(base, structured_pixels(32, side, seed), seed)
    inputs = keras.Input((side, side, 3), name="pixels")
    x = L.GlobalAveragePooling2D(name="pool")(base(inputs))
    outputs = L.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="mnv3_classifier")
