"""The one sparsity counter: zeros over the weights tfmot may prune, in any plain model (dense,
stripped, channel-pruned), for the scores of every model kind (no pruning here: `pruneflow.magnitude`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

# Not exported by tfmot's public API; safe to import once pruneflow.tf_env has loaded TensorFlow.
from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import (
    PruneRegistry,
)

from pruneflow.tf_env import keras


def prunable_weight_names(layer: keras.layers.Layer) -> list[str]:
    """Names of the weights tfmot would prune in `layer` (kernel, depthwise_kernel, …); [] if none."""
    if not PruneRegistry.supports(layer) or PruneRegistry._is_rnn_layer(layer):
        return []
    return list(PruneRegistry._weight_names(layer))


def leaf_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer of `model` that is not itself a model, nested models' layers in place, in order."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def count_zeros(arrays: Iterable[np.ndarray]) -> tuple[int, int]:
    """Zeros and elements over `arrays`: the one sparsity counter (kernels, masks, whole models)."""
    zeros = total = 0
    for values in arrays:
        zeros += int(values.size - np.count_nonzero(values))
        total += int(values.size)
    return zeros, total


def prunable_weights(model: keras.Model) -> Iterator[tuple[keras.layers.Layer, str, np.ndarray]]:
    """Every weight tfmot may prune in a plain (stripped or dense) model, in scope or not: layer,
    weight name, values (nested models' layers included)."""
    for layer in leaf_layers(model):
        for name in prunable_weight_names(layer):
            yield layer, name, getattr(layer, name).numpy()


def prunable_sparsity_pct(model: keras.Model) -> tuple[float, int]:
    """Zeros over the weights tfmot may prune (every prunable kernel, in scope or not), and their count."""
    zeros, total = count_zeros(values for _, _, values in prunable_weights(model))
    return (100.0 * zeros / total if total else 0.0), total
