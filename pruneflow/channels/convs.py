"""Handlers of layers with filters: Conv2D (plain, grouped, depthwise-as-grouped), Dense (on 2-D or
4-D tensors: ConvNeXt's pointwise layers), DepthwiseConv2D, SeparableConv2D."""

from __future__ import annotations

import numpy as np

from pruneflow.channels.registry import Handler, channels_of, register, unsupported
from pruneflow.tf_env import keras

L = keras.layers


class Producer(Handler):
    """Reads every input channel, writes `filters`/`units` new ones: kernel (..., in, out), bias (out)."""

    role = "producer"

    def flow(self, graph, layer, inputs):
        return graph.new(layer.units if isinstance(layer, L.Dense) else layer.filters)

    def resize(self, config, kept):
        config["filters" if "filters" in config else "units"] = len(kept)

    def slice(self, layer, weights, out_idx, in_idx):
        kernel, rest = weights[0], weights[1:]
        if in_idx is not None:
            kernel = np.take(kernel, in_idx, axis=kernel.ndim - 2)
        if out_idx is not None:
            kernel = kernel[..., out_idx]
            rest = [w[out_idx] for w in rest]
        return [kernel, *rest]

    def out_norms(self, layer, power):
        kernel = np.abs(layer.kernel.numpy()) ** power
        return kernel.reshape(-1, kernel.shape[-1]).sum(0)

    def in_norms(self, layer, power):
        kernel = np.abs(layer.kernel.numpy()) ** power
        axis = kernel.ndim - 2
        return np.moveaxis(kernel, axis, 0).reshape(kernel.shape[axis], -1).sum(1)

    def mask_in(self, layer, positions):
        kernel = layer.kernel.numpy()
        index = [slice(None)] * kernel.ndim
        index[kernel.ndim - 2] = positions
        kernel[tuple(index)] = 0.0
        layer.kernel.assign(kernel)


class GroupedConv(Producer):
    """Conv2D with 1 < groups < channels (RegNet, group width 8): input block j feeds output block j
    only. Both sides keep the same count in every block (`constrain_blocks`), so the rebuilt conv keeps
    `groups` with narrower groups; kernel (kh, kw, in / groups, out)."""

    def flow(self, graph, layer, inputs):
        graph.constrain_blocks(inputs[0], layer.groups)
        out = graph.new(layer.filters)
        graph.constrain_blocks(out, layer.groups)
        return out

    def slice(self, layer, weights, out_idx, in_idx):
        kernel, rest = weights[0], weights[1:]
        if out_idx is not None:
            kernel, rest = kernel[..., out_idx], [w[out_idx] for w in rest]
        if in_idx is not None:
            groups, width = layer.groups, kernel.shape[2]
            local = in_idx.reshape(groups, -1) - (np.arange(groups) * width)[:, None]
            blocks = kernel.reshape(*kernel.shape[:3], groups, -1)
            kernel = np.stack([blocks[:, :, local[j], j, :] for j in range(groups)], axis=3)
            kernel = kernel.reshape(*kernel.shape[:3], -1)
        return [kernel, *rest]

    def in_norms(self, layer, power):
        kernel = np.abs(layer.kernel.numpy()) ** power
        blocks = kernel.reshape(*kernel.shape[:3], layer.groups, -1).sum(axis=(0, 1, 4))  # (width, groups)
        return blocks.T.reshape(-1)

    def mask_in(self, layer, positions):
        kernel = layer.kernel.numpy()
        width, per_group = kernel.shape[2], kernel.shape[3] // layer.groups
        for position in positions:
            group, local = divmod(int(position), width)
            kernel[:, :, local, group * per_group:(group + 1) * per_group] = 0.0
        layer.kernel.assign(kernel)


class GroupedDepthwise(Handler):
    """Conv2D with groups == channels == filters (ConvNeXt's depthwise conv): a carrier whose kernel
    (kh, kw, 1, C) and bias are per channel; `filters` and `groups` shrink together."""

    def resize(self, config, kept):
        config["filters"] = config["groups"] = len(kept)

    def slice(self, layer, weights, out_idx, in_idx):
        return weights if in_idx is None else [w[..., in_idx] for w in weights]

    def carried_norms(self, layer, power):
        return (np.abs(layer.kernel.numpy()) ** power).sum(axis=(0, 1, 2))


@register(L.Conv2D)
class Conv2DHandler(Producer):
    """Conv2D, by `groups`: 1 → producer; channels → depthwise carrier; otherwise grouped producer."""

    def specialise(self, layer):
        if layer.groups == 1:
            return self
        if layer.groups == channels_of(layer) == layer.filters:
            return GROUPED_DEPTHWISE
        return GROUPED


GROUPED, GROUPED_DEPTHWISE = GroupedConv(), GroupedDepthwise()
register(L.Dense)(Producer)


@register(L.DepthwiseConv2D)
class Depthwise(Handler):
    """DepthwiseConv2D (multiplier 1): a carrier; kernel (kh, kw, C, 1) and bias per channel."""

    def flow(self, graph, layer, inputs):
        if layer.depth_multiplier != 1:
            raise unsupported(layer, f"DepthwiseConv2D with depth_multiplier={layer.depth_multiplier}",
                              "depth_multiplier 1")
        return inputs[0]

    def slice(self, layer, weights, out_idx, in_idx):
        if in_idx is None:
            return weights
        return [weights[0][:, :, in_idx, :], *(w[in_idx] for w in weights[1:])]

    def carried_norms(self, layer, power):
        return (np.abs(layer.depthwise_kernel.numpy()) ** power).sum(axis=(0, 1, 3))


@register(L.SeparableConv2D)
class Separable(Producer):
    """SeparableConv2D (multiplier 1): depthwise (kh, kw, in, 1) on the input channels, then pointwise
    (1, 1, in, out) starting a new space; bias (out)."""

    def flow(self, graph, layer, inputs):
        if layer.depth_multiplier != 1:
            raise unsupported(layer, f"SeparableConv2D with depth_multiplier={layer.depth_multiplier}",
                              "depth_multiplier 1")
        return graph.new(layer.filters)

    def slice(self, layer, weights, out_idx, in_idx):
        depthwise, pointwise, rest = weights[0], weights[1], weights[2:]
        if in_idx is not None:
            depthwise, pointwise = depthwise[:, :, in_idx, :], pointwise[:, :, in_idx, :]
        if out_idx is not None:
            pointwise, rest = pointwise[..., out_idx], [w[out_idx] for w in rest]
        return [depthwise, pointwise, *rest]

    def out_norms(self, layer, power):
        kernel = np.abs(layer.pointwise_kernel.numpy()) ** power
        return kernel.reshape(-1, kernel.shape[-1]).sum(0)

    def in_norms(self, layer, power):
        depthwise = (np.abs(layer.depthwise_kernel.numpy()) ** power).sum(axis=(0, 1, 3))
        return depthwise + (np.abs(layer.pointwise_kernel.numpy()) ** power).sum(axis=(0, 1, 3))

    def mask_in(self, layer, positions):
        kernel = layer.pointwise_kernel.numpy()
        kernel[:, :, positions, :] = 0.0
        layer.pointwise_kernel.assign(kernel)
