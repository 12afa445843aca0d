"""What a model file may hold before Keras opens it (every loader: pipeline artifacts and a user's
`model.file`).

A `Lambda` layer carries Python code (marshalled bytecode) that loading runs: refused. A `TFOpLambda`
(or `SlicingOpLambda`) names a function of the TensorFlow API that loading looks up and calls: allowed
only for the arithmetic on `SAFE_TF_OPS` (what keras.applications' MobileNetV3 and users' `x + y`,
`x * 0.5` produce), since another name could read or write files.
"""

from __future__ import annotations

import re

SAFE_TF_OPS = frozenset({
    "__operators__.add", "math.add", "math.subtract", "math.multiply", "math.truediv", "math.divide",
    "math.negative", "math.sigmoid", "math.tanh", "nn.relu", "nn.relu6", "nn.silu", "nn.swish",
    "math.reduce_mean", "__operators__.getitem", "math.maximum", "math.minimum",
})


def unsafe_content(config_text: str) -> str | None:
    """Why a serialized model config (JSON text, nested models included) is unsafe to load, or None.

    Args:
        config_text: the model's config as written by Keras (a `.keras` config.json, an HDF5
            `model_config` attribute, a SavedModel's keras_metadata.pb).

    Returns:
        One phrase naming the problem (for an error line), or None when it may be loaded.
    """
    classes = set(re.findall(r'"class_name":\s*"(\w+)"', config_text))
    if "Lambda" in classes:
        return "it holds Lambda layers (Python code in the file), which safe loading refuses"
    if classes & {"TFOpLambda", "SlicingOpLambda"}:
        unsafe = sorted(set(re.findall(r'"function":\s*"([\w.]+)"', config_text)) - SAFE_TF_OPS)
        if unsafe:
            return f"its TFOpLambda layers wrap TensorFlow ops outside the safe list ({', '.join(unsafe)})"
    return None
