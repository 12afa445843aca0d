"""Stage sweep_point@<sparsity>-<schedule>: the main pruning recipe at one other target sparsity and
schedule (`sweep.sparsities` × `sweep.schedules`), from the same dense model → `paths.sweep/<point>/`.
The main prune's own target is not among them: the `sweep` stage reuses the main pipeline's model."""

from __future__ import annotations

from pruneflow.config.params import Config
from pruneflow.config.studies import SweepPoint
from pruneflow.magnitude.sweep_points import point_config, prune_and_write


def run(cfg: Config, point: SweepPoint) -> None:
    """Edge: prune, strip, export (float, int8) and score one point."""
    result = prune_and_write(point_config(cfg, point), cfg.paths.sweep / point.name,
                             {"point": point.name, "kind": "uniform", "target_sparsity": point.sparsity,
                              "schedule": point.schedule})
    if result:
        print(f"sweep_point {point.name}: accuracy {result['test_accuracy_pct']:.2f} %, "
              f"sparsity {result['sparsity_prunable_pct']:.1f} %, gzip {result['tflite_gzip_bytes']} B")
