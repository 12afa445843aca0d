"""What makes a from-scratch (or transfer-learned) MobileNet learn, and prune, on a few hundred images?

Runs ingest → train_dense (with the quality gate) → prune → strip for each recipe on each dataset, in a
fresh working folder per run, and prints one markdown row per run: dense and pruned test accuracy, the
majority-class rate, the fine-tune's length and the wall time. Recipes are params overrides on top
of params.yaml (dotted keys); datasets are `data.source` values or folders.

    .venv/bin/python benchmarks/small_data.py --data faces200 --recipe default --recipe preset:small
    .venv/bin/python benchmarks/small_data.py --data folder:/tmp/digits --recipe preset:small
    .venv/bin/python benchmarks/small_data.py --data faces200 --recipe 'model.alpha=0.35,data.image_size=32'
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from pruneflow.config.params import parse_config
from pruneflow.models.data import load_classes, load_split, majority_baseline
from pruneflow.errors import PipelineError
from pruneflow.evaluation.variants import evaluate_keras
from pruneflow.models.store import load_model
from pruneflow.config.presets import apply_overrides, preset_overrides
from pruneflow.models.schedule import epochs_for, plan_fine_tune, steps_per_epoch
from tasks import ingest, prune, strip, train_dense

ROOT = Path(__file__).resolve().parents[1]


def recipe_overrides(recipe: str) -> dict:
    """`default`, `preset:<name>`, or `a.b=value,c.d=value` (YAML values), optionally joined by `+`."""
    merged: dict = {}
    for part in recipe.split("+"):
        if part == "default":
            continue
        if part.startswith("preset:"):
            apply_overrides(merged, preset_overrides(part.removeprefix("preset:")))
            continue
        for item in part.split(","):
            key, value = item.split("=", 1)
            node = merged
            *parents, leaf = key.split(".")
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = yaml.safe_load(value)
    return merged


def data_overrides(data: str) -> dict:
    if data.startswith("folder:"):
        return {"data": {"source": "folder", "folder": str(Path(data.removeprefix("folder:")).resolve())}}
    return {"data": {"source": data}}


def run(data: str, recipe: str) -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.pop("paths", None)
    apply_overrides(raw, recipe_overrides(recipe))
    apply_overrides(raw, data_overrides(data))
    weights = raw.get("model", {}).get("weights")
    if weights not in (None, "imagenet"):  # relative to the project, as in params.yaml (runs chdir away)
        raw["model"]["weights"] = str((ROOT / weights).resolve())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work, contextlib.chdir(work):
        cfg = parse_config(raw)
        ingest.run(cfg)
        trn, val = load_split(cfg.paths.prepared, "train"), load_split(cfg.paths.prepared, "val")
        x, y = load_split(cfg.paths.prepared, "test")
        _, chance = majority_baseline(trn[1], y)
        per_epoch = steps_per_epoch(len(trn[0]), cfg.train.batch_size)
        row = {"data": data.rsplit("/", 1)[-1], "recipe": recipe, "images": len(trn[1]) + len(val[1]) + len(y),
               "classes": len(load_classes(cfg.paths.prepared)), "test_n": len(y), "majority_test_pct": chance,
               "dense_epochs": epochs_for(cfg.train.epochs, cfg.train.min_steps, per_epoch)}
        try:
            train_dense.run(cfg)
        except PipelineError as exc:
            row.update(dense_test_pct=float("nan"), pruned_test_pct=float("nan"), note=str(exc)[:80])
            row["seconds"] = time.perf_counter() - start
            return row
        row["dense_test_pct"] = evaluate_keras(load_model(cfg.paths.dense_model), x.astype(np.float32), y)[1]
        plan = plan_fine_tune(cfg.prune, len(trn[0]), cfg.train.batch_size)
        row["prune_steps"] = plan.total_steps
        prune.run(cfg)
        strip.run(cfg)
        row["pruned_test_pct"] = evaluate_keras(load_model(cfg.paths.stripped_model), x.astype(np.float32), y)[1]
    row["seconds"] = time.perf_counter() - start
    return row


COLUMNS = ("data", "recipe", "images", "classes", "test_n", "majority_test_pct", "dense_epochs", "dense_test_pct",
           "prune_steps", "pruned_test_pct", "seconds", "note")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--recipe", action="append", default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for data in args.data:
        for recipe in args.recipe or ["default"]:
            row = run(data, recipe)
            cells = [f"{row[c]:.1f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in COLUMNS]
            print("| " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
