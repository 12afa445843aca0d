"""Dense training: the baseline every pruning number is compared with (stage train_dense).

Recipe for a from-scratch MobileNet on a few thousand small images (see docs/design.md, "Why the
recipe works"): BatchNorm momentum 0.9, shift/rotate/zoom augmentation, AdamW with a short warm-up and a
cosine decay to zero, and the weights of the best validation epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from pruneflow.config.params import Config
from pruneflow.errors import PipelineError
from pruneflow.models.adopt import adopted, read_model_file, score
from pruneflow.models.classifier import build_classifier
from pruneflow.models.fit import (
    EpochLog,
    KeepBest,
    compile_classifier,
    distribution,
    fit,
    seed_everything,
    sync_batchnorm,
)
from pruneflow.models.schedule import epochs_for, steps_per_epoch
from pruneflow.tf_env import keras, tf


def quality_gate(cfg: Config, val_accuracy_pct: float, majority_pct: float, majority_class: str) -> None:
    """Stop before anything is pruned when the dense model has not learned the data.

    Raises:
        PipelineError: validation accuracy below the majority-class rate + `train.min_margin_pts`;
            one line with the measured accuracy, the chance level and what to try.
    """
    margin = cfg.train.min_margin_pts
    if margin is None or val_accuracy_pct >= majority_pct + margin:
        return
    raise PipelineError(
        f"train_dense: dense validation accuracy {val_accuracy_pct:.1f} % is below the floor "
        f"{majority_pct + margin:.1f} % (majority class '{majority_class}' {majority_pct:.1f} % + train.min_margin_pts "
        f"{margin:g}): the model has not learned this data and pruning it would measure noise; nothing was written. "
        "Try more images per class, the small-data preset (`python -m pruneflow preset small`), a pretrained "
        "backbone (model.weights, README 'Transfer learning'), or train.min_margin_pts: null to prune anyway"
    )


def learning_rate(cfg: Config, steps: int, epochs: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to `train.learning_rate`, then cosine decay to zero at the last of `epochs`."""
    warmup = min(cfg.train.warmup_epochs * steps, epochs * steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else cfg.train.learning_rate,
        decay_steps=epochs * steps - warmup,
        warmup_target=cfg.train.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def train_dense(
    cfg: Config, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], num_classes: int,
    strategy: tf.distribute.Strategy | None = None, build: Callable[[], keras.Model] | None = None,
) -> tuple[keras.Model, EpochLog, int]:
    """Train the dense classifier (built from `model`, or by `build`: an adopted model to fine-tune).

    Args:
        cfg: full config (model, train, data.image_size, seed); it trains `train.epochs`, or more
            to make `train.min_steps` steps.
        train: images and labels to fit.
        val: images and labels to select the best epoch.
        num_classes: softmax size.
        strategy: tf.distribute strategy (default: `train.strategy`); the model, its optimizer and
            learning-rate schedule are created in its scope, and `train.batch_size` is the global batch.

    Returns:
        The model with its best-validation weights, the epoch log, and the chosen epoch.
    """
    seed_everything(cfg.seed)
    strategy = strategy or distribution(cfg.train.strategy)
    steps = steps_per_epoch(len(train[0]), cfg.train.batch_size)
    epochs = epochs_for(cfg.train.epochs, cfg.train.min_steps, steps)
    with strategy.scope():
        model = build() if build else build_classifier(cfg.model, num_classes, cfg.data.image_size)
        compile_classifier(model, learning_rate(cfg, steps, epochs), cfg.train.weight_decay)
    log, best = EpochLog(cfg.paths.train_log), KeepBest()
    fit(model, train, val, cfg.train, cfg.seed, epochs, [log, best])
    model.set_weights(best.weights)
    sync_batchnorm(model)
    return model, log, best.epoch




def adopt_dense(cfg: Config, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                classes: list[str], strategy: tf.distribute.Strategy | None = None) -> tuple[keras.Model, EpochLog, int]:
    """The classifier in `model.file`, checked and made the dense baseline (`pruneflow.models.adopt`): as it
    is (`model.adopt: keep`, scored on both splits as epoch 0 of the log) or fine-tuned by the train
    recipe (`fine_tune`).

    Returns:
        The model, its log and the chosen epoch (1 for the single row of `keep`).
    """
    path = Path(cfg.model.file)
    strategy = strategy or distribution(cfg.train.strategy)

    def build() -> keras.Model:
        return adopted(read_model_file(path), path, cfg.data.image_size, classes, cfg.model.preprocess)

    if cfg.model.adopt == "fine_tune":
        return train_dense(cfg, train, val, len(classes), strategy, build)
    with strategy.scope():
        model = build()
        compile_classifier(model, 0.0, cfg.train.weight_decay)
    log = EpochLog(cfg.paths.train_log)
    loss, accuracy = score(model, train)
    val_loss, val_accuracy = score(model, val)
    log.rows.append({"epoch": 0, "accuracy": accuracy, "loss": loss, "val_accuracy": val_accuracy, "val_loss": val_loss})
    return model, log, 1
