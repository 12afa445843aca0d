"""One extra seed of the headline models (stage seed_run@<seed>): the main pipeline's own recipes,
called with the seed's config (`pruneflow.stats.seeds.seed_config`), from the prepared data alone.

dense (train recipe, or `model.file` adopted) → unstructured (the main prune at `prune.final_sparsity`,
stripped) → channel (`channels.keep`, fine-tuned) → stacked (the channel model magnitude-pruned to
`channels.stacked_sparsity`) → uniform width (the channel model's MACs, trained from scratch for dense
training's steps plus the fine-tune's). Each is the training function its stage calls; unlike the
stages, a seed run exports no TFLite file (a seed moves accuracy, not speed: it saves six conversions
a seed) and scores every model in Keras on the test split. The seed's folder is published as a whole
when the stage succeeds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pruneflow.artifacts.files import atomic_dir
from pruneflow.channels.training import baseline_not_applicable, channel_prune, matching_alpha, scratch_budget
from pruneflow.config.params import Config
from pruneflow.config.studies import SweepPoint
from pruneflow.magnitude.pruning import prune_model, strip
from pruneflow.magnitude.sweep_points import point_config
from pruneflow.models.data import load_classes, load_split
from pruneflow.models.macs import count_macs
from pruneflow.models.store import save_model
from pruneflow.models.training import adopt_dense, train_dense
from pruneflow.stats.seeds import ACCURACY_FILE, MODELS, PREDICTIONS_FILE, seed_config
from pruneflow.tf_env import keras


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
    with atomic_dir(out_dir) as tmp:  # the folder is published at once when every model is scored
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
        channel, _ = channel_prune(dense, s, cfg.channels.keep, train, val)
        models = {"channel": channel, "stacked": _stacked(s, channel, tmp, train, val)}
        if baseline_not_applicable(s) is None:
            models["uniform_width"] = _uniform_width(s, channel, train, val, len(classes))
        for name, model in models.items():
            save_model(model, tmp / f"{name}.keras")
            predictions[name] = predicted(model, x)
        pd.DataFrame(predictions).to_csv(tmp / PREDICTIONS_FILE, index=False)
        record = {"seed": seed, "test_images": int(len(y)),
                  "accuracy_pct": {name: 100.0 * float(np.mean(predictions[name] == y)) if name in predictions else None
                                   for name in MODELS}}
        (tmp / ACCURACY_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record


def _stacked(s: Config, channel: keras.Model, tmp: Path, train: tuple[np.ndarray, np.ndarray],
             val: tuple[np.ndarray, np.ndarray]) -> keras.Model:
    """The channel model magnitude-pruned with the prune recipe at `channels.stacked_sparsity`, stripped
    (what `pruneflow.magnitude.stacked.stacked` trains)."""
    source = tmp / "channel_for_stacked.keras"
    save_model(channel, source)
    point = point_config(s, SweepPoint(s.channels.stacked_sparsity, s.prune.schedule))
    model = strip(prune_model(source, point, train, val))
    source.unlink()
    return model


def _uniform_width(s: Config, channel: keras.Model, train: tuple[np.ndarray, np.ndarray],
                   val: tuple[np.ndarray, np.ndarray], classes: int) -> keras.Model:
    """The architecture at the alpha matching the channel model's MACs, trained from scratch with the
    Scratch-B budget (what `pruneflow.channels.training.uniform_baseline` trains)."""
    alpha, _ = matching_alpha(s, count_macs(channel), classes)
    budget = scratch_budget(s, len(train[0]))
    narrow = s.model_copy(update={"model": s.model.model_copy(update={"alpha": alpha}),
                                  "train": s.train.model_copy(update={"epochs": budget["epochs"], "min_steps": 0})})
    model, _, _ = train_dense(narrow, train, val, classes)
    return model
