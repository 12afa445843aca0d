"""The same model at another input side: every layer and weight kept, only the input shape changed,
and its TFLite conversion. Used to time a model at the deployment side (`channels.resolution`) and to
build the latency table at a budget's side (`channels.budget.resolution`).

That works for a model that is fully convolutional up to a global pooling (every model built here).
An adopted model (`model.file`) may end in a fixed-size head instead — Flatten → Dense, or a Reshape —
whose weights' shapes depend on the input side: the same weights cannot run at another side.
`usable_side` finds that out by rebuilding the model at the asked side and comparing weight shapes (a
check that covers any layer, not a list of known culprits), and then gives the model's own side and
the reason, for the stage to time there and say so."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from pruneflow.deploy.tflite import representative_data, to_tflite
from pruneflow.models.store import load_model
from pruneflow.tf_env import keras

CALIBRATION_AT_RESOLUTION = 16  # upscaled train images: enough ranges for a timing-only int8 file
# Layers that turn a feature map into a vector of a size set by the map's side.
_FIXED_SIZE = ("Flatten", "Reshape")


def _rebuilt(model: keras.Model, side: int) -> keras.Model:
    """The same layers, fresh weights, with a `side`x`side` input."""
    config = model.get_config()
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            shape = entry["config"]["batch_input_shape"]
            entry["config"]["batch_input_shape"] = [shape[0], side, side, *shape[3:]]
    kind = keras.Sequential if isinstance(model, keras.Sequential) else keras.Model
    return kind.from_config(config)


def _head(layer: keras.layers.Layer) -> str:
    """`Flatten → Dense 'classes'`: the layer, and the fixed-size layer feeding it where there is one."""
    feeding = [node.inbound_layers for node in layer.inbound_nodes]
    before = next((f for f in feeding if not isinstance(f, list) and type(f).__name__ in _FIXED_SIZE), None)
    named = f"{type(layer).__name__} {layer.name!r}"
    return f"{type(before).__name__} → {named}" if before is not None else named


def _changed_weight(model: keras.Model, resized: keras.Model, side: int) -> str | None:
    """The first weight whose shape differs between `model` and its rebuild at `side`, in words."""
    own = model.input_shape[1]
    for layer, other in zip(model.layers, resized.layers):
        for weight, new in zip(layer.weights, other.weights):
            if tuple(weight.shape) != tuple(new.shape):
                what = weight.name.split("/")[-1].split(":")[0]
                return (f"fixed-size head ({_head(layer)}: {what} {tuple(weight.shape)} at {own} px, "
                        f"{tuple(new.shape)} at {side} px)")
    return None


def fixed_size_reason(model: keras.Model, side: int) -> str | None:
    """Why `model`'s weights cannot run at a `side` input (None when they can).

    Args:
        model: a single-input image model.
        side: the input side asked for.

    Returns:
        `fixed-size head (Flatten → Dense 'classes': kernel (900, 3) at 32 px, (49284, 3) at 224 px)`,
        or the error that rebuilding at `side` raised (a Reshape whose element count no longer fits).
    """
    own = model.input_shape[1]
    if own is None or own == side:
        return None
    try:
        resized = _rebuilt(model, side)
    except ValueError as exc:  # e.g. Reshape: the new side's element count does not fit its target shape
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        where = re.search(r'layer "([^"]+)" \(type (\w+)\)', lines[0]) if lines else None
        detail = lines[1] if where and len(lines) > 1 else (lines or ["no message"])[0]
        kind = "fixed-size head" if where and where[2] in _FIXED_SIZE else "a layer bound to its input side"
        return f"{kind} ({f'{where[2]} {where[1]!r}' if where else 'a layer'} does not build at {side} px: {detail})"
    return _changed_weight(model, resized, side)


def usable_side(model: keras.Model, side: int) -> tuple[int, str | None]:
    """The side `model` can be timed at for an asked `side`: `side` itself, or the model's own where its
    weights cannot run there (a fixed-size head), with a note that says so (None when `side` is used)."""
    reason = fixed_size_reason(model, side)
    if reason is None:
        return side, None
    own = int(model.input_shape[1])
    return own, f"{reason}: timed at the model's own {own} px, not {side} px"


def at_resolution(model: keras.Model, side: int) -> keras.Model:
    """The same layers and weights with a `side`x`side` input.

    Raises:
        ValueError: the weights cannot run at `side` (a fixed-size head); callers ask `usable_side` first.
    """
    resized = _rebuilt(model, side)
    reason = _changed_weight(model, resized, side)
    if reason is not None:
        raise ValueError(f"{model.name} cannot run at {side} px: {reason}; time it at its own side (usable_side)")
    resized.set_weights(model.get_weights())
    return resized


def convert_at_resolution(keras_file: Path, fmt: str, side: int, calibration: np.ndarray | None = None) -> bytes:
    """The model in `keras_file` at a `side` input, converted to `fmt` (a picklable job for `in_processes`)."""
    model = at_resolution(load_model(keras_file), side)
    representative = None if calibration is None else representative_data(calibration, len(calibration))
    return to_tflite(model, fmt, representative)
