"""The report's figures: one matplotlib `Figure` per function, drawn from the run's numbers, and
`png_bytes` to save one reproducibly (equal inputs give equal bytes); the colours every figure shares
and `_place_label`, which stacks the labels of points that land on each other (the sweep's figure is in
`pruneflow.report.sweep_figure`, the latency front in `pruneflow.report.front`)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pruneflow.report.numbers import MEANINGFUL_SIZE_X

# One colour per model in every figure. The browser test finds the plots in a screenshot by these
# colours, so the page's own CSS never uses them.
DENSE_COLOR = "#1f77b4"
PRUNED_COLOR = "#ff7f0e"
COLORS = {"dense": DENSE_COLOR, "pruned": PRUNED_COLOR}

# Channel points get their own colour: they are a different kind of pruning (fewer MACs, not more
# zeros), so they sit apart on both axes of the sweep's figure and the latency front.
CHANNEL_COLOR = "#9467bd"


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG; no software/date metadata, so equal inputs give equal bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None}, bbox_inches="tight")
    return buffer.getvalue()


def size_figure(metrics: dict[str, Any]) -> Figure:
    """File sizes in MB, dense vs pruned, raw and gzip, plus the unstripped pruned Keras file."""
    d, p = metrics["dense"], metrics["pruned"]
    kinds = [("Keras", "size_keras_bytes"), ("Keras gzip", "size_keras_gzip_bytes"),
             ("TFLite", "size_tflite_bytes"), ("TFLite gzip", "size_tflite_gzip_bytes")]
    fig = Figure(figsize=(9, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(kinds))
    for offset, (name, values) in ((-0.2, ("dense", d)), (0.2, ("pruned", p))):
        sizes = [values[key] / 1e6 for _, key in kinds]
        bars = ax.bar(x + offset, sizes, 0.4, color=COLORS[name], label=f"{name}{' (stripped)' if name == 'pruned' else ''}")
        if name == "pruned":
            ax.bar_label(bars, [f"{d[key] / p[key]:.2f}× smaller" for _, key in kinds], fontsize=8)
    if "size_keras_unstripped_bytes" in p:
        x_un = len(kinds)
        ax.bar([x_un, x_un + 0.4], [p["size_keras_unstripped_bytes"] / 1e6, p["size_keras_unstripped_gzip_bytes"] / 1e6],
               0.4, color="none", edgecolor=PRUNED_COLOR, hatch="//", label="pruned, NOT stripped")
        kinds.append(("Keras not stripped\nraw | gzip", ""))
        x = np.append(x, x_un + 0.2)
    ax.set_xticks(x, [k for k, _ in kinds])
    ax.set_ylabel("MB")
    raw = min(d[key] / p[key] for key in ("size_keras_bytes", "size_tflite_bytes"))
    gzipped = min(d[key] / p[key] for key in ("size_keras_gzip_bytes", "size_tflite_gzip_bytes"))
    # The headline only where the measured ratios bear it out (a head-only prune barely shrinks anything).
    ax.set_title("File size: only stripped + compressed files shrink"
                 if raw < MEANINGFUL_SIZE_X <= gzipped else "File size, dense vs stripped pruned, raw and gzip")
    ax.legend(frameon=False)
    return fig


def accuracy_latency_figure(metrics: dict[str, Any], latency: pd.DataFrame) -> Figure:
    """Test accuracy (Keras, TFLite) beside the batch-1 latency distribution of each model."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    acc_ax, lat_ax = fig.subplots(1, 2)
    keys = [("Keras", "test_accuracy_pct"), ("TFLite", "tflite_test_accuracy_pct")]
    values = [metrics[m][k] for m in COLORS for _, k in keys]
    for i, name in enumerate(COLORS):
        bars = acc_ax.bar(np.arange(2) + (i - 0.5) * 0.4, [metrics[name][k] for _, k in keys], 0.4,
                          color=COLORS[name], label=name)
        acc_ax.bar_label(bars, fmt="%.1f", fontsize=8)
    acc_ax.set_xticks(np.arange(2), [k for k, _ in keys])
    acc_ax.set_ylim(max(0.0, min(values) - 5), 102)
    acc_ax.set_ylabel("test accuracy %")
    acc_ax.set_title("Accuracy")
    acc_ax.legend(frameon=False, loc="upper center", ncols=2)
    samples = [latency[f"{name}_ms"].to_numpy() for name in COLORS]
    box = lat_ax.boxplot(samples, tick_labels=list(COLORS), showfliers=False, patch_artist=True, widths=0.5,
                         medianprops={"color": "black"})
    for patch, name in zip(box["boxes"], COLORS):
        patch.set_facecolor(COLORS[name])
    for i, name in enumerate(COLORS, start=1):
        p50, p95 = metrics[name]["latency_p50_ms"], metrics[name]["latency_p95_ms"]
        lat_ax.annotate(f"p50 {p50:.3f}\np95 {p95:.3f}", (i + 0.3, p50), fontsize=8, va="center")
    lat_ax.set_xlim(0.5, 2.9)
    lat_ax.set_ylabel("ms per image (batch 1)")
    lat_ax.set_title(f"TFLite latency, {metrics['comparison']['latency_p50_speedup_x']:.2f}× speed-up at p50")
    return fig


def layer_sparsity_figure(layers: pd.DataFrame) -> Figure:
    """Per prunable layer of the pruned model: sparsity, and weights before vs left after pruning."""
    pruned = layers[layers["model"] == "pruned"].reset_index(drop=True)
    y = np.arange(len(pruned))[::-1]
    fig = Figure(figsize=(10, max(3.0, 0.22 * len(pruned) + 1)), layout="constrained")
    sp_ax, n_ax = fig.subplots(1, 2, sharey=True)
    sp_ax.barh(y, pruned["sparsity_pct"], color=PRUNED_COLOR)
    sp_ax.set_yticks(y, pruned["layer"], fontsize=7)
    sp_ax.set_xlim(0, 100)
    sp_ax.set_xlabel("zeros % (pruned model)")
    sp_ax.set_title("Sparsity per layer")
    n_ax.barh(y + 0.2, pruned["params"], 0.4, color=DENSE_COLOR, label="weights (dense)")
    n_ax.barh(y - 0.2, pruned["params"] - pruned["zeros"], 0.4, color=PRUNED_COLOR, label="nonzero left (pruned)")
    n_ax.set_xscale("log")
    n_ax.set_xlabel("weights (log scale)")
    n_ax.set_title("Which layers carry the remaining weights")
    n_ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def weight_histogram_figure(histogram: pd.DataFrame) -> Figure:
    """|w| of the prunable weights, dense vs pruned: exact zeros apart, nonzeros on log bins."""
    zeros, bins = histogram.iloc[0], histogram.iloc[1:]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    zero_ax, hist_ax = fig.subplots(1, 2, width_ratios=[1, 4])
    bars = zero_ax.bar(list(COLORS), [int(zeros[name]) for name in COLORS], color=list(COLORS.values()))
    zero_ax.bar_label(bars, fmt="{:,.0f}", fontsize=8)
    zero_ax.set_title("exact zeros")
    edges = np.r_[bins["magnitude_low"].to_numpy(), bins["magnitude_high"].iloc[-1]]
    for name, color in COLORS.items():
        hist_ax.stairs(bins[name].to_numpy(), edges, color=color, label=name, linewidth=1.5)
    hist_ax.set_xscale("log")
    hist_ax.set_xlabel("|weight| (prunable kernels)")
    hist_ax.set_ylabel("weights per bin")
    hist_ax.set_title("Magnitude pruning removes the small weights")
    hist_ax.legend(frameon=False)
    return fig


def confusion_figure(predictions: pd.DataFrame, classes: tuple[str, ...]) -> Figure:
    """Confusion matrices (rows: actual, columns: predicted) of both models on the test split."""
    fig = Figure(figsize=(11, 5), layout="constrained")
    axes = fig.subplots(1, 2)
    index = {name: i for i, name in enumerate(classes)}
    actual = predictions["actual"].map(index).to_numpy()
    for ax, name in zip(axes, COLORS):
        matrix = np.zeros((len(classes), len(classes)), dtype=int)
        np.add.at(matrix, (actual, predictions[name].map(index).to_numpy()), 1)
        ax.imshow(matrix, cmap="Blues" if name == "dense" else "Oranges")
        if len(classes) <= 20:
            for (i, j), count in np.ndenumerate(matrix):
                if count:
                    ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                            color="white" if count > matrix.max() / 2 else "black")
        ticks = np.arange(len(classes))
        ax.set_xticks(ticks, classes, fontsize=7, rotation=90 if len(classes) > 10 else 0)
        ax.set_yticks(ticks, classes, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.set_title(f"{name}: {int(np.trace(matrix))} of {int(matrix.sum())} right")
    return fig


def training_figure(train_log: pd.DataFrame, prune_log: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch: dense training, then the pruning fine-tune on the same axis."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    start = len(train_log)
    for log, name, offset in ((train_log, "dense", 0), (prune_log, "pruned", start)):
        epochs = log["epoch"] + offset
        for ax, metric in ((loss_ax, "loss"), (acc_ax, "accuracy")):
            ax.plot(epochs, log[metric], color=COLORS[name], label=f"{name} train")
            ax.plot(epochs, log[f"val_{metric}"], color=COLORS[name], linestyle="--", label=f"{name} validation")
    for ax, title in ((loss_ax, "Loss"), (acc_ax, "Accuracy")):
        ax.axvline(start + 0.5, color="grey", linewidth=0.8)
        ax.set_xlabel(f"epoch (pruning fine-tune from epoch {start + 1})")
        ax.set_title(title)
    loss_ax.set_yscale("log")
    acc_ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def pruning_schedule_figure(prune_steps: pd.DataFrame, target_sparsity: float, schedule: str) -> Figure:
    """Mask sparsity per step as it happened, with the fine-tune loss on a second axis.

    Args:
        prune_steps: the prune stage's log (`step`, mask `sparsity`, batch `loss`).
        target_sparsity: the mask sparsity aimed at, drawn as a line.
        schedule: the schedule's name for the title (`PolynomialDecay`, `2:4 structured, ConstantSparsity`).

    Returns:
        The figure.
    """
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(prune_steps["step"], 100 * prune_steps["sparsity"], color=PRUNED_COLOR, marker=".", label="mask sparsity")
    ax.axhline(100 * target_sparsity, color=PRUNED_COLOR, linestyle=":", linewidth=1, label="target")
    ax.set_ylim(0, 100)
    ax.set_xlabel("training step")
    ax.set_ylabel("zeros % of pruned weights")
    loss_ax = ax.twinx()
    loss_ax.plot(prune_steps["step"], prune_steps["loss"], color="grey", linewidth=1, label="batch loss")
    loss_ax.set_ylabel("batch loss")
    ax.set_title(f"Pruning schedule ({schedule}) and the loss it costs")
    lines = ax.get_legend_handles_labels()
    more = loss_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], frameon=False, fontsize=8, loc="center right")
    return fig


def deployment_figure(metrics: dict[str, Any]) -> Figure:
    """Every TFLite variant: gzipped size against batch-1 p50 latency (first thread count)."""
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    ax = fig.add_subplot()
    colors = {"dense": DENSE_COLOR, "pruned": PRUNED_COLOR, "pruned_pqat": "#2ca02c"}
    placed: list[tuple[float, float]] = []
    for name, v in sorted((metrics.get("variants") or {}).items()):
        key = next((k for k in sorted(v) if k.startswith("threads_")), None)
        if key is None:
            continue
        model = name.split(".")[0]
        ax.scatter(v["size_gzip_bytes"] / 1e6, v[key]["batch1_p50_ms"], color=colors.get(model, "#7f7f7f"),
                   marker="o" if v.get("delegate") == "xnnpack" else "x", s=40)
        x, y = v["size_gzip_bytes"] / 1e6, v[key]["batch1_p50_ms"]
        # stack the labels of points that land on each other (the int8 files differ by a few KB)
        below = sum(abs(np.log(x / px)) < 0.15 and abs(y - py) < 0.06 for px, py in placed)
        placed.append((x, y))
        ax.annotate(f"{name} {v['test_accuracy_pct']:.1f}%", (x, y), fontsize=7, xytext=(5, 3 - 9 * below),
                    textcoords="offset points", color=colors.get(model, "#7f7f7f"))
    ax.set_xscale("log")
    ax.set_xlabel("gzipped file, MB (log)")
    ax.set_ylabel("batch-1 p50 latency, ms")
    ax.set_title("TFLite variants: download size vs latency (x: built-in kernels, not XNNPACK)")
    ax.grid(alpha=0.3)
    return fig


def _place_label(ax: Any, placed: list[tuple[float, float]], x: float, y: float, text: str, color: str,
                 log_x: bool) -> None:
    """Annotate a point, stacking the label below those of points that land on it (equal accuracies)."""
    xmin, xmax = ax.get_xlim()
    span = np.log(xmax / xmin) if log_x else (xmax - xmin) or 1.0
    ymin, ymax = ax.get_ylim()
    # about one label's width (7 pt text, ~14 characters, on a ~470 px axis) and one line's height
    close = sum(abs((np.log(x / px) if log_x else x - px) / span) < 0.15 and abs(y - py) < 0.04 * (ymax - ymin)
                for px, py in placed)
    placed.append((x, y))
    ax.annotate(text, (x, y), fontsize=7, xytext=(4, 4 - 9 * close), textcoords="offset points", color=color)


def sensitivity_figure(table: pd.DataFrame) -> Figure:
    """Validation accuracy drop with each unit pruned alone, one line per sparsity level."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    ax = fig.add_subplot()
    units = list(dict.fromkeys(table["unit"]))
    for level, rows in table.groupby("sparsity"):
        drops = rows.set_index("unit").reindex(units)["drop_pts"]
        ax.plot(range(len(units)), drops, marker="o", ms=3, label=f"{level:g}")
    ax.set_xticks(range(len(units)), units, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("validation accuracy drop, points")
    ax.axhline(0, color="black", lw=0.8)
    ax.legend(title="unit sparsity", fontsize=7, ncols=2)
    ax.set_title("Sensitivity: each unit magnitude-pruned alone, one-shot, the rest of the model dense")
    ax.grid(alpha=0.3)
    return fig
