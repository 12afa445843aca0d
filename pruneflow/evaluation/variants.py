"""Evaluation: dense vs pruned on the held-out test split, side by side, and every deployable variant
(the measurements of stage evaluate).

Accuracy and loss (Keras), per-class precision/recall, measured sparsity (whole model and per
layer), file sizes raw and gzip (Keras and TFLite); then, per TFLite variant (float, dynamic-range,
int8, sparse-encoded, PQAT…): test accuracy with ai-edge-litert, sizes, the zeros counted in the
file itself, and the latency/throughput the bench stage measured (its JSON is merged in).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import gzip_size
from pruneflow.artifacts.results import read_with_timings
from pruneflow.deploy.tflite_runner import TFLiteRunner
from pruneflow.deploy.tflite_weights import weight_stats
from pruneflow.errors import PipelineError, require
from pruneflow.evaluation.metrics import flat_channels
from pruneflow.models.sparsity import count_zeros, prunable_weights
from pruneflow.tf_env import keras

# Exported file kind → metric name (the unit is in the name).
SIZE_KEYS = {
    "keras": "size_keras_bytes",
    "keras.gz": "size_keras_gzip_bytes",
    "tflite": "size_tflite_bytes",
    "tflite.gz": "size_tflite_gzip_bytes",
}


def per_class_table(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> pd.DataFrame:
    """Precision and recall (percent) and support per class; a class never predicted has precision 0."""
    rows = []
    for c, name in enumerate(classes):
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = int(np.sum(y_pred == c)), int(np.sum(y_true == c))
        rows.append({
            "class": name,
            "precision_pct": 100.0 * tp / predicted if predicted else 0.0,
            "recall_pct": 100.0 * tp / actual if actual else 0.0,
            "support": actual,
        })
    return pd.DataFrame(rows)


def layer_sparsity_table(model: keras.Model) -> pd.DataFrame:
    """One row per prunable weight (kernel, depthwise_kernel): size, zeros, sparsity percent."""
    rows = []
    for layer, weight_name, values in prunable_weights(model):
        zeros, size = count_zeros([values])
        rows.append({"layer": layer.name, "type": type(layer).__name__, "weight": weight_name,
                     "params": size, "zeros": zeros, "sparsity_pct": 100.0 * zeros / size})
    return pd.DataFrame(rows)


def sparsity_summary(model: keras.Model, table: pd.DataFrame) -> dict[str, float | int]:
    """Sparsity over prunable weights and over every weight of the model (BatchNorm, biases too)."""
    zeros, total = count_zeros(model.get_weights())
    return {
        "params": total,
        "nonzero_params": total - zeros,
        "sparsity_all_weights_pct": 100.0 * zeros / total,
        "sparsity_prunable_pct": 100.0 * table["zeros"].sum() / table["params"].sum(),
    }


def epoch_times(dense_seconds: list[float], prune_seconds: list[float]) -> dict[str, float]:
    """Median epoch wall time of dense training and of pruning fine-tune (first epoch, which
    builds the graph, excluded when there are others) and their ratio; {} without both timings
    (the stages' timing files are missing: timings never stop a run)."""
    if not dense_seconds or not prune_seconds:
        return {}

    def median(seconds: list[float]) -> float:
        return float(np.median(seconds[1:] if len(seconds) > 1 else seconds))

    dense, prune = median(dense_seconds), median(prune_seconds)
    # The one ratio that is pruned ÷ dense (cost, not gain): its name says so.
    return {"dense_epoch_median_s": dense, "prune_epoch_median_s": prune, "prune_over_dense_epoch_time_x": prune / dense}


def weight_histogram(kernels: dict[str, list[np.ndarray]], bins: int = 60) -> pd.DataFrame:
    """Counts of |w| per model on shared log-spaced bins; the first row counts exact zeros.

    Args:
        kernels: model name → its prunable weights (the ones magnitude pruning may zero).
        bins: number of log-spaced bins between the smallest and largest nonzero magnitude.

    Returns:
        Columns magnitude_low, magnitude_high, then one count column per model.
    """
    magnitudes = {name: np.abs(np.concatenate([w.ravel() for w in ws])) for name, ws in kernels.items()}
    nonzero = np.concatenate([m[m > 0] for m in magnitudes.values()])
    edges = np.geomspace(max(float(nonzero.min()), 1e-12), float(nonzero.max()), bins + 1)
    frame = pd.DataFrame({"magnitude_low": np.r_[0.0, edges[:-1]], "magnitude_high": np.r_[0.0, edges[1:]]})
    for name, m in magnitudes.items():
        counts, _ = np.histogram(m[m > 0], bins=edges)
        frame[name] = np.r_[int(np.sum(m == 0)), counts].astype(int)
    return frame


def read_bench(path: Path, variants: set[str], threads: str) -> dict[str, Any]:
    """The bench stage's JSON, checked to cover this run's variants at the first thread count.

    Raises:
        PipelineError: missing, unreadable, or measured for other params (stale).
    """
    try:
        bench = json.loads(require(path, "bench").read_text())
        measured = {name for name, entry in bench["variants"].items() if threads in entry}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise PipelineError(f"{path}: not a bench result; run `python -m pruneflow bench` (or dvc repro) first") from None
    if not variants <= measured:
        raise PipelineError(f"{path}: has no {threads} timings for {', '.join(sorted(variants - measured))} "
                            "(measured for other params); run `python -m pruneflow bench` (or dvc repro) first")
    return bench


def variant_metrics(
    files: dict[str, Path], x: np.ndarray, y: np.ndarray, bench: dict[str, Any], reference_gzip_bytes: int,
    threads: int, batch: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
    """Accuracy, size, measured sparsity and benchmarked speed of every TFLite variant.

    Args:
        files: variant name → TFLite file.
        x, y: test images (raw pixels) and labels.
        bench: the bench stage's JSON (`variants` and `speedup` per thread count).
        reference_gzip_bytes: the gzipped dense float Keras file, the baseline of `gzip_ratio_x`.
        threads, batch: interpreter settings for the accuracy pass (no timing here).

    Returns:
        Per variant: flat, unit-named metrics for metrics.json; and its predicted class per test image.
    """
    out, predicted = {}, {}
    for name, path in files.items():
        runner = TFLiteRunner(path, threads, batch)
        stats = weight_stats(path.read_bytes())
        gz = Path(f"{path}.gz")
        predicted[name] = runner.predict(x).argmax(1)
        entry: dict[str, Any] = {
            "test_accuracy_pct": 100.0 * float(np.mean(predicted[name] == y)),
            "size_bytes": path.stat().st_size,
            "size_gzip_bytes": gz.stat().st_size if gz.exists() else gzip_size(path),
            "weights_sparsity_pct": stats.sparsity_pct,
            "weights_sparse_encoded_tensors": stats.sparse_tensors,
            "delegate": runner.delegate,
        }
        entry["gzip_ratio_vs_dense_keras_x"] = reference_gzip_bytes / entry["size_gzip_bytes"]
        measured = bench["variants"].get(name, {})
        for key, values in measured.items():
            if key.startswith("threads_"):
                entry[key] = dict(values)
                entry[key].update(bench["speedup"].get(key, {}).get(name, {}))
        out[name] = entry
    return out, predicted


def evaluate_keras(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Cross-entropy loss, accuracy percent and predicted labels on (x, y)."""
    probs = model.predict(x, batch_size=256, verbose=0)
    loss = float(keras.losses.sparse_categorical_crossentropy(y, probs).numpy().mean())
    pred = probs.argmax(1)
    return loss, 100.0 * float(np.mean(pred == y)), pred


def data_summary(summary: dict[str, Any], majority: dict[str, Any], params_digest: str) -> dict[str, Any]:
    """What the numbers belong to: the source, its size, the images per split, skipped files per reason
    (see pruneflow.models.data), the majority-class baseline and the digest of the params that made them."""
    return {
        "source": summary["source"],
        "images": int(sum(summary["counts"].values())),
        "image_size": summary.get("image_size"),
        "images_per_split": summary["counts"],
        "skipped_files": summary.get("skipped_counts", {}),
        "majority_class": majority,
        "params_digest": params_digest,
    }


def channel_metrics(path: Path, latency_path: Path) -> dict[str, dict[str, float]]:
    """metrics.json's `channels` section, from the channel_bench table and its timing half (see
    `metrics.flat_channels`).

    Raises:
        PipelineError: missing or not a channel_bench result.
    """
    try:
        return flat_channels(read_with_timings(require(path, "channel_bench"), latency_path))
    except (OSError, ValueError, KeyError, TypeError):
        raise PipelineError(f"{path}: not a channel_bench result; run `python -m pruneflow channel_bench` (or dvc repro) first") from None
