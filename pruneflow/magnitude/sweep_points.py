"""Sweep points: the main pruning recipe at other target sparsities (stages sweep_point, sweep_derived).

Every point starts from the same saved dense model and is pruned, stripped, exported (float and int8
TFLite) and scored like the main pipeline, with only `prune.final_sparsity` and `prune.schedule`
changed (`sweep.sparsities` × `sweep.schedules`). `sweep_derived` prunes with the per-layer targets
derived from the sensitivity scan instead of one uniform target. Points are independent, so DVC
(matrix) and the Prefect flow (a wave on the task runner, optionally Dask) can run them in any order
or in parallel; `pruneflow.magnitude.sweep_table` times them afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.artifacts.files import atomic_dir
from pruneflow.artifacts.points import FLOAT_FILE, INT8_FILE, POINT_FILE, PREDICTIONS_FILE, STRIPPED_FILE, TARGETS_FILE
from pruneflow.config.params import Config
from pruneflow.config.studies import SweepPoint
from pruneflow.deploy.scoring import score_point
from pruneflow.deploy.tflite import calibration_images, convert_file, in_processes
from pruneflow.errors import require
from pruneflow.magnitude.pruning import prune_model, strip
from pruneflow.models.data import load_split
from pruneflow.models.fit import distribution, is_chief
from pruneflow.models.store import save_model


def point_config(cfg: Config, point: SweepPoint) -> Config:
    """`cfg` with the point's target sparsity and schedule (unstructured magnitude pruning)."""
    prune = cfg.prune.model_copy(update={"final_sparsity": point.sparsity, "schedule": point.schedule,
                                         "sparsity_m_by_n": None})
    return cfg.model_copy(update={"prune": prune})


def prune_and_write(cfg: Config, out_dir: Path, identity: dict[str, Any],
                    targets: dict[str, float] | None = None) -> dict[str, Any]:
    """Prune the saved dense model under `cfg.prune` (or per-layer `targets`), strip, export, score,
    and replace `out_dir` with the point's files and its `point.json`."""
    prepared = cfg.paths.prepared
    train, val, test = (load_split(prepared, split) for split in ("train", "val", "test"))
    pruned = prune_model(require(cfg.paths.dense_model, "train_dense"), cfg, train, val, targets=targets)
    stripped = strip(pruned)
    if not is_chief(distribution(cfg.train.strategy)):
        return {}
    with atomic_dir(out_dir) as tmp:
        save_model(stripped, tmp / STRIPPED_FILE)
        calibration = calibration_images(train[0], cfg.quantize.representative_samples)
        float_fb, int8_fb = in_processes(convert_file, [(tmp / STRIPPED_FILE, "float"),
                                                        (tmp / STRIPPED_FILE, "int8", calibration)])
        (tmp / FLOAT_FILE).write_bytes(float_fb)
        (tmp / INT8_FILE).write_bytes(int8_fb)
        # no wall-clock seconds here: the folder is a DVC output (the stage's timing file has them)
        scores = score_point(stripped, float_fb, int8_fb, tmp / STRIPPED_FILE, test, tmp / PREDICTIONS_FILE)
        point = {**identity, **scores}
        if targets is not None:
            pd.DataFrame({"layer": list(targets), "target_sparsity": list(targets.values())}).to_csv(
                tmp / TARGETS_FILE, index=False, float_format="%.6f")
        (tmp / POINT_FILE).write_text(json.dumps(point, indent=2) + "\n")
    return point
