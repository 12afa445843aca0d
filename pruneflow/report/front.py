"""The latency-budget figure: test accuracy against measured batch-1 p50 for dense, the greedily
budgeted models, every model with one kept fraction in all groups and the uniform-width baseline — one
panel per format and input side (`pruneflow.report.budget` says what the series are)."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from pruneflow.report.budget_records import SERIES, accuracy, comparison_order, series_of, timed
from pruneflow.report.channels import FORMATS, _threads, settings
from pruneflow.report.figures import CHANNEL_COLOR, DENSE_COLOR, _place_label

# series → (colour, marker); dense in its colour of every figure, uniform keep in the sweep's channel colour
FRONT_STYLE = {"dense": (DENSE_COLOR, "s"), "greedy budget": ("#d62728", "*"),
               "uniform keep": (CHANNEL_COLOR, "D"), "uniform width": ("#8c564b", "^")}


def point_label(name: str, record: dict[str, Any]) -> str:
    """A point's label: the budget's name, `keep 0.35`, `width alpha 0.35` or `dense`."""
    if record.get("kind") == "budget":
        return name.removeprefix("budget-")
    if "keep" in record and series_of(name, record) == "uniform keep":
        return f"keep {record['keep']:g}"
    if "alpha" in record:
        return f"width alpha {record['alpha']:g}"
    return name


def front_points(table: dict[str, Any], fmt: str, side: int, threads: int) -> dict[str, list[tuple[str, float, float]]]:
    """Per series: (label, p50 ms, accuracy %) of each model timed in `fmt` at `side` and `threads`."""
    points: dict[str, list[tuple[str, float, float]]] = {series: [] for series in SERIES}
    for name in comparison_order(table):
        record = table["models"][name]
        entry = timed(table, name, fmt, side, threads)
        if entry is not None:
            points[str(series_of(name, record))].append((point_label(name, record), entry["p50_ms"],
                                                          accuracy(record, fmt)))
    return points


def _front_panel(ax: Any, points: dict[str, list[tuple[str, float, float]]], title: str, ylabel: str) -> None:
    """One panel: each series' points, dense's accuracy as a dashed line, labels once the limits are final."""
    ax.set_title(title, fontsize=9)
    if not any(points.values()):
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        return
    for series, rows in points.items():
        if rows:
            color, marker = FRONT_STYLE[series]
            ax.scatter([ms for _, ms, _ in rows], [acc for _, _, acc in rows], color=color, marker=marker,
                       s=70 if marker == "*" else 45, zorder=3, label=series)
    for _, _, acc in points["dense"]:
        ax.axhline(acc, color=DENSE_COLOR, ls="--", lw=1, alpha=0.6)
    slowest = max(ms for rows in points.values() for _, ms, _ in rows)
    ax.set_xlim(0, 1.15 * slowest)  # from zero: the ratio between points reads as a ratio of lengths
    ax.set_xlabel("batch-1 p50, ms")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    placed: list[tuple[float, float]] = []
    for series, rows in points.items():
        for label, ms, acc in rows:
            _place_label(ax, placed, ms, acc, label, FRONT_STYLE[series][0], False)


def latency_front_figure(table: dict[str, Any], data_side: int, big_side: int) -> Figure:
    """Accuracy against measured batch-1 p50, float and int8 (int8: the quantized file's accuracy) at
    the data's side and at `big_side`, at the first thread count channel_bench timed.

    Args:
        table: the channel_bench table (`models`, `latency`).
        data_side: the data's image side.
        big_side: `channels.resolution`, the deployment side timed beside it.

    Returns:
        The figure: a row per format, a column per side.
    """
    threads = min((t for _, t in settings(table)), default=1)
    sides = sorted({data_side, big_side})
    fig = Figure(figsize=(5.5 * len(sides), 4.2 * len(FORMATS)), layout="constrained")
    axes = fig.subplots(len(FORMATS), len(sides), squeeze=False)
    for row, fmt in enumerate(FORMATS):
        for col, side in enumerate(sides):
            _front_panel(axes[row][col], front_points(table, fmt, side, threads), f"{fmt}, {side} px, {_threads(threads)}",
                         f"{fmt} test accuracy, %")
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = sorted(handles, key=SERIES.index)
    fig.legend([handles[label] for label in labels], labels, loc="outside lower center", ncols=max(1, len(labels)),
               frameon=False, fontsize=8)
    fig.suptitle("Latency budgets: accuracy against measured batch-1 latency (dashed: dense accuracy)", fontsize=10)
    return fig
