"""Which layers the latency table costs, and their channel widths in any Keras model (a pruned one, a
narrower width multiplier): what the table's prediction reads. No channel-graph import, so the
benchmark that checks the prediction does not depend on the pruner's code."""

from __future__ import annotations

from pruneflow.models.flatten import flatten_model
from pruneflow.tf_env import keras

L = keras.layers
# exact classes: SeparableConv2D and Conv2DTranspose are other costs, left in the anchor
KINDS: dict[type, str] = {L.Conv2D: "conv", L.DepthwiseConv2D: "depthwise", L.Dense: "dense"}


def model_widths(model: keras.Model) -> dict[str, tuple[int, int]]:
    """(input, output) channels of every costed layer of any model, by name (output 0 for depthwise)."""
    widths = {}
    for layer in flatten_model(model).layers:
        kind = KINDS.get(type(layer))
        if kind is not None:
            widths[layer.name] = (int(layer.input_shape[-1]), 0 if kind == "depthwise" else int(layer.output_shape[-1]))
    return widths
