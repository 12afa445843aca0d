"""The sweep and the sensitivity scan: per-layer targets, the recommendation, the Pareto front, and
the sweep's points trained on a local Dask cluster equal to the same points trained in-process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pruneflow.config import load_config
from pruneflow.errors import PipelineError
from tests.conftest import write_params


def _scan(drops: dict[str, list[float]], levels=(0.5, 0.9)) -> pd.DataFrame:
    return pd.DataFrame([{"unit": u, "params": 0, "sparsity": s, "drop_pts": d}
                         for u, ds in drops.items() for s, d in zip(levels, ds)])


def test_derived_targets_meet_the_overall_sparsity_and_spare_the_sensitive_unit() -> None:
    from pruneflow.sensitivity import derive_targets

    units = {"a": ["a1", "a2"], "b": ["b1"], "c": ["c1"]}
    params = {"a1": 100, "a2": 300, "b1": 400, "c1": 200}
    table = _scan({"a": [0.0, 5.0], "b": [2.0, 30.0], "c": [0.0, 0.0]})
    targets = derive_targets(table, units, params, target=0.8, max_s=0.98)
    overall = sum(params[n] * targets[n] for n in params) / sum(params.values())
    assert overall == pytest.approx(0.8, abs=1e-9)
    assert targets["a1"] == targets["a2"]  # a unit's layers share its sparsity
    assert targets["b1"] < targets["a1"] < targets["c1"] == pytest.approx(0.98)  # c never hurt: the cap
    assert all(0.0 <= t <= 0.98 for t in targets.values())


def test_derived_targets_scale_down_when_free_sparsity_alone_overshoots() -> None:
    from pruneflow.sensitivity import derive_targets

    units, params = {"a": ["a1"], "b": ["b1"]}, {"a1": 10, "b1": 10}
    targets = derive_targets(_scan({"a": [0.0, 0.0], "b": [0.0, 0.0]}), units, params, target=0.5, max_s=0.98)
    assert targets == pytest.approx({"a1": 0.5, "b1": 0.5})


def test_derived_targets_refuse_a_scan_of_another_model() -> None:
    from pruneflow.sensitivity import derive_targets

    with pytest.raises(PipelineError, match="lacks units"):
        derive_targets(_scan({"a": [0.0, 1.0]}), {"a": ["a1"], "z": ["z1"]}, {"a1": 1, "z1": 1}, 0.5, 0.98)


def test_magnitude_mask_drops_exactly_the_smallest_weights() -> None:
    from pruneflow.sensitivity import magnitude_mask

    values = np.array([[0.3, -0.1], [2.0, -0.05], [0.7, 1.5]])
    keep = magnitude_mask(values, 0.5)
    assert keep.sum() == 3
    assert set(np.abs(values[~keep])) == {0.1, 0.05, 0.3}


def test_units_are_mobilenet_blocks_stem_top_and_head() -> None:
    from pruneflow.sensitivity import block_of

    assert [block_of(n) for n in ("Conv1", "expanded_conv_project", "block_3_expand", "block_16_project", "Conv_1",
                                  "head_dense", "head_logits", "conv1", "conv_dw_5", "conv_pw_5")] == [
        "stem", "block_0", "block_3", "block_16", "top", "head", "head", "stem", "block_5", "block_5"]


def _sweep(accs: dict[str, float], derived: float | None = None) -> pd.DataFrame:
    rows = [{"point": "dense", "kind": "dense", "target_sparsity": 0.0, "schedule": "none"}]
    rows += [{"point": f"{s}-polynomial", "kind": "uniform", "target_sparsity": float(s), "schedule": "polynomial"}
             for s in list(accs)[1:]]
    table = pd.DataFrame(rows).assign(test_accuracy_pct=list(accs.values()))
    if derived is not None:
        table.loc[len(table)] = {"point": "derived-0.9", "kind": "derived", "target_sparsity": 0.9,
                                 "schedule": "polynomial", "test_accuracy_pct": derived}
    size = 1e6 * (1 - table["target_sparsity"]) + 1e4
    return table.assign(accuracy_change_pts=table["test_accuracy_pct"] - accs["dense"], tflite_gzip_bytes=size,
                        gzip_bound_bytes=0.8 * size, int8_tflite_gzip_bytes=size / 3, gzip_ratio_x=size[0] / size,
                        sparsity_prunable_pct=100 * table["target_sparsity"])


def test_recommendation_is_the_highest_sparsity_within_the_accuracy_budget() -> None:
    from pruneflow.report import sweep_recommendation, sweep_sentences

    table = _sweep({"dense": 98.0, "0.5": 98.2, "0.8": 97.2, "0.9": 96.5, "0.95": 97.1})
    assert sweep_recommendation(table, 1.0)["point"] == "0.95-polynomial"  # 0.9 misses, 0.95 is within
    assert sweep_recommendation(table, 0.5)["point"] == "0.5-polynomial"
    assert sweep_recommendation(_sweep({"dense": 98.0, "0.5": 90.0}), 1.0) is None
    first = sweep_sentences(table, 0.5, 500)[0]
    assert first.startswith("Recommended: 0.5-polynomial") and "the next step up, 0.8-polynomial, scores 97.2 %" in first


def test_sweep_sentences_compare_derived_with_the_uniform_point_at_the_same_sparsity() -> None:
    from pruneflow.report import sweep_sentences

    table = _sweep({"dense": 98.0, "0.5": 98.0, "0.9": 96.0}, derived=97.0)
    (derived,) = [s for s in sweep_sentences(table, 1.0, 500) if s.startswith("Sensitivity-derived")]
    assert "97.0 % test accuracy vs 96.0 % uniform, +1.0 pts (5 test images) — better than uniform" in derived
    assert sweep_sentences(_sweep({"dense": 98.0, "0.5": 80.0}), 1.0, 500)[0].startswith("No sweep point stays within")


def test_pareto_front_keeps_only_undominated_points() -> None:
    from pruneflow.sweep import pareto_front

    table = pd.DataFrame({"size": [10, 5, 5, 2, 3], "acc": [99, 98, 97, 90, 89]})
    assert pareto_front(table, "size", "acc").tolist() == [True, True, False, True, False]


@pytest.mark.parametrize(("changes", "message"), [
    ({"sweep": {"sparsities": [0.5, 1.0]}}, "sweep: sparsities=[0.5, 1.0]: allowed is a non-empty list"),
    ({"sweep": {"sparsities": []}}, "sweep: sparsities=[]: allowed is a non-empty list"),
    ({"sweep": {"schedules": ["cubic"]}}, "sweep.schedules.0='cubic': Input should be 'polynomial' or 'constant'"),
    ({"sensitivity": {"target_sparsity": 0.7, "derive": True}}, "sensitivity.target_sparsity=0.7 must be one of sweep.sparsities=[0.5, 0.8]"),
    ({"sensitivity": {"unit": "channel"}}, "sensitivity.unit='channel': Input should be 'block' or 'layer'"),
    ({"train": {"strategy": "tpu"}}, "train.strategy='tpu': Input should be 'none' or 'mirrored'"),
])
def test_bad_sweep_params_fail_with_one_line(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(PipelineError) as err:
        load_config(write_params(tmp_path, changes))
    assert message in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- trained (slow)


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared data and a trained tiny dense model: what every sweep point starts from."""
    import os

    from tasks import ingest, train

    root = tmp_path_factory.mktemp("sweep")
    (root / "data" / "raw").mkdir(parents=True)
    write_params(root)
    cwd = Path.cwd()
    os.chdir(root)
    try:
        cfg = load_config("params.yaml")
        ingest.run(cfg)
        train.run(cfg)
    finally:
        os.chdir(cwd)
    return root


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("params.yaml", "data", "models"):
        (shutil.copytree if (src / name).is_dir() else shutil.copy)(src / name, dst / name)
    return dst


@pytest.mark.slow
def test_scan_measures_each_unit_alone_and_restores_the_model(dense_run: Path, monkeypatch) -> None:
    from pruneflow.data import load_split
    from pruneflow.model import load_model
    from pruneflow.sensitivity import layer_units, scan

    monkeypatch.chdir(dense_run)
    cfg = load_config("params.yaml")
    model = load_model(cfg.paths.dense_model)
    before = [w.copy() for w in model.get_weights()]
    units = layer_units(model, cfg.prune, "block")
    assert {"stem", "block_0", "block_1", "top", "head"} <= set(units)
    x, y = load_split(cfg.paths.prepared, "val")
    table = scan(model, units, (0.5, 0.99), x.astype(np.float32), y)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert len(table) == 2 * len(units)
    assert set(table["sparsity"]) == {0.5, 0.99}
    # the drop is measured against the unpruned model: accuracy + drop is the same baseline everywhere
    assert (table["val_accuracy_pct"] + table["drop_pts"]).round(6).nunique() == 1


@pytest.mark.slow
def test_sweep_on_a_local_dask_cluster_equals_the_sequential_run(dense_run: Path, tmp_path: Path, monkeypatch) -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.pipeline import sweep_fanout, task_runner
    from pruneflow.stages import pipeline_stages
    from pruneflow.sweep import FLOAT_FILE, INT8_FILE, POINT_FILE

    runs = {}
    with prefect_test_harness(server_startup_timeout=120):
        for name, runner in (("sequential", task_runner()), ("dask", task_runner(dask_workers=2))):
            root = _copy_run(dense_run, tmp_path / name)
            monkeypatch.chdir(root)
            cfg = load_config("params.yaml")
            assert len(cfg.sweep_points()) == 2
            state = sweep_fanout.with_options(task_runner=runner)(cfg, return_state=True)
            assert state.is_completed(), state.message
            runs[name] = cfg.paths.sweep.resolve()
    assert "sweep_point" in {s.name.split("@")[0] for s in pipeline_stages(cfg)}
    for point in cfg.sweep_points():
        seq, dask = (json.loads((runs[k] / point.name / POINT_FILE).read_text()) for k in ("sequential", "dask"))
        for varies in ("prune_seconds", "keras_gzip_bytes"):  # wall time; the .keras zip stores its save time
            seq.pop(varies), dask.pop(varies)
        assert seq == dask, point.name
        for file in (FLOAT_FILE, INT8_FILE):
            assert (runs["sequential"] / point.name / file).read_bytes() == (runs["dask"] / point.name / file).read_bytes()


@pytest.mark.slow
def test_derived_targets_are_pruned_to_the_same_overall_sparsity_as_uniform(dense_run: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    import yaml

    from tasks import derived, sensitivity
    from pruneflow.model import load_model
    from pruneflow.sweep import MODEL_FILE, POINT_FILE, TARGETS_FILE, prunable_sparsity_pct

    root = _copy_run(dense_run, tmp_path / "derived")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["sensitivity"]["derive"] = True
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
    cfg = load_config("params.yaml")
    sensitivity.run(cfg)
    derived.run(cfg)
    targets = pd.read_csv(cfg.paths.derived / TARGETS_FILE).set_index("layer")["target_sparsity"]
    model = load_model(cfg.paths.derived / MODEL_FILE)
    sizes = {layer.name: sum(int(np.prod(getattr(layer, w).shape)) for w in ("kernel", "depthwise_kernel") if hasattr(layer, w))
             for layer in model.layers if layer.name in targets.index}
    weighted = sum(sizes[n] * targets[n] for n in sizes) / sum(sizes.values())
    assert weighted == pytest.approx(cfg.sensitivity.target_sparsity, abs=1e-6)
    assert prunable_sparsity_pct(model)[0] == pytest.approx(100 * cfg.sensitivity.target_sparsity, abs=0.5)
    point = json.loads((cfg.paths.derived / POINT_FILE).read_text())
    assert (point["kind"], point["point"]) == ("derived", "derived-0.8")
