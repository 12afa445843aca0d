"""Seeds: the headline models retrained with `seeds` seeds, and the spread of their test accuracy
(pure; no TensorFlow, so the evaluate and report stages can read it without loading TensorFlow).

The main pipeline is the run with `seed`; each extra seed (seed+1 .. seed+seeds-1) is one `seed_run`
stage (`pruneflow.evaluation.seed_training`), which writes `paths.seeds/<seed>/`: the five models, their per-image
test predictions (`predictions.csv`) and their Keras test accuracies (`accuracy.json`). `spread`
puts the main run's accuracies and every seed folder's together, per model.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from pruneflow.config.params import Config
from pruneflow.errors import PipelineError

# The headline models, as reports/channels.json and predictions.csv name them.
MODELS = ("dense", "unstructured", "channel", "stacked", "uniform_width")
PREDICTIONS_FILE = "predictions.csv"  # per test image: `actual`, then each model's predicted class index
ACCURACY_FILE = "accuracy.json"       # {"seed": 43, "test_images": n, "accuracy_pct": {model: pct or null}}


def seed_config(cfg: Config, seed: int, folder: Path) -> Config:
    """`cfg` retrained with `seed`, every headline model's path inside `folder` (nothing of the main run
    is read or written: the seed's dense model is its own)."""
    paths = cfg.paths.model_copy(update={
        "dense_model": folder / "dense.keras", "pruned_model": folder / "pruned_wrapped.keras",
        "stripped_model": folder / "pruned_stripped.keras", "train_log": folder / "train_dense.csv",
        "prune_log": folder / "prune_epochs.csv", "channel": folder / "channel", "stacked": folder / "stacked",
        "uniform_baseline": folder / "uniform_baseline"})
    return cfg.model_copy(update={"seed": seed, "paths": paths})


def main_accuracies(channel_bench: Path) -> dict[str, float | None]:
    """The main run's Keras test accuracy (percent) of each headline model, from `paths.channel_bench`
    (reports/channels.json, which holds all five); None for a model it does not have (a uniform-width
    baseline that does not apply)."""
    try:
        models = json.loads(Path(channel_bench).read_text())["models"]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{channel_bench}: missing or unreadable ({type(exc).__name__}); "
                            "run `python -m pruneflow channel_bench`") from None
    return {name: (models.get(name) or {}).get("test_accuracy_pct") for name in MODELS}


def read_seed(folder: Path, seed: int) -> dict[str, float | None]:
    """One extra seed's accuracies (percent, None where a model does not apply).

    Raises:
        PipelineError: the folder has no accuracy.json: its seed_run stage has not run — after a new
            `seeds`, dvc.yaml's seed_run matrix must be regenerated (`make dvc.yaml`) before `dvc repro`.
    """
    path = folder / ACCURACY_FILE
    try:
        return json.loads(path.read_text())["accuracy_pct"]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: missing or unreadable ({type(exc).__name__}); run `python -m pruneflow "
                            f"seed_run --seed {seed}` (after changing `seeds`: `make dvc.yaml`, then `dvc repro`)") from None


def spread(cfg: Config, main: dict[str, float | None] | None = None) -> dict[str, dict[str, Any]]:
    """Each headline model's test accuracy over the seeds: the main run's and every extra seed's.

    Args:
        cfg: `seed`, `seeds` and `paths.seeds` (the extra seeds' folders), and `paths.channel_bench`
            when `main` is not given.
        main: the main run's accuracy (percent) per model, as `main_accuracies` reads it (the default).

    Returns:
        Per model (in `MODELS` order, only those with at least one accuracy): `n` (seeds scored),
        `mean_pct`, `sd_pct` (sample standard deviation, ddof=1; None for n=1), `min_pct`, `max_pct`
        and `per_seed` ({seed: pct}, the main run under `cfg.seed` first).

    Raises:
        PipelineError: an extra seed's folder is missing (`read_seed`).
    """
    main = main_accuracies(cfg.paths.channel_bench) if main is None else main
    runs = {cfg.seed: main, **{p.seed: read_seed(cfg.paths.seeds / p.name, p.seed) for p in cfg.extra_seeds()}}
    out = {}
    for model in MODELS:
        per_seed = {seed: float(acc[model]) for seed, acc in runs.items() if acc.get(model) is not None}
        if not per_seed:
            continue
        values = list(per_seed.values())
        out[model] = {"n": len(values), "mean_pct": statistics.fmean(values),
                      "sd_pct": statistics.stdev(values) if len(values) > 1 else None,
                      "min_pct": min(values), "max_pct": max(values), "per_seed": per_seed}
    return out
