"""Identical results look identical to DVC: wall-clock values live only in timing files (kept in git,
no stage's DVC output or dependency), so producing the same results a second way leaves `dvc status`
clean and `dvc repro --dry` with nothing to run, while the timing files did change. On copies of the
session's two tiny builds (tests/conftest.py): `dvc_build`, a git + DVC repo after `dvc repro`, and
`flow_build`, the same project and inputs run by the Prefect flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pruneflow.artifacts.files import digest
from pruneflow.config.params import load_config
from pruneflow.pipeline.stages import BY_NAME, pipeline_stages
from tests.builds import (
    changed_stages,
    copy_build,
    dvc,
    replace_outputs,
    run_command,
    stages_run,
)

pytestmark = pytest.mark.slow


def _timing_digests(repo: Path) -> dict[str, str]:
    """Digest of every timing file of the pipeline, by path."""
    cfg = load_config(repo / "params.yaml")
    return {str(path): digest(repo / path) for stage in pipeline_stages(cfg) for path in stage.timing_paths(cfg)}


def _git_changes(repo: Path) -> set[str]:
    """Files git sees changed since the build's commit."""
    out = run_command(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout
    return {line[3:] for line in out.splitlines()}


def _nothing_to_rerun(repo: Path) -> None:
    assert changed_stages(repo) == set()  # `dvc status --json` is {}
    dry = dvc(repo, "repro", "--dry")
    assert stages_run(dry.stdout) == set(), dry.stdout
    assert "didn't change, skipping" in dry.stdout


def _timing_file_names(repo: Path) -> set[str]:
    cfg = load_config(repo / "params.yaml")
    return {str(path) for stage in pipeline_stages(cfg) for path in stage.timing_paths(cfg)}


def test_every_output_of_the_flow_in_place_of_dvc_repros_leaves_dvc_status_clean_and_only_timing_files_changed(
        dvc_build: Path, flow_build: Path, tmp_path: Path) -> None:
    repo = copy_build(dvc_build, tmp_path / "repo")
    cfg = load_config(repo / "params.yaml")
    assert (flow_build / "params.yaml").read_bytes() == (repo / "params.yaml").read_bytes()
    before = _timing_digests(repo)
    # The flow's results, made in its own process from the same project and inputs, replace every file
    # `dvc repro` wrote: DVC-tracked outputs and timing files alike.
    replace_outputs(flow_build, repo, timing=True)
    _nothing_to_rerun(repo)
    after = _timing_digests(repo)
    changed = {path for path in before if before[path] != after[path]}
    p = cfg.paths
    # every timed stage measured anew, every stage's seconds differ, and the report shows the new timings
    timed = {p.bench, p.latency_samples, p.channel_latency, p.sweep_latency, p.timings, p.report_md}
    assert {str(path) for path in timed} <= changed
    # the stages that do timed work in the tiny build; its pqat is off (quantize.pqat: false), so pqat's
    # timing file holds only a ~0.001 s no-op that may repeat to the millisecond
    assert not cfg.quantize.pqat
    assert {str(BY_NAME[name].timing_file(cfg)) for name in ("train_dense", "prune", "evaluate")} <= changed
    # git sees only timing files changed: no other file in git moved
    changes = _git_changes(repo)
    assert changes, "the flow's timings should differ from dvc repro's"
    assert all(any(change == name or change.startswith(f"{name}/") for name in _timing_file_names(repo))
               for change in changes), sorted(changes)


# Over the suite's 120 s limit by design: two forced stage reruns and three DVC checks: 112 s measured on the loaded 2-core machine.
@pytest.mark.timeout(300)
def test_a_forced_rerun_of_a_training_stage_and_of_a_timed_stage_leaves_nothing_to_rerun(
        dvc_build: Path, tmp_path: Path) -> None:
    repo = copy_build(dvc_build, tmp_path / "repo")
    cfg = load_config(repo / "params.yaml")
    before = _timing_digests(repo)
    for stage in ("prune", "channel_bench"):  # epoch seconds and TensorBoard summaries; latency
        out = dvc(repo, "repro", "--force", "--single-item", stage)
        assert stages_run(out.stdout) == {stage}
    _nothing_to_rerun(repo)
    after = _timing_digests(repo)
    prune_timing = str(BY_NAME["prune"].timing_file(cfg))
    assert before[prune_timing] != after[prune_timing]
    assert before[str(cfg.paths.channel_latency)] != after[str(cfg.paths.channel_latency)]
    epochs = json.loads((repo / prune_timing).read_text())["epoch_seconds"]
    assert len(epochs) == len((repo / cfg.paths.prune_log).read_text().splitlines()) - 1 and min(epochs) > 0
    assert "seconds" not in (repo / cfg.paths.prune_log).read_text().splitlines()[0].split(",")
