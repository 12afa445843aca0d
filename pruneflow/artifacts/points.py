"""The folder of one trained point (a sweep point, the derived point, a channel-pruned model, the
stacked model, the uniform-width baseline): its file names and its `point.json` (pure; no TensorFlow).

The stages that only read points (channel_bench, sweep) import this, not the modules that train
them: an edit to a training recipe then reruns the training stages, and the readers only when the
files they read change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pruneflow.artifacts.files import atomic_dir
from pruneflow.errors import PipelineError, require

POINT_FILE = "point.json"     # accuracy, sparsity, sizes, MACs of the point (what repeats exactly)
TARGETS_FILE = "targets.csv"  # the derived point's per-layer target sparsities
FLOAT_FILE, INT8_FILE = "model.tflite", "model.int8.tflite"
STRIPPED_FILE = "pruned_stripped.keras"  # a magnitude-pruned point's stripped Keras model
MODEL_FILE = "model.keras"               # a channel-pruned or uniform-width point's Keras model
WIDTHS_FILE, LOG_FILE = "widths.csv", "epochs.csv"  # a channel point's group widths and epoch log
BUDGETS_FILE = "budgets.json"  # paths.channel_budget: each budget's name, format, target and predicted ms
PREDICTIONS_FILE = "predictions.csv"  # each test image's class index by the Keras model and both TFLite files
PREDICTION_COLUMNS = ("keras", "float", "int8")
NOT_APPLICABLE_FILE = "NOT_APPLICABLE"   # in paths.pqat when tfmot's QAT refuses the model: the reason


def read_point(directory: Path, producer: str) -> dict[str, Any]:
    """A point's `point.json`.

    Raises:
        PipelineError: missing or unreadable.
    """
    path = require(directory / POINT_FILE, producer)
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise PipelineError(f"{path}: not JSON; run `python -m pruneflow {producer}` (or dvc repro) again") from None


def is_model(point: dict[str, Any]) -> bool:
    """Whether a point's folder holds a model: False for a record that says why there is none (a
    channel plan with nothing to remove, a baseline that does not apply)."""
    return bool(point.get("applicable", True))


def same_plan_as(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each channel point whose kept widths (`kept_channels`, every group's width after pruning) equal
    an earlier point's → that earlier point's name: one plan, so one model trained twice, not two
    results. Records without widths (not channel models, runs from before them) are left out."""
    first: dict[str, str] = {}
    same: dict[str, str] = {}
    for name, record in records.items():
        widths = record.get("kept_channels")
        if not widths or not is_model(record):
            continue
        key = json.dumps(widths, sort_keys=True)
        if key in first:
            same[name] = first[key]
        else:
            first[key] = name
    return same


def write_record(out_dir: Path, point: dict[str, Any]) -> dict[str, Any]:
    """Replace `out_dir` with `point.json` alone: a point that is not a model says why; return it."""
    with atomic_dir(out_dir) as tmp:
        (tmp / POINT_FILE).write_text(json.dumps(point, indent=2) + "\n")
    return point
