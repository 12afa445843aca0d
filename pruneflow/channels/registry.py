"""The registry of layer handlers: one entry per layer type, each saying how channels flow through it.

A handler is Torch-Pruning's pair `prune_out_channels` / `prune_in_channels` for one layer type, plus
the graph side: `flow` maps the layouts of a layer's inputs to its output layout (start a space,
carry, merge, concatenate, fix), `resize` edits the layer's config for a narrower output, `slice`
keeps the weights of the kept channels, `mask_in` zeroes a consumer's weights for removed input
channels (the masked twin), `*_norms` feed the group-norm criteria. Handlers are looked up by the
layer's exact class (a subclass such as Conv2DTranspose is a different operator), and may
`specialise` on the instance (Conv2D by `groups`, TFOpLambda by the op it wraps).

Adding a layer type: one `register(...)` entry here or in a sibling module, plus its equivalence
test (tests/test_channels_zoo.py).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from pruneflow.errors import PipelineError

# A tensor's channel axis: segments (space id, channel count) in order; one segment unless concatenated.
Layout = list[tuple[int, int]]


class Handler:
    """How channels flow through one layer type. Roles: `input`, `producer` (reads its input's
    channels, starts a space of its own: Conv2D, Dense), `carrier` (output channel i is input channel
    i: BatchNorm, activations, pooling), `merge` (elementwise: ties its inputs' spaces), `concat`,
    `barrier` (mixes channels: its input and output are kept whole)."""

    role = "carrier"

    def specialise(self, layer: Any) -> "Handler":
        """The handler for this instance (a type may move channels differently by its settings)."""
        return self

    def flow(self, graph: Any, layer: Any, inputs: list[Layout]) -> Layout:
        """The output layout, given the inputs' layouts (uniting or fixing spaces on `graph`)."""
        return inputs[0]

    def resize(self, config: dict, kept: np.ndarray) -> None:
        """Edit the layer's config for its kept output channels `kept`."""

    def slice(self, layer: Any, weights: list[np.ndarray], out_idx: np.ndarray | None,
              in_idx: np.ndarray | None) -> list[np.ndarray]:
        """The weights of the kept output (`out_idx`) and input (`in_idx`) channels (None: all)."""
        return weights

    def out_norms(self, layer: Any, power: int) -> np.ndarray:
        """Per output channel: the sum of |w|**power of the weights that write it (producers)."""
        raise NotImplementedError

    def in_norms(self, layer: Any, power: int) -> np.ndarray:
        """Per input channel: the sum of |w|**power of the weights that read it (consumers)."""
        raise NotImplementedError

    def carried_norms(self, layer: Any, power: int) -> np.ndarray | None:
        """Per channel: the carrier's own filter weights that count in the group norm (depthwise)."""
        return None

    def mask_in(self, layer: Any, positions: np.ndarray) -> None:
        """Zero the weights that read input channels `positions` (consumers, in place)."""
        raise NotImplementedError


REGISTRY: dict[type, Handler] = {}


def register(*types: type) -> Callable[[type[Handler]], type[Handler]]:
    """Class decorator: one instance of the handler serves every listed layer type."""

    def add(cls: type[Handler]) -> type[Handler]:
        for layer_type in types:
            REGISTRY[layer_type] = cls()
        return cls

    return add


def unsupported(layer: Any, what: str | None = None, allowed: str | None = None) -> PipelineError:
    """The one-line error for a layer the pruner cannot follow."""
    kind = what or type(layer).__name__
    allowed = allowed or ", ".join(sorted({t.__name__ for t in REGISTRY}))
    return PipelineError(f"channel pruning: layer {layer.name!r} ({kind}) is not supported; supported: {allowed}")


def channels_of(layer: Any) -> int:
    """The channel count of `layer`'s (first) input."""
    shape = layer.input_shape
    return int((shape[0] if isinstance(shape, list) else shape)[-1])
