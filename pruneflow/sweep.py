"""Sweep points: the main pruning recipe at other target sparsities (stages sweep_point, sweep_derived).

Every point starts from the same saved dense model and is pruned, stripped, exported (float and int8
TFLite) and scored like the main pipeline, with only `prune.final_sparsity` and `prune.schedule`
changed (`sweep.sparsities` × `sweep.schedules`). `sweep_derived` prunes with the per-layer targets
derived from the sensitivity scan instead of one uniform target. Points are independent, so DVC
(matrix) and the Prefect flow (a wave on the task runner, optionally Dask) can run them in any order
or in parallel; `pruneflow.sweep_table` times them afterwards.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.config import Config, SweepPoint
from pruneflow.data import load_split
from pruneflow.errors import PipelineError, require
from pruneflow.io import atomic_dir, gzip_bytes, gzip_size
from pruneflow.macs import count_macs, count_params
from pruneflow.metrics import gzip_bound_x
from pruneflow.model import distribution, is_chief, save_model
from pruneflow.pruning import prunable_sparsity_pct, prune_model, strip
from pruneflow.tf_env import keras
from pruneflow.tflite import (
    TFLiteRunner,
    calibration_images,
    convert_file,
    in_processes,
    weight_stats,
)

POINT_FILE = "point.json"
TARGETS_FILE = "targets.csv"
# The files of one point: the stripped Keras model and its two TFLite exports.
MODEL_FILE, FLOAT_FILE, INT8_FILE = "pruned_stripped.keras", "model.tflite", "model.int8.tflite"


def point_config(cfg: Config, point: SweepPoint) -> Config:
    """`cfg` with the point's target sparsity and schedule (unstructured magnitude pruning)."""
    prune = cfg.prune.model_copy(update={"final_sparsity": point.sparsity, "schedule": point.schedule,
                                         "sparsity_m_by_n": None})
    return cfg.model_copy(update={"prune": prune})


def score_point(stripped: keras.Model, float_fb: bytes, int8_fb: bytes, keras_file: Path,
                test: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Accuracy, sparsity and sizes of one pruned model and its two TFLite files."""
    x, y = test
    probs = stripped.predict(x.astype(np.float32), batch_size=256, verbose=0)
    prunable_pct, prunable = prunable_sparsity_pct(stripped)
    stats = weight_stats(float_fb)
    bound = gzip_bound_x(stats.sparsity_pct / 100.0)
    return {
        "test_accuracy_pct": 100.0 * float(np.mean(probs.argmax(1) == y)),
        "int8_test_accuracy_pct": 100.0 * float(np.mean(_predict(int8_fb, x).argmax(1) == y)),
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


def prune_and_write(cfg: Config, out_dir: Path, identity: dict[str, Any],
                    targets: dict[str, float] | None = None) -> dict[str, Any]:
    """Prune the saved dense model under `cfg.prune` (or per-layer `targets`), strip, export, score,
    and replace `out_dir` with the point's files and its `point.json`."""
    prepared = cfg.paths.prepared
    train, val, test = (load_split(prepared, split) for split in ("train", "val", "test"))
    pruned = prune_model(require(cfg.paths.dense_model, "train_dense"), cfg, train, val, targets=targets)
    stripped = strip(pruned)
    if not is_chief(distribution(cfg.train.strategy)):
        return {}
    with atomic_dir(out_dir) as tmp:
        save_model(stripped, tmp / MODEL_FILE)
        calibration = calibration_images(train[0], cfg.quantize.representative_samples)
        float_fb, int8_fb = in_processes(convert_file, [(tmp / MODEL_FILE, "float"),
                                                        (tmp / MODEL_FILE, "int8", calibration)])
        (tmp / FLOAT_FILE).write_bytes(float_fb)
        (tmp / INT8_FILE).write_bytes(int8_fb)
        # no wall-clock seconds here: the folder is a DVC output (the stage's timing file has them)
        point = {**identity, **score_point(stripped, float_fb, int8_fb, tmp / MODEL_FILE, test)}
        if targets is not None:
            pd.DataFrame({"layer": list(targets), "target_sparsity": list(targets.values())}).to_csv(
                tmp / TARGETS_FILE, index=False, float_format="%.6f")
        (tmp / POINT_FILE).write_text(json.dumps(point, indent=2) + "\n")
    return point


def read_point(directory: Path, producer: str) -> dict[str, Any]:
    """A point's `point.json`.

    Raises:
        PipelineError: missing or unreadable.
    """
    path = require(directory / POINT_FILE, producer)
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise PipelineError(f"{path}: not JSON; run `python -m pruneflow {producer}` (or dvc repro) again") from None


