"""The one training loop and what it runs on: the augmented, shuffled train batches, the epoch
callbacks (a CSV log, the best epoch's weights), seeding for bit-for-bit reruns, the distribution
strategy and which process writes artifacts, and compiling the classifier.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from pruneflow.artifacts.files import write_csv
from pruneflow.artifacts.phases import phase
from pruneflow.config.dense import AugmentConfig, TrainConfig
from pruneflow.tf_env import keras, tf


def augmenter(cfg: AugmentConfig, seed: int) -> keras.Sequential:
    """Random shift/rotation/zoom with black fill: digits and faces stay recognisable."""
    layers = []
    if cfg.shift:
        layers.append(keras.layers.RandomTranslation(cfg.shift, cfg.shift, fill_mode="constant", seed=seed))
    if cfg.rotation_deg:
        layers.append(keras.layers.RandomRotation(cfg.rotation_deg / 360.0, fill_mode="constant", seed=seed + 1))
    if cfg.zoom:
        layers.append(keras.layers.RandomZoom(cfg.zoom, fill_mode="constant", seed=seed + 2))
    return keras.Sequential(layers, name="augment")


def train_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, augment: AugmentConfig, seed: int
) -> tf.data.Dataset:
    """Shuffled, augmented float batches of raw pixels."""
    aug = augmenter(augment, seed)
    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if aug.layers:
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class EpochLog(keras.callbacks.Callback):
    """Per-epoch metrics to a CSV (DVC plots it), and each epoch's wall seconds kept apart in `seconds`:
    the CSV is a DVC output, so it holds only what repeats exactly; the stage reports the seconds in
    its timing file."""

    def __init__(self, path: Path, extra=None) -> None:
        super().__init__()
        self.path, self.extra, self.rows, self.seconds = path, extra, [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(round(time.perf_counter() - self._start, 3))
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in sorted((logs or {}).items())})
        if self.extra:
            row.update(self.extra(self.model))
        self.rows.append(row)

    def write(self) -> None:
        write_csv(self.path, self.rows)


class KeepBest(keras.callbacks.Callback):
    """Remember the weights of the epoch with the best validation accuracy (ties: the later one),
    among epochs `from_epoch` (1-based) and later: a pruning fine-tune only counts epochs at its target."""

    def __init__(self, from_epoch: int = 1) -> None:
        super().__init__()
        self.best, self.weights, self.epoch, self.from_epoch = -1.0, None, 0, from_epoch

    def on_epoch_end(self, epoch, logs=None):
        score = float((logs or {}).get("val_accuracy", 0.0))
        if epoch + 1 >= self.from_epoch and score >= self.best:
            self.best, self.weights, self.epoch = score, self.model.get_weights(), epoch + 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops and tf.data deterministic, so a
    run repeats bit for bit on the same machine and thread count (a sweep point trained on a Dask
    worker equals the one trained in-process)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def distribution(name: str) -> tf.distribute.Strategy:
    """The `train.strategy`: none → TensorFlow's default (one device); mirrored → MirroredStrategy
    over every local GPU, or over the logical CPUs when there is no GPU (one, unless split)."""
    if name != "mirrored":
        return tf.distribute.get_strategy()
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    # On CPUs MirroredStrategy all-reduces with collective ops; tfmot's conditional mask updates
    # then launched them in a different order on each replica ("Shape mismatch in the collective
    # instance", measured). Reducing through one device has no such ordering constraint.
    return tf.distribute.MirroredStrategy(cross_device_ops=tf.distribute.ReductionToOneDevice())


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes artifacts: always for single-process strategies; under a
    multi-worker cluster (TF_CONFIG) only the `chief` task, or worker 0 when there is no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if resolver is None or task_type is None or task_type == "chief":
        return True
    if task_type == "worker":
        return "chief" not in resolver.cluster_spec().jobs and (resolver.task_id or 0) == 0
    return False


def sync_batchnorm(model: keras.Model) -> None:
    """Make every replica's BatchNorm moving statistics their mean (a no-op on one device).

    They are sync-on-read variables that each replica updates from its own share of the batch; a
    save reads the mean, but a distributed predict would use each replica's own copy."""
    for variable in model.variables:
        if isinstance(variable, tf.distribute.DistributedValues) and type(variable).__name__ == "SyncOnReadVariable":
            variable.assign(variable.read_value())


def compile_classifier(model: keras.Model, lr, weight_decay: float) -> None:
    """AdamW (decoupled weight decay) on integer labels."""
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )


def fit(model: keras.Model, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
        train_cfg: TrainConfig, seed: int, epochs: int, callbacks=()) -> None:
    """The one training loop (dense training, pruning fine-tune, PQAT): augmented shuffled batches of
    `train`, validation on `val` each epoch.

    Args:
        model: a compiled model.
        train: images and labels to fit.
        val: images and labels scored after each epoch.
        train_cfg: batch size and augmentation.
        seed: shuffling and augmentation seed.
        epochs: passes over `train`.
        callbacks: Keras callbacks (loggers, the pruning step).
    """
    with phase("train"):
        model.fit(
            train_dataset(*train, train_cfg.batch_size, train_cfg.augment, seed),
            validation_data=(val[0].astype(np.float32), val[1]),
            epochs=epochs,
            callbacks=list(callbacks),
            verbose=2,
        )
