"""Stage seed_run@<seed>: the five headline models (dense, unstructured, channel, stacked, uniform width)
retrained with one extra seed (`seeds` > 1: seed+1 .. seed+seeds-1) from the prepared data →
`paths.seeds/<seed>/`: the models, per-image test predictions and Keras test accuracies."""

from __future__ import annotations

from pruneflow.config.params import Config
from pruneflow.config.studies import SeedPoint
from pruneflow.evaluation.seed_training import seed_run


def run(cfg: Config, point: SeedPoint) -> None:
    """Edge: retrain and score the headline models with the point's seed."""
    record = seed_run(cfg, point.seed, cfg.paths.seeds / point.name)
    accuracies = ", ".join(f"{name} {pct:.2f} %" for name, pct in record["accuracy_pct"].items() if pct is not None)
    print(f"seed_run {point.name}: test accuracy {accuracies}")
