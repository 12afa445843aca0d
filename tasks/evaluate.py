"""Stage 6 — evaluate: dense vs pruned on the held-out test split, side by side.

Accuracy and loss (Keras), per-class precision/recall, measured sparsity (whole model and per
layer), file sizes raw and gzip (Keras and TFLite), and TFLite batch-1 latency measured with
ai-edge-litert, dense and pruned interleaved in one process so machine noise hits both alike.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.config import Config
from tasks.errors import require
from tasks.export import exported, model_files
from tasks.ingest import load_classes, load_split
from tasks.io import atomic_path, gzip_size, write_json
from tasks.model import load_model
from tasks.metrics import compare, format_table
from tasks.prune import prunable_weight_names
from tasks.tf_env import keras


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
    for layer in model.layers:
        for weight_name in prunable_weight_names(layer):
            values = getattr(layer, weight_name).numpy()
            zeros = int(values.size - np.count_nonzero(values))
            rows.append({
                "layer": layer.name,
                "type": type(layer).__name__,
                "weight": weight_name,
                "params": int(values.size),
                "zeros": zeros,
                "sparsity_pct": 100.0 * zeros / values.size,
            })
    return pd.DataFrame(rows)


def sparsity_summary(model: keras.Model, table: pd.DataFrame) -> dict[str, float | int]:
    """Sparsity over prunable weights and over every weight of the model (BatchNorm, biases too)."""
    all_weights = model.get_weights()
    total = int(sum(w.size for w in all_weights))
    zeros = int(sum(w.size - np.count_nonzero(w) for w in all_weights))
    return {
        "params": total,
        "nonzero_params": total - zeros,
        "sparsity_all_weights_pct": 100.0 * zeros / total,
        "sparsity_prunable_pct": 100.0 * table["zeros"].sum() / table["params"].sum(),
    }


class TFLiteRunner:
    """A batch-1 ai-edge-litert interpreter for one model file."""

    def __init__(self, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.interpreter.set_tensor(self.input, image[None].astype(np.float32))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0]


def interleaved_latency_ms(
    runners: dict[str, TFLiteRunner], images: np.ndarray, warmup: int, runs: int
) -> dict[str, np.ndarray]:
    """Batch-1 invoke times in ms; models alternate (and swap order each round), warm-up dropped."""
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + runs):
        image = images[i % len(images)]
        for name in names if i % 2 == 0 else reversed(names):
            start = time.perf_counter()
            runners[name](image)
            elapsed = (time.perf_counter() - start) * 1e3
            if i >= warmup:
                times[name].append(elapsed)
    return {name: np.asarray(t) for name, t in times.items()}


def epoch_times(dense_log: pd.DataFrame, prune_log: pd.DataFrame) -> dict[str, float]:
    """Median epoch wall time of dense training and of pruning fine-tune (first epoch, which
    builds the graph, excluded when there are others) and their ratio."""
    def median(log: pd.DataFrame) -> float:
        seconds = log["seconds"].iloc[1:] if len(log) > 1 else log["seconds"]
        return float(seconds.median())

    dense, prune = median(dense_log), median(prune_log)
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


def evaluate_keras(model: keras.Model, x: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Cross-entropy loss, accuracy percent and predicted labels on (x, y)."""
    probs = model.predict(x, batch_size=256, verbose=0)
    loss = float(keras.losses.sparse_categorical_crossentropy(y, probs).numpy().mean())
    pred = probs.argmax(1)
    return loss, 100.0 * float(np.mean(pred == y)), pred


def run(cfg: Config) -> None:
    """Edge: measure both exported models, write metrics.json and the per-layer / per-class tables."""
    p = cfg.paths
    x, y = load_split(p.prepared, "test")
    x = x.astype(np.float32)
    classes = load_classes(p.prepared)
    results: dict[str, dict[str, Any]] = {}
    layer_tables, class_tables = [], []
    runners, predictions, kernels = {}, {"actual": [classes[i] for i in y]}, {}
    for name, model_path in model_files(cfg).items():
        model = load_model(model_path)
        loss, acc, pred = evaluate_keras(model, x, y)
        layers = layer_sparsity_table(model).assign(model=name)
        per_class = per_class_table(y, pred, classes).assign(model=name)
        layer_tables.append(layers)
        class_tables.append(per_class)
        predictions[name] = [classes[i] for i in pred]
        kernels[name] = [getattr(layer, w).numpy() for layer in model.layers for w in prunable_weight_names(layer)]
        runner = runners[name] = TFLiteRunner(require(exported(p.export, name, "tflite"), "export"), cfg.evaluate.threads)
        tflite_pred = np.array([runner(img).argmax() for img in x])
        results[name] = {
            "test_loss": loss,
            "test_accuracy_pct": acc,
            "tflite_test_accuracy_pct": 100.0 * float(np.mean(tflite_pred == y)),
            "macro_precision_pct": float(per_class["precision_pct"].mean()),
            "macro_recall_pct": float(per_class["recall_pct"].mean()),
            "per_class": {
                row["class"]: {"precision_pct": row["precision_pct"], "recall_pct": row["recall_pct"]}
                for row in per_class.to_dict("records")
            },
            **sparsity_summary(model, layers),
            **{key: exported(p.export, name, kind).stat().st_size for kind, key in SIZE_KEYS.items()},
        }
    # The unstripped (wrapped) model: why stripping matters. Masks and thresholds make it bigger.
    results["pruned"]["size_keras_unstripped_bytes"] = require(p.pruned_model, "prune").stat().st_size
    results["pruned"]["size_keras_unstripped_gzip_bytes"] = gzip_size(p.pruned_model)
    latency = interleaved_latency_ms(runners, x, cfg.evaluate.latency_warmup, cfg.evaluate.latency_runs)
    for name, ms in latency.items():
        results[name]["latency_p50_ms"] = float(np.percentile(ms, 50))
        results[name]["latency_p95_ms"] = float(np.percentile(ms, 95))
    metrics = {
        **results,
        "training": epoch_times(pd.read_csv(require(p.train_log, "train_dense")), pd.read_csv(require(p.prune_log, "prune"))),
        "comparison": compare(results["dense"], results["pruned"]),
        "setup": {
            "test_samples": int(len(y)),
            "latency_runs": cfg.evaluate.latency_runs,
            "latency_warmup_runs": cfg.evaluate.latency_warmup,
            "latency_threads": cfg.evaluate.threads,
            "timing_note": "latency_* and training.*_s are wall-clock timings and vary run to run; "
                           "training is not yet bit-reproducible, so accuracy can move by a few test images between reruns",
        },
    }
    _write_csv(pd.concat(layer_tables), p.sparsity_table)
    _write_csv(pd.concat(class_tables), p.per_class_table)
    _write_csv(pd.DataFrame(predictions), p.predictions)
    _write_csv(weight_histogram(kernels), p.weight_histogram, float_format="%.6g")
    _write_csv(pd.DataFrame({"run": np.arange(1, cfg.evaluate.latency_runs + 1),
                             **{f"{name}_ms": ms for name, ms in latency.items()}}), p.latency_samples)
    write_json(p.metrics, metrics)
    print(format_table(metrics))


def _write_csv(frame: pd.DataFrame, path: Path, float_format: str = "%.4f") -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=float_format)
