"""Channel-pruned models, fine-tuned and written like sweep points (stages channel_prune, channel_point,
stacked, uniform_baseline).

- channel: the saved dense model narrowed by `pruneflow.channels` to `channels.keep` of every group of
  the scope, then fine-tuned (one-shot), or narrowed in `channels.steps` equal steps with fine-tuning
  between them (gradual);
- stacked: the channel-pruned model, magnitude-pruned by tfmot to `channels.stacked_sparsity` (the
  main prune recipe), stripped, int8;
- uniform baseline: the same architecture at the width multiplier whose MACs match the channel-pruned
  model's, trained from scratch with the dense recipe — the honest question "does pruning beat simply
  training the smaller model?".
Each writes a folder: the Keras model, float and int8 TFLite files, `point.json` (accuracy, MACs,
params, sizes) and, for channel models, `widths.csv` (every group's width before and after).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import atomic_dir
from pruneflow.artifacts.points import (
    FLOAT_FILE,
    INT8_FILE,
    LOG_FILE,
    MODEL_FILE,
    POINT_FILE,
    PREDICTIONS_FILE,
    WIDTHS_FILE,
    is_model,
    read_point,
    write_record,
)
from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import nothing_to_remove
from pruneflow.channels.rebuild import group_widths, prune_channels
from pruneflow.config.families import family
from pruneflow.config.params import Config
from pruneflow.deploy.scoring import score_point
from pruneflow.deploy.tflite import calibration_images, convert_file, in_processes
from pruneflow.errors import require
from pruneflow.models.classifier import build_classifier
from pruneflow.models.data import load_classes, load_split
from pruneflow.models.fit import EpochLog, KeepBest, compile_classifier, fit, seed_everything
from pruneflow.models.macs import count_macs
from pruneflow.models.schedule import epochs_for, steps_per_epoch
from pruneflow.models.store import load_model, save_model
from pruneflow.models.training import train_dense
from pruneflow.tf_env import keras


def step_keeps(keep: float, schedule: str, steps: int) -> list[float]:
    """The kept fraction after each pruning step: one step, or `steps` equal cuts from 1 down to `keep`."""
    if schedule == "oneshot":
        return [keep]
    return [1.0 - (1.0 - keep) * (i + 1) / steps for i in range(steps)]


def step_epochs(epochs: int, steps: int) -> list[int]:
    """Fine-tune epochs after each step: an equal share, the remainder to the last step."""
    return [epochs // steps] * (steps - 1) + [epochs - epochs // steps * (steps - 1)]


def channel_prune(dense: keras.Model, cfg: Config, keep: float, train: tuple[np.ndarray, np.ndarray],
                  val: tuple[np.ndarray, np.ndarray]) -> tuple[keras.Model, EpochLog]:
    """Narrow `dense` to `keep` of every channel group in `channels.scope` and fine-tune it.

    Args:
        dense: the dense classifier (not modified: the narrow model is a new one).
        cfg: `channels` (scope, criterion, multiple, schedule, steps, epochs or more to make `min_steps`
            steps, lr), train batch/augment, seed.
        keep: the final kept fraction of each group.
        train: images and labels to fine-tune on.
        val: images and labels that select the best epoch of the last step.

    Returns:
        The fine-tuned narrow model (best validation epoch of the last step) and its epoch log.
    """
    c = cfg.channels
    seed_everything(cfg.seed)
    sizes = group_widths(dense, c.scope)
    steps = 1 if c.schedule == "oneshot" else c.steps
    log, model = EpochLog(Path("epochs.csv"), extra=lambda m: {"params": m.count_params()}), dense
    for fraction, epochs in zip(step_keeps(keep, c.schedule, steps), step_epochs(fine_tune_epochs(cfg, len(train[0])), steps)):
        model, _ = prune_channels(model, fraction, c.scope, c.criterion, c.multiple, sizes)
        fine_tune(model, cfg, epochs, train, val, log)
    return model, log


def fine_tune_epochs(cfg: Config, train_images: int) -> int:
    """A channel model's fine-tune epochs: `channels.epochs`, or more to make `channels.min_steps` steps."""
    return epochs_for(cfg.channels.epochs, cfg.channels.min_steps, steps_per_epoch(train_images, cfg.train.batch_size))


def fine_tune(model: keras.Model, cfg: Config, epochs: int, train: tuple[np.ndarray, np.ndarray],
              val: tuple[np.ndarray, np.ndarray], log: EpochLog) -> None:
    """Fine-tune a narrowed model in place (`channels.learning_rate`, cosine decay) and keep its best
    validation epoch."""
    batches = steps_per_epoch(len(train[0]), cfg.train.batch_size)
    lr = keras.optimizers.schedules.CosineDecay(cfg.channels.learning_rate, decay_steps=epochs * batches)
    compile_classifier(model, lr, cfg.train.weight_decay)
    best = KeepBest()
    fit(model, train, val, cfg.train, cfg.seed, epochs, [log, best])
    model.set_weights(best.weights)


def write_model(model: keras.Model, cfg: Config, out_dir: Path, identity: dict[str, Any],
                extra: dict[str, Any] | None = None, log: EpochLog | None = None,
                widths: pd.DataFrame | None = None) -> dict[str, Any]:
    """Replace `out_dir` with the model, its float and int8 TFLite files, its epoch log, widths and
    `point.json` (accuracy, MACs, params, sizes; with `widths`, every group's kept width, by which the
    report tells two points of one plan apart from two results); return the point record."""
    train_images, _ = load_split(cfg.paths.prepared, "train")
    test = load_split(cfg.paths.prepared, "test")
    with atomic_dir(out_dir) as tmp:
        save_model(model, tmp / MODEL_FILE)
        calibration = calibration_images(train_images, cfg.quantize.representative_samples)
        float_fb, int8_fb = in_processes(convert_file, [(tmp / MODEL_FILE, "float"),
                                                        (tmp / MODEL_FILE, "int8", calibration)])
        (tmp / FLOAT_FILE).write_bytes(float_fb)
        (tmp / INT8_FILE).write_bytes(int8_fb)
        scores = score_point(model, float_fb, int8_fb, tmp / MODEL_FILE, test, tmp / PREDICTIONS_FILE)
        point = {**identity, **scores, **(extra or {})}
        if log is not None:
            pd.DataFrame(log.rows).to_csv(tmp / LOG_FILE, index=False)
        if widths is not None:
            widths.to_csv(tmp / WIDTHS_FILE, index=False)
            point["kept_channels"] = {str(row.group): int(row.channels_after) for row in widths.itertuples()}
        (tmp / POINT_FILE).write_text(json.dumps(point, indent=2) + "\n")
    return point


def widths_table(before: keras.Model, after: keras.Model, scope: str) -> pd.DataFrame:
    """Every channel group: its producers, whether a residual Add ties it, width before and after."""
    old, new = ChannelGraph(before), group_widths(after, "all")
    rows = [{"group": g.key, "residual": g.merged, "in_scope": not g.fixed and (scope == "all" or not g.merged),
             "channels_before": g.size, "channels_after": new.get(g.key, g.size)} for g in old.groups]
    return pd.DataFrame(rows)


def channel_point(cfg: Config, keep: float, out_dir: Path) -> dict[str, Any]:
    """Channel-prune the saved dense model to `keep`, fine-tune, and write the point's folder; a plan
    that removes no channel (checked first, no training) writes only the record saying so."""
    dense = load_model(require(cfg.paths.dense_model, "train_dense"))
    c = cfg.channels
    identity = {"point": f"channel-{keep}", "kind": "channel", "keep": keep, "scope": c.scope,
                "criterion": c.criterion, "schedule": c.schedule, "multiple": c.multiple}
    nothing = nothing_to_remove(ChannelGraph(dense), keep, c.scope, c.multiple)
    if nothing is not None:
        return write_record(out_dir, {**identity, **nothing.record()})
    train, val = (load_split(cfg.paths.prepared, split) for split in ("train", "val"))
    dense_macs = count_macs(dense)
    model, log = channel_prune(dense, cfg, keep, train, val)
    return write_model(model, cfg, out_dir, identity,
                       {"dense_macs": dense_macs, "mac_ratio_x": dense_macs / count_macs(model)},
                       log, widths_table(dense, model, c.scope))


def matching_alpha(cfg: Config, target_macs: int, num_classes: int) -> tuple[float, int]:
    """The width multiplier (two decimals, at most `model.alpha`) whose classifier's MACs are closest to
    `target_macs`. MACs grow with alpha in steps (channel counts round to multiples of 8): bisect to
    the smallest alpha reaching the target, then take it or the one below, whichever is closer."""
    def macs(alpha: float) -> int:
        model_cfg = cfg.model.model_copy(update={"alpha": alpha, "weights": None})
        return count_macs(build_classifier(model_cfg, num_classes, cfg.data.image_size))

    low, high = 1, int(round(cfg.model.alpha * 100))  # in hundredths
    while low < high:
        mid = (low + high) // 2
        if macs(mid / 100) >= target_macs:
            high = mid
        else:
            low = mid + 1
    candidates = {a: macs(a / 100) for a in {low, max(1, low - 1)}}
    best = min(candidates, key=lambda a: (abs(candidates[a] - target_macs), a))
    return best / 100, candidates[best]


def baseline_not_applicable(cfg: Config) -> str | None:
    """Why the uniform-width baseline cannot be built for this model (None when it can): it needs an
    architecture with a width multiplier, built by pruneflow."""
    if cfg.model.file is not None:
        return (f"the dense model is adopted from model.file ({cfg.model.file}): pruneflow cannot build it at "
                "another width")
    if not family(cfg.model.architecture).has_alpha:
        return f"{cfg.model.architecture} has no width multiplier (alpha): only the MobileNet families do"
    return None


def uniform_baseline(cfg: Config) -> dict[str, Any]:
    """Train the architecture at the alpha matching the channel-pruned model's MACs from scratch with
    the dense recipe for as many steps as the channel model got in all: dense training plus its channel
    fine-tune (Liu et al., ICLR 2019, "Scratch-B": an equal training budget, not equal epochs); write
    `paths.uniform_baseline`. Where it does not apply (`baseline_not_applicable`) the folder holds only
    `point.json`, saying why: the run goes on and the report says so."""
    reason = baseline_not_applicable(cfg)
    channel_record = {} if reason else read_point(cfg.paths.channel, "channel_prune")
    if not reason and not is_model(channel_record):
        reason = f"no channel-pruned model to match: {channel_record['reason']}"
    if reason:
        return write_record(cfg.paths.uniform_baseline, {"point": "uniform-width", "kind": "uniform_width",
                                                         "applicable": False, "reason": reason})
    prepared = cfg.paths.prepared
    channel = load_model(require(cfg.paths.channel / MODEL_FILE, "channel_prune"))
    target = count_macs(channel)
    classes = load_classes(prepared)
    alpha, macs = matching_alpha(cfg, target, len(classes))
    train = load_split(prepared, "train")
    budget = scratch_budget(cfg, len(train[0]))
    narrow = cfg.model_copy(update={"model": cfg.model.model_copy(update={"alpha": alpha}),
                                    "train": cfg.train.model_copy(update={"epochs": budget["epochs"], "min_steps": 0})})
    model, log, epoch = train_dense(narrow, train, load_split(prepared, "val"), len(classes))
    return write_model(model, cfg, cfg.paths.uniform_baseline,
                       {"point": f"uniform-alpha-{alpha}", "kind": "uniform_width", "alpha": alpha},
                       {"target_macs": target, "best_epoch": epoch, "training_budget": budget}, log)


def scratch_budget(cfg: Config, train_images: int) -> dict[str, Any]:
    """The uniform-width baseline's training budget: the epochs (and steps) of dense training plus the
    main channel model's fine-tune, both at `train.batch_size` (Scratch-B), with the parts named."""
    batches = steps_per_epoch(train_images, cfg.train.batch_size)
    dense = epochs_for(cfg.train.epochs, cfg.train.min_steps, batches)
    fine_tune = fine_tune_epochs(cfg, train_images)
    return {"rule": "equal steps (Scratch-B): dense training + channel fine-tune", "dense_epochs": dense,
            "fine_tune_epochs": fine_tune, "epochs": dense + fine_tune, "steps": (dense + fine_tune) * batches}
