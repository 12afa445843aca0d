"""Evaluation cores: per-class scores, epoch times, per-layer sparsity."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # imports TensorFlow


def test_per_class_precision_and_recall_from_known_predictions() -> None:
    from pruneflow.evaluation.variants import per_class_table

    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 1])
    table = per_class_table(y_true, y_pred, ("a", "b", "c")).set_index("class")
    assert table.loc["a", "precision_pct"] == 100.0 and table.loc["a", "recall_pct"] == pytest.approx(200 / 3)
    assert table.loc["b", "precision_pct"] == 50.0 and table.loc["b", "recall_pct"] == 100.0
    assert table.loc["c", "precision_pct"] == 0.0 and table.loc["c", "support"] == 1


def test_epoch_time_ratio_ignores_the_graph_building_first_epoch() -> None:
    from pruneflow.evaluation.variants import epoch_times

    times = epoch_times([30.0, 10.0, 10.0, 12.0], [40.0, 15.0, 15.0])
    assert times["dense_epoch_median_s"] == 10.0
    assert times["prune_over_dense_epoch_time_x"] == pytest.approx(1.5)


def test_missing_epoch_timings_leave_out_the_training_section_instead_of_stopping() -> None:
    from pruneflow.evaluation.variants import epoch_times

    assert epoch_times([], [40.0, 15.0]) == {}
    assert epoch_times([12.0], [13.0])["prune_over_dense_epoch_time_x"] == pytest.approx(13 / 12)


def test_layer_sparsity_counts_zeros_of_prunable_kernels_only() -> None:
    from pruneflow.evaluation.variants import layer_sparsity_table, sparsity_summary
    from pruneflow.tf_env import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10), keras.layers.BatchNormalization()])
    kernel = model.layers[0].kernel
    values = np.ones((4, 10), np.float32)
    values[:, :3] = 0.0
    kernel.assign(values)
    table = layer_sparsity_table(model)
    assert table[["layer", "params", "zeros"]].to_dict("records") == [{"layer": model.layers[0].name, "params": 40, "zeros": 12}]
    summary = sparsity_summary(model, table)
    assert summary["sparsity_prunable_pct"] == pytest.approx(30.0)
    assert summary["params"] == 40 + 10 + 4 * 10  # kernel, bias, BN gamma/beta/mean/var


def test_a_stale_or_broken_bench_file_is_a_one_line_error(tmp_path) -> None:
    import json

    from pruneflow.errors import PipelineError
    from pruneflow.evaluation.variants import read_bench

    path = tmp_path / "bench.json"
    path.write_text(json.dumps({"variants": {"dense.float": {"threads_1": {}}}}))
    assert read_bench(path, {"dense.float"}, "threads_1")["variants"]
    with pytest.raises(PipelineError, match=r"bench.json: has no threads_1 timings for pruned.int8 \(measured for other params\)"):
        read_bench(path, {"dense.float", "pruned.int8"}, "threads_1")
    with pytest.raises(PipelineError, match="has no threads_2 timings for dense.float"):
        read_bench(path, {"dense.float"}, "threads_2")
    path.write_text("{not json")
    with pytest.raises(PipelineError, match="not a bench result"):
        read_bench(path, {"dense.float"}, "threads_1")
    with pytest.raises(PipelineError, match="missing; run `python -m pruneflow bench`"):
        read_bench(tmp_path / "absent.json", {"dense.float"}, "threads_1")
