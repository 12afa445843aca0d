"""The tables printed after a run and by `make show` (dense vs pruned, the TFLite variants, the channel
models), shared with the report and the Prefect artifacts, and `format_run`, the whole printed block
(pure; no TensorFlow). What they show is computed in `pruneflow.evaluation.metrics`."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from pruneflow.artifacts.points import same_plan_as
from pruneflow.config.prune import TFLITE_FORMATS
from pruneflow.evaluation.metrics import bench_speedup, speedup_spread
from pruneflow.evaluation.notes import skipped_notes
from pruneflow.stats.differences import format_significance

# (row label, metric key, comparison key or None) of the printed dense-vs-pruned table.
TABLE_ROWS = (
    ("test accuracy (Keras) %", "test_accuracy_pct", "test_accuracy_delta_pts"),
    ("test accuracy (TFLite) %", "tflite_test_accuracy_pct", "tflite_test_accuracy_delta_pts"),
    ("test accuracy of the majority class %", "majority_class_test_accuracy_pct", None),
    ("test loss", "test_loss", "test_loss_delta"),
    ("sparsity, prunable weights %", "sparsity_prunable_pct", "sparsity_prunable_delta_pts"),
    ("sparsity, all weights %", "sparsity_all_weights_pct", None),
    ("Keras file bytes", "size_keras_bytes", "size_keras_ratio_x"),
    ("Keras gzip bytes", "size_keras_gzip_bytes", "size_keras_gzip_ratio_x"),
    ("TFLite file bytes", "size_tflite_bytes", "size_tflite_ratio_x"),
    ("TFLite gzip bytes", "size_tflite_gzip_bytes", "size_tflite_gzip_ratio_x"),
    ("TFLite latency p50 ms", "latency_p50_ms", "latency_p50_speedup_x"),
    ("TFLite latency p95 ms", "latency_p95_ms", "latency_p95_speedup_x"),
)


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def paired_cell(significance: dict[str, Any] | None, model: str, delta: float | None, digits: int = 1) -> str:
    """A model's accuracy difference from dense (`model` as metrics.json `significance.against_dense`
    names it: `pruned`, `channel.int8`, ...) with its paired 95 % CI and exact McNemar p; the plain
    `delta` where no per-image comparison was recorded, '' where there is neither."""
    entry = (significance or {}).get("against_dense", {}).get(model)
    if entry is None:
        return "" if delta is None else f"{delta:+.{digits}f}"
    return (f"{entry['diff_pts']:+.1f} [{entry['ci_low_pts']:+.1f}, {entry['ci_high_pts']:+.1f}] "
            f"p={entry['p_value']:.2g}")


# The dense-vs-pruned table's accuracy rows: the significance entry that pairs the same two models.
_PAIRED_ROWS = {"test_accuracy_delta_pts": "pruned", "tflite_test_accuracy_delta_pts": "pruned.float"}


def comparison_rows(metrics: dict[str, Any]) -> pd.DataFrame:
    """The dense-vs-pruned table as display strings: values, then ratio (x) or delta (pts).

    Columns: metric, dense, pruned, pruned vs dense. Shared by the printed table, the report and
    the Prefect table artifact, so all three always agree.
    """
    rows = []
    for label, key, change in TABLE_ROWS:
        delta = metrics["comparison"].get(change) if change else None
        shown = "" if delta is None else f"{delta:.2f}x" if change.endswith("_x") else f"{delta:+.2f}"
        if change == "latency_p50_speedup_x" and delta is not None:  # another benchmark times it too: name this one
            x, bench, spread = bench_speedup(metrics)
            shown = f"{x:.2f}x ({bench}{'; ' + spread[2:-1] if spread else ''})"
        if change in _PAIRED_ROWS and delta is not None:
            shown = paired_cell(metrics.get("significance"), _PAIRED_ROWS[change], delta, digits=2)
        rows.append({"metric": label, "dense": _cell(metrics["dense"].get(key)),
                     "pruned": _cell(metrics["pruned"].get(key)), "pruned vs dense": shown})
    for label, key in (("Keras file bytes, NOT stripped", "size_keras_unstripped_bytes"),
                       ("Keras gzip bytes, NOT stripped", "size_keras_unstripped_gzip_bytes")):
        if key in metrics["pruned"]:
            rows.append({"metric": label, "dense": "", "pruned": _cell(metrics["pruned"][key]), "pruned vs dense": ""})
    training = metrics.get("training")
    if training:
        rows.append({"metric": "epoch time s (median)", "dense": _cell(training["dense_epoch_median_s"]),
                     "pruned": _cell(training["prune_epoch_median_s"]),
                     "pruned vs dense": f"{training['prune_over_dense_epoch_time_x']:.2f}x the time"})
    return pd.DataFrame(rows)


def format_table(metrics: dict[str, Any]) -> str:
    """The dense-vs-pruned table printed after a run."""
    return comparison_rows(metrics).set_index("metric").to_string()


def _threads(entry: dict[str, Any]) -> list[str]:
    return sorted((key for key in entry if key.startswith("threads_")), key=lambda k: int(k.split("_")[1]))


def _variant_order(name: str) -> tuple[int, int, str]:
    """dense, pruned, pruned_pqat; within each, the formats in params order (metrics.json sorts keys)."""
    model, _, fmt = name.partition(".")
    models = ("dense", "pruned", "pruned_pqat")
    return (models.index(model) if model in models else len(models),
            TFLITE_FORMATS.index(fmt) if fmt in TFLITE_FORMATS else len(TFLITE_FORMATS), name)


def variant_rows(metrics: dict[str, Any]) -> pd.DataFrame:
    """One display row per TFLite variant: accuracy, sizes, zeros in the file, latency and speed-ups.

    Speed-ups are from the same interleaved bench rounds: vs the dense float TFLite file, and (for
    pruned variants) vs the dense model in the same format, which isolates what pruning changed.
    """
    variants = metrics.get("variants") or {}
    rows = []
    for name, v in sorted(variants.items(), key=lambda item: _variant_order(item[0])):
        model, _, fmt = name.partition(".")
        twin = variants.get(f"dense.{fmt}", {}).get("test_accuracy_pct")
        row = {"variant": name, "accuracy %": f"{v['test_accuracy_pct']:.1f}",
               "vs dense same format pts [95 % CI] p": "reference" if model == "dense" else paired_cell(
                   metrics.get("significance"), name, None if twin is None else v["test_accuracy_pct"] - twin),
               "zeros in file %": f"{v['weights_sparsity_pct']:.1f}", "bytes": f"{v['size_bytes']:,}",
               "gzip bytes": f"{v['size_gzip_bytes']:,}", "gzip vs dense Keras": f"{v['gzip_ratio_vs_dense_keras_x']:.2f}x"}
        for key in _threads(v):
            t = key.split("_")[1]
            stats = v[key]
            batch = next((k for k in stats if k.startswith("throughput_batch")), None)
            row[f"p50 ms t{t}"] = f"{stats['batch1_p50_ms']:.3f}"
            row[f"p95 ms t{t}"] = f"{stats['batch1_p95_ms']:.3f}"
            if batch:
                row[f"img/s b{batch.split('batch')[1].split('_')[0]} t{t}"] = f"{stats[batch]:,.0f}"
            speed = stats.get("batch1_vs_dense_float_x")
            row[f"speed-up t{t}"] = "1.00x" if name == "dense.float" else "" if speed is None else f"{speed:.2f}x"
            twin = stats.get("batch1_vs_dense_same_format_x")
            row[f"vs dense same format t{t}"] = "" if twin is None else f"{twin:.2f}x"
        row["runtime"] = "XNNPACK" if v.get("delegate") == "xnnpack" else "built-in kernels"
        rows.append(row)
    return pd.DataFrame(rows)


def format_variants(metrics: dict[str, Any]) -> str:
    """The per-variant table printed after a run ('' when the metrics have no variants)."""
    rows = variant_rows(metrics)
    return "" if rows.empty else rows.set_index("variant").to_string()


# metrics.json's `channels` section: its models in reading order (dense first: the others are against it).
CHANNEL_MODELS = ("dense", "unstructured", "channel", "stacked", "uniform_width")


def _channel_settings(record: dict[str, Any]) -> list[str]:
    """The `<side>px_threads_<n>` settings a flattened channel record was timed at, by side then threads."""
    found = {key[len("float_p50_"):-len("_ms")] for key in record if key.startswith("float_p50_") and key.endswith("_ms")}
    return sorted(found, key=lambda s: tuple(int(part) for part in s.split("px_threads_")))


def channel_rows(channels: dict[str, dict[str, Any]], significance: dict[str, Any] | None = None) -> pd.DataFrame:
    """One display row per model of metrics.json's `channels` section: accuracy, MACs, parameters, float
    and int8 TFLite bytes (raw, gzip), and batch-1 p50 per side and thread count with the speed-up over
    dense in the same format [its paired rounds' quartiles]. Shared by `make show` and the report.

    Args:
        channels: model → its numeric record plus `<fmt>_p50_<setting>_ms` and `<fmt>_speedup_<setting>_x`.
        significance: metrics.json's `significance` (the paired CI and p of each accuracy difference
            from dense); without it the difference is shown alone.

    Returns:
        The rows (empty without models).
    """
    base = channels.get("dense", {}).get("test_accuracy_pct")
    order = [name for name in CHANNEL_MODELS if name in channels] + sorted(set(channels) - set(CHANNEL_MODELS))
    rows = []
    for name in order:
        r = channels[name]
        row = {"model": name, "accuracy %": f"{r['test_accuracy_pct']:.1f}",
               "int8 accuracy %": f"{r['int8_test_accuracy_pct']:.1f}",
               "vs dense pts [95 % CI] p": "reference" if name == "dense" else paired_cell(
                   significance, "pruned" if name == "unstructured" else name,
                   None if base is None else r["test_accuracy_pct"] - base, digits=2),
               "MACs (M)": f"{r['macs'] / 1e6:.2f}",
               "params": f"{r['params']:,}", "float bytes": f"{r['tflite_bytes']:,}",
               "float gzip bytes": f"{r['tflite_gzip_bytes']:,}", "int8 bytes": f"{r['int8_tflite_bytes']:,}",
               "int8 gzip bytes": f"{r['int8_tflite_gzip_bytes']:,}"}
        for setting in _channel_settings(r):
            where = setting.replace("px_threads_", "px t")
            for fmt in ("float", "int8"):
                row[f"{fmt} p50 ms {where}"] = f"{r[f'{fmt}_p50_{setting}_ms']:.3f}"
                x, q25, q75 = (r.get(f"{fmt}_speedup{q}_{setting}_x") for q in ("", "_paired_q25", "_paired_q75"))
                inside = None not in (q25, q75) and speedup_spread(x, q25, q75).startswith(" (paired")
                row[f"{fmt} speed-up {where}"] = f"{x:.2f}x" + (f" [{q25:.2f}–{q75:.2f}]" if inside else "")
        rows.append(row)
    return pd.DataFrame(rows)


def format_channels(metrics: dict[str, Any], leave_out: Collection[str] = ()) -> str:
    """The channel-pruning table printed after a run ('' when the metrics have no `channels` section),
    without the models in `leave_out` (points that repeat another's plan: the report lists them once)."""
    kept = {name: row for name, row in (metrics.get("channels") or {}).items() if name not in leave_out}
    rows = channel_rows(kept, metrics.get("significance"))
    return "" if rows.empty else rows.set_index("model").to_string()



def format_run(metrics: dict[str, Any], channel_table: dict[str, Any] | None = None) -> str:
    """Everything printed after a run and by `make show`, one table after another: dense vs pruned, the
    variants, the channel models, the notes on what was left out, the paired significance table.

    Args:
        metrics: the run's metrics (metrics.json with its timings.json fields).
        channel_table: channel_bench's table (reports/channels.json), or None where it is not read: with
            it, the points that repeat another's plan are left out of the channel table and the parts
            not built or not measured as configured get one line each (`skipped_notes`).

    Returns:
        The block, without a trailing newline (print adds it).
    """
    table = channel_table or {}
    return "\n".join([
        format_table(metrics),
        format_variants(metrics),
        format_channels(metrics, leave_out=same_plan_as(table.get("models") or {})),
        *skipped_notes(table),
        format_significance(metrics),
    ])
