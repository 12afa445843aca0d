"""Stage prune: magnitude-prune the saved dense model while fine-tuning it.

`prune_low_magnitude` wraps the *same* layer objects it is given, so fine-tuning a wrapped
in-memory model silently changes the dense baseline: this stage always starts from the dense
artifact on disk and never writes to it.
"""

from __future__ import annotations

from pruneflow.artifacts.files import atomic_dir
from pruneflow.config.params import Config
from pruneflow.magnitude.pruning import (
    StepSparsityLog,
    deterministic_events,
    mask_sparsity,
    prune_model,
    pruning_summaries,
)
from pruneflow.models.data import load_split
from pruneflow.models.fit import EpochLog, distribution, is_chief
from pruneflow.models.schedule import plan_fine_tune
from pruneflow.models.store import save_model


def run(cfg: Config) -> dict[str, list[float]] | None:
    """Edge: load the dense artifact, prune-fine-tune, write the wrapped model and the pruning logs;
    return the epochs' wall seconds."""
    prepared = cfg.paths.prepared
    train = load_split(prepared, "train")
    steps = StepSparsityLog(every=plan_fine_tune(cfg.prune, len(train[0]), cfg.train.batch_size).frequency)
    epochs = EpochLog(cfg.paths.prune_log, extra=lambda m: {"sparsity": round(mask_sparsity(m), 6)})
    with atomic_dir(cfg.paths.prune_summaries) as summaries:
        callbacks = [steps, epochs, pruning_summaries(summaries)]
        pruned = prune_model(cfg.paths.dense_model, cfg, train, load_split(prepared, "val"), callbacks)
        if not is_chief(distribution(cfg.train.strategy)):
            return None
        deterministic_events(summaries)
        save_model(pruned, cfg.paths.pruned_model)
        steps.write(cfg.paths.prune_steps)
        epochs.write()
    print(f"prune: mask sparsity {mask_sparsity(pruned):.4f} → {cfg.paths.pruned_model}")
    return {"epoch_seconds": epochs.seconds}

