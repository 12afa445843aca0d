"""Tiny configs in tmp_path and the images tests write themselves (imported by the tests and by
tests/builds.py, the shared build's recipe)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


# Smallest config that still exercises every stage: the toy architecture (pruneflow/models/toy.py: a dozen
# layers, a TFLite conversion in about a second) at 32 px, a handful of images per class, one epoch
# everywhere. A claim about a real family runs in-process on a model built without training.
TINY: dict[str, Any] = {
    "seed": 7,
    "data": {"source": "mnist5k", "image_size": 32, "samples_per_class": 8,
             "val_fraction": 0.25, "test_fraction": 0.25},
    "model": {"architecture": "toy", "alpha": 0.5, "dense_units": 16},
    "train": {"epochs": 1, "min_steps": 0, "batch_size": 16, "warmup_epochs": 0, "min_margin_pts": None},
    "prune": {"epochs": 2, "min_steps": 20, "frequency": 1, "final_sparsity": 0.8, "learning_rate": 0.0001},
    # Float TFLite only and no PQAT: each extra format costs a conversion in every end-to-end test;
    # tests/test_deploy.py runs every format once.
    "quantize": {"representative_samples": 4, "pqat": False, "pqat_epochs": 1},
    "export": {"formats": ["float"]},
    "bench": {"warmup": 1, "runs": 5, "batch": 4, "batch_warmup": 0, "batch_runs": 3, "threads": [1]},
    # One sweep point besides the main prune's own (0.8) and a two-level scan.
    "sweep": {"sparsities": [0.5], "schedules": ["polynomial"]},
    "sensitivity": {"sparsities": [0.5, 0.9], "target_sparsity": 0.8, "derive": False},
    # No latency budget in the shared build: tests/test_budget.py adds one where it is the subject.
    "channels": {"min_steps": 0, "budget": None, "budget_series": []},
}


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with nested `changes` applied."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def write_params(directory: Path, changes: dict[str, Any] | None = None) -> Path:
    """Write the shipped params.yaml made tiny (plus `changes`) into `directory`; return its path.

    Every key stays present: dvc.yaml templates `paths.*` and `data.folder` from the file itself.
    """
    shipped = yaml.safe_load((REPO / "params.yaml").read_text())
    path = directory / "params.yaml"
    path.write_text(yaml.safe_dump(deep_update(deep_update(shipped, TINY), changes or {}), sort_keys=False))
    return path


def write_image_folder(root: Path, classes: dict[str, int], size: int = 40, mode: str = "RGB") -> Path:
    """A class-per-subfolder dataset: class k is a bright square at a class-specific corner plus noise."""
    rng = np.random.default_rng(0)
    for k, (name, count) in enumerate(classes.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            r, c = (k % 2) * size // 2, (k // 2 % 2) * size // 2
            img[r : r + size // 2, c : c + size // 2] = 230
            Image.fromarray(img).convert(mode).save(root / name / f"img_{i:03d}.png")
    return root


def write_stripes(root: Path, per_class: int, size: int = 32) -> None:
    """Two texture classes the toy architecture learns in seconds: horizontal vs vertical stripes of random
    period and phase, plus noise (a texture survives global pooling; a position would not)."""
    rng = np.random.default_rng(0)
    for k, name in enumerate(("horizontal", "vertical")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            period = int(rng.integers(4, 9))
            stripes = ((np.arange(size) + rng.integers(0, period)) // (period // 2) % 2 * 200).astype(np.int64)
            img = np.tile(stripes[:, None], (1, size)) if k == 0 else np.tile(stripes[None, :], (size, 1))
            img = np.clip(img[..., None] + rng.integers(0, 50, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")


ALL_FORMATS = ("float", "dynamic_range", "int8", "sparse", "sparse_int8")
