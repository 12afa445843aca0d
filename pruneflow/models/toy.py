"""`model.architecture: toy`, the architecture for tests and smoke runs, not a product default.

A dozen layers that still take every code path of the pipeline: Conv2D + BatchNormalization + ReLU,
a depthwise convolution, a residual Add, a Concatenate of two branches and global pooling (the
classifier head adds the Dense layers). tfmot magnitude-prunes it, the channel pruner finds several
groups in it (the Add-coupled stem, each branch, the last convolution and the head), int8 converts
it, and it learns the tests' stripes in seconds. Its width multiplier `alpha` scales every
convolution, so the uniform-width baseline applies.

Why it exists: a TFLite conversion costs by the number of ops, not the weights (a MobileNet at 32 px
takes 16–19 s, this model about a second), and a test of orchestration (DVC reruns, the flow's
cache, seeds, the report) needs stages that run, not a model that learns well (docs/tests.md).
"""

from __future__ import annotations

from pruneflow.tf_env import keras

# Output channels at alpha 1.0: stem, each concatenated branch, the last convolution.
STEM, BRANCH, LAST = 16, 16, 32


def width(channels: int, alpha: float) -> int:
    """`channels` scaled by `alpha`, at least 4 (a channel group keeps a few to prune)."""
    return max(4, int(round(channels * alpha)))


def _conv_bn_relu(x, filters: int, kernel: int, strides: int, name: str, relu: bool = True):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def toy_base(inputs, alpha: float = 1.0) -> keras.Model:
    """The toy feature extractor on `inputs` (already scaled to [-1, 1]), without a head.

    Args:
        inputs: a Keras tensor, NHWC.
        alpha: width multiplier of every convolution.

    Returns:
        A functional model from `inputs` to the last feature map (layer names fixed, so a saved file
        is the same bytes from any process).
    """
    stem = _conv_bn_relu(inputs, width(STEM, alpha), 3, 2, "stem")
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="block_dw")(stem)
    x = keras.layers.BatchNormalization(name="block_dw_bn")(x)
    x = keras.layers.ReLU(name="block_dw_relu")(x)
    x = _conv_bn_relu(x, width(STEM, alpha), 1, 1, "block_project", relu=False)
    x = keras.layers.Add(name="block_add")([stem, x])
    left = _conv_bn_relu(x, width(BRANCH, alpha), 1, 1, "branch_1x1")
    right = _conv_bn_relu(x, width(BRANCH, alpha), 3, 1, "branch_3x3")
    x = keras.layers.Concatenate(name="branch_concat")([left, right])
    x = _conv_bn_relu(x, width(LAST, alpha), 3, 2, "last")
    # from the model's own inputs, as keras.applications does with `input_tensor`
    return keras.Model(keras.utils.get_source_inputs(inputs), x, name="toy")
