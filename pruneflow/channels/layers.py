"""Handlers of Keras' own weightless or per-channel layers: the input, carriers (normalisation,
activations, padding, pooling, dropout), elementwise merges, Concatenate, Reshape, Flatten, and the
barriers that mix channels."""

from __future__ import annotations

import numpy as np

from pruneflow.channels.registry import Handler, register, unsupported
from pruneflow.tf_env import keras

L = keras.layers


def _last_axis(layer, axis) -> bool:
    """`axis` (an int or a list of one) names the channel axis of `layer`'s input."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    shape = layer.output_shape
    rank = len(shape[0] if isinstance(shape, list) else shape)
    return len(axes) == 1 and axes[0] % rank == rank - 1


@register(L.InputLayer)
class Input(Handler):
    """The model input: its channels are the data's, never pruned."""

    role = "input"

    def flow(self, graph, layer, inputs):
        return graph.new(int(layer.output_shape[0][-1]), fixed=True)


@register(L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU, L.ZeroPadding2D, L.Cropping2D, L.UpSampling2D,
          L.MaxPooling2D, L.AveragePooling2D, L.GlobalAveragePooling2D, L.GlobalMaxPooling2D,
          L.MaxPooling1D, L.AveragePooling1D, L.GlobalAveragePooling1D, L.GlobalMaxPooling1D,
          L.SpatialDropout2D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.Identity,
          L.ActivityRegularization)
class Carrier(Handler):
    """Output channel i is a function of input channel i only (pooling keepdims or not)."""


class PerChannel(Carrier):
    """A carrier with per-channel weights on the last axis (BatchNorm gamma/beta/mean/var,
    Normalization mean/variance, LayerScale gamma); scalar weights (a count) stay."""

    def slice(self, layer, weights, out_idx, in_idx):
        if in_idx is None:
            return weights
        return [w[..., in_idx] if np.ndim(w) else w for w in weights]


@register(L.BatchNormalization)
class BatchNorm(PerChannel):
    def flow(self, graph, layer, inputs):
        if not _last_axis(layer, layer.axis):
            raise unsupported(layer, f"BatchNormalization over axis {layer.axis}", "axis -1")
        return inputs[0]


@register(L.Normalization)
class Normalization(PerChannel):
    """Per-channel mean and variance, in the weights once adapted or built, and in the config when
    given to the constructor (ConvNeXt's): both are sliced."""

    def flow(self, graph, layer, inputs):
        if not _last_axis(layer, layer.axis):
            graph.fix(inputs[0])
        return inputs[0]

    def resize(self, config, kept):
        for key in ("mean", "variance"):
            if np.ndim(config.get(key)) and np.size(config[key]) > 1:
                config[key] = np.asarray(config[key]).reshape(-1)[kept].tolist()


@register(L.Rescaling)
class Rescaling(Carrier):
    """A scale and offset, scalars or per channel (then sliced)."""

    def resize(self, config, kept):
        for key in ("scale", "offset"):
            if np.size(config.get(key, 0)) > 1:
                config[key] = np.asarray(config[key]).reshape(-1)[kept].tolist()


@register(L.LayerNormalization)
class LayerNorm(PerChannel):
    """Normalises over the channels: every channel's output depends on every channel's value through
    the mean and variance, so removing any changes all the others — no masked twin and no rebuild can
    compute the unpruned function. Its space is fixed (DepGraph prunes it and lets fine-tuning
    recover; we keep the masked ≡ rebuilt invariant exact). ConvNeXt keeps its MLP hidden channels
    (Dense → GELU → Dense, most of its weights) prunable; its residual stream stays whole."""

    def flow(self, graph, layer, inputs):
        graph.fix(inputs[0])
        return inputs[0]


@register(L.Dropout)
class Dropout(Carrier):
    """Identity at inference; a per-channel `noise_shape` (…, C) is resized."""

    def resize(self, config, kept):
        shape = config.get("noise_shape")
        if shape and shape[-1] not in (None, 1):
            config["noise_shape"] = [*shape[:-1], len(kept)]


class Barrier(Handler):
    """Mixes channels (softmax over channels, a real reshape, Flatten of a map of unknown size): keeps
    its input whole and starts a fixed space."""

    role = "barrier"

    def flow(self, graph, layer, inputs):
        for layout in inputs:
            graph.fix(layout)
        shape = layer.output_shape
        width = (shape[0] if isinstance(shape, list) else shape)[-1]
        return graph.new(int(width or 0), fixed=True)  # unknown (a Flatten of a map of any size): 0, kept whole


BARRIER = Barrier()
register(L.Softmax)(Barrier)


@register(L.Activation)
class Activation(Carrier):
    """Elementwise, except softmax (normalises over the channels: a barrier)."""

    def specialise(self, layer):
        return BARRIER if getattr(layer.activation, "__name__", "") == "softmax" else self


def _positions(layer) -> int | None:
    """The spatial positions a flattening layer lays its input's channels out over (H*W of an (H, W, C)
    map, 1 of a vector); None when a spatial size is not static."""
    spatial = layer.input_shape[1:-1]
    return None if any(d is None for d in spatial) else int(np.prod(spatial, dtype=np.int64))


@register(L.Flatten)
class Flatten(Carrier):
    """Flatten of an (H, W, C) map writes channel c at features (h*W + w)*C + c: the channel layout
    repeated H*W times, as a Concatenate of H*W copies would lay it (Torch-Pruning's flatten index
    mapping). The Dense reading it is then a consumer of each group at H*W offsets (`Group.offsets`),
    so removing channel c removes its H*W kernel rows. A spatial size not static is a barrier."""

    def specialise(self, layer):
        return self if _positions(layer) else BARRIER

    def flow(self, graph, layer, inputs):
        return inputs[0] * _positions(layer)


class UnitReshape(Carrier):
    """A Reshape that only adds or drops unit dims around the channels (squeeze-excitation's
    (C) → (1, 1, C)): a carrier whose `target_shape` carries the width."""

    def resize(self, config, kept):
        config["target_shape"] = [*config["target_shape"][:-1], len(kept)]


UNIT_RESHAPE = UnitReshape()


class FlatReshape(Flatten, UnitReshape):
    """A Reshape to one dim ((H, W, C) → (H*W*C,)): row-major, so a Flatten whose `target_shape`
    carries the width (H*W times the kept channels)."""


FLAT_RESHAPE = FlatReshape()


@register(L.Reshape)
class Reshape(Carrier):
    """By shape: unit dims around the channels → carrier; to one dim → a Flatten; otherwise a barrier
    (a real reshape mixes the channel axis with space)."""

    def specialise(self, layer):
        before, after = layer.input_shape[1:], layer.output_shape[1:]
        same = before[-1] == after[-1] and all(d == 1 for d in (*before[:-1], *after[:-1]))
        if same:
            return UNIT_RESHAPE
        return FLAT_RESHAPE if len(after) == 1 and _positions(layer) else BARRIER


@register(L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)
class Merge(Handler):
    """Elementwise: channel i of every input meets channel i of the others — one space (a (…, 1)
    operand broadcasts and stays whole)."""

    role = "merge"

    def flow(self, graph, layer, inputs):
        return graph.merge(inputs)


MERGE = Merge()


@register(L.Concatenate)
class Concatenate(Handler):
    """Along the channels: the inputs' segments side by side (each keeps its own space, so DenseNet and
    Inception prune inside a concatenation; readers slice with offsets). Along another axis: a merge."""

    role = "concat"

    def specialise(self, layer):
        return self if _last_axis(layer, layer.axis) else MERGE

    def flow(self, graph, layer, inputs):
        return [segment for layout in inputs for segment in layout]
