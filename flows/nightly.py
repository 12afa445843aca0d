"""The scheduled run (prefect.yaml's `nightly` deployment): the pipeline flow, then dvc.lock.

A Prefect run must leave the repository as `dvc repro` would: outputs on disk *and* dvc.lock naming
the exact code, params and data they came from, so `dvc status` is clean, `dvc metrics diff` in the
pull request compares the right numbers and `dvc push` uploads them. The flow therefore

1. runs `pipeline` (cached Prefect tasks, each wave of stages optionally on Dask),
2. proves every DVC stage's outputs on disk were written by this flow for exactly the inputs now in
   the workspace (the flow's per-stage stamps: code, params and dependency digests, plus output
   digests) — otherwise recording them would vouch for outputs nobody reproduced,
3. records them with `dvc commit --force` (what `dvc repro` writes after each stage: dvc.lock entries
   and the DVC cache), then checks `dvc status` is clean,
4. optionally `dvc push`es the artifacts; committing dvc.lock/metrics.json to git stays a human's
   (or CI's) reviewed step.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import Failed

from flows.caching import cache_hit_is_safe
from flows.pipeline import pipeline
from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.pipeline.dvc_cache import stale
from pruneflow.pipeline.stages import pipeline_stages

RECORD_ARTIFACT = "pruneflow-dvc-record"


def _dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True, check=False)


@task
def unreproduced_stages(params_path: str) -> list[str]:
    """Stages whose outputs on disk this flow did not write for the current inputs."""
    cfg = load_config(params_path)
    return [stage.name for stage in pipeline_stages(cfg) if not cache_hit_is_safe(stage, cfg)]


@task
def dvc_record() -> str:
    """`dvc commit --force`, then `dvc status` must be clean; returns the lock file's stage count."""
    commit = _dvc("commit", "--force", "--quiet")
    if commit.returncode:
        raise RuntimeError(f"dvc commit failed: {(commit.stderr or commit.stdout).strip().splitlines()[-1:]}")
    status = _dvc("status", "--json")
    if status.returncode or stale(json.loads(status.stdout or "{}")):
        raise RuntimeError(f"dvc status is not clean after commit: {status.stdout.strip()[:300]}")
    stages = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    return f"dvc.lock records {len(stages)} stages"


@task(retries=2, retry_delay_seconds=30)  # network I/O to the remote
def dvc_push() -> None:
    """Upload the recorded artifacts to the default DVC remote."""
    push = _dvc("push")
    if push.returncode:
        raise RuntimeError(f"dvc push failed: {(push.stderr or push.stdout).strip().splitlines()[-1:]}")


@flow(name="pruneflow-nightly")
def nightly(params_path: str = "params.yaml", dask_workers: int = 0, dask_address: str | None = None,
            push: bool = False) -> str:
    """Run the pipeline, then record its outputs in dvc.lock as `dvc repro` would (and push them)."""
    if Path(params_path).resolve() != Path("params.yaml").resolve():
        return Failed(message=f"params_path={params_path}: the nightly run records into dvc.lock, which DVC keys on "
                              "./params.yaml; allowed: params.yaml (run flows.pipeline for other files)")
    try:
        load_config(params_path)
    except PipelineError as exc:
        return Failed(message=str(exc))
    state = pipeline(params_path, dask_workers, dask_address, return_state=True)
    if state.is_failed():
        return Failed(message=state.message)
    stale = unreproduced_stages(params_path)
    if stale:
        return Failed(message=f"not recorded in dvc.lock: outputs of {', '.join(stale)} were not written by this run "
                              "for the current inputs")
    recorded = dvc_record()
    if push:
        dvc_push()
    create_markdown_artifact(
        f"Pipeline run recorded: {recorded}; `dvc status` clean{'; pushed to the DVC remote' if push else ''}. "
        "Review with `dvc metrics diff` and `make pr-comment`.", key=RECORD_ARTIFACT,
        description="What the nightly run recorded in DVC")
    return recorded
