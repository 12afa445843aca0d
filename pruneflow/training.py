"""Dense training: the baseline every pruning number is compared with (stage train_dense).

Recipe for a from-scratch MobileNet on a few thousand small images (see README, "Why the recipe
works"): BatchNorm momentum 0.9, shift/rotate/zoom augmentation, AdamW with a short warm-up and a
cosine decay to zero, and the weights of the best validation epoch.
"""

from __future__ import annotations

import numpy as np

from pruneflow.config import Config
from pruneflow.model import (
    EpochLog,
    build_classifier,
    compile_classifier,
    distribution,
    fit,
    seed_everything,
    steps_per_epoch,
    sync_batchnorm,
)
from pruneflow.tf_env import keras, tf


class KeepBest(keras.callbacks.Callback):
    """Remember the weights of the epoch with the best validation accuracy (ties: the later one)."""

    def __init__(self) -> None:
        super().__init__()
        self.best, self.weights, self.epoch = -1.0, None, 0

    def on_epoch_end(self, epoch, logs=None):
        score = float((logs or {}).get("val_accuracy", 0.0))
        if score >= self.best:
            self.best, self.weights, self.epoch = score, self.model.get_weights(), epoch + 1


def learning_rate(cfg: Config, steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to `train.learning_rate`, then cosine decay to zero at the last step."""
    warmup = min(cfg.train.warmup_epochs * steps, cfg.train.epochs * steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else cfg.train.learning_rate,
        decay_steps=cfg.train.epochs * steps - warmup,
        warmup_target=cfg.train.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def train_dense(
    cfg: Config, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], num_classes: int,
    strategy: tf.distribute.Strategy | None = None,
) -> tuple[keras.Model, EpochLog, int]:
    """Train the dense classifier.

    Args:
        cfg: full config (model, train, data.image_size, seed).
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
    with strategy.scope():
        model = build_classifier(cfg.model, num_classes, cfg.data.image_size)
        compile_classifier(model, learning_rate(cfg, steps), cfg.train.weight_decay)
    log, best = EpochLog(cfg.paths.train_log), KeepBest()
    fit(model, train, val, cfg.train, cfg.seed, cfg.train.epochs, [log, best])
    model.set_weights(best.weights)
    sync_batchnorm(model)
    return model, log, best.epoch


