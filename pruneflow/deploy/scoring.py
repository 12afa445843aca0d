"""Score one model and its two TFLite files as a point of the sweep table: accuracy (Keras and int8),
sparsity, raw and gzip sizes with the entropy bound, MACs and params.

Shared by the stages that train points (sweep points, channel models) and the one that reads the
main pipeline's models into the same table (sweep, channel_bench); it trains nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import gzip_bytes, gzip_size
from pruneflow.artifacts.points import PREDICTION_COLUMNS
from pruneflow.deploy.compression import gzip_bound_x
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.deploy.tflite_weights import weight_stats
from pruneflow.models.macs import count_macs, count_params
from pruneflow.models.sparsity import prunable_sparsity_pct
from pruneflow.tf_env import keras


def score_point(stripped: keras.Model, float_fb: bytes, int8_fb: bytes, keras_file: Path,
                test: tuple[np.ndarray, np.ndarray], predictions_csv: Path | None = None) -> dict[str, Any]:
    """Accuracy, sparsity and sizes of one pruned model and its two TFLite files. With
    `predictions_csv`, each test image's predicted class by the Keras model and both TFLite files is
    written there (`PREDICTION_COLUMNS`): the paired comparisons of the evaluate stage read it."""
    x, y = test
    predicted = {"keras": stripped.predict(x.astype(np.float32), batch_size=256, verbose=0).argmax(1),
                 "float": _predict(float_fb, x).argmax(1), "int8": _predict(int8_fb, x).argmax(1)}
    if predictions_csv is not None:
        pd.DataFrame(predicted)[list(PREDICTION_COLUMNS)].to_csv(predictions_csv, index=False)
    prunable_pct, prunable = prunable_sparsity_pct(stripped)
    stats = weight_stats(float_fb)
    bound = gzip_bound_x(stats.sparsity_pct / 100.0)
    return {
        "test_accuracy_pct": 100.0 * float(np.mean(predicted["keras"] == y)),
        "tflite_test_accuracy_pct": 100.0 * float(np.mean(predicted["float"] == y)),
        "int8_test_accuracy_pct": 100.0 * float(np.mean(predicted["int8"] == y)),
        "sparsity_prunable_pct": prunable_pct,
        "prunable_params": prunable,
        "tflite_weight_sparsity_pct": stats.sparsity_pct,
        "keras_gzip_bytes": gzip_size(keras_file),
        "tflite_bytes": len(float_fb),
        "tflite_gzip_bytes": len(gzip_bytes(float_fb)),
        # smallest size a lossless coder of the zero pattern can reach when the nonzero float32
        # weights are incompressible: raw ÷ 32/((1−s)·32 + H(s)) (the report's bound)
        "gzip_bound_x": bound,
        "gzip_bound_bytes": len(float_fb) / bound,
        "int8_tflite_bytes": len(int8_fb),
        "int8_tflite_gzip_bytes": len(gzip_bytes(int8_fb)),
        "macs": count_macs(stripped),
        "params": count_params(stripped),
    }


def _predict(flatbuffer: bytes, x: np.ndarray) -> np.ndarray:
    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(flatbuffer)
        f.flush()
        return TFLiteRunner(Path(f.name), threads=1, batch=64).predict(x)
