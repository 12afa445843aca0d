"""Which channels to keep: counts per group, channel importance (the criteria), the plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from pruneflow.channels.graph import ChannelGraph, Group
from pruneflow.channels.handlers import handler_for
from pruneflow.channels.registry import Layout
from pruneflow.tf_env import keras

L = keras.layers
Criterion = Literal["l1", "l2", "bn_scale"]
Scope = Literal["internal", "all"]


def kept_count(size: int, keep: float, multiple: int) -> int:
    """Channels kept of `size` at fraction `keep`: the nearest multiple of `multiple` (at least one
    multiple, at most `size`); `keep` 1.0 keeps all."""
    if keep >= 1.0:
        return size
    nearest = int(np.floor(keep * size / multiple + 0.5)) * multiple  # halves round up, not to even
    return int(min(size, max(multiple, nearest)))


def group_count(group: Group, keep: float, multiple: int, size: int | None = None) -> int:
    """Channels kept of a group (of `size`, its original width, when pruning gradually). A group read
    by a grouped conv keeps the same count in each of its blocks, rounded per block: a multiple of 8
    cannot hold across RegNet's groups of 8 channels."""
    size = size or group.size
    if group.blocks == 1:
        return kept_count(size, keep, multiple)
    return group.blocks * kept_count(size // group.blocks, keep, 1)


def _spans(group: Group, name: str) -> list[slice]:
    return [slice(offset, offset + group.size) for offset in group.offsets.get(name, [0])]


def channel_scores(model: keras.Model, group: Group, criterion: Criterion) -> np.ndarray:
    """Importance of each channel of a group (higher = keep).

    l1 / l2: the norm of *every* weight of the channel across the group — the producers' filters, the
    carriers' per-channel depthwise filters and the consumers' input weights (DepGraph's group norm).
    A conv followed by BatchNorm has an output independent of its filters' scale, so the producer's
    norm alone would rank noise; the consumers' weights say how much the channel adds downstream.
    bn_scale: the product of |gamma| over the group's BatchNorms (network slimming, Liu et al. 2017);
    a group without BatchNorm falls back to l2.
    """
    layer = model.get_layer
    if criterion == "bn_scale":
        norms = [layer(n) for n in group.carriers if isinstance(layer(n), L.BatchNormalization)]
        gammas = [np.abs(bn.gamma.numpy())[span] for bn in norms if bn.scale for span in _spans(group, bn.name)]
        if gammas:
            return np.prod(gammas, axis=0)
        criterion = "l2"
    power = 1 if criterion == "l1" else 2
    total = np.zeros(group.size)
    for name in group.producers:
        total += handler_for(layer(name)).out_norms(layer(name), power)
    for name in group.consumers:
        norms = handler_for(layer(name)).in_norms(layer(name), power)
        for span in _spans(group, name):
            total += norms[span]
    for name in group.carriers:
        norms = handler_for(layer(name)).carried_norms(layer(name), power)
        for span in _spans(group, name) if norms is not None else []:
            total += norms[span]
    return total if power == 1 else np.sqrt(total)


@dataclass(frozen=True)
class ChannelPlan:
    """Kept channel indices (sorted) per pruned group, by group key, and the groups themselves."""

    kept: dict[str, np.ndarray]
    groups: dict[str, Group]

    def layer_indices(self, graph: ChannelGraph) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Per layer: kept output channels (producers, carriers) and kept input channels (every layer
        reading a pruned group); after a Concatenate, the segments' kept indices at their offsets."""
        by_root = {graph.root_of(g.producers[0]): key for key, g in self.groups.items()}

        def indices(layout: Layout) -> np.ndarray | None:
            keys = [by_root.get(graph.find(space)) for space, _ in layout]
            if all(key is None for key in keys):
                return None
            if len(layout) == 1:
                return self.kept[keys[0]]
            parts, offset = [], 0
            for key, (_, size) in zip(keys, layout):
                parts.append((self.kept[key] if key is not None else np.arange(size)) + offset)
                offset += size
            return np.concatenate(parts)

        outs = {name: idx for name, layout in graph.out_layout.items() if (idx := indices(layout)) is not None}
        ins = {name: idx for name, layout in graph.in_layout.items() if (idx := indices(layout)) is not None}
        return outs, ins


def _top(scores: np.ndarray, count: int, blocks: int) -> np.ndarray:
    """The `count` highest scores' indices, sorted; `count / blocks` of them in each block."""
    if blocks == 1:
        # stable sort: ties keep the lower index, so a plan is deterministic
        return np.sort(np.argsort(-scores, kind="stable")[:count])
    per_block = max(1, round(count / blocks))
    width = len(scores) // blocks
    return np.concatenate([np.sort(np.argsort(-scores[b * width:(b + 1) * width], kind="stable")[:per_block])
                           + b * width for b in range(blocks)])


def plan_channels(model: keras.Model, counts: dict[str, int], criterion: Criterion,
                  graph: ChannelGraph | None = None) -> ChannelPlan:
    """Keep the `counts[group.key]` highest-scoring channels of each named group (per block in a group
    a grouped conv reads)."""
    graph = graph or ChannelGraph(model)
    groups = {g.key: g for g in graph.groups}
    kept, chosen = {}, {}
    for key, count in counts.items():
        group = groups[key]
        if count >= group.size:
            continue
        kept[key] = _top(channel_scores(graph.model, group, criterion), count, group.blocks)
        chosen[key] = group
    return ChannelPlan(kept, chosen)


def uniform_counts(graph: ChannelGraph, keep: float, scope: Scope, multiple: int) -> dict[str, int]:
    """The same kept fraction in every group of the scope (rounded per `group_count`)."""
    return {g.key: group_count(g, keep, multiple) for g in graph.prunable(scope)}



def removes_any(groups: list[Group], keep: float, multiple: int) -> bool:
    """Whether a uniform `keep` at `multiple` narrows at least one of `groups` (kept < width)."""
    return any(group_count(g, keep, multiple) < g.size for g in groups)


@dataclass(frozen=True)
class NothingToRemove:
    """A uniform plan that keeps every channel, and why: rounding up to `multiple` (at least one
    multiple per group) reaches every group's full width, or no group of the scope may be narrowed at
    all. Pruning would only rename the dense model, and its fine-tune is extra training, not a gain."""

    keep: float
    multiple: int
    group: str                    # the widest group the plan looked at ('' : the model has none)
    widest: int                   # its channels
    held: str | None              # why the scope leaves it whole: "fixed", "merged"; None: it is in the scope
    pruning_multiple: int | None  # the largest power of two below `multiple` that prunes (else the largest
                                  # multiple that does), checked with `group_count`; None: none does
    kept_at_pruning: int | None   # the group's kept channels at `pruning_multiple`

    def reason(self) -> str:
        """The one line the stage, the report and the headline print instead of a model."""
        if not self.group:
            return "nothing to remove: the model has no channel group"
        head = f"nothing to remove at multiple {self.multiple}: {self.widest} channels"
        if self.held == "fixed":
            return (f"{head} ({self.group} is fixed: a layer that mixes channels reads it, such as a softmax, a "
                    "Reshape that mixes channels with space or a Flatten of a map of unknown size; no multiple "
                    "would prune it)")
        if self.held == "merged":
            return f"{head} ({self.group} is tied by a residual merge: channels.scope all may narrow it)"
        if self.pruning_multiple is None:
            return f"{head} (keep {self.keep:g} keeps every channel at any multiple)"
        return (f"{head} (channels.multiple {self.pruning_multiple} would prune: keep {self.keep:g} keeps "
                f"{self.kept_at_pruning} of {self.widest})")

    def record(self) -> dict[str, object]:
        """The fields a point's `point.json` holds in place of a model's scores (`applicable` false:
        the readers of points leave it out and print `reason`)."""
        return {"applicable": False, "status": "nothing_to_remove", "widest_group": self.group,
                "widest_channels": self.widest, "multiple": self.multiple,
                "pruning_multiple": self.pruning_multiple, "reason": self.reason()}


def nothing_to_remove(graph: ChannelGraph, keep: float, scope: Scope, multiple: int) -> NothingToRemove | None:
    """None when the uniform plan at `keep` removes a channel; else why not and which multiple would.

    The suggestion is checked with the pruner's own rounding (`group_count`): kept counts are not
    monotone in the multiple (12 channels at keep 0.9 prune at 8 but not at 6 or 7)."""
    groups = graph.prunable(scope)
    if removes_any(groups, keep, multiple):
        return None
    outputs = set(graph.model.output_names)
    inner = [g for g in graph.groups if not outputs & set(g.producers)]  # the classes' width is no choice
    widest = max(groups or inner or graph.groups, key=lambda g: g.size, default=None)
    if widest is None:
        return NothingToRemove(keep, multiple, "", 0, None, None, None)
    held = None if groups else ("fixed" if widest.fixed else "merged")
    pruning = [m for m in range(multiple - 1, 0, -1) if removes_any(groups, keep, m)]
    suggested = ([m for m in pruning if m & (m - 1) == 0] or pruning or [None])[0]
    return NothingToRemove(keep, multiple, widest.key, widest.size, held, suggested,
                           None if suggested is None else group_count(widest, keep, suggested))
