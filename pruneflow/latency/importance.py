"""Channel importance that compares across groups, for the budget search: first-order Taylor importance
at the BatchNorm after each channel (Molchanov et al., CVPR 2019, the criterion HALP uses): for each
channel, (gamma * dL/dgamma + beta * dL/dbeta)^2 per batch, summed over a few training batches — the
loss change of removing the channel, in the loss's units whatever the layer. A group sums it over its
BatchNorms (a residual stream has one per block). A group without one (a Dense head) takes its
channels' group norms scaled to the mean Taylor importance of all the others.
"""

from __future__ import annotations

import numpy as np

from pruneflow.channels.graph import Group
from pruneflow.channels.plan import channel_scores
from pruneflow.tf_env import keras, tf

TAYLOR_BATCHES = 8  # of the train batch size: the ranking is stable well before (Molchanov et al.: ~10 batches)


def _norms(model: keras.Model, group: Group) -> list[tuple[keras.layers.Layer, slice]]:
    layers = (model.get_layer(name) for name in group.carriers)
    return [(layer, slice(offset, offset + group.size)) for layer in layers
            if isinstance(layer, keras.layers.BatchNormalization) and layer.scale and layer.center
            for offset in group.offsets.get(layer.name, [0])]


def taylor_importance(model: keras.Model, groups: list[Group], images: np.ndarray, labels: np.ndarray,
                      batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """Per group key, each channel's Taylor importance (see the module docstring)."""
    norms = {g.key: _norms(model, g) for g in groups}
    layers = list({layer.name: layer for pairs in norms.values() for layer, _ in pairs}.values())
    variables = [v for layer in layers for v in (layer.gamma, layer.beta)]
    totals = {layer.name: np.zeros(layer.gamma.shape[0]) for layer in layers}
    loss = keras.losses.SparseCategoricalCrossentropy()
    picks = np.random.default_rng(seed).permutation(len(images))
    for start in range(0, min(len(images), TAYLOR_BATCHES * batch_size), batch_size):
        index = picks[start:start + batch_size]
        with tf.GradientTape() as tape:
            value = loss(labels[index], model(images[index].astype(np.float32), training=False))
        grads = tape.gradient(value, variables)
        for i, layer in enumerate(layers):
            g_gamma, g_beta = grads[2 * i], grads[2 * i + 1]
            totals[layer.name] += ((layer.gamma * g_gamma + layer.beta * g_beta).numpy()) ** 2
    scores = {key: sum(totals[layer.name][span] for layer, span in pairs) for key, pairs in norms.items() if pairs}
    mean = float(np.mean(np.concatenate(list(scores.values())))) if scores else 1.0
    for group in groups:
        if group.key not in scores:
            norm = channel_scores(model, group, "l2")
            scores[group.key] = norm * (mean / (float(norm.mean()) or 1.0))
    return scores
