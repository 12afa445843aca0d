"""Classifiers written in plain tf_keras, outside pruneflow, as a user would bring them (model.file)."""

from __future__ import annotations

from pruneflow.tf_env import keras

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


def applications_classifier(num_classes: int, side: int = 32) -> keras.Model:
    """A keras.applications base (MobileNetV3Small: preprocessing, SE, hard-swish arithmetic) nested under
    a user's head, random weights (no network here)."""
    base = keras.applications.MobileNetV3Small(input_shape=(side, side, 3), include_top=False, weights=None,
                                               alpha=0.75, minimalistic=False)
    inputs = keras.Input((side, side, 3), name="pixels")
    x = L.GlobalAveragePooling2D(name="pool")(base(inputs))
    outputs = L.Dense(num_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="mnv3_classifier")
