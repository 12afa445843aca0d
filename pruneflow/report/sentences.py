"""Numbers → sentences: what pruning did to the dense model, worded from the run's measurements
(what was done is worded in `pruneflow.report.method`, the variants in `pruneflow.report.variants`
and the sweep in `pruneflow.report.sweep`).

No sentence asserts what a different measurement could make false: every verdict (smaller, faster,
uniform) comes from the measured ratio it cites against a named threshold (`pruneflow.report.numbers`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.deploy.compression import binary_entropy, gzip_bound_x
from pruneflow.evaluation.metrics import bench_speedup
from pruneflow.report.change_words import difference, entry_of, no_pair
from pruneflow.report.numbers import LATENCY_NOISE, MEANINGFUL_SIZE_X, _bytes, _mb, _pct, _share

# A file gzip shrinks less than this looks almost random to it (trained float32 weights gzip about
# 1.08x: the default run's dense TFLite file).
INCOMPRESSIBLE_X = 1.2


def layer_summary(layers: pd.DataFrame, top: int = 8) -> pd.DataFrame:
    """The pruned model's prunable layers with the most remaining (nonzero) weights."""
    pruned = layers[layers["model"] == "pruned"].copy()
    pruned["nonzero"] = pruned["params"] - pruned["zeros"]
    pruned["share_of_remaining_pct"] = 100.0 * pruned["nonzero"] / pruned["nonzero"].sum()
    columns = ["layer", "type", "params", "nonzero", "sparsity_pct", "share_of_remaining_pct"]
    return pruned.sort_values("nonzero", ascending=False, kind="stable")[columns].head(top).reset_index(drop=True)


def _pruned_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """The pruned model's prunable layers that have zeros: the table lists every prunable layer, but one
    outside `prune.scope` (or the XNNPACK policy's choice) was never wrapped and keeps every weight."""
    return layers[(layers["model"] == "pruned") & (layers["zeros"] > 0)]


def _where_sentence(nonzero_params: int, layers: pd.DataFrame) -> str:
    """Which layers keep the remaining weights, and how evenly the pruned ones were pruned.

    Args:
        nonzero_params: nonzero weights of the whole pruned model.
        layers: the per-layer sparsity table (dense and pruned rows).

    Returns:
        The "Where the weights are" sentence.
    """
    table = layer_summary(layers, top=len(layers))
    top3 = table.head(3)
    untouched = nonzero_params - int(table["nonzero"].sum())
    pruned = table[table["sparsity_pct"] > 0]
    left = len(table) - len(pruned)
    kept = f"; {left} more prunable layers kept every weight" if left else ""
    if pruned.empty:
        how = f"no prunable layer has a zero weight ({len(table)} prunable layers)"
    else:
        spread = pruned["sparsity_pct"]
        uniform = spread.max() - spread.min() < 5
        kinds = "/".join(sorted(pruned["type"].unique()))
        how = (f"pruning was {'uniform' if uniform else 'uneven'} ({spread.min():.1f}–{spread.max():.1f} % per layer "
               f"across {len(pruned)} pruned {kinds} layers{kept})"
               + (", so the biggest layers keep the most" if uniform and not left else ""))
    # Depthwise kernels are not prunable in the tfmot release pinned here; say so only while the table agrees.
    depthwise = "" if (table["type"] == "DepthwiseConv2D").any() else " (such as depthwise convolutions)"
    return (f"Where the weights are: of the {nonzero_params:,} nonzero weights left, "
            f"{', '.join(f'{r.layer} ({r.share_of_remaining_pct:.0f} %)' for r in top3.itertuples())} hold "
            f"{top3['share_of_remaining_pct'].sum():.0f} % of the prunable layers' remainder; {how}. "
            f"{untouched:,} nonzero weights ({_share(untouched / nonzero_params)}) lie outside the prunable kernels: "
            f"biases, BatchNorm, and layer types tfmot does not prune{depthwise}.")


def explanation(metrics: dict[str, Any], layers: pd.DataFrame) -> list[str]:
    """Sentences that explain the measured impact, each formatted from the numbers it cites.

    Args:
        metrics: metrics.json (dense, pruned, comparison, setup, training).
        layers: the per-layer sparsity table.

    Returns:
        One sentence each on accuracy, raw size, compression, the gzip bound, the unstripped file,
        where the weights are, latency and training cost.
    """
    d, p, c = metrics["dense"], metrics["pruned"], metrics["comparison"]
    n = int(metrics.get("setup", {}).get("test_samples", 0))
    out = []

    delta = p["test_accuracy_pct"] - d["test_accuracy_pct"]
    entry = entry_of(metrics.get("significance"), "pruned")
    files = (f"the float TFLite files score {_pct(d['tflite_test_accuracy_pct'])} and "
             f"{_pct(p['tflite_test_accuracy_pct'])}")
    if entry is None:
        verb = "cost" if delta < 0 else "gained" if delta > 0 else "changed by"
        images = f", {round(abs(delta) * n / 100)} of {n:,} test images" if n else ""
        out.append(
            f"Accuracy: pruning {_pct(p['sparsity_prunable_pct'])} of the prunable weights {verb} {abs(delta):.1f} pts "
            f"of test accuracy ({_pct(d['test_accuracy_pct'])} → {_pct(p['test_accuracy_pct'])}{images}; {no_pair(metrics.get('significance'))}); "
            f"{files}.")
    else:
        # The verb follows the paired test, not the sign: a loss inside the noise is not called a cost.
        verb = (("cost" if delta < 0 else "gained") if entry["differs"] else "moved")
        out.append(
            f"Accuracy: pruning {_pct(p['sparsity_prunable_pct'])} of the prunable weights {verb} test accuracy "
            f"{_pct(d['test_accuracy_pct'])} → {_pct(p['test_accuracy_pct'])}: on the same {entry['n']:,} test images "
            f"{difference(entry, 'the pruned model', 'the dense one')}; {files}.")

    raw_k, raw_t = c["size_keras_ratio_x"], c["size_tflite_ratio_x"]
    smaller = "no smaller" if min(raw_k, raw_t) < MEANINGFUL_SIZE_X else "only somewhat smaller"
    out.append(
        f"Uncompressed, the stripped pruned files are {smaller}: Keras {_bytes(p['size_keras_bytes'])} vs "
        f"{_bytes(d['size_keras_bytes'])} ({raw_k:.2f}×), TFLite {_bytes(p['size_tflite_bytes'])} vs "
        f"{_bytes(d['size_tflite_bytes'])} ({raw_t:.2f}×): a pruned weight is a 0.0 that still occupies 32 bits."
    )

    self_d = d["size_tflite_bytes"] / d["size_tflite_gzip_bytes"]
    self_p = p["size_tflite_bytes"] / p["size_tflite_gzip_bytes"]
    random = " (trained float32 weights look almost random to gzip)" if self_d < INCOMPRESSIBLE_X else ""
    lead = (f"Compression is where the zeros pay: gzip shrinks the pruned TFLite file {self_p:.2f}× but the dense one "
            f"only {self_d:.2f}×{random}" if self_p >= MEANINGFUL_SIZE_X * self_d else
            f"Compression does not tell the two apart: gzip shrinks the pruned TFLite file {self_p:.2f}× and the dense "
            f"one {self_d:.2f}×{random}")
    out.append(
        f"{lead}, so gzipped the pruned model is "
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
        kernels = 4 * int(_pruned_layers(layers)["params"].sum())
        extra = unstripped - p["size_keras_bytes"]
        out.append(
            f"Not stripped, the pruned Keras file is {_bytes(unstripped)}, {unstripped / d['size_keras_bytes']:.2f}× the dense "
            f"file, and {unstripped_gz / p['size_keras_gzip_bytes']:.2f}× the stripped one even gzipped "
            f"({_bytes(unstripped_gz)}). Its {extra:,} extra bytes are {extra / kernels:.2f}× the {kernels:,} bytes of the "
            "pruned kernels: tfmot's wrapper saves, beside each kernel, a float32 mask of the same shape and a second copy "
            "of the kernel (it tracks the wrapped layer's weight as its own), plus a threshold and a step counter; "
            "`strip_pruning` drops them all."
        )

    out.append(_where_sentence(int(p["nonzero_params"]), layers))

    speed, bench, spread = bench_speedup(metrics)  # the number the dense-vs-pruned table shows, its bench named
    if speed >= 1 + LATENCY_NOISE:
        verdict = f"the pruned model is faster ({speed:.2f}× at p50)"
    elif speed <= 1 - LATENCY_NOISE:
        verdict = f"the pruned model is slower ({1 / speed:.2f}× the dense p50)"
    else:
        verdict = (f"no measurable difference ({speed:.2f}×, inside the ±{_share(LATENCY_NOISE)} run-to-run noise): "
                   "float TFLite kernels multiply the zeros like any other weight")
    out.append(
        f"Latency: batch-1 p50 {d['latency_p50_ms']:.3f} ms dense vs {p['latency_p50_ms']:.3f} ms pruned, "
        f"p95 {d['latency_p95_ms']:.3f} vs {p['latency_p95_ms']:.3f} ms — {verdict}; {bench}{spread}."
    )

    training = metrics.get("training")
    if training:
        ratio = training["prune_over_dense_epoch_time_x"]
        why = ("the wrappers multiply each wrapped kernel by its mask on each step" if ratio > 1 + LATENCY_NOISE else
               "no clear overhead from the wrappers; wall-clock epoch times also move with machine load")
        out.append(
            f"Training cost: a pruning fine-tune epoch took {training['prune_epoch_median_s']:.1f} s against "
            f"{training['dense_epoch_median_s']:.1f} s for a dense epoch ({ratio:.2f}×): {why}."
        )
    return out


def explanation_markdown(sentences: list[str], report: Path) -> str:
    """The explanation as a Markdown note pointing at the full report (the Prefect artifact)."""
    return "\n".join(["## What the numbers say", "", *(f"- {s}" for s in sentences), "", f"Full report: `{report}`"])
