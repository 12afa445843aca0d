"""Stage sweep_derived: prune with per-layer targets derived from the sensitivity scan.

Same recipe, seed and overall sparsity (`sensitivity.target_sparsity`, over the prunable weights) as
the uniform sweep point at that sparsity; only the split of the sparsity across layers differs
(see `pruneflow.magnitude.sensitivity.derive_targets`), so the two test accuracies compare the allocations.
"""

from __future__ import annotations

from pruneflow.artifacts.files import atomic_dir
from pruneflow.config.params import Config
from pruneflow.config.studies import SweepPoint
from pruneflow.errors import require
from pruneflow.magnitude.sensitivity import layer_targets, read_sensitivity
from pruneflow.magnitude.sweep_points import point_config, prune_and_write
from pruneflow.models.store import load_model


def run(cfg: Config) -> None:
    """Edge: per-layer targets from the sensitivity scan at `sensitivity.target_sparsity`."""
    p = cfg.paths
    if not cfg.sensitivity.derive:
        with atomic_dir(p.derived) as tmp:
            (tmp / "DISABLED").write_text("sensitivity.derive is false: no derived targets were pruned\n")
        print("sweep_derived: sensitivity.derive is false; nothing to do")
        return
    targets = layer_targets(load_model(require(p.dense_model, "train_dense")), read_sensitivity(p.sensitivity),
                            cfg.prune, cfg.sensitivity)
    point = SweepPoint(cfg.sensitivity.target_sparsity, "polynomial")
    result = prune_and_write(point_config(cfg, point), p.derived,
                             {"point": f"derived-{point.sparsity}", "kind": "derived",
                              "target_sparsity": point.sparsity, "schedule": point.schedule}, targets)
    print(f"sweep_derived: accuracy {result['test_accuracy_pct']:.2f} %, sparsity {result['sparsity_prunable_pct']:.1f} %")
