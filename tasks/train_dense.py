"""Stage train_dense: train the dense classifier from the prepared splits, or adopt `model.file` (a
classifier trained elsewhere) as it is or fine-tuned."""

from __future__ import annotations

from pruneflow.config.params import Config
from pruneflow.models.data import load_classes, load_split, majority_baseline
from pruneflow.models.fit import distribution, is_chief
from pruneflow.models.store import save_model
from pruneflow.models.training import adopt_dense, quality_gate, train_dense


def run(cfg: Config) -> dict[str, list[float]] | None:
    """Edge: read the prepared splits, train, write the dense model and its training curve; return the
    epochs' wall seconds (for the stage's timing file)."""
    prepared = cfg.paths.prepared
    classes = load_classes(prepared)
    strategy = distribution(cfg.train.strategy)
    train, val = load_split(prepared, "train"), load_split(prepared, "val")
    if cfg.model.file is None:
        model, log, epoch = train_dense(cfg, train, val, len(classes), strategy)
    else:
        model, log, epoch = adopt_dense(cfg, train, val, classes, strategy)
    best = log.rows[epoch - 1]  # its "epoch" is the log's own count: 1, 2, ... trained; 0 the model as adopted
    majority, chance_pct = majority_baseline(train[1], val[1])
    quality_gate(cfg, 100.0 * best["val_accuracy"], chance_pct, classes[majority])
    if not is_chief(strategy):  # a multi-worker cluster: workers train, the chief alone writes
        return
    save_model(model, cfg.paths.dense_model)
    log.write()
    print(f"train_dense: best val_accuracy {best['val_accuracy']:.4f} at epoch {best['epoch']} of "
          f"{cfg.paths.train_log} → {cfg.paths.dense_model}")
    return {"epoch_seconds": log.seconds}

