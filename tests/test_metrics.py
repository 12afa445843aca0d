"""metrics.json's comparison and the printed table (pure, no TensorFlow)."""

from __future__ import annotations

import pytest

from pruneflow.evaluation.metrics import compare
from pruneflow.evaluation.tables import format_table


def _side(acc: float, gz: int, ms: float) -> dict:
    return {
        "test_accuracy_pct": acc, "tflite_test_accuracy_pct": acc, "test_loss": 1.0 - acc / 100,
        "sparsity_prunable_pct": 0.0 if gz > 500 else 80.0, "sparsity_all_weights_pct": 0.0,
        "size_keras_bytes": 1000, "size_keras_gzip_bytes": gz, "size_tflite_bytes": 900,
        "size_tflite_gzip_bytes": gz - 10, "latency_p50_ms": ms, "latency_p95_ms": 2 * ms,
    }


def test_ratios_are_dense_over_pruned_and_deltas_pruned_minus_dense() -> None:
    dense, pruned = _side(98.0, 900, 1.0), _side(97.0, 300, 2.0)
    c = compare(dense, pruned)
    assert c["size_keras_gzip_ratio_x"] == pytest.approx(3.0)
    assert c["latency_p50_speedup_x"] == pytest.approx(0.5)  # slower → below 1
    assert c["test_accuracy_delta_pts"] == pytest.approx(-1.0)
    assert c["sparsity_prunable_delta_pts"] == pytest.approx(80.0)
    assert all(k.endswith(("_x", "_pts", "_delta")) for k in c)


def test_table_shows_both_models_and_the_signed_change() -> None:
    dense, pruned = _side(98.0, 900, 1.0), _side(97.0, 300, 2.0)
    text = format_table({"dense": dense, "pruned": pruned, "comparison": compare(dense, pruned)})
    row = next(line for line in text.splitlines() if line.startswith("Keras gzip bytes "))
    assert row.split()[-3:] == ["900", "300", "3.00x"]
    acc = next(line for line in text.splitlines() if line.startswith("test accuracy (Keras)"))
    assert acc.split()[-1] == "-1.00"
