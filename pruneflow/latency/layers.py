"""The costed layers of a Keras model (what the latency table times): their geometry and the channel
groups of their inputs and outputs, read off `pruneflow.channels.ChannelGraph`.

A costed layer is one whose time a group's width sets: a Conv2D (grouped too), a DepthwiseConv2D or a
Dense (timed as the 1x1 convolution it is). Every other layer's time is left in the anchor (the dense
model's measured p50): pooling, adds and the like are a small share and shrink with the widths.
"""

from __future__ import annotations

from typing import Any

from pruneflow.channels.graph import ChannelGraph
from pruneflow.channels.plan import group_count
from pruneflow.deploy.resolution import at_resolution
from pruneflow.latency.table import CostedLayer, Segments, levels_for, side_grid
from pruneflow.latency.widths import KINDS
from pruneflow.models.flatten import flatten_model
from pruneflow.tf_env import keras


def _spatial(layer: keras.layers.Layer) -> tuple[int, int]:
    shape = layer.input_shape
    return (int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1)


def spec_of(layer: keras.layers.Layer, kind: str) -> tuple[Any, ...]:
    """(kh, kw, sh, sw, padding, dh, dw, H, W, extra): the geometry a micro-benchmark needs; extra is
    the groups of a conv or the depth multiplier of a depthwise layer."""
    height, width = _spatial(layer)
    if kind == "dense":
        return (1, 1, 1, 1, "valid", 1, 1, height, width, 1)
    extra = layer.depth_multiplier if kind == "depthwise" else getattr(layer, "groups", 1)
    return (*layer.kernel_size, *layer.strides, layer.padding, *layer.dilation_rate, height, width, int(extra))


def at_side(model: keras.Model, side: int) -> keras.Model:
    """The flat model with a `side`x`side` input (the same weights)."""
    flat = flatten_model(model)
    return flat if flat.input_shape[1] == side else at_resolution(flat, side)


def costed_layers(model: keras.Model, side: int, scope: str, multiple: int) -> list[CostedLayer]:
    """Every costed layer of `model` at a `side` input: its geometry, the groups of its input and output
    channels (None for a side the scope keeps whole) and its grid of widths to time."""
    graph = ChannelGraph(at_side(model, side))
    prunable = graph.prunable(scope)
    by_root = {graph.root_of(g.producers[0]): g.key for g in prunable}
    minimum = {g.key: levels_for(g.size, multiple, g.blocks)[0] for g in prunable}
    half = {g.key: group_count(g, 0.5, multiple) for g in prunable}

    def segments(layout: list[tuple[int, int]]) -> Segments:
        return tuple((by_root.get(graph.find(space)), int(size)) for space, size in layout)

    layers = []
    for layer in graph.model.layers:
        kind = KINDS.get(type(layer))
        if kind is None or layer.name not in graph.in_layout:
            continue
        ins = segments(graph.in_layout[layer.name])
        outs = segments(graph.out_layout[layer.name]) if kind != "depthwise" else ()
        layers.append(CostedLayer(layer.name, kind, spec_of(layer, kind), ins, outs, side_grid(ins, minimum, half),
                                  side_grid(outs, minimum, half) if outs else (0,)))
    return layers
