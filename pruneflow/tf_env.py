"""The single place TensorFlow is loaded.

tensorflow-model-optimization 0.8.1 only understands Keras 2 (`tf_keras`). TensorFlow binds
`tf.keras` to Keras 3 unless TF_USE_LEGACY_KERAS=1 is set *before its first import*, so every
module gets TensorFlow, Keras and tfmot from here and never imports them directly. Importing this
module is the project's one documented side effect on import.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ banner noise only; errors still print

import tensorflow as tf  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras as keras  # noqa: E402

__all__ = ["keras", "tf", "tfmot"]
