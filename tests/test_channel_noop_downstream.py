"""A channel plan that removes nothing leaves only `point.json` records (`applicable: false`): the stages
that read channel models skip them instead of looking for files that are not there — the stacked edge,
evaluate's paired predictions, the sweep's channel and budget series, the extra seeds and the early
headline. Records and a toy model written here; nothing trains."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pruneflow.artifacts.points import POINT_FILE, PREDICTIONS_FILE
from pruneflow.config.params import load_config
from pruneflow.magnitude.sweep_table import channel_series
from pruneflow.models.store import save_model
from pruneflow.stats.differences import point_columns, point_folders
from pruneflow.tf_env import keras
from pruneflow.tools.headline import format_rows, headline_rows
from tasks import stacked as stacked_stage
from tests.helpers import write_params

pytestmark = pytest.mark.timeout(60)
REASON = "nothing to remove at multiple 16: 12 channels (channels.multiple 8 would prune: keep 0.5 keeps 8 of 12)"
NOTHING = {"kind": "channel", "applicable": False, "status": "nothing_to_remove", "reason": REASON}
IMAGES = 6


def _write(folder: Path, record: dict, predictions: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / POINT_FILE).write_text(json.dumps(record))
    if predictions:
        pd.DataFrame({"keras": [0, 1] * (IMAGES // 2), "float": [0] * IMAGES, "int8": [1] * IMAGES}).to_csv(
            folder / PREDICTIONS_FILE, index=False)


def _config(tmp_path: Path):
    """The shipped params made tiny, every path under `tmp_path`; one other keep (0.25), budgets on."""
    budgets = {"budget": {"speedup_x": 2.2, "format": "int8", "threads": 1, "allocation": "greedy"},
               "budget_series": [{"speedup_x": 9.0, "format": "int8", "allocation": "uniform"}]}
    cfg = load_config(write_params(tmp_path, {"sensitivity": {"derive": False},
                                              "channels": {"sweep_keeps": [0.25], **budgets}}))
    cfg = cfg.model_copy(update={"paths": cfg.paths.model_copy(
        update={k: tmp_path / v for k, v in cfg.paths.model_dump().items()})})
    assert len(cfg.channels.budgets()) >= 2  # one budget built, one not
    return cfg


def _noop_run(tmp_path: Path):
    """A run whose main channel plan removes nothing: channel, stacked and uniform width are records; the
    0.25 point is a model; the first budget is built, the others unreachable (records)."""
    cfg = _config(tmp_path)
    p = cfg.paths
    _write(p.channel, {"point": "channel-0.5", "keep": 0.5, **NOTHING})
    _write(p.stacked, {"point": "stacked", "kind": "stacked", "applicable": False, "reason": f"no channel model: {REASON}"})
    _write(p.uniform_baseline, {"point": "uniform-width", "kind": "uniform_width", "applicable": False, "reason": "x"})
    _write(p.channel_sweep / "0.25", {"point": "channel-0.25", "kind": "channel", "keep": 0.25, "test_accuracy_pct": 80.0},
           predictions=True)
    first, *others = cfg.channels.budgets()
    _write(p.channel_budget / first.name, {"point": f"budget-{first.name}", "kind": "budget", "budget": {},
                                            "predicted_ms": {"int8": 1.0}, "test_accuracy_pct": 79.0}, predictions=True)
    for budget in others:
        _write(p.channel_budget / budget.name, {"point": f"budget-{budget.name}", "kind": "budget", "applicable": False,
                                                 "status": "unreachable", "reason": "too fast"})
    return cfg, first.name


def test_stacked_stage_without_a_channel_model_prints_the_reason_not_scores(tmp_path, capsys):
    paths = SimpleNamespace(channel=tmp_path / "channel", stacked=tmp_path / "stacked")
    _write(paths.channel, {"point": "channel-0.5", **NOTHING})
    stacked_stage.run(SimpleNamespace(paths=paths))
    assert capsys.readouterr().out == f"stacked: not applicable: no channel-pruned model to stack on: {REASON}\n"
    assert sorted(f.name for f in paths.stacked.iterdir()) == [POINT_FILE]


def test_evaluate_pairs_only_points_that_are_models(tmp_path):
    cfg, built = _noop_run(tmp_path)
    folders = point_folders(cfg)
    sweep = [name for name in folders if name[0].isdigit()]  # sweep points (`0.9-polynomial`) are not in question
    assert sorted(set(folders) - set(sweep)) == sorted(["channel-0.25", f"budget-{built}"])
    for name in sweep:
        _write(folders[name][0], {"point": name}, predictions=True)
    # no predictions.csv is looked for where the point is a record: the columns come from the models alone
    columns = point_columns(cfg, ("a", "b"), IMAGES)
    assert sorted(c for c in columns if not c[0].isdigit()) == sorted(
        f"{name}{suffix}" for name in ("channel-0.25", f"budget-{built}") for suffix in ("", ".float", ".int8"))
    assert columns["channel-0.25"] == ["a", "b"] * (IMAGES // 2)


def test_sweep_channel_series_leaves_out_records_and_keeps_the_models(tmp_path):
    cfg, built = _noop_run(tmp_path)
    points, files = channel_series(cfg)
    assert [p["point"] for p in points] == ["channel-0.25", f"budget-{built}"]
    assert "budget" not in points[1] and "predicted_ms" not in points[1]  # the budget's own fields stay out
    assert files["channel-0.25"]["int8"] == cfg.paths.channel_sweep / "0.25" / "model.int8.tflite"
    assert set(files) == {"channel-0.25", f"budget-{built}"}


def _guide(filters: int = 12) -> keras.Model:
    """Conv2D → MaxPool → global pooling → Dense 10: `filters` channels the pruner may narrow."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D()(x))
    return keras.Model(inputs, keras.layers.Dense(10, name="classes")(x))


def test_early_headline_without_a_channel_model_shows_dense_and_pruned_and_says_why(tmp_path):
    paths = SimpleNamespace(prepared=tmp_path / "prepared", dense_model=tmp_path / "dense.keras",
                            stripped_model=tmp_path / "stripped.keras", channel=tmp_path / "channel")
    paths.prepared.mkdir()
    rng = np.random.default_rng(0)
    np.savez(paths.prepared / "test.npz", x=rng.integers(0, 255, (IMAGES, 8, 8, 1), dtype=np.uint8),
             y=np.arange(IMAGES, dtype=np.int32) % 10)
    save_model(_guide(), paths.dense_model)
    save_model(_guide(), paths.stripped_model)
    _write(paths.channel, {"point": "channel-0.5", **NOTHING})
    images, rows, absent = headline_rows(SimpleNamespace(paths=paths, seed=0))
    assert images == IMAGES and [r["model"] for r in rows] == ["dense", "pruned, unstructured"]
    lines = format_rows(images, rows, absent).splitlines()
    assert lines[-1] == f"channel-pruned: no model — {REASON}"
