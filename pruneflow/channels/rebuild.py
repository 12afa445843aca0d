"""The narrower model (`apply_plan`), its same-shape masked twin (`masked_model`), and the one-call
`prune_channels`."""

from __future__ import annotations

import numpy as np

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import ChannelPlan, Criterion, Scope, group_count, plan_channels
from pruneflow.tf_env import keras


def _from_config(model: keras.Model, config: dict) -> keras.Model:
    """`Model.from_config` knowing `model`'s layer classes that Keras does not (keras.applications'
    LayerScale, CustomScaleLayer). Layers are built by their first call, on the new widths: a stored
    `build_config` (the old input shape) would build a custom layer at the old width."""
    for entry in config["layers"]:
        entry.pop("build_config", None)
    custom = {type(layer).__name__: type(layer) for layer in model.layers
              if getattr(keras.layers, type(layer).__name__, None) is not type(layer)}
    with keras.utils.custom_object_scope(custom):
        return keras.Model.from_config(config)


def apply_plan(model: keras.Model, plan: ChannelPlan, graph: ChannelGraph | None = None) -> keras.Model:
    """The physically narrower model: widths set in the config by each layer's handler (producers'
    filters/units, a reshape's target, a grouped depthwise conv's groups), every weight sliced."""
    graph = graph or ChannelGraph(model)
    model = graph.model
    outs, ins = plan.layer_indices(graph)
    config = model.get_config()
    for entry in config["layers"]:
        name = entry["name"]
        if name in outs and graph.handlers[name].role in ("producer", "carrier"):
            graph.handlers[name].resize(entry["config"], outs[name])
    narrow = _from_config(model, config)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            handler = graph.handlers[layer.name]
            out_idx = outs.get(layer.name) if handler.role == "producer" else None  # carriers follow their input
            narrow.get_layer(layer.name).set_weights(handler.slice(layer, weights, out_idx, ins.get(layer.name)))
    return narrow


def masked_model(model: keras.Model, plan: ChannelPlan, graph: ChannelGraph | None = None) -> keras.Model:
    """A same-shape copy whose consumers ignore the removed channels (their input weights zeroed):
    the function the physically pruned model computes, for checking `apply_plan`.

    Zeroing the readers is enough because every path a channel takes ends in a reader (Conv2D, Dense,
    SeparableConv2D, grouped conv) or in a fixed group: carriers and merges are per channel, so a
    removed channel of a squeeze-excitation gate or a residual Add only meets removed channels of the
    same group; layers that mix channels (LayerNormalization, softmax, reshapes) fix their input.
    """
    graph = graph or ChannelGraph(model)
    model = graph.model
    copy = _from_config(model, model.get_config())
    copy.set_weights(model.get_weights())
    for group_key, group in plan.groups.items():
        removed = np.setdiff1d(np.arange(group.size), plan.kept[group_key])
        for name in group.consumers:
            # one write per consumer: a Dense after a Flatten reads the group at H*W offsets
            positions = np.concatenate([removed + offset for offset in group.offsets.get(name, [0])])
            graph.handlers[name].mask_in(copy.get_layer(name), positions)
    return copy


def prune_channels(model: keras.Model, keep: float, scope: Scope, criterion: Criterion, multiple: int,
                   sizes: dict[str, int] | None = None) -> tuple[keras.Model, ChannelPlan]:
    """Narrow every group of the scope to `keep` of its size (of `sizes[key]`, the original widths,
    when pruning gradually), ranked by `criterion`. A nested model is flattened first.

    Returns:
        The rebuilt (flat) model and the plan (kept indices per group).
    """
    graph = ChannelGraph(model)
    counts = {}
    for group in graph.prunable(scope):
        counts[group.key] = group_count(group, keep, multiple, (sizes or {}).get(group.key))
    plan = plan_channels(graph.model, counts, criterion, graph)
    return apply_plan(graph.model, plan, graph), plan


def group_widths(model: keras.Model, scope: Scope) -> dict[str, int]:
    """Each prunable group's current width, by key."""
    return {g.key: g.size for g in ChannelGraph(model).prunable(scope)}
