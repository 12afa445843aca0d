"""The channel graph: which channels of a model must be pruned together.

Every tensor has a *layout*: its channel axis as a list of segments `(space, size)`. A layer that starts
new channels (Conv2D, Dense) makes a one-segment layout of a new *space*; a Concatenate along the
channels joins its inputs' segments; an elementwise merge unites its inputs' spaces segment by segment
(union-find), so a residual stream is one space. Each root space with producers is a `Group`. How a
layer type moves channels is its handler's business (`registry`); this module only walks the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pruneflow.channels.handlers import handler_for
from pruneflow.channels.registry import Handler, Layout
from pruneflow.errors import PipelineError
from pruneflow.models.flatten import flatten_model
from pruneflow.tf_env import keras


@dataclass
class Group:
    """Channels that must be pruned together: the output channels of `producers` (several when an
    elementwise merge ties them), read by `consumers` (input axis of Conv2D/Dense/…) and `carriers`
    (per-channel weights: BatchNorm, depthwise). `offsets[name]` says where the group's channels sit in
    that layer's input (several places after a Concatenate that repeats them; 0 without one)."""

    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    carriers: list[str] = field(default_factory=list)
    size: int = 0
    merged: bool = False  # tied by an elementwise merge (a residual stream)
    fixed: bool = False   # the model's input or output, or read by a layer that mixes channels
    blocks: int = 1       # a grouped conv reads or writes it: the same count is kept in each block
    offsets: dict[str, list[int]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """A name that survives a rebuild: the producers' names."""
        return "+".join(sorted(self.producers))


class ChannelGraph:
    """The channel groups of a functional model (nested models are flattened first: `self.model`)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = flatten_model(model)
        self._parent: list[int] = []
        self._sizes: list[int] = []
        self._fixed: set[int] = set()
        self._merged: set[int] = set()
        self._blocks: dict[int, int] = {}
        self.out_layout: dict[str, Layout] = {}
        self.in_layout: dict[str, Layout] = {}
        self.handlers: dict[str, Handler] = {}
        for layer in self.model.layers:
            self._visit(layer)
        for name in self.model.output_names:
            self.fix(self.out_layout[name])
        self.groups = self._collect()

    # -- spaces (union-find) -------------------------------------------------------------------
    def new(self, size: int, fixed: bool = False) -> Layout:
        """A one-segment layout of a new space of `size` channels."""
        self._parent.append(len(self._parent))
        self._sizes.append(int(size))
        if fixed:
            self._fixed.add(len(self._parent) - 1)
        return [(len(self._parent) - 1, int(size))]

    def find(self, space: int) -> int:
        """The root space `space` was united with."""
        while self._parent[space] != space:
            self._parent[space] = self._parent[self._parent[space]]
            space = self._parent[space]
        return space

    def _union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[rb] = ra
            for marks in (self._fixed, self._merged):
                if rb in marks:
                    marks.add(ra)
            if rb in self._blocks:
                self._constrain(ra, self._blocks.pop(rb))
        return ra

    def fix(self, layout: Layout) -> None:
        """Keep every channel of `layout` (an input, an output, channels a layer mixes)."""
        for space, _ in layout:
            self._fixed.add(self.find(space))

    def merge(self, layouts: list[Layout]) -> Layout:
        """Unite elementwise-merged layouts segment by segment; the merged layout.

        A (…, 1) operand broadcasts over the channels and stays whole. Layouts whose segments do not
        line up (a 320-channel conv added to a concatenation of 96+64+96+64) would need a space split
        in four; instead their spaces are fixed — fewer channels pruned, the rebuild still exact.
        """
        wide = [layout for layout in layouts if sum(size for _, size in layout) != 1] or layouts
        for layout in layouts:
            if layout not in wide:
                self.fix(layout)
        first = wide[0]
        if any([size for _, size in other] != [size for _, size in first] for other in wide[1:]):
            for layout in wide:
                self.fix(layout)
            return first
        for position, (space, _) in enumerate(first):
            root = space
            for other in wide[1:]:
                root = self._union(root, other[position][0])
            self._merged.add(self.find(root))
        return first

    def constrain_blocks(self, layout: Layout, blocks: int) -> None:
        """Channels read or written by a grouped conv of `blocks` groups: keep as many in each block.
        A layout of several segments cannot promise that per block, so it is fixed."""
        if len(layout) != 1:
            self.fix(layout)
            return
        self._constrain(self.find(layout[0][0]), blocks)

    def _constrain(self, root: int, blocks: int) -> None:
        blocks = math.lcm(self._blocks.get(root, 1), blocks)
        if self._sizes[root] % blocks:
            self._fixed.add(root)
        else:
            self._blocks[root] = blocks

    # -- the walk ------------------------------------------------------------------------------
    def _visit(self, layer: keras.layers.Layer) -> None:
        name = layer.name
        handler = handler_for(layer)
        self.handlers[name] = handler
        if isinstance(layer, keras.layers.InputLayer):
            self.out_layout[name] = handler.flow(self, layer, [])
            return
        nodes = layer._inbound_nodes
        if len(nodes) != 1:
            raise PipelineError(f"channel pruning: layer {name!r} is called {len(nodes)} times (shared layer); "
                                "allowed: each layer used once")
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            raise PipelineError(f"channel pruning: layer {name!r} uses data_format={layer.data_format}; allowed: channels_last")
        inputs = [self.out_layout[t._keras_history.layer.name] for t in nodes[0].keras_inputs]
        self.in_layout[name] = inputs[0]
        self.out_layout[name] = handler.flow(self, layer, inputs)

    def _collect(self) -> list[Group]:
        groups: dict[int, Group] = {}

        def group(space: int) -> Group:
            root = self.find(space)
            return groups.setdefault(root, Group(size=self._sizes[root]))

        for layer in self.model.layers:
            name, role = layer.name, self.handlers[layer.name].role
            if role == "producer":
                for space, _ in self.out_layout[name]:
                    group(space).producers.append(name)
            if name in self.in_layout and role in ("producer", "carrier"):
                offset = 0
                for space, size in self.in_layout[name]:
                    target = group(space)
                    if role == "producer" or layer.weights:
                        members = target.consumers if role == "producer" else target.carriers
                        if name not in target.offsets:
                            members.append(name)
                        target.offsets.setdefault(name, []).append(offset)
                    offset += size
        for root, item in groups.items():
            item.fixed, item.merged = root in self._fixed or not item.producers, root in self._merged
            item.blocks = self._blocks.get(root, 1)
        return [item for item in groups.values() if item.producers]

    def root_of(self, layer_name: str) -> int:
        """The root space of a producer's output channels."""
        return self.find(self.out_layout[layer_name][0][0])

    def prunable(self, scope: str) -> list[Group]:
        """Groups the scope may narrow: `internal` = not tied by a merge; `all` = residual streams too."""
        return [g for g in self.groups if not g.fixed and (scope == "all" or not g.merged)]
