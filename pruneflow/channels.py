"""Structured channel pruning for Keras functional models: remove whole channels, rebuild a narrower
model with sliced weights (stages channel_prune, channel_point).

Unstructured zeros buy no speed on x86 (XNNPACK's sparse path is off with AVX) and no raw size;
fewer channels buy both on any CPU. The approach is DepGraph's (Fang et al. 2023, Torch-Pruning):

1. **Dependency graph from the model itself.** Each layer's output is a *channel space*. Conv2D and
   Dense start a new space (their filters/units); BatchNorm, DepthwiseConv2D (multiplier 1),
   activations, padding, pooling, Dropout and Flatten of a 1x1 map carry their input's space;
   elementwise merges (Add, …) tie their inputs' spaces into one *group* (a residual stream), which
   must lose the same channels everywhere. The model input and output, and whatever feeds a Reshape
   or Concatenate, are fixed. Any other layer type stops the pruner with one line naming it.
2. **Rank** the channels of each group (`Criterion`), keep the same fraction in every group of the
   scope, rounded to a multiple the CPU kernels like.
3. **Rebuild**: set the producers' `filters`/`units` in `get_config()`, `Model.from_config`, and
   slice every weight along its channel axes. Carriers (depthwise, BatchNorm) follow their input.

`masked_model` zeroes the removed channels' incoming weights of every consumer instead: it computes
the same function as the rebuilt model, which is what the tests check for every supported graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pruneflow.errors import PipelineError
from pruneflow.tf_env import keras

L = keras.layers
Criterion = Literal["l1", "l2", "bn_scale"]
Scope = Literal["internal", "all"]

# Layers that carry their input's channels unchanged (per-channel weights, if any, are sliced).
CARRIERS = (L.BatchNormalization, L.DepthwiseConv2D, L.ReLU, L.Activation, L.ZeroPadding2D, L.Dropout,
            L.GlobalAveragePooling2D, L.GlobalMaxPooling2D, L.MaxPooling2D, L.AveragePooling2D,
            L.Rescaling, L.LeakyReLU, L.Cropping2D, L.SpatialDropout2D, L.GaussianNoise)
MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
BARRIERS = (L.Reshape, L.Concatenate, L.Flatten)  # Flatten of a 1x1 map is a carrier (see _space_of)
SUPPORTED = "Conv2D, Dense, DepthwiseConv2D, BatchNormalization, activations, ZeroPadding2D, pooling, " \
            "Dropout, Add/elementwise merges, Flatten, Reshape/Concatenate (as fixed)"


@dataclass
class Group:
    """Channels that must be pruned together: the output channels of `producers` (several when an
    elementwise merge ties them), read by `consumers` (Conv2D/Dense input axis) and `carriers`."""

    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    size: int = 0
    merged: bool = False  # tied by an elementwise merge (a residual stream)
    fixed: bool = False   # the model's input or output, or read by a layer that mixes channels

    @property
    def key(self) -> str:
        """A name that survives a rebuild: the producers' names."""
        return "+".join(sorted(self.producers))


def _mixes_channels(layer: keras.layers.Layer) -> bool:
    """A softmax over the channel axis: every output depends on every channel."""
    return isinstance(layer, L.Softmax) or (isinstance(layer, L.Activation)
                                            and getattr(layer.activation, "__name__", "") == "softmax")


class ChannelGraph:
    """The channel groups of a flat functional model (layers in topological order, one output each)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self._parent: list[int] = []
        self._sizes: list[int] = []
        self._fixed: set[int] = set()
        self._merged: set[int] = set()
        self.out_space: dict[str, int] = {}
        self.in_space: dict[str, int] = {}
        self._role: dict[str, str] = {}
        for layer in model.layers:
            self._visit(layer)
        for name in model.output_names:
            self._fixed.add(self._find(self.out_space[name]))
        self.groups = self._collect()

    def _new(self, size: int) -> int:
        self._parent.append(len(self._parent))
        self._sizes.append(size)
        return len(self._parent) - 1

    def _find(self, space: int) -> int:
        while self._parent[space] != space:
            self._parent[space] = self._parent[self._parent[space]]
            space = self._parent[space]
        return space

    def _union(self, a: int, b: int) -> int:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[rb] = ra
            for marks in (self._fixed, self._merged):
                if rb in marks:
                    marks.add(ra)
        return ra

    def _visit(self, layer: keras.layers.Layer) -> None:
        name = layer.name
        if isinstance(layer, L.InputLayer):
            space = self._new(int(layer.output_shape[0][-1]))
            self._fixed.add(space)
            self.out_space[name] = space
            return
        nodes = layer._inbound_nodes
        if len(nodes) != 1:
            raise PipelineError(f"channel pruning: layer {name!r} is called {len(nodes)} times (shared layer); "
                                "allowed: each layer used once")
        inbound = nodes[0].inbound_layers
        inputs = [self.out_space[item.name] for item in (inbound if isinstance(inbound, list) else [inbound])]
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise PipelineError(f"channel pruning: layer {name!r} uses data_format={layer.data_format}; allowed: channels_last")
        self.in_space[name] = inputs[0]
        if isinstance(layer, L.DepthwiseConv2D):
            if layer.depth_multiplier != 1:
                raise PipelineError(f"channel pruning: layer {name!r} (DepthwiseConv2D) has depth_multiplier="
                                    f"{layer.depth_multiplier}; allowed: 1")
            self._carry(name, inputs[0])
        elif type(layer) is L.Conv2D:
            if layer.groups != 1:
                raise PipelineError(f"channel pruning: layer {name!r} (Conv2D) has groups={layer.groups}; allowed: 1")
            self._role[name] = "producer"
            self.out_space[name] = self._new(layer.filters)
        elif type(layer) is L.Dense:
            self._role[name] = "producer"
            self.out_space[name] = self._new(layer.units)
        elif isinstance(layer, MERGES):
            root = inputs[0]
            for other in inputs[1:]:
                root = self._union(root, other)
            self._merged.add(self._find(root))
            self.out_space[name] = root
        elif isinstance(layer, L.Flatten) and all(d == 1 for d in layer.input_shape[1:-1]):
            self._carry(name, inputs[0])  # a 1x1 map flattens to its channels (keepdims pooling)
        elif isinstance(layer, BARRIERS) or _mixes_channels(layer):
            for space in inputs:
                self._fixed.add(self._find(space))
            self.out_space[name] = self._new(int(layer.output_shape[-1]))
            self._fixed.add(self.out_space[name])
        elif isinstance(layer, CARRIERS):
            self._carry(name, inputs[0])
        else:
            raise PipelineError(f"channel pruning: layer {name!r} ({type(layer).__name__}) is not supported; "
                                f"supported: {SUPPORTED}")

    def _carry(self, name: str, space: int) -> None:
        self._role[name] = "carrier"
        self.out_space[name] = space

    def _collect(self) -> list[Group]:
        groups: dict[int, Group] = {}
        for layer in self.model.layers:
            name, role = layer.name, self._role.get(layer.name)
            if role == "producer":
                root = self._find(self.out_space[name])
                groups.setdefault(root, Group(size=self._sizes[root])).producers.append(name)
            if name in self.in_space and role in ("producer", "carrier"):
                root = self._find(self.in_space[name])
                group = groups.setdefault(root, Group(size=self._sizes[root]))
                if role == "producer":
                    group.consumers.append(name)
                elif layer.weights:
                    group.carriers.append(name)
        for root, group in groups.items():
            group.fixed, group.merged = root in self._fixed or not group.producers, root in self._merged
        return [group for group in groups.values() if group.producers]

    def prunable(self, scope: Scope) -> list[Group]:
        """Groups the scope may narrow: `internal` = not tied by a merge; `all` = residual streams too."""
        return [g for g in self.groups if not g.fixed and (scope == "all" or not g.merged)]


def kept_count(size: int, keep: float, multiple: int) -> int:
    """Channels kept of `size` at fraction `keep`: the nearest multiple of `multiple` (at least one
    multiple, at most `size`); `keep` 1.0 keeps all."""
    if keep >= 1.0:
        return size
    nearest = int(np.floor(keep * size / multiple + 0.5)) * multiple  # halves round up, not to even
    return int(min(size, max(multiple, nearest)))


def _layer(model: keras.Model, name: str) -> keras.layers.Layer:
    return model.get_layer(name)


def channel_scores(model: keras.Model, group: Group, criterion: Criterion) -> np.ndarray:
    """Importance of each channel of a group (higher = keep).

    l1 / l2: the norm of *every* weight of the channel across the group — the producers' filters, the
    carriers' per-channel depthwise filters and the consumers' input weights (DepGraph's group norm).
    A conv followed by BatchNorm has an output independent of its filters' scale, so the producer's
    norm alone would rank noise; the consumers' weights say how much the channel adds downstream.
    bn_scale: the product of |gamma| over the group's BatchNorms (network slimming, Liu et al. 2017);
    a group without BatchNorm falls back to l2.
    """
    if criterion == "bn_scale":
        gammas = [_layer(model, n) for n in group.carriers if isinstance(_layer(model, n), L.BatchNormalization)]
        gammas = [np.abs(bn.gamma.numpy()) for bn in gammas if bn.scale]
        if gammas:
            return np.prod(gammas, axis=0)
        criterion = "l2"
    power = 1 if criterion == "l1" else 2
    total = np.zeros(group.size)
    for name in group.producers:
        layer = _layer(model, name)
        kernel = np.abs(layer.kernel.numpy()) ** power
        total += kernel.reshape(-1, kernel.shape[-1]).sum(0)
    for name in group.consumers:
        kernel = np.abs(_layer(model, name).kernel.numpy()) ** power
        axis = kernel.ndim - 2
        total += np.moveaxis(kernel, axis, 0).reshape(kernel.shape[axis], -1).sum(1)
    for name in group.carriers:
        layer = _layer(model, name)
        if isinstance(layer, L.DepthwiseConv2D):
            kernel = np.abs(layer.depthwise_kernel.numpy()) ** power
            total += kernel.sum(axis=(0, 1, 3))
    return total if power == 1 else np.sqrt(total)


@dataclass(frozen=True)
class ChannelPlan:
    """Kept channel indices (sorted) per pruned group, by group key, and the groups themselves."""

    kept: dict[str, np.ndarray]
    groups: dict[str, Group]

    def layer_indices(self, graph: ChannelGraph) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per layer: kept output channels (producers, carriers) and kept input channels (every layer reading a pruned group)."""
        by_root = {graph._find(graph.out_space[g.producers[0]]): key for key, g in self.groups.items()}
        outs, ins = {}, {}
        for name, space in graph.out_space.items():
            key = by_root.get(graph._find(space))
            if key is not None:
                outs[name] = self.kept[key]
        for name, space in graph.in_space.items():
            key = by_root.get(graph._find(space))
            if key is not None:
                ins[name] = self.kept[key]
        return outs, ins


def plan_channels(model: keras.Model, counts: dict[str, int], criterion: Criterion,
                  graph: ChannelGraph | None = None) -> ChannelPlan:
    """Keep the `counts[group.key]` highest-scoring channels of each named group."""
    graph = graph or ChannelGraph(model)
    groups = {g.key: g for g in graph.groups}
    kept, chosen = {}, {}
    for key, count in counts.items():
        group = groups[key]
        if count >= group.size:
            continue
        scores = channel_scores(model, group, criterion)
        # stable sort: ties keep the lower index, so a plan is deterministic
        kept[key] = np.sort(np.argsort(-scores, kind="stable")[:count])
        chosen[key] = group
    return ChannelPlan(kept, chosen)


def uniform_counts(graph: ChannelGraph, keep: float, scope: Scope, multiple: int) -> dict[str, int]:
    """The same kept fraction in every group of the scope (rounded per `kept_count`)."""
    return {g.key: kept_count(g.size, keep, multiple) for g in graph.prunable(scope)}


def _slice(layer: keras.layers.Layer, weights: list[np.ndarray], out_idx, in_idx) -> list[np.ndarray]:
    """A layer's weights with its pruned output channels (`out_idx`) and input channels (`in_idx`) kept."""
    if isinstance(layer, L.DepthwiseConv2D) or isinstance(layer, L.BatchNormalization):
        idx = in_idx if in_idx is not None else out_idx
        if idx is None:
            return weights
        if isinstance(layer, L.BatchNormalization):
            return [w[idx] for w in weights]
        return [weights[0][:, :, idx, :], *(w[idx] for w in weights[1:])]
    if isinstance(layer, (L.Conv2D, L.Dense)):
        kernel, rest = weights[0], weights[1:]
        if in_idx is not None:
            kernel = np.take(kernel, in_idx, axis=kernel.ndim - 2)
        if out_idx is not None:
            kernel = kernel[..., out_idx]
            rest = [w[out_idx] for w in rest]
        return [kernel, *rest]
    return weights


def apply_plan(model: keras.Model, plan: ChannelPlan, graph: ChannelGraph | None = None) -> keras.Model:
    """The physically narrower model: producers' widths set in the config, every weight sliced."""
    graph = graph or ChannelGraph(model)
    outs, ins = plan.layer_indices(graph)
    config = model.get_config()
    widths = {name: len(outs[name]) for group in plan.groups.values() for name in group.producers}
    for entry in config["layers"]:
        if entry["name"] in widths:
            key = "filters" if "filters" in entry["config"] else "units"
            entry["config"][key] = widths[entry["name"]]
    narrow = keras.Model.from_config(config)
    for layer in model.layers:
        weights = layer.get_weights()
        if weights:
            carrier = isinstance(layer, (L.DepthwiseConv2D, L.BatchNormalization))
            narrow.get_layer(layer.name).set_weights(
                _slice(layer, weights, None if carrier else outs.get(layer.name), ins.get(layer.name)))
    return narrow


def masked_model(model: keras.Model, plan: ChannelPlan, graph: ChannelGraph | None = None) -> keras.Model:
    """A same-shape copy whose consumers ignore the removed channels (their input weights zeroed):
    the function the physically pruned model computes, for checking `apply_plan`."""
    graph = graph or ChannelGraph(model)
    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    for group_key, group in plan.groups.items():
        removed = np.setdiff1d(np.arange(group.size), plan.kept[group_key])
        for name in group.consumers:
            layer = copy.get_layer(name)
            kernel = layer.kernel.numpy()
            index = [slice(None)] * kernel.ndim
            index[kernel.ndim - 2] = removed
            kernel[tuple(index)] = 0.0
            layer.kernel.assign(kernel)
    return copy


def prune_channels(model: keras.Model, keep: float, scope: Scope, criterion: Criterion, multiple: int,
                   sizes: dict[str, int] | None = None) -> tuple[keras.Model, ChannelPlan]:
    """Narrow every group of the scope to `keep` of its size (of `sizes[key]`, the original widths,
    when pruning gradually), ranked by `criterion`.

    Returns:
        The rebuilt model and the plan (kept indices per group).
    """
    graph = ChannelGraph(model)
    counts = {}
    for group in graph.prunable(scope):
        counts[group.key] = kept_count((sizes or {}).get(group.key, group.size), keep, multiple)
    return apply_plan(model, plan := plan_channels(model, counts, criterion, graph), graph), plan


def group_widths(model: keras.Model, scope: Scope) -> dict[str, int]:
    """Each prunable group's current width, by key."""
    return {g.key: g.size for g in ChannelGraph(model).prunable(scope)}
