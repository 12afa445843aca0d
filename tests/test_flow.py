"""The Prefect flow: same stages as DVC, cached on content; a rerun is all Cached, never stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pruneflow.config import load_config
from tests.conftest import write_image_folder, write_params

pytestmark = pytest.mark.slow


# One sweep point keeps each full flow run short; tests/test_sweep.py maps over two (and on Dask).
ONE_POINT = {"sweep": {"sparsities": [0.8]}}


@pytest.fixture(scope="module")
def prefect_api():
    """One temporary Prefect server for this module (PREFECT_HOME is per test session, see conftest)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _task_states(flow_state) -> dict[str, str]:
    """Task run name → state name, over the flow run and its sweep subflow run."""
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
    # stage task runs are named for their stage; others "<task>-<n>"; the subflow's own is "pruneflow-sweep-<n>"
    return {(run.name if run.name in STAGE_NAMES else run.name.rsplit("-", 1)[0]): run.state.name
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
def first_run(prefect_api, tmp_path_factory: pytest.TempPathFactory):
    """One tiny flow run from scratch: (its directory, params path, final state)."""
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("flow")
    (root / "data" / "raw").mkdir(parents=True)
    params = str(write_params(root, ONE_POINT))
    cwd = Path.cwd()
    os.chdir(root)
    try:
        state = pipeline(params, return_state=True)
    finally:
        os.chdir(cwd)
    assert state.is_completed(), state.message
    return root, params, state


STAGE_NAMES = ["ingest", "train_dense", "prune", "strip", "pqat", "export", "bench", "evaluate", "sensitivity",
               "sweep_point@0.8-polynomial", "sweep_derived", "sweep", "report"]


def test_flow_publishes_the_comparison_table_and_the_explanation_as_artifacts(first_run, monkeypatch) -> None:
    import pandas as pd

    from flows.pipeline import EXPLANATION_ARTIFACT, TABLE_ARTIFACT, VARIANTS_ARTIFACT
    from pruneflow.metrics import comparison_rows, read_metrics, variant_rows
    from pruneflow.report import explanation

    root, params, state = first_run
    monkeypatch.chdir(root)
    cfg = load_config(params)
    artifacts = _artifacts(state)
    assert {artifacts[TABLE_ARTIFACT].type, artifacts[EXPLANATION_ARTIFACT].type} == {"table", "markdown"}

    metrics = read_metrics(cfg.paths.metrics)
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
    assert [row["variant"] for row in variants] == ["dense.float", "pruned.float"]  # the tiny config's one format

    from flows.pipeline import SWEEP_ARTIFACT

    sweep = json.loads(artifacts[SWEEP_ARTIFACT].data)
    assert [row["point"] for row in sweep] == ["dense", "0.8-polynomial"]
    assert [row["test_accuracy_pct"] for row in sweep] == pd.read_csv(cfg.paths.sweep_table)["test_accuracy_pct"].round(4).tolist()


def test_second_run_is_all_cached_and_a_deleted_output_is_rebuilt(first_run, monkeypatch) -> None:
    from flows.pipeline import pipeline

    root, params, first = first_run
    monkeypatch.chdir(root)
    cfg = load_config(params)
    assert _task_states(first) == {**dict.fromkeys(STAGE_NAMES, "Completed"), "publish_artifacts": "Completed"}
    metrics = cfg.paths.metrics.read_bytes()

    second = pipeline(params, return_state=True)
    assert _task_states(second) == {**dict.fromkeys(STAGE_NAMES, "Cached"), "publish_artifacts": "Completed"}
    assert second.result()["evaluate"] == first.result()["evaluate"]
    assert cfg.paths.metrics.read_bytes() == metrics

    (cfg.paths.export / "pruned.tflite").unlink()  # one file of a folder output
    cfg.paths.strip_check.write_text("{}")  # an output changed behind the flow's back
    third = pipeline(params, return_state=True)
    states = _task_states(third)
    assert states["export"] == "Completed" and states["strip"] == "Completed"
    assert {states[s] for s in ("ingest", "train_dense", "prune")} == {"Cached"}
    assert (cfg.paths.export / "pruned.tflite").is_file()
    assert json.loads(cfg.paths.strip_check.read_text())["wrappers_remaining"] == 0


def test_returning_to_earlier_params_reruns_a_stage_whose_outputs_were_overwritten(prefect_api, in_tmp: Path) -> None:
    from flows.pipeline import pipeline

    (in_tmp / "data" / "raw").mkdir(parents=True)
    a = str(write_params(in_tmp, ONE_POINT))
    assert pipeline(a, return_state=True).is_completed()
    b = write_params(in_tmp / "data", {**ONE_POINT, "prune": {"final_sparsity": 0.5}})  # same paths, other target
    assert _task_states(pipeline(str(b), return_state=True))["prune"] == "Completed"
    back = pipeline(a, return_state=True)
    states = _task_states(back)
    # params A's prune result is in the cache, but the model on disk is B's: it must be rebuilt
    assert states["prune"] == "Completed" and states["train_dense"] == "Cached"
    metrics = json.loads(load_config(a).paths.metrics.read_text())
    assert metrics["pruned"]["sparsity_prunable_pct"] == pytest.approx(80.0, abs=1.0)


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
    from pruneflow.stages import Stage

    attempts: list[str] = []
    failures = {
        "flaky_disk": OSError(errno.EIO, "Input/output error"),  # fails once, then works
        "bad_input": PipelineError("data.folder=x: missing"),
        "bug": ValueError("shapes (3,) and (4,) not aligned"),
        "full_disk": OSError(errno.ENOSPC, "No space left on device"),
    }

    @dataclasses.dataclass(frozen=True)
    class ScriptedStage(Stage):
        def run(self, cfg) -> None:
            attempts.append(self.name)
            if self.name in failures and (self.name != "flaky_disk" or attempts.count(self.name) == 1):
                raise failures[self.name]
            (in_tmp / f"{self.name}.out").write_text("done")

    cfg = load_config(write_params(in_tmp))

    @flow
    def one_stage(name: str):
        stage = ScriptedStage(name, "io", (), deps=lambda c: (), outs=lambda c: (in_tmp / f"{name}.out",))
        state = run_stage.with_options(retry_delay_seconds=0, refresh_cache=True)(cfg, stage, return_state=True)
        return state.is_completed()  # a bool, so the flow itself completes either way

    completed = {name: one_stage(name) for name in failures}
    assert completed == {"flaky_disk": True, "bad_input": False, "bug": False, "full_disk": False}
    assert {name: attempts.count(name) for name in failures} == {"flaky_disk": 2, "bad_input": 1, "bug": 1, "full_disk": 1}
