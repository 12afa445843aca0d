"""Flatten nested Keras models: a functional or Sequential model used as one layer of another (a
keras.applications base under a head, the tfmot #656 shape `efficientnetb0 (Functional)` → pooling →
Dense; ConvNeXt's Sequential stem) becomes its own layers in one flat functional model.

Channel pruning (and tfmot) walk one graph of plain layers; a nested model hides its layers behind one
node. We replay the graph instead of splicing configs: every node of the outer model is called again,
in depth order, on the new tensors — a plain layer as a fresh clone (`from_config`, same weights), a
nested model by replaying *its* nodes on the tensors it was called with. Replaying maps every Keras
tensor by identity, so the tensors TFOpLambda nodes carry inside their arguments follow for free (a
config splice must find and remap them by hand).
"""

from __future__ import annotations

from typing import Any

from pruneflow.errors import PipelineError
from pruneflow.tf_env import keras, tf


def _is_nested(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.Model)


def flatten_model(model: keras.Model) -> keras.Model:
    """An equivalent flat functional model: same weights, same layer names (a nested layer whose name
    clashes with another takes `<nested model>_` in front). A functional model without nested models
    is returned as it is.

    Raises:
        PipelineError: a nested model is called more than once (shared weights cannot be flattened).
    """
    if not any(_is_nested(layer) for layer in model.layers) and not isinstance(model, keras.Sequential):
        return model  # a Sequential model is replayed too: its `layers` leave out its InputLayer
    taken = {layer.name for layer in model.layers if not _is_nested(layer)}
    inputs = [keras.Input(shape=t.shape[1:], batch_size=t.shape[0], dtype=t.dtype, name=t.node.layer.name)
              for t in model.inputs]
    outputs = _replay(model, inputs, taken, prefix=None)
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)


def _replay(model: keras.Model, inputs: list, taken: set[str], prefix: str | None) -> list:
    """Call `model`'s nodes again on `inputs`; the new output tensors."""
    tensors = {id(t): new for t, new in zip(model.inputs, inputs)}

    def mapped(value: Any) -> Any:
        return tensors[id(value)] if hasattr(value, "_keras_history") else value

    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, keras.layers.InputLayer):
                continue
            args, kwargs = tf.nest.map_structure(mapped, (node.call_args, node.call_kwargs))
            if _is_nested(layer):
                if len(layer._inbound_nodes) > 1:
                    raise PipelineError(f"flatten: nested model {layer.name!r} is called "
                                        f"{len(layer._inbound_nodes)} times (shared); allowed: each nested model used once")
                outs = _replay(layer, tf.nest.flatten(args[0]), taken, layer.name)
            else:
                clone = _clone(layer, taken, prefix)
                outs = clone(*args, **kwargs)  # builds it: only now has it variables to set
                clone.set_weights(layer.get_weights())
            for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outs)):
                tensors[id(old)] = new
    return [tensors[id(t)] for t in model.outputs]


def _clone(layer: keras.layers.Layer, taken: set[str], prefix: str | None) -> keras.layers.Layer:
    """A fresh, unbuilt copy of `layer`; a nested model's layer keeps its name unless it is taken."""
    config = layer.get_config()
    if prefix is not None:
        name = layer.name if layer.name not in taken else f"{prefix}_{layer.name}"
        if name in taken:
            raise PipelineError(f"flatten: layer name {name!r} occurs twice after flattening; allowed: unique names")
        taken.add(name)
        config["name"] = name
    return layer.__class__.from_config(config)
