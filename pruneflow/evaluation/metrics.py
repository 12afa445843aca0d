"""metrics.json's comparison section (dense vs pruned ratios and deltas), the speed-ups the bench stage
measured with their spread, and the channel table flattened for metrics.json (pure; no TensorFlow).
The printed tables: `pruneflow.evaluation.tables`; reading the file and its wall-clock fields:
`pruneflow.artifacts.results`."""

from __future__ import annotations

from typing import Any


def compare(dense: dict[str, Any], pruned: dict[str, Any]) -> dict[str, float]:
    """Ratios (dense / pruned, `_x`: >1 means pruning helped) and deltas (pruned − dense, with unit)."""
    ratio = lambda key: dense[key] / pruned[key]
    return {
        "test_accuracy_delta_pts": pruned["test_accuracy_pct"] - dense["test_accuracy_pct"],
        "tflite_test_accuracy_delta_pts": pruned["tflite_test_accuracy_pct"] - dense["tflite_test_accuracy_pct"],
        "test_loss_delta": pruned["test_loss"] - dense["test_loss"],
        "sparsity_prunable_delta_pts": pruned["sparsity_prunable_pct"] - dense["sparsity_prunable_pct"],
        "size_keras_ratio_x": ratio("size_keras_bytes"),
        "size_keras_gzip_ratio_x": ratio("size_keras_gzip_bytes"),
        "size_tflite_ratio_x": ratio("size_tflite_bytes"),
        "size_tflite_gzip_ratio_x": ratio("size_tflite_gzip_bytes"),
        "latency_p50_speedup_x": ratio("latency_p50_ms"),
        "latency_p95_speedup_x": ratio("latency_p95_ms"),
    }


def speedup_spread(x: float, q25: float | None, q75: float | None, median: float | None = None) -> str:
    """What follows a printed speed-up `x`: ` (paired rounds' quartiles a–bx)`, '' without quartiles. A
    ratio of medians can lie outside the per-round ratios' quartiles ("1.13x (… quartiles 1.00–1.04x)"):
    then the two are named as different statistics, so no value is printed outside its own interval."""
    if q25 is None or q75 is None:
        return ""
    if round(q25, 2) <= round(x, 2) <= round(q75, 2):
        return f" (paired rounds' quartiles {q25:.2f}–{q75:.2f}x)"
    centre = "" if median is None else f"median {median:.2f}x, "
    return f" (a ratio of medians; the paired rounds' ratios have {centre}quartiles {q25:.2f}–{q75:.2f}x)"


def bench_speedup(metrics: dict[str, Any]) -> tuple[float, str, str]:
    """comparison.latency_p50_speedup_x (pruned float TFLite over dense float: the bench stage's p50s at
    the first thread count), the benchmark that measured it, and its spread from the same rounds."""
    x = metrics["comparison"]["latency_p50_speedup_x"]
    threads = f"threads_{metrics.get('setup', {}).get('latency_threads', 1)}"
    paired = metrics.get("variants", {}).get("pruned.float", {}).get(threads, {})
    stat = lambda q: paired.get(f"batch1_vs_dense_float_paired_{q}_x")  # noqa: E731
    return x, f"bench stage, {threads.replace('_', ' ')}", speedup_spread(x, stat("q25"), stat("q75"), stat("median"))


def flat_channels(table: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The table as metrics.json's `channels` section (the evaluate stage's flattening): per model its
    numeric record plus `<format>_p50_<setting>_ms` and `<format>_speedup_<setting>_x`, each with the
    run's own noise beside it: the IQR of the per-run times and the quartiles of the per-round speed-up
    ratios (the PR comment calls a change within them noise). Units last: VARYING_FIELDS and readers
    match them."""
    out = {}
    for name, record in table["models"].items():
        row = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for setting, by_variant in table.get("latency", {}).items():
            for fmt in ("float", "int8"):
                entry = by_variant[f"{name}.{fmt}"]
                row[f"{fmt}_p50_{setting}_ms"] = entry["p50_ms"]
                row[f"{fmt}_speedup_{setting}_x"] = entry["speedup_vs_dense_same_format_x"]
                if "iqr_ms" in entry:
                    row[f"{fmt}_iqr_{setting}_ms"] = entry["iqr_ms"]
                for q in ("q25", "q75"):
                    if f"speedup_paired_{q}_x" in entry:
                        row[f"{fmt}_speedup_paired_{q}_{setting}_x"] = entry[f"speedup_paired_{q}_x"]
        prediction = table.get("prediction", {})
        for setting, by_model in prediction.get("table", {}).items():
            if name in by_model:  # the latency table's prediction for this model (channel_bench's check)
                row[f"predicted_{setting}_ms"] = by_model[name]["predicted_ms"]
                row[f"prediction_error_{setting}_pct"] = by_model[name]["error_pct"]
        if name in prediction.get("budgets", {}):
            row["off_budget_pct"] = prediction["budgets"][name]["off_budget_pct"]
        out[name] = row
    return out
