"""Stage uniform_baseline: the architecture at the width multiplier whose MACs match the channel-pruned
model's, trained from scratch with the dense recipe → `paths.uniform_baseline/` (does pruning beat
training the smaller model?)."""

from __future__ import annotations

from pruneflow.channels.training import uniform_baseline
from pruneflow.config.params import Config


def run(cfg: Config) -> None:
    """Edge: find the matching alpha, train, export (float, int8), score."""
    point = uniform_baseline(cfg)
    if not point.get("applicable", True):
        print(f"uniform_baseline: not applicable: {point['reason']}")
        return
    print(f"uniform_baseline: alpha {point['alpha']} ({point['macs'] / 1e6:.1f} M MACs vs {point['target_macs'] / 1e6:.1f} M "
          f"target): accuracy {point['test_accuracy_pct']:.2f} %")
