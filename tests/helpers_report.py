"""Hand-made metrics for the report's sentence tests: one model side, a dense-vs-pruned metrics file,
the layer table, and finding a sentence by its start."""

from __future__ import annotations

import pandas as pd

from pruneflow.evaluation.metrics import compare


def _side(acc: float, sparsity: float, raw: int, gz: int, ms: float) -> dict:
    return {
        "test_accuracy_pct": acc, "tflite_test_accuracy_pct": acc, "test_loss": 0.1,
        "sparsity_prunable_pct": sparsity, "sparsity_all_weights_pct": sparsity * 0.9,
        "params": 1000, "nonzero_params": round(1000 * (1 - sparsity * 0.009)),
        "size_keras_bytes": raw + 500, "size_keras_gzip_bytes": gz + 400, "size_tflite_bytes": raw,
        "size_tflite_gzip_bytes": gz, "latency_p50_ms": ms, "latency_p95_ms": 1.2 * ms,
    }


def _metrics(pruned_acc: float = 97.0, pruned_ms: float = 1.0) -> dict:
    dense, pruned = _side(98.0, 0.0, 4000, 3700, 1.0), _side(pruned_acc, 80.0, 4000, 1100, pruned_ms)
    pruned.update(size_keras_unstripped_bytes=12_000, size_keras_unstripped_gzip_bytes=3_000)
    return {"dense": dense, "pruned": pruned, "comparison": compare(dense, pruned),
            "setup": {"test_samples": 500},
            "training": {"dense_epoch_median_s": 10.0, "prune_epoch_median_s": 12.0, "prune_over_dense_epoch_time_x": 1.2}}


LAYERS = pd.DataFrame([
    {"layer": "conv_small", "type": "Conv2D", "weight": "kernel", "params": 100, "zeros": 80, "sparsity_pct": 80.0, "model": "pruned"},
    {"layer": "conv_big", "type": "Conv2D", "weight": "kernel", "params": 600, "zeros": 480, "sparsity_pct": 80.0, "model": "pruned"},
    {"layer": "head", "type": "Dense", "weight": "kernel", "params": 200, "zeros": 158, "sparsity_pct": 79.0, "model": "pruned"},
    {"layer": "conv_big", "type": "Conv2D", "weight": "kernel", "params": 600, "zeros": 0, "sparsity_pct": 0.0, "model": "dense"},
])


def _sentence(sentences: list[str], start: str) -> str:
    return next(s for s in sentences if s.startswith(start))


def _variant(acc: float, gzip_bytes: int, p50: float, vs_float: float | None, vs_same: float | None,
             delegate: str = "xnnpack") -> dict:
    stats = {"batch1_p50_ms": p50, "batch1_p95_ms": 1.2 * p50, "throughput_batch32_images_per_s": 1000 / p50}
    if vs_float is not None:
        stats["batch1_vs_dense_float_x"] = vs_float
    if vs_same is not None:
        stats["batch1_vs_dense_same_format_x"] = vs_same
    return {"test_accuracy_pct": acc, "size_bytes": 4 * gzip_bytes, "size_gzip_bytes": gzip_bytes,
            "weights_sparsity_pct": 80.0, "weights_sparse_encoded_tensors": 0, "delegate": delegate,
            "gzip_ratio_vs_dense_keras_x": 4100 / gzip_bytes, "threads_1": stats}


def _deploy_metrics(int8_gzip: int, int8_acc: float, int8_speed: float, int8_vs_same: float) -> dict:
    m = _metrics()
    m["variants"] = {
        "dense.float": _variant(98.0, 3700, 1.0, None, None),
        "dense.int8": _variant(98.0, 1000, 1.0 / int8_speed, int8_speed, None),
        "pruned.float": _variant(97.5, 1100, 1.0, 1.0, 1.0),
        "pruned.sparse": _variant(97.5, 1000, 1.0, 1.0, 1.0),
        "pruned.int8": _variant(int8_acc, int8_gzip, 1.0 / int8_speed, int8_speed, int8_vs_same),
        "pruned.sparse_int8": _variant(int8_acc, 500, 3.0, 0.33, 0.3, delegate="builtin (XNNPACK refused: failed to delegate)"),
    }
    return m
