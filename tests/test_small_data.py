"""Small datasets: a valid, target-reaching schedule for any size; the quality gate; the embedded face
data and the folder maker; presets; `show` naming what its numbers belong to and warning when stale."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from pruneflow.config.params import load_config, parse_config
from pruneflow.config.prune import MIN_FINE_TUNE_STEPS, PruneConfig
from pruneflow.errors import PipelineError
from pruneflow.models.schedule import plan_fine_tune
from tests.builds import (
    copy_build,
    edit_params,
)
from tests.helpers import (
    REPO,
    TINY,
    deep_update,
    write_params,
)


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "pruneflow", *args], check=False, cwd=root, env=env, capture_output=True,
                          text=True, timeout=900)


def _train_images(per_class: int, classes: int, val: float = 0.1, test: float = 0.1) -> int:
    """Train images ingest leaves (split_stratified: at least one val and one test image per class)."""
    return classes * (per_class - max(1, round(per_class * val)) - max(1, round(per_class * test)))


# ----------------------------------------------------------------------------- schedules for any size

SIZES = [
    ("2 classes x 50 images", _train_images(50, 2)),
    ("3 classes, 1 image per split", _train_images(3, 3)),
    ("faces200", _train_images(100, 2)),
    ("digits1797", _train_images(180, 10)),
    ("mnist5k", _train_images(500, 10)),
    ("100k images", 100_000),
]


@pytest.mark.parametrize(("name", "train"), SIZES, ids=[name for name, _ in SIZES])
@pytest.mark.parametrize("batch", [1, 16, 64, 512])
@pytest.mark.parametrize("schedule", [{}, {"begin": 0.2, "end": 0.3}, {"end": 1.0}, {"begin": 0.9, "end": 1.0}])
def test_every_dataset_size_gets_a_schedule_that_reaches_its_target_and_leaves_steps(
        name: str, train: int, batch: int, schedule: dict) -> None:
    cfg = PruneConfig(**schedule)
    plan = plan_fine_tune(cfg, train, batch)
    assert plan.total_steps >= max(cfg.min_steps, cfg.epochs * plan.steps_per_epoch)
    assert 0 <= plan.begin_step < plan.end_step < plan.total_steps  # the end step is one the fine-tune runs
    assert (plan.end_step - plan.begin_step) % plan.frequency == 0  # on tfmot's grid: final sparsity applied
    assert plan.end_step <= cfg.end * plan.total_steps and plan.epochs_at_target() <= plan.epochs
    assert 1 <= plan.frequency <= plan.steps_per_epoch


def test_small_data_fine_tunes_for_min_steps_not_for_epochs() -> None:
    plan = plan_fine_tune(PruneConfig(), _train_images(50, 2), 64)  # 80 images: 2 steps an epoch
    assert (plan.steps_per_epoch, plan.epochs, plan.total_steps) == (2, 200, 400)
    assert (plan.begin_step, plan.end_step, plan.frequency) == (0, 200, 2)
    big = plan_fine_tune(PruneConfig(), 4000, 64)  # mnist5k: 8 epochs are already 504 steps
    assert (big.epochs, big.total_steps, big.end_step, big.frequency) == (8, 504, 250, 25)


def test_the_polynomial_schedule_really_reaches_the_target_at_the_planned_end() -> None:
    from pruneflow.magnitude.pruning import make_schedule

    cfg = PruneConfig(final_sparsity=0.9)
    plan = plan_fine_tune(cfg, _train_images(50, 2), 64)
    schedule = make_schedule(cfg, plan)
    should_prune, sparsity = schedule(np.int64(plan.end_step))
    assert bool(should_prune) and float(sparsity) == pytest.approx(0.9)
    assert not bool(schedule(np.int64(plan.end_step + plan.frequency))[0])  # no more mask updates: it recovers


def test_a_frequency_too_long_for_the_phase_suggests_one_that_passes() -> None:
    cfg = PruneConfig(frequency=500)
    with pytest.raises(PipelineError) as info:
        plan_fine_tune(cfg, 4000, 64)
    message = str(info.value)
    assert message.startswith("prune.frequency=500: longer than the 252 steps between prune.begin=0.0 and prune.end=0.5")
    suggested = int(re.search(r"allowed: frequency <= (\d+)", message).group(1))
    plan = plan_fine_tune(parse_config({"prune": {"frequency": suggested}}).prune, 4000, 64)
    assert plan.frequency == suggested and plan.end_step == 252


@pytest.mark.parametrize(("prune", "key"), [({"begin": 0.45, "end": 0.5}, "begin"), ({"begin": 0.0, "end": 0.05}, "end")])
def test_a_begin_end_too_close_suggests_a_value_that_passes(prune: dict, key: str) -> None:
    with pytest.raises(PipelineError) as info:
        parse_config({"prune": prune})
    bound = float(re.search(rf"allowed: {key} [<>]= ([0-9.]+)", str(info.value)).group(1))
    fixed = parse_config({"prune": {**prune, key: bound}}).prune
    assert plan_fine_tune(fixed, MIN_FINE_TUNE_STEPS, 64).end_step > plan_fine_tune(fixed, MIN_FINE_TUNE_STEPS, 64).begin_step


# ----------------------------------------------------------------------------- the quality gate


@pytest.mark.slow
def test_an_unlearnable_dataset_stops_at_the_gate_with_one_line_and_keeps_earlier_outputs(
        in_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every image identical, labels split evenly: no model can beat the majority class."""
    from pruneflow.__main__ import main

    for name in ("cat", "dog"):
        (in_tmp / "data" / "raw" / name).mkdir(parents=True)
        for i in range(24):
            Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(in_tmp / "data" / "raw" / name / f"{i}.png")
    write_params(in_tmp, {"data": {"source": "folder", "samples_per_class": None}, "train": {"min_margin_pts": 10}})
    earlier = in_tmp / "models" / "dense.keras"
    earlier.parent.mkdir()
    earlier.write_bytes(b"an earlier good model")
    assert main(["ingest"]) == 0
    capsys.readouterr()
    status = main(["train_dense"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("pruneflow: error: train_dense: dense validation accuracy 50.0 % is below the floor "
                               "60.0 % (majority class 'cat' 50.0 % + train.min_margin_pts 10)")
    assert "python -m pruneflow preset small" in lines[0]
    assert earlier.read_bytes() == b"an earlier good model" and not (in_tmp / "reports" / "train_dense.csv").exists()


@pytest.mark.slow
def test_the_gate_passes_a_model_that_learned(dvc_build: Path) -> None:
    """The shared build learns its stripes and runs with the gate on (margin 10)."""
    metrics = yaml.safe_load((dvc_build / "metrics.json").read_text())
    chance = metrics["data"]["majority_class"]
    assert load_config(dvc_build / "params.yaml").train.min_margin_pts == 10
    assert metrics["dense"]["test_accuracy_pct"] > chance["test_accuracy_pct"] + 10
    assert metrics["dense"]["majority_class_test_accuracy_pct"] == chance["test_accuracy_pct"] == 50.0


# ----------------------------------------------------------------------------- embedded and folder data


def test_faces200_is_the_two_class_photo_set_scikit_image_ships() -> None:
    from pruneflow.config.dense import DataConfig
    from pruneflow.models.data import load_source

    data, skipped = load_source(DataConfig(source="faces200", image_size=32))
    assert data.x.shape == (200, 32, 32, 3) and data.x.dtype == np.uint8 and skipped == ()
    assert data.classes == ("face", "non_face") and np.bincount(data.y).tolist() == [100, 100]


def test_the_folder_maker_writes_a_dataset_ingest_reads(in_tmp: Path) -> None:
    from pruneflow.config.dense import DataConfig
    from pruneflow.models.data import load_folder
    from pruneflow.tools.folders import write_folder

    assert write_folder("mnist3x100", in_tmp / "mnist3") == 300
    data, skipped = load_folder(in_tmp / "mnist3", 32)
    assert data.classes == ("eight", "five", "three") and np.bincount(data.y).tolist() == [100, 100, 100]
    with pytest.raises(PipelineError, match="not empty; give a new folder"):
        write_folder("mnist3x100", in_tmp / "mnist3")
    assert DataConfig(source="folder", folder=in_tmp / "mnist3").folder.is_dir() and skipped == ()


# ----------------------------------------------------------------------------- presets


def _shipped_params(root: Path) -> Path:
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return root / "params.yaml"


@pytest.mark.parametrize("name", ["small", "seed"])
def test_each_preset_writes_valid_params_and_keeps_the_comments(in_tmp: Path, name: str) -> None:
    from pruneflow.config.presets import PRESETS, apply_overrides, apply_preset

    params = _shipped_params(in_tmp)
    overrides = yaml.safe_load((PRESETS / f"{name}.yaml").read_text())
    weights = overrides.get("model", {}).get("weights")
    if weights:  # the seed preset names a backbone file `make backbone` writes
        (in_tmp / weights).parent.mkdir(parents=True)
        (in_tmp / weights).write_bytes(b"weights")
    before = yaml.safe_load(params.read_text())
    changed = apply_preset(name, params)
    assert changed and yaml.safe_load(params.read_text()) == apply_overrides(before, overrides)
    assert "# quality gate" in params.read_text()  # comments survive
    load_config(params)


def test_the_seed_preset_without_its_backbone_is_one_line_naming_make_backbone(in_tmp: Path) -> None:
    params = _shipped_params(in_tmp)
    before = params.read_text()
    result = _run(in_tmp, "preset", "seed")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "make backbone" in result.stderr
    assert params.read_text() == before


def test_an_unknown_preset_lists_the_shipped_ones(in_tmp: Path) -> None:
    _shipped_params(in_tmp)
    result = _run(in_tmp, "preset", "tiny")
    assert result.stderr.strip() == "pruneflow: error: preset 'tiny': not found; allowed: seed, small"


# ----------------------------------------------------------------------------- show: what the numbers belong to


@pytest.mark.slow
def test_show_names_source_size_and_digest_and_warns_only_when_stale(dvc_build: Path, tmp_path: Path) -> None:
    from pruneflow.artifacts.lineage import metrics_digest

    repo = copy_build(dvc_build, tmp_path / "repo")
    digest = metrics_digest(load_config(repo / "params.yaml"))
    fresh = _run(repo, "show")
    assert fresh.returncode == 0 and "stale" not in fresh.stderr
    first = fresh.stdout.splitlines()[0]
    assert first.startswith("metrics of data.source folder: 400 images at 32 px")
    assert f"params digest {digest}  (params.yaml now: same)" in first
    edit_params(repo, {"prune": {"final_sparsity": 0.85}})
    stale = _run(repo, "show")
    warning = [line for line in stale.stderr.splitlines() if "stale" in line]
    assert len(warning) == 1 and warning[0].startswith("warning: these metrics are stale: dvc status lists")
    assert "prune" in warning[0] and "(params.yaml now: " in stale.stdout and ", different)" in stale.stdout


def test_tiny_params_still_parse() -> None:
    """The tiny test config stays valid with the small-data keys (a guard for every test that uses it)."""
    shipped = yaml.safe_load((REPO / "params.yaml").read_text())
    assert parse_config(deep_update(shipped, TINY)).train.min_steps == 0
