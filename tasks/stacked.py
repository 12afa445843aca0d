"""Stage stacked: the channel-pruned model magnitude-pruned (the prune recipe at
`channels.stacked_sparsity`), stripped and exported float and int8 → `paths.stacked/`."""

from __future__ import annotations

from pruneflow.artifacts.points import is_model
from pruneflow.config.params import Config
from pruneflow.magnitude.stacked import stacked


def run(cfg: Config) -> None:
    """Edge: prune the channel-pruned model's remaining weights, strip, export, score."""
    point = stacked(cfg)
    if not point:  # a worker of a multi-worker run that is not the chief writes and scores nothing
        return
    if not is_model(point):
        print(f"stacked: not applicable: {point['reason']}")
        return
    print(f"stacked: accuracy {point['test_accuracy_pct']:.2f} % (int8 {point['int8_test_accuracy_pct']:.2f} %), "
          f"int8 TFLite gzip {point['int8_tflite_gzip_bytes']} B")
