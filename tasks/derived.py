"""Stage sweep_derived: prune with per-layer targets derived from the sensitivity scan.

Same recipe, seed and overall sparsity (`sensitivity.target_sparsity`, over the prunable weights) as
the uniform sweep point at that sparsity; only the split of the sparsity across layers differs
(see `tasks.sensitivity.derive_targets`), so the two test accuracies compare the allocations.
"""

from __future__ import annotations

import numpy as np

from tasks.config import Config, SweepPoint
from tasks.errors import require
from tasks.io import atomic_dir
from tasks.model import load_model
from tasks.prune import in_scope, prunable_weight_names
from tasks.sensitivity import derive_targets, layer_units, read_sensitivity
from tasks.sweep import point_config, prune_and_write


def run(cfg: Config) -> None:
    """Edge of `sweep_derived`: per-layer targets from the sensitivity scan at `sensitivity.target_sparsity`."""
    p = cfg.paths
    if not cfg.sensitivity.derive:
        with atomic_dir(p.derived) as tmp:
            (tmp / "DISABLED").write_text("sensitivity.derive is false: no derived targets were pruned\n")
        print("sweep_derived: sensitivity.derive is false; nothing to do")
        return
    table = read_sensitivity(p.sensitivity)
    dense = load_model(require(p.dense_model, "train_dense"))
    units = layer_units(dense, cfg.prune, cfg.sensitivity.unit)
    params = {layer.name: sum(int(np.prod(getattr(layer, w).shape)) for w in prunable_weight_names(layer))
              for layer in dense.layers if in_scope(layer, cfg.prune)}
    targets = derive_targets(table, units, params, cfg.sensitivity.target_sparsity,
                             cfg.sensitivity.max_layer_sparsity)
    point = SweepPoint(cfg.sensitivity.target_sparsity, "polynomial")
    result = prune_and_write(point_config(cfg, point), p.derived,
                             {"point": f"derived-{point.sparsity}", "kind": "derived",
                              "target_sparsity": point.sparsity, "schedule": point.schedule}, targets)
    print(f"sweep_derived: accuracy {result['test_accuracy_pct']:.2f} %, sparsity {result['sparsity_prunable_pct']:.1f} %")
