"""The Prefect flow: same stages as DVC, cached on content; a rerun is all Cached, never stale."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from pruneflow.artifacts.files import digest
from pruneflow.config.params import load_config
from pruneflow.pipeline.stages import pipeline_stages
from tests.builds import copy_build
from tests.helpers import write_image_folder, write_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prefect_api():
    """One temporary Prefect server for this module (PREFECT_HOME is per test session, see conftest)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _task_states(flow_state) -> dict[str, str]:
    """Task run name → state name, over the flow run and its subflow run (the stages)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    flow_run_id = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
        ids = [flow_run_id, *(child.id for child in children)]
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    # stage task runs are named for their stage (no dash but in a sweep point's `@0.5-polynomial`);
    # others "<task>-<suffix>"; the subflow's own is "pruneflow-stages-<suffix>"
    return {(run.name if "@" in run.name else run.name.rsplit("-", 1)[0]): run.state.name
            for run in runs if not run.name.startswith("pruneflow-")}


def _artifacts(flow_state) -> dict[str, object]:
    """The flow run's artifacts by key, read back through the Prefect client."""
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flow_run_id = flow_state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {artifact.key: artifact for artifact in found}


@pytest.fixture(scope="module")
def flow_copy(prefect_api, flow_build: Path, tmp_path_factory: pytest.TempPathFactory):
    """A private copy of the session's flow build, run once more in-process (every stage Cached):
    (its directory, params path, that run's final state)."""
    from flows.pipeline import pipeline

    root = copy_build(flow_build, tmp_path_factory.mktemp("flow") / "project")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        state = pipeline("params.yaml", return_state=True)
    finally:
        os.chdir(cwd)
    assert state.is_completed(), state.message
    return root, "params.yaml", state


def _stage_names(root: Path) -> list[str]:
    cfg = load_config(root / "params.yaml")
    return [stage.name for stage in pipeline_stages(cfg)]


def test_flow_and_dvc_builds_of_the_same_inputs_agree_bit_for_bit_on_every_dvc_output_but_not_on_timings(
        flow_build: Path, dvc_build: Path) -> None:
    from pruneflow.artifacts.results import flatten, reproducible_fields

    cfg = load_config(dvc_build / "params.yaml")
    assert (flow_build / "params.yaml").read_bytes() == (dvc_build / "params.yaml").read_bytes()
    # the flow ran every stage of the table and recorded each one's outputs (its cache stamps)
    stamps = {path.stem for path in (flow_build / cfg.paths.flow_stamps).glob("*.json")}
    assert stamps == {stage.name for stage in pipeline_stages(cfg)}
    p = cfg.paths
    # every output DVC tracks, the timed stages' tables, point.json files and TensorBoard summaries included
    tracked = [path for stage in pipeline_stages(cfg) for path in stage.out_paths(cfg)]
    assert {p.bench_setup, p.channel_bench, p.sweep_table, p.prune_summaries, p.prune_log, p.train_log} <= set(tracked)
    # ... but the latency table, each build's own measurement of the machine (reused by a rerun, not repeated)
    measured = [path for stage in pipeline_stages(cfg) for path in stage.measured_paths(cfg)]
    assert measured == [p.latency_table] and all((build / p.latency_table).is_dir() for build in (flow_build, dvc_build))
    tracked = [path for path in tracked if path not in measured]
    differ = [str(path) for path in tracked if digest(flow_build / path) != digest(dvc_build / path)]
    assert differ == []
    # the timing files were measured anew: the latency samples differ
    assert digest(flow_build / p.latency_samples) != digest(dvc_build / p.latency_samples)
    # metrics.json holds only what repeats: the two builds wrote the same bytes
    assert (flow_build / p.metrics).read_bytes() == (dvc_build / p.metrics).read_bytes()
    dvc_metrics = json.loads((dvc_build / p.metrics).read_text())
    assert reproducible_fields(dvc_metrics) == flatten(dvc_metrics)
    assert {"pruned.test_accuracy_pct", "pruned.size_tflite_gzip_bytes", "pruned.sparsity_prunable_pct",
            "dense.test_accuracy_pct"} <= set(flatten(dvc_metrics))
    # timings.json: only wall-clock fields (latency, throughput, speed-ups, epoch seconds), never a result,
    # measured anew in each build
    flow_timings = json.loads((flow_build / p.timings).read_text())
    dvc_timings = json.loads((dvc_build / p.timings).read_text())
    # (and the machine they were timed on, and the latency table's prediction errors, in % of a measured p50)
    assert all(re.search(r"(_ms|_per_s|_x|_s|_pct)$", key) or key == "machine" for key in flatten(dvc_timings)), \
        sorted(flatten(dvc_timings))
    assert flow_timings["machine"] == dvc_timings["machine"]
    assert not set(flatten(dvc_timings)) & set(flatten(dvc_metrics))
    assert flatten(flow_timings).keys() == flatten(dvc_timings).keys()
    assert flow_timings["dense"]["latency_p50_ms"] != dvc_timings["dense"]["latency_p50_ms"]


def test_flow_publishes_the_comparison_table_and_the_explanation_as_artifacts(flow_copy, monkeypatch) -> None:
    import pandas as pd

    from flows.pipeline import EXPLANATION_ARTIFACT, TABLE_ARTIFACT, VARIANTS_ARTIFACT
    from pruneflow.artifacts.results import read_run_metrics
    from pruneflow.evaluation.tables import comparison_rows, variant_rows
    from pruneflow.report.sentences import explanation

    root, params, state = flow_copy
    monkeypatch.chdir(root)
    cfg = load_config(params)
    artifacts = _artifacts(state)
    assert {artifacts[TABLE_ARTIFACT].type, artifacts[EXPLANATION_ARTIFACT].type} == {"table", "markdown"}

    metrics = read_run_metrics(cfg.paths.metrics, cfg.paths.timings)
    table = artifacts[TABLE_ARTIFACT].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert rows == comparison_rows(metrics).to_dict("records")
    gzip_row = next(r for r in rows if r["metric"] == "TFLite gzip bytes")
    assert gzip_row["pruned"] == f"{metrics['pruned']['size_tflite_gzip_bytes']:,}"

    note = artifacts[EXPLANATION_ARTIFACT].data
    sentences = explanation(metrics, pd.read_csv(cfg.paths.sparsity_table))
    assert len(sentences) >= 7 and all(f"- {s}" in note for s in sentences)
    report = cfg.paths.report_md.read_text()
    assert all(s in report for s in sentences)  # the report and the artifact say the same

    variants = artifacts[VARIANTS_ARTIFACT].data
    variants = json.loads(variants) if isinstance(variants, str) else variants
    assert variants == variant_rows(metrics).to_dict("records")
    assert {row["variant"] for row in variants} == {f"{model}.{fmt}" for model in ("dense", "pruned")
                                                   for fmt in cfg.export.formats}

    from flows.pipeline import SWEEP_ARTIFACT

    sweep = json.loads(artifacts[SWEEP_ARTIFACT].data)
    assert [row["point"] for row in sweep] == ["dense", "0.5-polynomial", "0.8-polynomial", "derived-0.5",
                                               "channel-0.5", "channel-0.25"]
    assert [row["test_accuracy_pct"] for row in sweep] == pd.read_csv(cfg.paths.sweep_table)["test_accuracy_pct"].round(4).tolist()


def test_a_rerun_is_all_cached_with_the_digests_of_the_files_on_disk_and_a_deleted_output_is_rebuilt(
        flow_copy, monkeypatch) -> None:
    from flows.caching import output_digests
    from flows.pipeline import pipeline

    root, params, cached = flow_copy
    monkeypatch.chdir(root)
    cfg = load_config(params)
    names = _stage_names(root)
    # the machine stage always runs (it reads the machine, not files); it wrote the same bytes, so every
    # stage that reads machine.json was Cached
    assert _task_states(cached) == {**dict.fromkeys(names, "Cached"), "machine": "Completed", "publish_artifacts": "Completed"}
    stages = {stage.name: stage for stage in pipeline_stages(cfg)}
    # what each cached task hands back is the digests of the files now on disk, not a stale record
    assert cached.result() == {name: output_digests(stage, cfg) for name, stage in stages.items()}

    (cfg.paths.export / "pruned.tflite").unlink()  # one file of a folder output
    cfg.paths.strip_check.write_text("{}")  # an output changed behind the flow's back
    third = pipeline(params, return_state=True)
    states = _task_states(third)
    assert states["export"] == "Completed" and states["strip"] == "Completed"
    assert {states[s] for s in ("ingest", "train_dense", "prune", "sensitivity")} == {"Cached"}
    assert (cfg.paths.export / "pruned.tflite").is_file()
    assert json.loads(cfg.paths.strip_check.read_text())["wrappers_remaining"] == 0


def test_returning_to_earlier_params_reruns_a_stage_whose_outputs_were_overwritten(flow_copy, monkeypatch) -> None:
    from flows.pipeline import pipeline

    root, params, _ = flow_copy
    monkeypatch.chdir(root)
    cfg = load_config(params)
    report_a, metrics_a = cfg.paths.report_md.read_bytes(), cfg.paths.metrics.read_bytes()
    # params B: same paths, another accuracy budget, which only evaluate (metrics.json's met / missed /
    # cannot-tell verdicts) and the report read
    b = yaml.safe_load(Path(params).read_text())
    b["sweep"]["accuracy_budget_pts"] = 25.0
    Path("params_b.yaml").write_text(yaml.safe_dump(b, sort_keys=False))
    states = _task_states(pipeline("params_b.yaml", return_state=True))
    assert {name for name, state in states.items() if state != "Cached"} == {"evaluate", "report", "machine",
                                                                             "publish_artifacts"}
    assert cfg.paths.report_md.read_bytes() != report_a and cfg.paths.metrics.read_bytes() != metrics_a
    states = _task_states(pipeline(params, return_state=True))
    # params A's results are in the cache, but the files on disk are B's: both stages must be rebuilt
    assert {name for name, state in states.items() if state != "Cached"} == {"evaluate", "report", "machine",
                                                                             "publish_artifacts"}
    assert cfg.paths.report_md.read_bytes() == report_a and cfg.paths.metrics.read_bytes() == metrics_a


def test_bad_data_fails_the_flow_with_one_line(prefect_api, in_tmp: Path) -> None:
    from flows.pipeline import pipeline

    write_image_folder(in_tmp / "faces", {"with_mask": 4})
    params = write_params(in_tmp, {"data": {"source": "folder", "folder": "faces"}})
    state = pipeline(str(params), return_state=True)
    assert state.is_failed()
    assert state.message == "ingest: data.folder=faces: found 1 class sub-folder(s); need at least 2 (e.g. with_mask/ and without_mask/)"


def test_cli_rejects_bad_params_before_starting_prefect(in_tmp: Path, capsys: pytest.CaptureFixture) -> None:
    from flows.pipeline import main

    (in_tmp / "params.yaml").write_text("train:\n  epochs: 0\n")
    assert main(["--params", "params.yaml"]) == 2
    assert capsys.readouterr().err == "pruneflow: error: params.yaml: train.epochs=0: Input should be greater than or equal to 1\n"


def test_stage_tasks_retry_transient_io_only_never_bad_input_or_a_deterministic_error(prefect_api, in_tmp: Path) -> None:
    import dataclasses
    import errno

    from prefect import flow

    from flows.pipeline import run_stage
    from pruneflow.errors import PipelineError
    from pruneflow.pipeline.stage import Stage

    attempts: list[str] = []
    failures = {
        "flaky_disk": OSError(errno.EIO, "Input/output error"),  # fails once, then works
        "bad_input": PipelineError("data.folder=x: missing"),
        "bug": ValueError("shapes (3,) and (4,) not aligned"),
        "full_disk": OSError(errno.ENOSPC, "No space left on device"),
    }

    @dataclasses.dataclass(frozen=True)
    class ScriptedStage(Stage):
        def sources(self) -> tuple:
            return ()

        def out_paths(self, cfg) -> tuple:
            return (in_tmp / f"{self.name}.out",)

        def timing_paths(self, cfg) -> tuple:
            return ()  # its own run() writes no timing file

        def run(self, cfg) -> None:
            attempts.append(self.name)
            if self.name in failures and (self.name != "flaky_disk" or attempts.count(self.name) == 1):
                raise failures[self.name]
            (in_tmp / f"{self.name}.out").write_text("done")

    cfg = load_config(write_params(in_tmp))

    @flow
    def one_stage(name: str):
        stage = ScriptedStage(name, params=(), deps=(), outs=())
        state = run_stage.with_options(retry_delay_seconds=0, refresh_cache=True)(cfg, stage, return_state=True)
        return state.is_completed()  # a bool, so the flow itself completes either way

    completed = {name: one_stage(name) for name in failures}
    assert completed == {"flaky_disk": True, "bad_input": False, "bug": False, "full_disk": False}
    assert {name: attempts.count(name) for name in failures} == {"flaky_disk": 2, "bad_input": 1, "bug": 1, "full_disk": 1}
