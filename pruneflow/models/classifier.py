"""The classifier and its input pipeline, shared by dense training and pruning.

MobileNet base → GlobalAveragePooling → Dense(128, relu) → Dropout(0.2) → Dense(N, softmax): the
classic face-mask-detector head. The model takes raw 0–255 RGB pixels; scaling to [-1, 1] (what
MobileNet expects) is its first layer, so exported TFLite files take raw pixels too.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from pruneflow.config.dense import AugmentConfig, ModelConfig, TrainConfig
from pruneflow.errors import PipelineError
from pruneflow.config.families import Family, family
from pruneflow.artifacts.files import atomic_path, write_csv
from pruneflow.artifacts.phases import phase
from pruneflow.tf_env import keras, tf
from pruneflow.models.toy import toy_base
from pruneflow.models.vetting import unsafe_content

def _preprocessed(inputs, chosen: Family):
    """The family's preprocessing as layers on raw 0-255 RGB `inputs` (see pruneflow.config.families)."""
    if chosen.preprocess == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_to_unit")(inputs)
    if chosen.preprocess == "torch":
        return keras.layers.Normalization(mean=[255 * m for m in IMAGENET_MEAN],
                                          variance=[(255 * s) ** 2 for s in IMAGENET_STD], name="imagenet_normalize")(inputs)
    if chosen.preprocess == "caffe":
        return keras.layers.Normalization(mean=list(CAFFE_MEAN_RGB), variance=[1.0, 1.0, 1.0], name="imagenet_center")(inputs)
    return inputs


# The bases pruneflow builds itself, by family name: (inputs, alpha) -> model without a head.
OWN_BASES = {"toy": toy_base}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)


def _base(cfg: ModelConfig, chosen: Family, inputs) -> keras.Model:
    """The keras.applications base (or one of pruneflow's own, `OWN_BASES`) without its top, on `inputs`."""
    if chosen.name in OWN_BASES:
        base = OWN_BASES[chosen.name](inputs, cfg.alpha)
        if cfg.weights is not None:  # a weights file (the config refuses 'imagenet' for these)
            base.load_weights(cfg.weights)
        return base
    constructor = getattr(keras.applications, chosen.name)
    kwargs = {"alpha": cfg.alpha} if chosen.has_alpha else {}
    if chosen.preprocess == "builtin" and "include_preprocessing" in inspect.signature(constructor).parameters:
        kwargs["include_preprocessing"] = True
    base = constructor(input_tensor=inputs, include_top=False, weights=cfg.weights, pooling=None, **kwargs)
    if chosen.preprocess == "caffe" and cfg.weights is not None:
        # The weights expect BGR: reverse the first convolution's input channels instead of the pixels.
        first = next(layer for layer in base.layers if isinstance(layer, keras.layers.Conv2D))
        kernel, *rest = first.get_weights()
        first.set_weights([kernel[:, :, ::-1, :], *rest])
    return base


def build_classifier(cfg: ModelConfig, num_classes: int, image_size: int) -> keras.Model:
    """Build the (flat, un-nested) classifier; tfmot can then wrap each prunable layer.

    Args:
        cfg: architecture (an alias or any keras.applications family), width `alpha`, weights,
            BatchNorm momentum, head size.
        num_classes: size of the softmax.
        image_size: square input side in pixels.

    Returns:
        An uncompiled Keras 2 model that takes raw 0-255 RGB pixels.

    Raises:
        PipelineError: the weights cannot be loaded (no network for 'imagenet', wrong file).
    """
    chosen = family(cfg.architecture)
    inputs = keras.Input((image_size, image_size, 3), name="image")
    try:
        base = _base(cfg, chosen, _preprocessed(inputs, chosen))
    except Exception as exc:  # a failed download or a bad file surfaces as many exception types
        if cfg.weights is None:
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PipelineError(f"model.weights={cfg.weights!r}: cannot load ({first})") from None
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            # Keras' MobileNetV2 uses momentum 0.999: ~1,000 steps before the moving statistics
            # forget their initial (0, 1). A small dataset trains for fewer steps than that, so
            # inference used stale statistics (our 9–90 % test accuracy at 97 % train accuracy).
            layer.momentum = cfg.bn_momentum
        if cfg.freeze_base:
            layer.trainable = False
    # The pooling layer named here, not by keras.applications (`pooling="avg"` names it by how many were
    # built before in the process): the saved file is then the same from any process (DVC, the flow).
    pooled = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(base.output)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="head_dense")(pooled)
    x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="head_logits")(x)
    model = keras.Model(inputs, outputs, name=f"{cfg.architecture}_classifier")
    if any(isinstance(layer, keras.Model) for layer in model.layers):  # ConvNeXt's stem is a Sequential
        from pruneflow.models.flatten import flatten_model

        model = flatten_model(model)
    return xnnpack_form(model) if cfg.form == "xnnpack" else model


def xnnpack_form(model: keras.Model) -> keras.Model:
    """The same network rebuilt in the form XNNPACK's sparse (NCHW) inference accepts.

    XNNPACK runs a subgraph sparse only if it starts with a 3x3 stride-2 conv padded 1 on *each*
    side, has 3x3 depthwise convs padded 1 on each side (TensorFlow 'same' padding is refused, and
    Keras' stride-2 `correct_pad` pads only bottom/right) and ends in a spatial mean. So every 3x3
    conv becomes ZeroPadding2D(1) + 'valid', 1x1 convs become 'valid', and global pooling keeps its
    dims (then Flatten). Output shapes are unchanged, so the weights carry over layer by layer.

    Args:
        model: a functional classifier (single input, layers in topological order).

    Returns:
        A new model with the same layer names and weights.
    """
    layers = keras.layers
    built: dict[str, tf.Tensor] = {}
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            built[layer.name] = keras.Input(layer.get_config()["batch_input_shape"][1:], name=layer.name)
            continue
        inbound = layer._inbound_nodes[0].inbound_layers
        inputs = [built[item.name] for item in (inbound if isinstance(inbound, list) else [inbound])]
        x = inputs[0] if len(inputs) == 1 else inputs
        config = layer.get_config()
        if isinstance(layer, layers.ZeroPadding2D):
            config["padding"] = ((1, 1), (1, 1))
        elif isinstance(layer, layers.Conv2D) and tuple(config["kernel_size"]) == (1, 1):
            config["padding"] = "valid"
        elif isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)) and config["padding"] == "same":  # 3x3
            x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"{layer.name}_pad")(x)
            config["padding"] = "valid"
        elif isinstance(layer, layers.GlobalAveragePooling2D):
            config["keepdims"] = True
        clone = type(layer).from_config(config)
        y = clone(x)
        clone.set_weights(layer.get_weights())
        if isinstance(layer, layers.GlobalAveragePooling2D):
            y = layers.Flatten(name=f"{layer.name}_flatten")(y)
        built[layer.name] = y
    return keras.Model(built[model.input_names[0]], built[model.layers[-1].name], name=model.name)


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


def save_model(model: keras.Model, path: Path) -> None:
    """Save without optimizer state (sizes then compare weights, not Adam moments), atomically."""
    # The native .keras format has no include_optimizer switch: detach the optimizer while saving.
    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with atomic_path(path) as tmp:
            # save_format explicit: tf_keras leaves its "native format" switch off in any thread but
            # the importing one after a first save there, and the next save silently wrote HDF5
            # under a .keras name (seen in the Prefect flow's sweep worker thread).
            model.save(tmp, save_format="keras_v3")
            canonical_keras_zip(tmp)
    finally:
        model.optimizer = optimizer


def canonical_keras_zip(path: Path) -> None:
    """Rewrite a `.keras` archive so the same model always gives the same bytes.

    Keras stamps the save time twice: `date_saved` in metadata.json and the zip entries' times.
    Both are fixed here (the weights and config are already deterministic), so a rerun that trains
    the same weights writes the same file: DVC sees no change and gzip sizes cannot move by a byte.
    """
    with zipfile.ZipFile(path) as src:
        entries = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = FIXED_SAVE_DATE
                data = json.dumps(metadata).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            dst.writestr(fixed, data)


def vet_keras_file(path: Path) -> None:
    """Check a model file before Keras opens it: a native `.keras` zip whose config passes
    `pruneflow.models.vetting` (no Lambda; TFOpLambda only for safe arithmetic). HDF5 (`.h5`) model files are
    refused here: Keras ignores safe mode for them (a user's `.h5` is vetted and converted by adoption).

    Raises:
        PipelineError: naming the file and what is allowed.
    """
    allowed = "allowed: a .keras file written by pruneflow (layers by class name, no Lambda)"
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read("config.json").decode()
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise PipelineError(f"{path}: not a .keras model archive ({type(exc).__name__}); {allowed}") from None
    problem = unsafe_content(text)
    if problem:
        raise PipelineError(f"{path}: refusing to load: {problem}; {allowed}")


# In place of the save time: the content, not the clock, identifies a model file.
FIXED_SAVE_DATE = "1980-01-01@00:00:00"


def application_layers() -> dict[str, type]:
    """keras.applications' own layers that tf_keras does not register for loading (ConvNeXt's
    LayerScale and StochasticDepth): a saved ConvNeXt loads only when they are named."""
    import sys

    convnext = sys.modules[keras.applications.ConvNeXtTiny.__module__]
    return {"LayerScale": convnext.LayerScale, "StochasticDepth": convnext.StochasticDepth}


def load_model(path: Path, custom_scope=None) -> keras.Model:
    """Load a saved classifier without compiling, in Keras safe mode, after vetting its config.

    Raises:
        PipelineError: the file is missing, not a `.keras` archive, holds executable layers
            (Lambda), or does not deserialize.
    """
    if not path.is_file():
        raise PipelineError(f"{path}: model file missing; run the stage that writes it first")
    vet_keras_file(path)
    try:
        with custom_scope() if custom_scope else contextlib.nullcontext():
            return keras.models.load_model(path, compile=False, safe_mode=True, custom_objects=application_layers())
    except Exception as exc:  # zip, h5 and deserialization errors have no common base class
        first = (str(exc).splitlines() or [""])[0][:200]
        raise PipelineError(f"{path}: not a loadable Keras model ({type(exc).__name__}: {first})") from None
