"""Sensitivity: which layers can take pruning (stages sensitivity, sweep_derived). Prune one unit at a
time, measure the drop, derive per-layer targets from the drops.

Each unit (a MobileNet block, or a single layer) of the saved dense model is magnitude-pruned alone,
one-shot (the smallest |w| of each of its kernels set to zero, the mask tfmot's schedule ends with),
at every level in `sensitivity.sparsities`, and scored on the validation split with the rest of the
model untouched; the weights are then restored. No fine-tuning: the drop measures how much a unit's
small weights matter, which is what ranks units, not what fine-tuning can win back (Han et al. 2015,
"Learning both weights and connections", section 4). The validation split chooses the derived
targets so that the test split stays unseen for the uniform-vs-derived comparison.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pruneflow.config.prune import PruneConfig
from pruneflow.config.studies import SensitivityConfig
from pruneflow.errors import PipelineError, require
from pruneflow.magnitude.pruning import in_scope
from pruneflow.models.sparsity import prunable_weight_names, prunable_weights
from pruneflow.tf_env import keras

COLUMNS = ("unit", "layers", "params", "sparsity", "val_accuracy_pct", "drop_pts")


def block_of(layer_name: str) -> str:
    """The block a layer belongs to: for MobileNet block_N (V2), conv_dw_N/conv_pw_N → block_N (V1),
    expanded_conv → block_0, the first convolution → stem, the last 1x1 (Conv_1) → top, Dense → head;
    the other keras.applications families by their own block prefixes."""
    if match := re.match(r"(block_\d+)_", layer_name):
        return match.group(1)
    if match := re.match(r"conv_(?:dw|pw)_(\d+)", layer_name):
        return f"block_{match.group(1)}"
    if layer_name.startswith("expanded_conv") and not re.match(r"expanded_conv_\d+_", layer_name):  # V3: below
        return "block_0"
    if layer_name.lower() == "conv1":
        return "stem"
    if layer_name == "Conv_1":
        return "top"
    if layer_name.startswith("head"):
        return "head"
    # Other keras.applications families name their blocks too: ResNet/DenseNet conv2_block1_…,
    # EfficientNet block1a_…, MobileNetV3 expanded_conv_3_…, ConvNeXt …_stage_0_block_1_…, RegNet
    # …_Stage_0_XBlock_0_…, Inception/NASNet mixed0/normal_…_3; a layer outside any block is its own unit.
    for pattern in (r"(conv\d+_block\d+)_", r"(block\d+[a-z])_", r"(expanded_conv_\d+)_",
                    r"(.*_stage_\d+_block_\d+)_", r"(.*_Stage_\d+_[XY]Block_\d+)_"):
        if match := re.match(pattern, layer_name):
            return match.group(1)
    return layer_name


def layer_units(model: keras.Model, cfg: PruneConfig, unit: str) -> dict[str, list[str]]:
    """Unit name → the prunable layers (in `prune.scope`) it holds, in model order."""
    units: dict[str, list[str]] = {}
    for layer in model.layers:
        if in_scope(layer, cfg):
            units.setdefault(block_of(layer.name) if unit == "block" else layer.name, []).append(layer.name)
    return units


def magnitude_mask(values: np.ndarray, sparsity: float) -> np.ndarray:
    """Boolean keep-mask zeroing the round(sparsity·n) smallest-magnitude entries (ties by position)."""
    flat = np.abs(values).ravel()
    drop = int(round(sparsity * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    if drop:
        keep[np.argsort(flat, kind="stable")[:drop]] = False
    return keep.reshape(values.shape)


def accuracy_pct(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    probs = model.predict(x, batch_size=256, verbose=0)
    return 100.0 * float(np.mean(probs.argmax(1) == y))


def scan(model: keras.Model, units: dict[str, list[str]], levels: tuple[float, ...],
         x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """Accuracy with each unit pruned alone at each level; the model is left as it was.

    Args:
        model: the dense model (its weights are modified and restored in place).
        units: unit name → layer names (see `layer_units`).
        levels: sparsities to prune each unit to.
        x, y: scoring images and labels (the validation split).

    Returns:
        One row per unit and level: COLUMNS.
    """
    baseline = accuracy_pct(model, x, y)
    rows = []
    for unit, names in units.items():
        weights = [(getattr(model.get_layer(n), w), getattr(model.get_layer(n), w).numpy())
                   for n in names for w in prunable_weight_names(model.get_layer(n))]
        params = int(sum(original.size for _, original in weights))
        try:
            for level in levels:
                for variable, original in weights:
                    variable.assign(original * magnitude_mask(original, level))
                acc = accuracy_pct(model, x, y)
                rows.append({"unit": unit, "layers": " ".join(names), "params": params, "sparsity": level,
                             "val_accuracy_pct": acc, "drop_pts": baseline - acc})
        finally:
            for variable, original in weights:
                variable.assign(original)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _allocation(curves: dict[str, tuple[np.ndarray, np.ndarray]], tolerance: float, max_s: float) -> dict[str, float]:
    """Per unit: the highest sparsity (≤ max_s) whose interpolated drop stays ≤ tolerance."""
    out = {}
    for unit, (levels, drops) in curves.items():
        if drops[-1] <= tolerance:  # never hurts as much as `tolerance` up to the last level measured
            out[unit] = max_s
            continue
        i = int(np.argmax(drops > tolerance))  # first level above tolerance (levels[0] = 0, drop 0)
        lo, hi = levels[i - 1], levels[i]
        t = (tolerance - drops[i - 1]) / (drops[i] - drops[i - 1])
        out[unit] = float(min(max_s, lo + t * (hi - lo)))
    return out


def derive_targets(table: pd.DataFrame, units: dict[str, list[str]], params: dict[str, int],
                   target: float, max_s: float) -> dict[str, float]:
    """Per-layer sparsities whose parameter-weighted mean is `target`, spending sparsity where it hurts least.

    Every unit gets the highest sparsity at which its measured drop stays under one shared
    tolerance (drops interpolated linearly between levels, made non-decreasing in sparsity, 0 at
    sparsity 0); the tolerance is bisected until the weighted mean over the units' parameters
    meets `target`, then the two allocations around it are blended to hit it exactly. Layers of a
    unit share its sparsity.

    Args:
        table: `scan` output (unit, params, sparsity, drop_pts).
        units: unit → layer names.
        params: layer → prunable weights.
        target: overall sparsity of the prunable weights, 0 < target <= max_s.
        max_s: cap for any layer.

    Returns:
        layer name → target sparsity.

    Raises:
        PipelineError: the scan does not cover the units of this model.
    """
    missing = set(units) - set(table["unit"])
    if missing:
        raise PipelineError(f"sensitivity scan lacks units {sorted(missing)[:3]}; rerun `python -m pruneflow sensitivity`")
    curves = {}
    for unit in units:
        rows = table[table["unit"] == unit].sort_values("sparsity")
        levels = np.r_[0.0, rows["sparsity"].to_numpy(float)]
        drops = np.maximum.accumulate(np.r_[0.0, np.clip(rows["drop_pts"].to_numpy(float), 0.0, None)])
        curves[unit] = (levels, drops)
    weight = {unit: sum(params[n] for n in names) for unit, names in units.items()}
    total = sum(weight.values())

    def mean(alloc: dict[str, float]) -> float:
        return sum(weight[u] * s for u, s in alloc.items()) / total

    lo, hi = 0.0, max(float(d[-1]) for _, d in curves.values()) + 1.0
    low, high = _allocation(curves, lo, max_s), _allocation(curves, hi, max_s)
    if mean(low) >= target:  # even zero tolerance overshoots: scale the free sparsity down
        scale = target / mean(low)
        return {n: low[u] * scale for u, names in units.items() for n in names}
    for _ in range(60):
        mid = (lo + hi) / 2
        alloc = _allocation(curves, mid, max_s)
        if mean(alloc) < target:
            lo, low = mid, alloc
        else:
            hi, high = mid, alloc
    a = (mean(high) - target) / (mean(high) - mean(low)) if mean(high) > mean(low) else 0.0
    return {n: a * low[u] + (1 - a) * high[u] for u, names in units.items() for n in names}


def layer_targets(dense: keras.Model, table: pd.DataFrame, prune: PruneConfig, cfg: SensitivityConfig) -> dict[str, float]:
    """Per-layer targets for `dense` from its scan `table` at `cfg.target_sparsity` (see `derive_targets`)."""
    params: dict[str, int] = {}
    for layer, _, values in prunable_weights(dense):
        if in_scope(layer, prune):
            params[layer.name] = params.get(layer.name, 0) + int(values.size)
    return derive_targets(table, layer_units(dense, prune, cfg.unit), params, cfg.target_sparsity, cfg.max_layer_sparsity)


def read_sensitivity(path: Path) -> pd.DataFrame:
    """The sensitivity table.

    Raises:
        PipelineError: missing or without the expected columns.
    """
    try:
        table = pd.read_csv(require(path, "sensitivity"))
    except (OSError, ValueError, pd.errors.ParserError):
        raise PipelineError(f"{path}: not a sensitivity table; run `python -m pruneflow sensitivity` (or dvc repro)") from None
    if not set(COLUMNS) <= set(table.columns):
        raise PipelineError(f"{path}: not a sensitivity table; run `python -m pruneflow sensitivity` (or dvc repro)")
    return table


