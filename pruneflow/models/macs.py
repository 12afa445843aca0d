"""MACs and parameters: the compute and size of a Keras model, counted from its layers' static shapes.

A MAC is one multiply-accumulate of one forward pass at batch 1. Only the layers that multiply
activations by weights count: Conv1D/2D/3D (grouped too) and their Transpose, DepthwiseConv1D/2D,
SeparableConv1D/2D and Dense. BatchNorm, activations, pooling, Add, Rescaling and biases count 0: the
"MAdds" convention of MobileNetV2 (Sandler et al. 2018, Table 4), which this counter reproduces:
Keras' MobileNetV2 at 224x224, alpha 1.0, 1000 classes counts 300.8 M MACs against the paper's
300 M MAdds, and MobileNet V1 (Howard et al. 2017, Table 4) 568.7 M against 569 M; tests/test_macs.py
holds both to 1 %. Parameters are Keras' own count: 3.54 M for MobileNetV2 (3.50 M of them
trainable), where the paper says 3.4 M.

Nested models (a layer that is itself a keras.Model) are counted recursively. A layer called more
than once (a shared layer) is counted once: its static shapes describe one call only.
"""

from __future__ import annotations

import math

from pruneflow.tf_env import keras


def count_macs(model: keras.Model) -> int:
    """MACs of one forward pass of `model` at batch 1 (see the module docstring for what counts).

    Args:
        model: a built Keras 2 model (functional or Sequential with a known input shape).

    Returns:
        The sum of `per_layer_macs(model)`.
    """
    return sum(per_layer_macs(model).values())


def count_params(model: keras.Model) -> int:
    """Every parameter of `model`, trainable or not (BatchNorm's moving statistics included).

    Args:
        model: a built Keras model.

    Returns:
        `model.count_params()`.
    """
    return int(model.count_params())


def per_layer_macs(model: keras.Model, prefix: str = "") -> dict[str, int]:
    """MACs of each layer that has any, in layer order.

    Args:
        model: a built Keras 2 model.
        prefix: put before every name; nested models' layers are named `outer/inner`.

    Returns:
        Layer name → MACs at batch 1, only for layers with MACs > 0.
    """
    macs: dict[str, int] = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            macs.update(per_layer_macs(layer, f"{prefix}{layer.name}/"))
            continue
        count = layer_macs(layer)
        if count:
            macs[prefix + layer.name] = count
    return macs


def layer_macs(layer: keras.layers.Layer) -> int:
    """MACs at batch 1 of one (non-model) layer; 0 for layers without weights to multiply.

    Args:
        layer: a layer of a built model, so that its `input_shape` and `output_shape` are known.

    Returns:
        The layer's MACs.
    """
    layers = keras.layers
    # Subclasses first: depthwise, separable and transposed convolutions all derive from Conv.
    if isinstance(layer, layers.DepthwiseConv1D | layers.DepthwiseConv2D):
        _, in_ch, out_spatial, _ = _conv_shapes(layer)
        return out_spatial * in_ch * layer.depth_multiplier * math.prod(layer.kernel_size)
    if isinstance(layer, layers.SeparableConv1D | layers.SeparableConv2D):
        _, in_ch, out_spatial, out_ch = _conv_shapes(layer)
        depthwise = out_spatial * in_ch * layer.depth_multiplier * math.prod(layer.kernel_size)
        return depthwise + out_spatial * in_ch * layer.depth_multiplier * out_ch
    if isinstance(layer, layers.Conv1DTranspose | layers.Conv2DTranspose | layers.Conv3DTranspose):
        # Each input pixel scatters a full kernel into the output: MACs scale with the *input* size.
        in_spatial, in_ch, _, out_ch = _conv_shapes(layer)
        return in_spatial * in_ch * out_ch * math.prod(layer.kernel_size)
    if isinstance(layer, layers.Conv2D | layers.Conv1D | layers.Conv3D):
        _, in_ch, out_spatial, out_ch = _conv_shapes(layer)
        return out_spatial * out_ch * (in_ch // layer.groups) * math.prod(layer.kernel_size)
    if isinstance(layer, layers.Dense):
        shape = layer.input_shape
        # A Dense on rank > 2 applies the same matrix at every position of the leading dims.
        return math.prod(shape[1:-1]) * shape[-1] * layer.units
    return 0


def _conv_shapes(layer: keras.layers.Layer) -> tuple[int, int, int, int]:
    """(input positions, input channels, output positions, output channels) of a conv layer."""
    in_shape, out_shape = layer.input_shape, layer.output_shape
    if layer.data_format == "channels_first":
        return math.prod(in_shape[2:]), in_shape[1], math.prod(out_shape[2:]), out_shape[1]
    return math.prod(in_shape[1:-1]), in_shape[-1], math.prod(out_shape[1:-1]), out_shape[-1]
