"""The same model at another input side: every layer and weight kept, only the input shape changed
(the models here are fully convolutional up to the global pooling), and its TFLite conversion. Used
to time a model at the deployment side (`channels.resolution`) and to build the latency table there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pruneflow.model import load_model
from pruneflow.tf_env import keras
from pruneflow.tflite import representative_data, to_tflite

CALIBRATION_AT_RESOLUTION = 16  # upscaled train images: enough ranges for a timing-only int8 file


def at_resolution(model: keras.Model, side: int) -> keras.Model:
    """The same layers and weights with a `side`x`side` input (fully convolutional up to the pooling)."""
    config = model.get_config()
    for entry in config["layers"]:
        if entry["class_name"] == "InputLayer":
            shape = entry["config"]["batch_input_shape"]
            entry["config"]["batch_input_shape"] = [shape[0], side, side, *shape[3:]]
    resized = keras.Model.from_config(config)
    resized.set_weights(model.get_weights())
    return resized


def convert_at_resolution(keras_file: Path, fmt: str, side: int, calibration: np.ndarray | None = None) -> bytes:
    """The model in `keras_file` at a `side` input, converted to `fmt` (a picklable job for `in_processes`)."""
    model = at_resolution(load_model(keras_file), side)
    representative = None if calibration is None else representative_data(calibration, len(calibration))
    return to_tflite(model, fmt, representative)


