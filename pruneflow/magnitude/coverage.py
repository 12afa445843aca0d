"""Magnitude-pruning coverage of any Keras model: which layers tfmot prunes and what share of all the
model's parameters they hold, and a brief prune → strip → save → load check (the zoo table, tests).

tfmot prunes only the kernels its registry knows (Conv, DepthwiseConv, Dense, …). On MobileNetV2 that is
nearly every parameter; on a model full of LayerNormalization, LayerScale or BatchNorm it is less, and
"90 % sparsity" then says little about the model's size: `pruned_coverage` gives the share that
counts.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude

from pruneflow.config.prune import PruneConfig
from pruneflow.magnitude.pruning import (
    PREDICTION_TOLERANCE,
    leaf_layers,
    mask_sparsity,
    prunable_weight_names,
    strip,
    wrap_for_pruning,
    wrapped_layers,
)
from pruneflow.models.schedule import FineTune
from pruneflow.models.store import load_model, save_model
from pruneflow.tf_env import keras, tfmot


def pruned_coverage(model: keras.Model) -> dict[str, Any]:
    """Which layers magnitude pruning reached and what share of the model's parameters they hold.

    Args:
        model: a wrapped model (a layer is pruned when it is wrapped) or a plain, stripped one (a
            layer is pruned when one of its prunable weights holds an exact zero: trained or random
            float kernels hold none, a masked one holds thousands).

    Returns:
        layers_pruned (names), layers_pruned_count, pruned_params (the elements of the pruned
        weights), params (every parameter, BatchNorm statistics included, the wrappers' masks not),
        prunable_share_pct (pruned_params over params) and left_dense: per layer type, the layers and
        parameters no mask touches (a pruned layer's bias is listed as `<type> bias`), largest first.
    """
    pruned, pruned_params, params = [], 0, 0
    left_layers, left_params = Counter(), Counter()
    seen: set[int] = set()
    for layer in leaf_layers(model):
        inner = layer.layer if isinstance(layer, PruneLowMagnitude) else layer
        if id(inner) in seen or not inner.weights:
            continue
        seen.add(id(inner))
        size = int(inner.count_params())
        params += size
        if isinstance(layer, PruneLowMagnitude):
            masked = sum(int(np.prod(weight.shape)) for weight, _, _ in layer.pruning_vars)
        else:
            kernels = [getattr(layer, name).numpy() for name in prunable_weight_names(layer)]
            masked = sum(k.size for k in kernels) if any(k.size > np.count_nonzero(k) for k in kernels) else 0
        kind = type(inner).__name__
        if masked:
            pruned.append(inner.name)
            pruned_params += masked
            if size > masked:
                left_layers[f"{kind} bias"] += 1
                left_params[f"{kind} bias"] += size - masked
        else:
            left_layers[kind] += 1
            left_params[kind] += size
    left = [{"type": kind, "layers": left_layers[kind], "params": count} for kind, count in left_params.most_common()]
    return {
        "layers_pruned": pruned,
        "layers_pruned_count": len(pruned),
        "pruned_params": pruned_params,
        "params": params,
        "prunable_share_pct": 100.0 * pruned_params / params if params else 0.0,
        "left_dense": left,
    }


def prune_briefly(dense: keras.Model, x: np.ndarray, y: np.ndarray, final_sparsity: float = 0.5,
                  steps: int = 2, batch_size: int = 4) -> tuple[keras.Model, keras.Model, dict[str, Any]]:
    """Magnitude-prune `dense` for a few steps at a constant target, strip it, and save and load both.

    Proves the pipeline's invariants on any architecture in seconds, not a useful model: the masks
    reach `final_sparsity`, the stripped model predicts what the wrapped one does, and both survive a
    `.keras` round trip through `pruneflow.models.store` (safe mode, vetted config).

    Args:
        dense: a freshly built model; its layer objects become part of the wrapped one.
        x: images for `steps` batches of `batch_size` (random pixels do).
        y: integer labels for `x`.
        final_sparsity: the constant sparsity every wrapped kernel gets from step 0.
        steps: optimizer steps (each one updates the masks).
        batch_size: images per step.

    Returns:
        The wrapped model, the stripped one, and the check: mask sparsity, the largest |Δ| between
        wrapped and stripped predictions and after each round trip, wrappers left after strip, and
        `pruned_coverage` of the stripped model.
    """
    cfg = PruneConfig(schedule="constant", final_sparsity=final_sparsity)
    plan = FineTune(steps_per_epoch=steps, epochs=1, begin_step=0, end_step=steps, frequency=1)
    wrapped = wrap_for_pruning(dense, cfg, plan)
    # Eager: for a few steps, tracing fit's graph of a large model costs more than running it.
    wrapped.compile(optimizer=keras.optimizers.SGD(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(),
                    run_eagerly=True)
    n = steps * batch_size
    wrapped.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = strip(wrapped)
    probe = x[:batch_size]
    before, after = _predict(wrapped, probe), _predict(stripped, probe)
    with tempfile.TemporaryDirectory() as folder:
        save_model(wrapped, Path(folder) / "wrapped.keras")
        save_model(stripped, Path(folder) / "stripped.keras")
        reloaded = load_model(Path(folder) / "wrapped.keras", custom_scope=tfmot.sparsity.keras.prune_scope)
        restripped = load_model(Path(folder) / "stripped.keras")
        reload_diff = max(_max_abs(before, _predict(reloaded, probe)), _max_abs(after, _predict(restripped, probe)))
    return wrapped, stripped, {
        "wrapped_layers": len(wrapped_layers(wrapped)),
        "mask_sparsity": mask_sparsity(wrapped),
        "wrappers_remaining": len(wrapped_layers(stripped)),
        "max_abs_strip_diff": _max_abs(before, after),
        "max_abs_reload_diff": reload_diff,
        "coverage": pruned_coverage(stripped),
    }


def brief_prune_ok(check: dict[str, Any], final_sparsity: float) -> bool:
    """Whether a `prune_briefly` check holds every invariant (masks within 1 % of the target)."""
    return (check["wrapped_layers"] > 0 and abs(check["mask_sparsity"] - final_sparsity) < 0.01
            and check["wrappers_remaining"] == 0 and check["max_abs_strip_diff"] <= PREDICTION_TOLERANCE
            and check["max_abs_reload_diff"] <= PREDICTION_TOLERANCE)


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Inference on one small batch, eagerly (no `predict` graph to trace)."""
    return model(x, training=False).numpy()


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
