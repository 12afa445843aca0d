"""End to end on a model the user brings: a classifier written in plain tf_keras outside pruneflow (a
squeeze-excitation block, a concatenation, a residual add, its base nested under the head) and a
keras.applications family (MobileNetV3Small, nested), each trained briefly in the test and saved;
then `dvc repro` on a small image folder makes every model and the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pruneflow.tf_env import keras
from tests.conftest import changed_stages, clone_layout, deep_update, dvc, outputs, run_command, write_params, write_stripes
from tests.own_models import applications_classifier, user_classifier

pytestmark = pytest.mark.slow

# The tiny build's settings, with the latency at the data's own side (no extra conversions).
OWN = {"data": {"source": "folder", "samples_per_class": None, "val_fraction": 0.25, "test_fraction": 0.25},
       "channels": {"resolution": 32, "resolution_runs": 5, "multiple": 4, "epochs": 1}}


def trained_briefly(build: Callable[[int], keras.Model], folder: Path, path: Path) -> None:
    """Train the user's model for two epochs on the folder's images (raw pixels, as the pipeline feeds them)."""
    from PIL import Image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images, labels = [], []
    for k, name in enumerate(classes):
        for file in sorted((folder / name).iterdir()):
            images.append(np.asarray(Image.open(file).convert("RGB").resize((32, 32)), np.float32))
            labels.append(k)
    model = build(len(classes))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.stack(images), np.array(labels), epochs=2, batch_size=16, verbose=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def reproduce(root: Path, build: Callable[[int], keras.Model], file_name: str) -> Path:
    clone_layout(root)
    write_stripes(root / "data" / "raw", per_class=24)
    trained_briefly(build, root / "data" / "raw", root / "models" / "own" / file_name)
    write_params(root, deep_update(OWN, {"model": {"file": f"models/own/{file_name}", "adopt": "keep"}}))
    run_command(["git", "init", "-q"], root)
    dvc(root, "init", "-q")
    dvc(root, "config", "core.analytics", "false")
    (root / "repro.log").write_text(dvc(root, "repro").stdout)
    return root


def check_every_output(root: Path) -> dict:
    missing = [path for path, state in outputs(root).items() if state == "missing"]
    assert not missing, missing
    metrics = json.loads((root / "metrics.json").read_text())
    channels = metrics["channels"]
    assert channels["channel"]["params"] < channels["dense"]["params"]  # channels really removed
    assert "uniform_width" not in channels  # an adopted model has no width multiplier ...
    report = (root / "reports" / "report.md").read_text()
    assert "Uniform-width baseline: not applicable" in report  # ... and the report says so
    baseline = json.loads((root / "uniform_baseline" / "point.json").read_text())
    assert baseline["applicable"] is False and "model.file" in baseline["reason"]
    return metrics


@pytest.mark.parametrize(("build", "file_name"), [
    (lambda n: user_classifier(n), "user.keras"),
    (lambda n: applications_classifier(n), "mnv3.h5"),
], ids=["plain tf_keras (SE, concat, residual, nested base)", "keras.applications MobileNetV3Small (nested, .h5)"])
def test_dvc_repro_prunes_a_model_trained_outside_pruneflow_end_to_end(tmp_path: Path, build, file_name: str) -> None:
    root = reproduce(tmp_path, build, file_name)
    metrics = check_every_output(root)
    assert metrics["dense"]["test_accuracy_pct"] >= 0  # scored on the data
    assert changed_stages(root) == set()
