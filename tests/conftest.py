"""Shared fixtures: tiny configs in tmp_path, images the tests write themselves, an isolated Prefect home."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # One Prefect home per test session: its own database and result storage, so tests never
    # see (or lock) the user's ~/.prefect. Set before anything imports prefect.
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="pruneflow-test-prefect-")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


# Smallest config that still exercises every stage: 32 px (MobileNet's minimum), width 0.35,
# a handful of images per class, one epoch everywhere.
TINY: dict[str, Any] = {
    "seed": 7,
    "data": {"source": "mnist5k", "image_size": 32, "samples_per_class": 8,
             "val_fraction": 0.25, "test_fraction": 0.25},
    "model": {"alpha": 0.35},
    "train": {"epochs": 1, "batch_size": 16, "warmup_epochs": 0},
    "prune": {"epochs": 2, "frequency": 1, "final_sparsity": 0.8, "learning_rate": 0.0001},
    # Float TFLite only and no PQAT: each extra format costs a conversion in every end-to-end test;
    # tests/test_deploy.py runs every format once.
    "quantize": {"representative_samples": 4, "pqat": False, "pqat_epochs": 1},
    "export": {"formats": ["float"]},
    "bench": {"warmup": 1, "runs": 5, "batch": 4, "batch_warmup": 0, "batch_runs": 3, "threads": [1]},
    # Two sweep points and a two-level scan: every sweep stage runs, in seconds. The derived-targets
    # point is one more pruning run per pipeline; tests/test_sweep.py runs it once.
    "sweep": {"sparsities": [0.5, 0.8], "schedules": ["polynomial"]},
    "sensitivity": {"sparsities": [0.5, 0.9], "target_sparsity": 0.8, "derive": False},
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


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test from an empty tmp_path (all params paths are relative to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
