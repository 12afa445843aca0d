"""One extra seed of the headline models (stage seed_run@<seed>): the main pipeline's own recipes,
called with the seed's config (`pruneflow.seeds.seed_config`), from the prepared data alone.

dense (train recipe, or `model.file` adopted) → unstructured (the main prune at `prune.final_sparsity`,
stripped) → channel (`channels.keep`, fine-tuned) → stacked (the channel model magnitude-pruned) →
uniform width (the channel model's MACs, trained from scratch). The channel, stacked and baseline
folders are written by their own functions (with their float and int8 TFLite files: those functions
export as they score); then every model is scored in Keras on the test split. The seed's folder is
published as a whole when the stage succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.channel_training import channel_point, stacked, uniform_baseline
from pruneflow.config import Config
from pruneflow.data import load_classes, load_split
from pruneflow.io import atomic_dir
from pruneflow.model import load_model, save_model
from pruneflow.points import MODEL_FILE, STRIPPED_FILE
from pruneflow.pruning import prune_model, strip
from pruneflow.seeds import ACCURACY_FILE, MODELS, PREDICTIONS_FILE, seed_config
from pruneflow.tf_env import keras
from pruneflow.training import adopt_dense, train_dense


def predicted(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Each image's predicted class index."""
    return model.predict(x.astype(np.float32), batch_size=256, verbose=0).argmax(1)


def seed_run(cfg: Config, seed: int, out_dir: Path) -> dict[str, Any]:
    """Retrain the five headline models with `seed` and replace `out_dir` with them, their per-image
    test predictions (`predictions.csv`) and Keras test accuracies (`accuracy.json`).

    Args:
        cfg: the pipeline's config (its recipes; its own `seed` is not used).
        seed: the seed every model of this run is trained with.
        out_dir: `paths.seeds/<seed>`.

    Returns:
        The accuracy record written to `accuracy.json`.
    """
    prepared = cfg.paths.prepared
    classes = load_classes(prepared)
    train, val, (x, y) = (load_split(prepared, split) for split in ("train", "val", "test"))
    predictions: dict[str, np.ndarray] = {"actual": y}
    with atomic_dir(out_dir) as tmp:  # files inside are published at once (stacked reads channel's)
        s = seed_config(cfg, seed, tmp)
        if cfg.model.file is None:
            dense, log, _ = train_dense(s, train, val, len(classes))
        else:
            dense, log, _ = adopt_dense(s, train, val, classes)
        save_model(dense, s.paths.dense_model)
        log.write()
        predictions["dense"] = predicted(dense, x)
        unstructured = strip(prune_model(s.paths.dense_model, s, train, val))
        save_model(unstructured, s.paths.stripped_model)
        predictions["unstructured"] = predicted(unstructured, x)
        channel_point(s, cfg.channels.keep, s.paths.channel)
        stacked(s)
        baseline = uniform_baseline(s)
        files = {"channel": s.paths.channel / MODEL_FILE, "stacked": s.paths.stacked / STRIPPED_FILE,
                 "uniform_width": s.paths.uniform_baseline / MODEL_FILE}
        for name, path in files.items():
            if name != "uniform_width" or baseline.get("applicable", True):
                predictions[name] = predicted(load_model(path), x)
        pd.DataFrame(predictions).to_csv(tmp / PREDICTIONS_FILE, index=False)
        record = {"seed": seed, "test_images": int(len(y)),
                  "accuracy_pct": {name: 100.0 * float(np.mean(predictions[name] == y)) if name in predictions else None
                                   for name in MODELS}}
        (tmp / ACCURACY_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
