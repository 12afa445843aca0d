"""The classifier, shared by dense training and pruning.

MobileNet base → GlobalAveragePooling → Dense(128, relu) → Dropout(0.2) → Dense(N, softmax): the
classic face-mask-detector head. The model takes raw 0–255 RGB pixels; scaling to [-1, 1] (what
MobileNet expects) is its first layer, so exported TFLite files take raw pixels too.

Its fit loop lives in `pruneflow.models.fit`, saving and loading in `pruneflow.models.store`.
"""

from __future__ import annotations

import inspect

from pruneflow.config.dense import ModelConfig
from pruneflow.config.families import Family, family
from pruneflow.errors import PipelineError
from pruneflow.models.toy import toy_base
from pruneflow.tf_env import keras, tf


def _preprocessed(inputs, chosen: Family):
    """The family's preprocessing as layers on raw 0-255 RGB `inputs` (see pruneflow.config.families)."""
    if chosen.preprocess == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_unit")(inputs)
    if chosen.preprocess == "torch":
        return keras.layers.Normalization(mean=[255 * m for m in IMAGENET_MEAN],
                                          variance=[(255 * s) ** 2 for s in IMAGENET_STD], name="imagenet_normalize")(inputs)
    if chosen.preprocess == "caffe":
        return keras.layers.Normalization(mean=list(CAFFE_MEAN_RGB), variance=[1.0, 1.0, 1.0], name="imagenet_center")(inputs)
    return inputs


# The bases pruneflow builds itself, by family name: (inputs, alpha) -> model without a head.
OWN_BASES = {"toy": toy_base}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


def _base(cfg: ModelConfig, chosen: Family, inputs) -> keras.Model:
    """The keras.applications base (or one of pruneflow's own, `OWN_BASES`) without its top, on `inputs`."""
    if chosen.name in OWN_BASES:
        base = OWN_BASES[chosen.name](inputs, cfg.alpha)
        if cfg.weights is not None:  # a weights file (the config refuses 'imagenet' for these)
            base.load_weights(cfg.weights)
        return base
    constructor = getattr(keras.applications, chosen.name)
    kwargs = {"alpha": cfg.alpha} if chosen.has_alpha else {}
    if chosen.preprocess == "builtin" and "include_preprocessing" in inspect.signature(constructor).parameters:
        kwargs["include_preprocessing"] = True
    base = constructor(input_tensor=inputs, include_top=False, weights=cfg.weights, pooling=None, **kwargs)
    if chosen.preprocess == "caffe" and cfg.weights is not None:
        # The weights expect BGR: reverse the first convolution's input channels instead of the pixels.
        first = next(layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D))
        kernel, *rest = first.get_weights()
        first.set_weights([kernel[:, :, ::-1, :], *rest])
    return base


def build_classifier(cfg: ModelConfig, num_classes: int, image_size: int) -> keras.Model:
    """Build the (flat, un-nested) classifier; tfmot can then wrap each prunable layer.

    Args:
        cfg: architecture (an alias or any keras.applications family), width `alpha`, weights,
            BatchNorm momentum, head size.
        num_classes: size of the softmax.
        image_size: square input side in pixels.

    Returns:
        An uncompiled Keras 2 model that takes raw 0-255 RGB pixels.

    Raises:
        PipelineError: the weights cannot be loaded (no network for 'imagenet', wrong file).
    """
    chosen = family(cfg.architecture)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    try:
        base = _base(cfg, chosen, _preprocessed(inputs, chosen))
    except Exception as exc:  # a failed download or a bad file surfaces as many exception types
        if cfg.weights is None:
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(f"model.weights={cfg.weights!r}: cannot load ({first})") from None
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras' MobileNetV2 uses momentum 0.999: ~1,000 steps before the moving statistics
            # forget their initial (0, 1). A small dataset trains for fewer steps than that, so
            # inference used stale statistics (our 9–90 % test accuracy at 97 % train accuracy).
            layer.momentum = cfg.bn_momentum
        if cfg.freeze_base:
            layer.trainable = False
    # The pooling layer named here, not by keras.applications (`pooling="avg"` names it by how many were
    # built before in the process): the saved file is then the same from any process (DVC, the flow).
    pooled = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(base.output)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="head_dense")(pooled)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head_logits")(x)
    model = keras.Model(inputs, outputs, name=f"{cfg.architecture}_classifier")
    if any(isinstance(layer, keras.Model) for layer in model.layers):  # ConvNeXt's stem is a Sequential
        from pruneflow.models.flatten import flatten_model

        model = flatten_model(model)
    return xnnpack_form(model) if cfg.form == "xnnpack" else model


def xnnpack_form(model: keras.Model) -> keras.Model:
    """The same network rebuilt in the form XNNPACK's sparse (NCHW) inference accepts.

    XNNPACK runs a subgraph sparse only if it starts with a 3x3 stride-2 conv padded 1 on *each*
    side, has 3x3 depthwise convs padded 1 on each side (TensorFlow 'same' padding is refused, and
    Keras' stride-2 `correct_pad` pads only bottom/right) and ends in a spatial mean. So every 3x3
    conv becomes ZeroPadding2D(1) + 'valid', 1x1 convs become 'valid', and global pooling keeps its
    dims (then Flatten). Output shapes are unchanged, so the weights carry over layer by layer.

    Args:
        model: a functional classifier (single input, layers in topological order).

    Returns:
        A new model with the same layer names and weights.
    """
    layers = keras.layers
    built: dict[str, tf.Tensor] = {}
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            built[layer.name] = keras.Input(layer.get_config()["batch_input_shape"][1:], name=layer.name)
            continue
        inbound = layer._inbound_nodes[0].inbound_layers
        inputs = [built[item.name] for item in (inbound if isinstance(inbound, list) else [inbound])]
        x = inputs[0] if len(inputs) == 1 else inputs
        config = layer.get_config()
        if isinstance(layer, layers.ZeroPadding2D):
            config["padding"] = ((1, 1), (1, 1))
        elif isinstance(layer, layers.Conv2D) and tuple(config["kernel_size"]) == (1, 1):
            config["padding"] = "valid"
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)) and config["padding"] == "same":  # 3x3
            x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{layer.name}_pad")(x)
            config["padding"] = "valid"
        elif isinstance(layer, layers.GlobalAveragePooling2D):
            config["keepdims"] = True
        clone = type(layer).from_config(config)
        y = clone(x)
        clone.set_weights(layer.get_weights())
        if isinstance(layer, layers.GlobalAveragePooling2D):
            y = layers.Flatten(name=f"{layer.name}_flatten")(y)
        built[layer.name] = y
    return keras.Model(built[model.input_names[0]], built[model.layers[-1].name], name=model.name)
