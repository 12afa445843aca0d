"""Pruning: tfmot magnitude pruning while fine-tuning, its schedules and masks, strip, and the one
sparsity counter's use (stages prune, strip, sweep_point, sweep_derived).

`prune_low_magnitude` wraps the *same* layer objects it is given, so fine-tuning a wrapped
in-memory model silently changes the dense baseline. `prune_model` therefore takes the dense artifact's path
and loads it itself; nothing here writes to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Not exported by tfmot's public API; safe to import once tasks.tf_env has loaded TensorFlow.
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_policy import (
    PruneForLatencyOnXNNPack,
)
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from pruneflow.artifacts.files import write_csv
from pruneflow.config.params import Config
from pruneflow.config.prune import PruneConfig
from pruneflow.errors import PipelineError
from pruneflow.models.fit import KeepBest, compile_classifier, distribution, fit, seed_everything, sync_batchnorm
from pruneflow.models.schedule import FineTune, plan_fine_tune
from pruneflow.models.sparsity import count_zeros, leaf_layers, prunable_weight_names
from pruneflow.models.store import load_model
from pruneflow.tf_env import keras, tf, tfmot

sparsity_api = tfmot.sparsity.keras


def m_by_n_prunable(layer: keras.layers.Layer) -> bool:
    """Whether N:M sparsity applies: a Conv2D (not depthwise) or Dense kernel, the GEMM-like weights it is made for."""
    return isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and not isinstance(
        layer, keras.layers.DepthwiseConv2D
    )


def make_schedule(cfg: PruneConfig, plan: FineTune, final_sparsity: float | None = None):
    """The tfmot schedule named by `prune.schedule` over `plan`'s steps, ending at `final_sparsity`
    (default: `prune.final_sparsity`)."""
    final = cfg.final_sparsity if final_sparsity is None else final_sparsity
    steps = {"begin_step": plan.begin_step, "end_step": plan.end_step, "frequency": plan.frequency}
    if cfg.schedule == "constant":
        return sparsity_api.ConstantSparsity(final, **steps)
    return sparsity_api.PolynomialDecay(initial_sparsity=min(cfg.initial_sparsity, final), final_sparsity=final, **steps)


def in_scope(layer: keras.layers.Layer, cfg: PruneConfig) -> bool:
    """Whether `prune.scope` lets tfmot prune this layer (and it has weights tfmot can prune)."""
    return (cfg.scope == "all" or isinstance(layer, keras.layers.Dense)) and bool(prunable_weight_names(layer))


def wrap_for_pruning(
    dense: keras.Model, cfg: PruneConfig, plan: FineTune, targets: dict[str, float] | None = None
) -> keras.Model:
    """Clone `dense` with a PruneLowMagnitude wrapper on every prunable layer in scope.

    Args:
        dense: a freshly loaded dense model (its layer objects become part of the result).
        cfg: schedule, scope ("all" prunable layers, or only the "head" Dense layers) and structure
            (`sparsity_m_by_n`, or `policy` xnnpack: tfmot picks the 1x1 convolutions itself).
        plan: the fine-tune's steps (schedule begin, end, frequency).
        targets: per-layer final sparsities (layer name → sparsity) instead of one uniform target;
            a layer it omits or gives 0 stays dense.

    Returns:
        The wrapped, uncompiled model.

    Raises:
        PipelineError: policy xnnpack on a model XNNPACK's sparse inference cannot run.
    """
    schedule = make_schedule(cfg, plan)
    if cfg.policy == "xnnpack" and targets is None:
        try:
            return sparsity_api.prune_low_magnitude(
                dense, pruning_schedule=schedule, pruning_policy=PruneForLatencyOnXNNPack()
            )
        except ValueError as exc:
            raise PipelineError(f"prune.policy=xnnpack: {str(exc).splitlines()[0]}; set model.form: xnnpack") from None

    def wrap(layer: keras.layers.Layer) -> keras.layers.Layer:
        if is_nested_model(layer):
            # tfmot's own whole-model call recurses the same way, and so do its step callback and
            # strip_pruning: a nested base (ConvNeXt's stem, a backbone under a head) is cloned
            # with its prunable layers wrapped, not left dense.
            return keras.models.clone_model(layer, clone_function=wrap)
        if not in_scope(layer, cfg):
            # Unknown to tfmot's registry (TFOpLambda, Rescaling, Normalization, LayerScale,
            # custom layers): left as it is. tfmot's whole-model call wraps *every* layer and
            # refuses such models ("Please initialize `Prune` with a supported layer", tfmot #656).
            return layer
        if targets is not None:
            target = targets.get(layer.name, 0.0)
            if target <= 0.0:
                return layer
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=make_schedule(cfg, plan, target))
        if cfg.sparsity_m_by_n is None:
            return sparsity_api.prune_low_magnitude(layer, pruning_schedule=schedule)
        if m_by_n_prunable(layer):
            return sparsity_api.prune_low_magnitude(
                layer, pruning_schedule=schedule, sparsity_m_by_n=tuple(cfg.sparsity_m_by_n)
            )
        return layer

    return keras.models.clone_model(dense, clone_function=wrap)


def is_nested_model(layer: keras.layers.Layer) -> bool:
    """A functional or Sequential model used as a layer: clone_model can rebuild it (a subclassed
    model it cannot; such a layer stays as it is)."""
    return isinstance(layer, keras.Model) and (layer._is_graph_network or isinstance(layer, keras.Sequential))


def wrapped_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The PruneLowMagnitude wrappers of a model, nested models' included."""
    return [layer for layer in leaf_layers(model) if isinstance(layer, PruneLowMagnitude)]


def mask_sparsity(model: keras.Model) -> float:
    """Fraction of masked-out weights over all wrapped weights (a wrapped model, during pruning)."""
    zeros, total = count_zeros(mask.numpy() for layer in wrapped_layers(model) for _, mask, _ in layer.pruning_vars)
    return zeros / total if total else 0.0


class StepSparsityLog(keras.callbacks.Callback):
    """Mask sparsity every `every` steps: the schedule as it actually happened."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every, self.rows, self.step = every, [], 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every == 0 or self.step == 1:
            self.rows.append({"step": self.step, "sparsity": round(mask_sparsity(self.model), 6),
                              "loss": float((logs or {}).get("loss", np.nan))})

    def write(self, path: Path) -> None:
        write_csv(path, self.rows)


def prune_model(
    dense: keras.Model | Path,
    cfg: Config,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    callbacks: list[keras.callbacks.Callback] = (),
    targets: dict[str, float] | None = None,
) -> keras.Model:
    """Fine-tune `dense` under the pruning schedule (`prune.schedule`, polynomial decay by default).

    Args:
        dense: the dense model file (loaded in the `train.strategy` scope, as tfmot's distributed
            support needs), or a freshly loaded model on the default strategy; it is consumed (its
            layers are reused).
        cfg: prune schedule/epochs/lr, train batch size and augmentation, seed.
        train: images and labels to fine-tune on.
        val: images and labels for the per-epoch validation score.
        callbacks: extra loggers.
        targets: per-layer final sparsities instead of the uniform `prune.final_sparsity`.

    Returns:
        The wrapped model, masks applied (strip it before export), with the weights of the best
        validation epoch among those at the final sparsity (see `plan_fine_tune` for the length).
    """
    seed_everything(cfg.seed)
    plan = plan_fine_tune(cfg.prune, len(train[0]), cfg.train.batch_size)
    strategy = distribution(cfg.train.strategy) if isinstance(dense, Path) else tf.distribute.get_strategy()
    with strategy.scope():
        model = load_model(dense) if isinstance(dense, Path) else dense
        pruned = wrap_for_pruning(model, cfg.prune, plan, targets)
        lr = keras.optimizers.schedules.CosineDecay(cfg.prune.learning_rate, decay_steps=plan.total_steps)
        compile_classifier(pruned, lr, cfg.train.weight_decay)
    best = KeepBest(from_epoch=plan.epochs_at_target())
    fit(pruned, train, val, cfg.train, cfg.seed, plan.epochs, [sparsity_api.UpdatePruningStep(), *callbacks, best])
    pruned.set_weights(best.weights)
    sync_batchnorm(pruned)
    return pruned


def strip(pruned: keras.Model) -> keras.Model:
    """`strip_pruning`: a plain Keras model with the masked weights of `pruned`."""
    return tfmot.sparsity.keras.strip_pruning(pruned)


def check_stripped(pruned: keras.Model, stripped: keras.Model, x: np.ndarray) -> dict[str, float | int]:
    """Invariants of stripping, measured on `x`.

    Returns:
        wrappers left, max |Δ probability|, and the share of identical top-1 predictions.
    """
    before = pruned.predict(x, batch_size=256, verbose=0)
    after = stripped.predict(x, batch_size=256, verbose=0)
    return {
        "wrappers_remaining": len(wrapped_layers(stripped)),
        "max_abs_prediction_diff": float(np.max(np.abs(before - after))),
        "top1_agreement": float(np.mean(before.argmax(1) == after.argmax(1))),
        "samples": int(len(x)),
    }


# Same weights, same graph: float results may differ only by op scheduling, never beyond this.
PREDICTION_TOLERANCE = 1e-5


def pruning_summaries(log_dir: Path) -> keras.callbacks.Callback:
    """tfmot's TensorBoard callback for per-layer sparsity and thresholds, without the graph and the
    Keras model text (their op names depend on what the process traced before); pair with
    `deterministic_events` once training ends."""
    return sparsity_api.PruningSummaries(log_dir=str(log_dir), write_graph=False, profile_batch=0)


def deterministic_events(log_dir: Path) -> None:
    """Make the TensorBoard event files under `log_dir` a pure function of the run: each event's
    wall time becomes its step, and each file is renamed `events.out.tfevents.<n>.pruneflow.v2`
    (TensorFlow names it by the clock, host name and process id). The folder is a DVC output: a rerun
    that logs the same values then leaves `dvc status` clean. TensorBoard's step axis is unchanged."""
    from tensorflow.core.util import event_pb2

    for folder in sorted({path.parent for path in log_dir.rglob("events.out.tfevents.*")}):
        for n, path in enumerate(sorted(folder.glob("events.out.tfevents.*"))):
            events = [event_pb2.Event.FromString(record.numpy()) for record in tf.data.TFRecordDataset(str(path))]
            for event in events:
                event.wall_time = float(event.step)
            path.unlink()
            with tf.io.TFRecordWriter(str(folder / f"events.out.tfevents.{n}.pruneflow.v2")) as writer:
                for event in events:
                    writer.write(event.SerializeToString(deterministic=True))
