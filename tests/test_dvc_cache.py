"""`make flow` on a fresh clone hands its outputs to DVC: the ones that match dvc.lock go into DVC's cache,
so `dvc repro` afterwards has nothing to rerun; outputs that differ from dvc.lock are left alone and
dvc.lock keeps its bytes. On fresh `git clone`s of the session's `dvc_build` (tests/conftest.py), whose
DVC cache is empty, filled with the files the flow (`flow_build`) or `dvc repro` wrote."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from pruneflow.config.params import load_config
from pruneflow.pipeline.dvc_cache import cache_outputs_matching_lock, only_missing_from_cache
from tests.builds import dvc, dvc_status, replace_outputs, run_command, stages_run


def test_only_a_stage_whose_every_status_entry_is_an_output_not_in_cache_counts_as_missing_from_cache() -> None:
    assert only_missing_from_cache([{"changed outs": {"export": "not in cache", "models/a.keras": "not in cache"}}])
    assert not only_missing_from_cache([])
    assert not only_missing_from_cache([{"changed outs": {"export": "not in cache", "models/a.keras": "modified"}}])
    assert not only_missing_from_cache([{"changed deps": {"models/a.keras": "modified"}},
                                        {"changed outs": {"export": "not in cache"}}])
    assert not only_missing_from_cache([{"changed outs": {"export": "not in cache"}}, "changed checksum"])
    assert not only_missing_from_cache(["always changed"])


def test_a_dvc_error_after_the_flow_is_a_one_line_warning_and_not_a_failure(tmp_path: Path) -> None:
    # in its own process: DVC's import and error path leave process-wide state (logging) behind
    (tmp_path / ".dvc").mkdir()  # looks like a DVC repository, but no git repository holds it
    code = "from pathlib import Path; from pruneflow.pipeline.dvc_cache import hand_outputs_to_dvc; hand_outputs_to_dvc(Path.cwd())"
    proc = run_command([sys.executable, "-c", code], tmp_path, env={"PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("pruneflow: warning: DVC's cache was not updated (SCMError: ")
    assert "is not a git repository" in proc.stderr


def _fresh_clone(build: Path, tmp_path: Path) -> Path:
    """`git clone` of a build: its git files, no DVC outputs, an empty DVC cache."""
    clone = tmp_path / "clone"
    run_command(["git", "clone", "-q", str(build), str(clone)], tmp_path)
    assert not (clone / ".dvc" / "cache").exists()
    return clone


# Over the suite's 120 s limit by design: the whole flow on a fresh clone: 448 s measured on the loaded 2-core machine.
@pytest.mark.timeout(420)
@pytest.mark.slow
def test_make_flow_on_a_fresh_clone_puts_its_outputs_into_dvcs_cache_and_leaves_nothing_to_rerun(
        dvc_build: Path, flow_build: Path, tmp_path: Path) -> None:
    clone = _fresh_clone(dvc_build, tmp_path)
    cfg = load_config(clone / "params.yaml")
    # the state `make flow` leaves in the clone: the flow's outputs and timing files, and its own cache
    # (stamps and Prefect results), so that this run of the flow finds every stage Cached
    replace_outputs(flow_build, clone, timing=True)
    shutil.copytree(flow_build / cfg.paths.flow_stamps, clone / cfg.paths.flow_stamps)
    lock = (clone / "dvc.lock").read_bytes()
    status = dvc_status(clone)
    assert status and all(only_missing_from_cache(entries) for entries in status.values()), status
    assert stages_run(dvc(clone, "repro", "--dry").stdout) == set(status)  # what DVC would rerun before

    home = Path(tempfile.mkdtemp(prefix="pruneflow-clone-prefect-"))
    out = run_command([sys.executable, "-m", "flows.pipeline"], clone, env={"PREFECT_HOME": str(home)}).stdout
    assert f"DVC: put the outputs of {len(status)} stages into DVC's cache" in out, out
    assert "differ from dvc.lock" not in out
    assert (clone / "dvc.lock").read_bytes() == lock
    assert dvc_status(clone) == {}
    dry = dvc(clone, "repro", "--dry")
    assert stages_run(dry.stdout) == set() and "didn't change, skipping" in dry.stdout, dry.stdout


@pytest.mark.slow
def test_outputs_that_differ_from_dvc_lock_stay_out_of_dvcs_cache_and_dvc_lock_keeps_its_bytes(
        dvc_build: Path, tmp_path: Path) -> None:
    clone = _fresh_clone(dvc_build, tmp_path)
    cfg = load_config(clone / "params.yaml")
    replace_outputs(dvc_build, clone, timing=False)
    lock = (clone / "dvc.lock").read_bytes()
    with open(clone / cfg.paths.stripped_model, "ab") as handle:  # strip's output, changed behind DVC's back
        handle.write(b"\0")
    # DVC calls it only "not in cache": the word alone does not prove a file matches dvc.lock
    assert dvc_status(clone)["strip"] == [{"changed outs": {str(cfg.paths.stripped_model): "not in cache"}}]

    result = cache_outputs_matching_lock(clone)
    assert {"strip", "export", "evaluate"} <= set(result.differing)  # the changed output, and its readers
    assert {"ingest", "train_dense", "prune"} <= set(result.cached)
    assert not set(result.cached) & set(result.differing)
    assert (clone / "dvc.lock").read_bytes() == lock
    status = dvc_status(clone)
    assert set(status) == set(result.differing)
    assert status["strip"] == [{"changed outs": {str(cfg.paths.stripped_model): "not in cache"}}]
