"""Faults under `dvc repro`, on copies of the session's build: a SIGKILL while a stage publishes, and
a bad param, never leave a mix of old and new outputs that DVC would take for a finished run."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from pruneflow.artifacts.files import digest
from pruneflow.config.params import load_config
from pruneflow.pipeline.stages import pipeline_stages
from tests.builds import (
    changed_stages,
    copy_build,
    dvc,
    edit_params,
    outputs,
    published_by,
    run_command,
    stages_run,
)

pytestmark = pytest.mark.slow


# SIGKILL at a chosen rename of the stage's final publish (tests/kill_at_commit.py), with params that
# make the new outputs differ from the old ones, so an in-place write would be caught. 1: before any
# output is published; 2: between two renames (bench: the first of its three files published, the
# others not; ingest: inside the folder swap, the old folder moved aside and the new one not yet in).
# A stage's files are its DVC outputs and its timing outputs (in git): none may be left half-new.
KILLS = [
    ("bench", {"bench": {"runs": 6}}, 1),
    ("bench", {"bench": {"runs": 6}}, 2),
    ("ingest", {"data": {"val_fraction": 0.25}}, 2),
    ("report", {"sweep": {"accuracy_budget_pts": 25.0}}, 1),
]


@pytest.mark.parametrize(("stage", "changes", "rename"), KILLS, ids=[f"{k[0]}-rename{k[2]}" for k in KILLS])
def test_sigkill_while_publishing_never_leaves_a_mix_dvc_would_accept(dvc_build: Path, tmp_path: Path, stage: str,
                                                                       changes: dict, rename: int) -> None:
    repo = copy_build(dvc_build, tmp_path / "repo")
    before = outputs(repo, timing_outputs=True)
    edit_params(repo, changes)
    killed = run_command([sys.executable, "kill_at_commit.py", str(rename), stage], repo, check=False)
    assert killed.returncode == -signal.SIGKILL, f"{stage} was not killed while publishing:\n{killed.stderr[-2000:]}"
    after = outputs(repo, timing_outputs=True)
    cfg = load_config(repo / "params.yaml")
    mine = {str(p) for p in published_by(next(s for s in pipeline_stages(cfg) if s.name == stage), cfg, True)}
    assert {k: v for k, v in after.items() if k not in mine} == {k: v for k, v in before.items() if k not in mine}
    changed = {path for path in mine if after[path] != before[path]}
    if rename == 1:
        assert changed == set(), "killed before publishing, yet an output changed"
        assert list(repo.rglob("*.pruneflow-tmp-*"))  # the complete new outputs, left as temporaries
    elif stage == "bench":
        assert len(changed) == 1  # exactly the first output was published
    else:  # mid-swap: the old folder is moved aside, whole; the next run brings it back before writing
        prepared = cfg.paths.prepared
        assert after[str(prepared)] == "missing"
        assert digest(repo / prepared.parent / f".{prepared.name}.old") == before[str(prepared)]
    if changed or rename == 2:
        assert stage in changed_stages(repo)  # DVC never takes the mix for a finished run
    rerun = dvc(repo, "repro", "--force", "--single-item", stage)
    assert stages_run(rerun.stdout) == {stage}
    assert not list(repo.rglob("*.pruneflow-tmp-*")) and not list(repo.rglob(".*.old"))
    assert stage not in changed_stages(repo)


def test_bad_param_fails_with_one_line_and_keeps_previous_outputs(dvc_build: Path, tmp_path: Path) -> None:
    repo = copy_build(dvc_build, tmp_path / "repo")
    before = outputs(repo)
    original = (repo / "params.yaml").read_text()
    edit_params(repo, {"prune": {"final_sparsity": 1.5}})
    try:
        failed = dvc(repo, "repro", check=False)
    finally:
        (repo / "params.yaml").write_text(original)
    assert failed.returncode != 0
    ours = [line for line in failed.stderr.splitlines() if line.startswith("pruneflow: error:")]
    assert ours == ["pruneflow: error: params.yaml: prune.final_sparsity=1.5: Input should be less than 1"]
    assert "Traceback" not in failed.stderr + failed.stdout
    assert outputs(repo) == before
