"""prefect.yaml's nightly deployment against a real Prefect server on loopback: it registers with its
cron schedule, a triggered run is picked up by a process worker and completes, its artifacts are
readable, and it leaves the DVC workspace recorded (dvc.lock written, `dvc status` clean) and pushed to
the default remote."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from pruneflow.pipeline.dvc_cache import stale
from tests.builds import copy_build
from tests.helpers import REPO

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc


@pytest.fixture
def server(tmp_path: Path):
    """A real `prefect server start` on 127.0.0.1 with its own home and database; yields its env."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_PROFILES_PATH": str(home / "profiles.toml"),
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false",
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_LOGGING_LEVEL": "WARNING",
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (home / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{env['PREFECT_API_URL']}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "prefect server did not answer /api/health in 180 s"
            time.sleep(0.5)
        yield env
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def repo(flow_build: Path, tmp_path: Path) -> Path:
    """A git+DVC checkout of this project holding the session's flow build (what a user's clone holds
    after a first `make flow`): the nightly run then finds every stage cached and records it."""
    root = copy_build(flow_build, tmp_path / "checkout")
    shutil.copy(REPO / "prefect.yaml", root)
    git = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                [sys.executable, "-m", "dvc", "config", "core.analytics", "false"],
                # the deployment pushes after recording (push: true): a default remote of its own
                [sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(tmp_path / "dvc-remote")],
                # the code, params and raw data; the outputs are DVC's to record (cached ones never go in git)
                ["git", "add", "pruneflow", "tasks", "flows", "dvc.yaml", "params.yaml", "prefect.yaml", ".dvc",
                 ".dvcignore", "data/raw", "models/own"],
                ["git", "commit", "-qm", "checkout"]):
        _run(cmd, root, git)
    return root


async def _deployment_and_run(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(name)
        run = await client.create_flow_run_from_deployment(deployment.id)
        return deployment, run.id


async def _wait(flow_run_id, timeout: float):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = await client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run.state
            await asyncio.sleep(2)
    raise AssertionError(f"flow run {flow_run_id} did not finish in {timeout} s")


async def _artifacts(flow_run_id) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    async with get_client() as client:
        children = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
        ids = [flow_run_id, *(child.id for child in children)]
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
    return {artifact.key: artifact for artifact in found}


def test_nightly_deployment_runs_on_a_worker_and_records_the_run_in_dvc(server: dict, repo: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # this process's client talks to the same server (Prefect's settings were loaded at import)
    with temporary_settings(updates={PREFECT_API_URL: server["PREFECT_API_URL"]}):
        _deploy_run_and_check(server, repo)


def _deploy_run_and_check(server: dict, repo: Path) -> None:
    from flows.nightly import RECORD_ARTIFACT
    from flows.pipeline import SWEEP_ARTIFACT, TABLE_ARTIFACT

    spec = yaml.safe_load((repo / "prefect.yaml").read_text())["deployments"][0]
    pool = spec["work_pool"]["name"]
    _run([str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process"], repo, server)
    _run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], repo, server)

    deployment, flow_run_id = asyncio.run(_deployment_and_run(f"pruneflow-nightly/{spec['name']}"))
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules] == [("0 2 * * *", "UTC", True)]
    assert deployment.parameters["params_path"] == "params.yaml"
    assert deployment.work_pool_name == pool
    # the worker runs the flow in this checkout (Prefect's default pull step for a local deploy)
    assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(repo)}}]

    worker_log = (repo.parent / "worker.log").open("w")
    worker = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", pool, "--run-once"], cwd=repo.parent,
                              env=server, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        state = asyncio.run(_wait(flow_run_id, timeout=900))
    finally:
        _stop(worker)
        worker_log.close()
    assert state.is_completed(), f"{state.type}: {state.message}\n{(repo.parent / 'worker.log').read_text()[-3000:]}"

    artifacts = asyncio.run(_artifacts(flow_run_id))
    assert {TABLE_ARTIFACT, SWEEP_ARTIFACT, RECORD_ARTIFACT} <= set(artifacts)
    sweep = json.loads(artifacts[SWEEP_ARTIFACT].data)
    assert [row["point"] for row in sweep] == ["dense", "0.5-polynomial", "0.8-polynomial", "derived-0.5",
                                               "channel-0.5", "channel-0.25"]
    assert "dvc status` clean" in artifacts[RECORD_ARTIFACT].data
    assert spec["parameters"]["push"] is True and "pushed to the DVC remote" in artifacts[RECORD_ARTIFACT].data

    # recorded the way `dvc repro` records: every stage in dvc.lock, nothing left to reproduce
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert {"ingest", "evaluate", "sweep_point@0.5-polynomial", "sweep", "report"} <= set(lock)
    assert "metrics.json" in {out["path"] for out in lock["evaluate"]["outs"]}
    status = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=repo, capture_output=True, text=True)
    assert stale(json.loads(status.stdout)) == {}
    # ... and pushed: the remote holds every cached output (`dvc status --cloud`: nothing new or missing)
    cloud = subprocess.run([sys.executable, "-m", "dvc", "status", "--cloud", "--json"], cwd=repo, capture_output=True,
                           text=True)
    assert cloud.returncode == 0 and json.loads(cloud.stdout) == {}, cloud.stdout + cloud.stderr
    assert any((repo.parent / "dvc-remote").rglob("*"))
    assert json.loads((repo / "metrics.json").read_text())["pruned"]["sparsity_prunable_pct"] == pytest.approx(80.0, abs=1)
