"""Handlers of wrapped TensorFlow ops (TFOpLambda, SlicingOpLambda: the layers `x + 3.0` or `x[:, 1:]`
become in a functional model) and of keras.applications' own layer classes (ConvNeXt's LayerScale and
StochasticDepth, InceptionResNetV2's CustomScaleLayer)."""

from __future__ import annotations

import numpy as np

from pruneflow.channels.layers import BARRIER, MERGE, Carrier, PerChannel
from pruneflow.channels.registry import Handler, register, unsupported
from pruneflow.tf_env import keras, tf

_ops = keras.src.layers.core.tf_op_layer
_apps = keras.src.applications

# Elementwise ops: with one tensor and scalar constants, channel i depends on channel i only (MobileNetV3's
# hard-sigmoid `relu6(x + 3) * (1 / 6)`); with two tensors they are a merge (hard-swish `x * hs(x)`).
ELEMENTWISE = {"__operators__.add", "math.add", "math.multiply", "math.subtract", "math.truediv",
               "math.divide", "math.maximum", "math.minimum", "math.pow"}
UNARY = {"nn.relu", "nn.relu6", "math.sigmoid", "nn.sigmoid", "math.tanh", "nn.silu", "nn.swish",
         "nn.gelu", "math.abs", "math.negative", "math.exp", "math.square", "math.sqrt", "identity"}


def _arguments(layer) -> tuple[list, list]:
    """The Keras tensors and the other values a TFOpLambda was called with (its `name` left out)."""
    node = layer._inbound_nodes[0]
    values = [*node.call_args, *(v for k, v in node.call_kwargs.items() if k != "name")]
    flat = tf.nest.flatten(values)
    tensors = [v for v in flat if hasattr(v, "_keras_history")]
    return tensors, [v for v in flat if not hasattr(v, "_keras_history") and v is not None]


@register(_ops.TFOpLambda)
class OpLambda(Carrier):
    """By the op it wraps (`layer.symbol`): elementwise with scalars → carrier; with tensors → merge."""

    def specialise(self, layer):
        tensors, constants = _arguments(layer)
        scalars = all(np.ndim(c) == 0 for c in constants)
        if layer.symbol in UNARY and len(tensors) == 1 and not constants:
            return self
        if layer.symbol in ELEMENTWISE and scalars:
            return self if len(tensors) == 1 else MERGE
        raise unsupported(layer, f"TFOpLambda {layer.symbol}",
                          "TFOpLambda ops " + ", ".join(sorted(ELEMENTWISE | UNARY)) + " on tensors and scalars")


def _full(item) -> bool:
    if isinstance(item, dict):
        return all(item.get(k) is None for k in ("start", "stop", "step"))
    return isinstance(item, slice) and item == slice(None)


@register(_ops.SlicingOpLambda)
class Slicing(Carrier):
    """`x[...]`: a carrier when the channel axis is left whole (a spatial crop), else a barrier."""

    def specialise(self, layer):
        if layer.symbol != "__operators__.getitem":
            raise unsupported(layer, f"SlicingOpLambda {layer.symbol}", "__operators__.getitem")
        node = layer._inbound_nodes[0]
        spec = node.call_args[1] if len(node.call_args) > 1 else node.call_kwargs.get("slice_spec")
        spec = list(spec) if isinstance(spec, (list, tuple)) else [spec]
        rank = len(layer.input_shape)
        whole = _full(spec[-1]) or (Ellipsis not in spec and len(spec) < rank)
        return self if whole else BARRIER


@register(_apps.convnext.LayerScale)
class LayerScale(PerChannel):
    """ConvNeXt's per-channel gamma; `projection_dim` is the width."""

    def resize(self, config, kept):
        config["projection_dim"] = len(kept)


register(_apps.convnext.StochasticDepth)(Carrier)  # identity at inference, a per-sample drop in training


@register(_apps.inception_resnet_v2.CustomScaleLayer)
class ScaledMerge(Handler):
    """InceptionResNetV2's `x + up * scale`: an elementwise merge of its two inputs."""

    role = "merge"

    def flow(self, graph, layer, inputs):
        return graph.merge(inputs)
