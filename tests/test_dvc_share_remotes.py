"""Sharing runs through remotes (docs/sharing.md), on copies of the session's tiny build (tests/conftest.py
`dvc_build`): `make push` / `make pull` into a fresh clone through .dvc/config's default local remote, and
through its S3 remote against moto's S3 server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pruneflow.pipeline.dvc_cache import stale
from tests.builds import copy_build, dvc, outputs, run_command
from tests.helpers import REPO
from tests.helpers_sharing import VENV, git, make

pytestmark = pytest.mark.slow


def with_project_remotes(build: Path, dst: Path) -> Path:
    """A copy of the build with this project's .dvc/config (its default local remote and its s3
    remote), committed, as a user's checkout holds it."""
    repo = copy_build(build, dst)
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")
    git(repo, "commit", "-qam", "the project's DVC remotes")
    return repo


def round_trip(repo: Path, clone: Path, remote: str = "", configure=lambda repo: None) -> dict:
    """`make push` in `repo`, `git clone` it to `clone`, `make pull` there: seconds of each, what came."""
    configure(repo)
    args = [f"REMOTE={remote}"] if remote else []
    start = time.monotonic()
    make(repo, "push", *args)
    push_seconds = time.monotonic() - start
    run_command(["git", "clone", "-q", str(repo), str(clone)], clone.parent)
    configure(clone)
    assert not (clone / "models" / "dense.keras").exists()  # the clone's cache is empty: only the remote has it
    start = time.monotonic()
    pull = make(clone, "pull", *args)
    pull_seconds = time.monotonic() - start
    return {"push_seconds": push_seconds, "pull_seconds": pull_seconds, "pull": pull.stdout}


def assert_clone_has_the_committed_run(repo: Path, clone: Path, pulled: dict) -> None:
    assert "Running stage" not in pulled["pull"]
    assert outputs(clone) == outputs(repo) and "missing" not in outputs(clone).values()
    assert stale(json.loads(dvc(clone, "status", "--json").stdout)) == {}  # `dvc repro` would run nothing
    assert "pruned" in pulled["pull"]  # ... and `make pull` printed the run (python -m pruneflow show)


def test_the_default_local_remote_round_trips_into_a_fresh_clone_offline(dvc_build: Path, tmp_path: Path) -> None:
    repo = with_project_remotes(dvc_build, tmp_path / "repo")
    remote = tmp_path / "pruneflow-dvc-remote"  # ../../pruneflow-dvc-remote from repo/.dvc: beside the checkout
    assert dvc(repo, "remote", "default").stdout.strip() == "local"
    pulled = round_trip(repo, tmp_path / "clone")
    stored = sum(path.stat().st_size for path in remote.rglob("*") if path.is_file())
    print(f"\nlocal remote: {stored / 1e6:.1f} MB pushed in {pulled['push_seconds']:.1f} s, "
          f"pulled in {pulled['pull_seconds']:.1f} s")
    assert stored > 0
    assert_clone_has_the_committed_run(repo, tmp_path / "clone", pulled)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


S3_KEYS = {"access_key_id": "testing", "secret_access_key": "testing"}  # moto accepts any


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    """moto's S3 server (server mode: a real HTTP S3 API) on a free 127.0.0.1 port, stopped afterwards."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    log = (tmp_path / "moto.log").open("w")
    proc = subprocess.Popen([str(VENV / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", endpoint.rsplit(":", 1)[1]],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "moto.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(endpoint, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "moto_server did not answer in 60 s"
            time.sleep(0.3)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def s3_client(endpoint: str):
    import boto3  # dvc-s3's dependency

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=S3_KEYS["access_key_id"], aws_secret_access_key=S3_KEYS["secret_access_key"])


def test_push_to_s3_and_pull_into_a_fresh_clone_restores_every_output_without_training(
        dvc_build: Path, s3_endpoint: str, tmp_path: Path) -> None:
    repo = with_project_remotes(dvc_build, tmp_path / "repo")
    bucket, prefix = dvc(repo, "config", "remote.s3.url").stdout.strip().removeprefix("s3://").split("/", 1)
    client = s3_client(s3_endpoint)
    client.create_bucket(Bucket=bucket)

    def configure(checkout: Path) -> None:
        # per machine, never in git: .dvc/config.local
        for key, value in {"endpointurl": s3_endpoint, **S3_KEYS}.items():
            dvc(checkout, "remote", "modify", "--local", "s3", key, value)

    pulled = round_trip(repo, tmp_path / "clone", remote="s3", configure=configure)
    objects = [obj for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
               for obj in page.get("Contents", [])]
    pushed = sum(obj["Size"] for obj in objects)
    print(f"\ns3 remote (moto): {len(objects)} objects, {pushed} bytes ({pushed / 1e6:.1f} MB) pushed in "
          f"{pulled['push_seconds']:.1f} s, pulled in {pulled['pull_seconds']:.1f} s")
    assert objects and not (tmp_path / "pruneflow-dvc-remote").exists()  # went to S3, not the default remote
    assert "config.local" not in git(repo, "ls-files", ".dvc")  # the endpoint and keys stayed out of git
    assert_clone_has_the_committed_run(repo, tmp_path / "clone", pulled)
