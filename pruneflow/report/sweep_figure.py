"""The sweep's figure: accuracy against gzipped size (with each point's gzip bound) and against batch-1
latency, the unstructured sparsity points, the sensitivity-derived one and the channel-pruned points as
separate series, Pareto-optimal points edged in black (`sweep_figure`); the colours and `_place_label`
are those of `pruneflow.report.figures`."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pruneflow.report.figures import CHANNEL_COLOR, DENSE_COLOR, PRUNED_COLOR, _place_label

# The sweep's series: kind → (colour, marker, legend label). Channel points get their own colour and
# marker: they are a different kind of pruning (fewer MACs, not more zeros), so they sit apart on both axes.
SWEEP_SERIES = {"uniform": (PRUNED_COLOR, "o", "unstructured (target sparsity)"),
                "derived": ("#2ca02c", "o", "sensitivity-derived targets"),
                "channel": (CHANNEL_COLOR, "D", "structured channels (kept fraction)")}


def sweep_label(row: pd.Series) -> str:
    """A sweep point's label in the figure: `keep 0.5` for a channel point, else the point's name."""
    if row["kind"] == "channel" and "keep" in row and pd.notna(row["keep"]):
        return f"keep {row['keep']:g}"
    return str(row["point"])


def sweep_figure(sweep: pd.DataFrame) -> Figure:
    """Pareto plots: accuracy vs gzipped size (with each point's gzip bound) and vs batch-1 latency (int8
    filled, float hollow), the unstructured sparsity points and the channel-pruned points as two series."""
    fig = Figure(figsize=(11, 4.8), layout="constrained")
    size_ax, time_ax = fig.subplots(1, 2)
    dense = sweep[sweep["kind"] == "dense"].iloc[0]
    points = sweep[sweep["kind"] != "dense"]
    for ax, column, label in ((size_ax, "tflite_gzip_bytes", "gzipped float TFLite, MB (log)"),
                              (time_ax, "int8_p50_ms", "TFLite batch-1 p50 latency, ms (filled: int8, hollow: float)")):
        scale = 1e6 if column.endswith("bytes") else 1.0
        front_col = "pareto_size" if column.endswith("bytes") else "pareto_latency"
        hollow = "float_p50_ms" if column == "int8_p50_ms" and "float_p50_ms" in sweep else None
        for kind, (color, marker, name) in SWEEP_SERIES.items():
            rows = points[points["kind"] == kind]
            if rows.empty:
                continue
            ax.scatter(rows[column] / scale, rows["test_accuracy_pct"], color=color, marker=marker, s=45, zorder=3,
                       edgecolors=["black" if front else "none" for front in rows[front_col].astype(bool)], label=name)
            if hollow:  # the same points in float: channel pruning's latency gain shows in both formats
                ax.scatter(rows[hollow], rows["test_accuracy_pct"], facecolors="none", edgecolors=color, marker=marker,
                           s=45, zorder=3)
            if column.endswith("bytes"):  # the gzip bound: no lossless coder gets the file below it
                for _, row in rows.iterrows():
                    ax.plot([row["gzip_bound_bytes"] / scale, row[column] / scale], [row["test_accuracy_pct"]] * 2,
                            color=color, alpha=0.4, lw=1)
                ax.scatter(rows["gzip_bound_bytes"] / scale, rows["test_accuracy_pct"], marker="|", color=color, s=80)
        ax.scatter(dense[column] / scale, dense["test_accuracy_pct"], color=DENSE_COLOR, marker="s", s=55, zorder=3,
                   edgecolor="black" if dense[front_col] else "none", label="dense")
        if hollow:
            ax.scatter(dense[hollow], dense["test_accuracy_pct"], facecolors="none", edgecolors=DENSE_COLOR, marker="s",
                       s=55, zorder=3)
        ax.axhline(dense["test_accuracy_pct"], color=DENSE_COLOR, ls="--", lw=1, alpha=0.6)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy, %")
        ax.grid(alpha=0.3)
    size_ax.set_xscale("log")
    size_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    size_ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    size_ax.set_title("accuracy vs size (| : gzip bound at that point's zeros)")
    slowest = max(sweep[c].max() for c in ("int8_p50_ms", "float_p50_ms") if c in sweep)
    time_ax.set_xlim(0, 1.08 * slowest)  # from zero: the ratio between points reads as a ratio of lengths
    time_ax.set_title("accuracy vs latency")
    # Labels last, once the axes' limits are final: stacking depends on the drawn distances.
    for ax, column, scale in ((size_ax, "tflite_gzip_bytes", 1e6), (time_ax, "int8_p50_ms", 1.0)):
        placed: list[tuple[float, float]] = []
        for _, row in sweep.iterrows():
            color = DENSE_COLOR if row["kind"] == "dense" else SWEEP_SERIES.get(row["kind"], (PRUNED_COLOR,))[0]
            _place_label(ax, placed, row[column] / scale, row["test_accuracy_pct"], sweep_label(row), color,
                         ax is size_ax)
    handles, labels = size_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False, fontsize=8)
    fig.suptitle("Sweep: unstructured sparsity and structured channel pruning (black edge: Pareto-optimal)", fontsize=10)
    return fig
