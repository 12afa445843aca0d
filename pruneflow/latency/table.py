"""The latency table: what each costed layer (conv, depthwise, dense) takes in TFLite on this machine at
a grid of its input and output widths, and the whole-model prediction made from it. No TensorFlow here.

Each layer is timed alone (`pruneflow.latency.micro`) at every combination of its widths on a small
grid per side — the full width, half and the narrowest a group may keep (`channels.multiple`) —
and interpolated linearly in each width between grid points (bilinear for a conv, whose time grows
with input × output channels). A model's predicted batch-1 time is the dense model's measured time plus,
for every costed layer, its time at the model's widths minus its time at the dense widths (NetAdapt's
look-up table, Yang et al. 2018, anchored on a measured model: the fixed cost of an invoke and of the
uncosted layers cancels). `group_rows` turns the layers into the per-group view: for each channel group
and each width it may keep, the time of the layers whose cost that group's width sets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMATS = ("float", "int8")  # the TFLite formats a table is measured in
Segments = tuple[tuple[str | None, int], ...]  # (group key or None when fixed, full size) per segment


def side_width(segments: Segments, counts: Mapping[str, int]) -> int:
    """A layer side's channel count when each group keeps `counts[key]` (its full size when absent)."""
    return sum(counts.get(key, size) if key is not None else size for key, size in segments)


@dataclass(frozen=True)
class CostedLayer:
    """A layer whose time the table holds: its kind, geometry (`spec`), the channel groups its input and
    output come from, and the widths it was timed at."""

    name: str
    kind: str                      # conv | depthwise | dense
    spec: tuple[Any, ...]          # kernel, strides, padding, dilation, input height and width, depth multiplier
    ins: Segments
    outs: Segments                 # a depthwise layer's output follows its input: ()
    grid_in: tuple[int, ...]
    grid_out: tuple[int, ...]      # (0,) for a depthwise layer

    def widths(self, counts: Mapping[str, int]) -> tuple[int, int]:
        """(input, output) channels at these group counts (output 0 for a depthwise layer)."""
        return side_width(self.ins, counts), side_width(self.outs, counts) if self.outs else 0

    def full(self) -> tuple[int, int]:
        return self.widths({})

    def signatures(self) -> list[tuple[Any, ...]]:
        """Every micro-benchmark this layer needs: (kind, *spec, c_in, c_out) per grid point."""
        return [(self.kind, *self.spec, c_in, c_out) for c_in in self.grid_in for c_out in self.grid_out]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "spec": list(self.spec), "ins": [list(s) for s in self.ins],
                "outs": [list(s) for s in self.outs], "grid_in": list(self.grid_in), "grid_out": list(self.grid_out)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CostedLayer:
        def segs(items: list) -> Segments:
            return tuple((key, int(size)) for key, size in items)

        return cls(data["name"], data["kind"], tuple(_tuples(data["spec"])), segs(data["ins"]), segs(data["outs"]),
                   tuple(data["grid_in"]), tuple(data["grid_out"]))


def _tuples(values: list) -> list:
    return [tuple(v) if isinstance(v, list) else v for v in values]


def levels_for(size: int, multiple: int, blocks: int = 1) -> tuple[int, ...]:
    """The widths a group may keep: multiples of `multiple` below its size, and its size (per block
    where a grouped conv reads it: `blocks` × 1, 2, ... channels)."""
    if blocks > 1:
        return tuple(blocks * k for k in range(1, size // blocks + 1))
    return tuple(sorted({*range(multiple, size, multiple), size}))


def side_grid(segments: Segments, minimum: Mapping[str, int], half: Mapping[str, int]) -> tuple[int, ...]:
    """The widths a side is timed at: the narrowest its groups may keep, half, and full (distinct)."""
    return tuple(sorted({side_width(segments, minimum), side_width(segments, half), side_width(segments, {})}))


def _interp(grid: tuple[int, ...], x: float) -> tuple[int, int, float]:
    """Indices of the grid segment holding x and x's fraction along it (linear extrapolation outside)."""
    if len(grid) == 1:
        return 0, 0, 0.0
    i = int(np.clip(np.searchsorted(grid, x) - 1, 0, len(grid) - 2))
    return i, i + 1, (x - grid[i]) / (grid[i + 1] - grid[i])


def interpolate(grid_in: tuple[int, ...], grid_out: tuple[int, ...], ms: np.ndarray, c_in: float, c_out: float) -> float:
    """Bilinear interpolation of a layer's times `ms[i, j]` (grid_in[i] × grid_out[j]) at (c_in, c_out)."""
    i0, i1, fi = _interp(grid_in, c_in)
    j0, j1, fj = _interp(grid_out, c_out)
    low = ms[i0, j0] + (ms[i0, j1] - ms[i0, j0]) * fj
    high = ms[i1, j0] + (ms[i1, j1] - ms[i1, j0]) * fj
    return float(low + (high - low) * fi)


@dataclass(frozen=True)
class Setting:
    """One measured configuration of the table: format, thread count, input side."""

    format: str
    threads: int
    side: int

    @property
    def key(self) -> str:
        return f"{self.format}-t{self.threads}-{self.side}px"


@dataclass(frozen=True)
class LatencyTable:
    """One setting's table: the dense model's measured p50 and every costed layer's times on its grid.
    A model with a fixed-size head (Flatten → Dense) runs at its own side only: its table there also
    answers for the settings asked at another side (`asked`, their keys), and `note` says why."""

    setting: Setting
    layers: tuple[CostedLayer, ...]
    dense_ms: float
    times: dict[str, np.ndarray]  # layer name → ms[grid_in, grid_out]
    asked: tuple[str, ...] = ()   # keys of settings asked at a side this model cannot take
    note: str | None = None       # why (`pruneflow.deploy.resolution.usable_side`)

    def layer_ms(self, layer: CostedLayer, c_in: float, c_out: float) -> float:
        return interpolate(layer.grid_in, layer.grid_out, self.times[layer.name], c_in, c_out)

    def predict_widths(self, widths: Mapping[str, tuple[int, int]]) -> float:
        """Predicted batch-1 ms of a model whose costed layers have these (input, output) widths (a layer
        absent from `widths` is at its dense widths)."""
        total = self.dense_ms
        for layer in self.layers:
            if layer.name in widths:
                total += self.layer_ms(layer, *widths[layer.name]) - self.layer_ms(layer, *layer.full())
        return total

    def predict(self, counts: Mapping[str, int]) -> float:
        """Predicted batch-1 ms when each channel group keeps `counts[key]` channels."""
        return self.predict_widths({layer.name: layer.widths(counts) for layer in self.layers})

    def to_json(self) -> dict[str, Any]:
        s = self.setting
        out = {"format": s.format, "threads": s.threads, "side": s.side, "dense_ms": round(self.dense_ms, 6),
               "layers": [layer.to_json() for layer in self.layers],
               "times": {name: ms.round(6).tolist() for name, ms in self.times.items()}}
        return {**out, "asked": list(self.asked), "note": self.note} if self.asked else out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyTable:
        return cls(Setting(data["format"], int(data["threads"]), int(data["side"])),
                   tuple(CostedLayer.from_json(d) for d in data["layers"]), float(data["dense_ms"]),
                   {name: np.asarray(ms, dtype=float) for name, ms in data["times"].items()},
                   tuple(data.get("asked", ())), data.get("note"))


TABLE_FILE = "table.json"   # every setting's table (paths.latency_table/)
GROUPS_FILE = "groups.csv"  # the per-group view of every setting


def read_tables(folder: Path) -> dict[str, LatencyTable]:
    """The tables of `paths.latency_table`, by setting key (`int8-t1-48px`); a table measured at the
    model's own side for a side it cannot take is found under the asked key too (its `setting` says
    where it was measured)."""
    data = json.loads((Path(folder) / TABLE_FILE).read_text())
    tables = [LatencyTable.from_json(entry) for entry in data["settings"]]
    found = {table.setting.key: table for table in tables}
    return {**{key: table for table in tables for key in table.asked}, **found}


def _on_grid(layer: CostedLayer, c_in: int, c_out: int) -> bool:
    return c_in in layer.grid_in and (not layer.outs or c_out in layer.grid_out)


def group_rows(table: LatencyTable, levels: Mapping[str, tuple[int, ...]]) -> list[dict[str, Any]]:
    """The per-group view: for each group and each width it may keep (`levels[key]`), the time of the
    layers whose cost that width sets (every other group at its full width), and how much it saves."""
    rows = []
    for key, widths in levels.items():
        touched = [layer for layer in table.layers if any(k == key for k, _ in (*layer.ins, *layer.outs))]
        full = sum(table.layer_ms(layer, *layer.full()) for layer in touched)
        for width in widths:
            ms = sum(table.layer_ms(layer, *layer.widths({key: width})) for layer in touched)
            measured = all(_on_grid(layer, *layer.widths({key: width})) for layer in touched)
            rows.append({"setting": table.setting.key, "group": key, "width": width, "layers": len(touched),
                         "ms": round(ms, 5), "saved_ms": round(full - ms, 5),
                         "source": "measured" if measured else "interpolated"})
    return rows
