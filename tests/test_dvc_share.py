"""Sharing runs (docs/sharing.md), on copies of the session's tiny build (tests/conftest.py `dvc_build`):
DVC experiments (`dvc exp run -S`, two queued experiments on `dvc queue start -j 2`, `make exp-show`,
`dvc exp apply`, `dvc exp branch`) and remotes (`make push` / `make pull` into a fresh clone through
.dvc/config's default local remote, and through its S3 remote against moto's S3 server on 127.0.0.1).

The experiments set `bench.batch`, the throughput batch: its claim is DVC's (what a set param reruns,
queued runs on their own params, equal to a run in the workspace), so it changes a param that reruns
two stages in seconds (bench and evaluate), not one that retrains (`prune.final_sparsity`, the docs'
example, reruns seven stages: tests/test_dvc_pipeline.py reruns a prune param once)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pruneflow.pipeline.dvc_cache import stale
from pruneflow.artifacts.results import reproducible_fields
from tests.conftest import REPO, changed_stages, copy_build, dvc, outputs, run_command, stages_run

pytestmark = pytest.mark.slow

VENV = Path(sys.executable).parent.parent

# What `-S bench.batch=...` with target `evaluate` reruns: the benchmark (its throughput batch) and
# evaluate (its TFLite accuracy pass runs at that batch; metrics.json records the bench setup); every
# model, export and the channel benchmark stay as recorded.
BATCH_TO_EVALUATE = {"bench", "evaluate"}
BASELINE_BATCH = 4  # the build's bench.batch (tests/conftest.py TINY)


def make(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`make <args>` with this project's Makefile in `repo` (a build copy: no venv of its own, so the
    Makefile's venv is this interpreter's, taken as installed)."""
    return run_command(["make", "-s", "-f", str(REPO / "Makefile"), f"VENV={VENV}", "-o", f"{VENV}/.installed",
                        *args], repo)


def git(repo: Path, *args: str) -> str:
    return run_command(["git", *args], repo).stdout


def metrics_at(repo: Path, rev: str) -> dict:
    """metrics.json as committed at `rev` (an experiment is a git commit; metrics.json is in git)."""
    return json.loads(git(repo, "show", f"{rev}:metrics.json"))


def experiments(repo: Path) -> dict[str, dict]:
    """Every experiment on the baseline commit, by name: its rev, params.yaml and metrics.json data."""
    found = {}
    for baseline in json.loads(dvc(repo, "exp", "show", "--json").stdout):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                found[rev["name"]] = {"rev": rev["rev"], "params": data["params"]["params.yaml"]["data"],
                                      "metrics": data["metrics"]["metrics.json"]["data"]}
    return found


def reset_to_baseline(repo: Path) -> None:
    """The committed baseline in the workspace again (a workspace `dvc exp run` leaves its results)."""
    git(repo, "checkout", "--", ".")
    dvc(repo, "checkout", "--force", "--quiet")
    assert stale(json.loads(dvc(repo, "status", "--json").stdout)) == {}


# ----------------------------------------------------------------------------- experiments


@pytest.fixture(scope="module")
def exp_repo(dvc_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the build for the experiment tests, which add experiments to it in order."""
    return copy_build(dvc_build, tmp_path_factory.mktemp("exp") / "repo")


@pytest.fixture(scope="module")
def sequential(exp_repo: Path) -> dict:
    """`dvc exp run -S bench.batch=6 evaluate` in the workspace: what it ran, its metrics."""
    start = time.monotonic()
    run = dvc(exp_repo, "exp", "run", "-n", "seq-b6", "-S", "bench.batch=6", "evaluate")
    seconds = time.monotonic() - start
    print(f"\ndvc exp run (bench → evaluate at batch 6): {seconds:.0f} s")
    result = {"ran": stages_run(run.stdout), "seconds": seconds,
              "params": yaml.safe_load((exp_repo / "params.yaml").read_text()),
              "metrics": json.loads((exp_repo / "metrics.json").read_text())}
    reset_to_baseline(exp_repo)
    return result


@pytest.fixture(scope="module")
def queued(exp_repo: Path, sequential: dict) -> dict:
    """Two experiments queued from the clean baseline (batch 6 and 8), run by `dvc queue start -j 2`."""
    names = {"q-b6": 6, "q-b8": 8}
    for name, batch in names.items():
        dvc(exp_repo, "exp", "run", "--queue", "-n", name, "-S", f"bench.batch={batch}", "evaluate")
    start = time.monotonic()
    # `queue start` returns at once: its celery workers (dvc-task) run each experiment in a temporary
    # git repository of its own under .dvc/tmp/exps and exit when the queue is empty. They inherit its
    # stdout: with a pipe there (capture_output) the call would wait for them. A file, then poll.
    workers_log = exp_repo.parent / "queue-workers.log"
    with workers_log.open("w") as log:
        subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "-j", "2"], cwd=exp_repo, check=True,
                       stdout=log, stderr=subprocess.STDOUT, timeout=120,
                       env={**os.environ, "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    most_running, deadline = 0, start + 1800
    while True:
        status = dvc(exp_repo, "queue", "status").stdout
        states = dict(re.findall(r"^\w+\s+(q-b\d)\s+.*?\s(\w+)\s*$", status, re.M))
        most_running = max(most_running, list(states.values()).count("Running"))
        if set(states) == set(names) and all(state in {"Success", "Failed"} for state in states.values()):
            break
        if time.monotonic() > deadline:
            dvc(exp_repo, "queue", "stop", "--kill", check=False)
            raise AssertionError(f"the queue did not finish in 30 min:\n{status}")
        time.sleep(2)
    seconds = time.monotonic() - start
    print(f"\ndvc queue start -j 2 (two experiments, bench → evaluate): {seconds:.0f} s")
    logs = {name: dvc(exp_repo, "queue", "logs", name).stdout for name in names}
    assert set(states.values()) == {"Success"}, f"{status}\n" + "\n".join(logs.values()) + workers_log.read_text()
    return {"targets": names, "seconds": seconds, "most_running": most_running, "logs": logs,
            "experiments": experiments(exp_repo)}


def test_exp_run_with_a_set_param_reruns_only_the_stages_reading_it_and_records_the_new_value(sequential: dict,
                                                                                             exp_repo: Path) -> None:
    assert sequential["ran"] == BATCH_TO_EVALUATE
    assert sequential["params"]["bench"]["batch"] == 6
    assert sequential["metrics"]["setup"]["bench"]["batch"] == 6  # the rerun bench measured at the new batch
    # the experiment is recorded (a git ref), and the workspace is the baseline's again
    exp = experiments(exp_repo)["seq-b6"]
    assert exp["params"]["bench"]["batch"] == 6
    assert metrics_at(exp_repo, exp["rev"]) == sequential["metrics"]  # the metrics.json it committed
    assert yaml.safe_load((exp_repo / "params.yaml").read_text())["bench"]["batch"] == BASELINE_BATCH
    assert json.loads((exp_repo / "metrics.json").read_text())["setup"]["bench"]["batch"] == BASELINE_BATCH


# Over the suite's 120 s limit by design: two queued DVC experiments: 128 s of set-up measured on the loaded 2-core machine.
@pytest.mark.timeout(300)
def test_two_queued_experiments_run_side_by_side_each_on_its_own_params(queued: dict) -> None:
    assert queued["most_running"] == 2, "dvc queue start -j 2 never ran the two experiments at once"
    for name, batch in queued["targets"].items():
        # really ran (the project's outputs are `persist`, so DVC's run cache never restores them)
        assert stages_run(queued["logs"][name]) == BATCH_TO_EVALUATE, queued["logs"][name]
        exp = queued["experiments"][name]
        assert exp["params"]["bench"]["batch"] == batch
        assert exp["metrics"]["setup"]["bench"]["batch"] == batch


def test_a_queued_experiment_repeats_the_sequential_run_exactly(queued: dict, sequential: dict, exp_repo: Path) -> None:
    # Wall-clock fields excluded (and, where the evaluate stage writes them to timings.json, absent):
    # everything else repeats although the two queued runs shared two cores.
    queued_metrics = metrics_at(exp_repo, queued["experiments"]["q-b6"]["rev"])
    assert reproducible_fields(queued_metrics) == reproducible_fields(sequential["metrics"])
    assert reproducible_fields(queued_metrics) != reproducible_fields(
        metrics_at(exp_repo, queued["experiments"]["q-b8"]["rev"]))


def test_make_exp_show_prints_the_headline_columns_of_every_experiment(queued: dict, exp_repo: Path) -> None:
    table = make(exp_repo, "exp-show").stdout
    print(f"\n{table}")
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert sorted(header) == sorted(["Experiment", "prune.final_sparsity", "pruned.test_accuracy_pct",
                                     "pruned.sparsity_prunable_pct", "pruned.size_tflite_bytes",
                                     "pruned.size_tflite_gzip_bytes", "pruned.latency_p50_ms",
                                     "comparison.latency_p50_speedup_x"])
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[cells["Experiment"]] = cells
    for name in queued["targets"]:
        [row] = [cells for label, cells in rows.items() if label.endswith(f"[{name}]")]
        exp = queued["experiments"][name]
        assert float(row["prune.final_sparsity"]) == exp["params"]["prune"]["final_sparsity"] == 0.8
        for key in ("test_accuracy_pct", "sparsity_prunable_pct", "size_tflite_bytes", "size_tflite_gzip_bytes"):
            # exp show rounds floats to 5 significant digits (`--precision`)
            assert float(row[f"pruned.{key}"]) == pytest.approx(exp["metrics"]["pruned"][key], rel=1e-4)
        # the timings (timings.json) of each experiment's own bench run
        assert float(row["pruned.latency_p50_ms"]) > 0 and float(row["comparison.latency_p50_speedup_x"]) > 0
    assert len(rows) == 1 + 3  # the baseline commit, seq-b6, q-b6, q-b8


def test_exp_apply_puts_the_experiments_params_and_outputs_in_the_workspace(queued: dict, exp_repo: Path) -> None:
    exp = queued["experiments"]["q-b8"]
    dvc(exp_repo, "exp", "apply", "q-b8")
    try:
        assert yaml.safe_load((exp_repo / "params.yaml").read_text())["bench"]["batch"] == 8
        assert json.loads((exp_repo / "metrics.json").read_text()) == metrics_at(exp_repo, exp["rev"])
        # its outputs too: every output up to evaluate matches the experiment's dvc.lock; only what the
        # targeted experiment did not run (the report, which words the bench params) is stale
        assert stale(json.loads(dvc(exp_repo, "status", "evaluate", "--json").stdout)) == {}
        assert changed_stages(exp_repo) == {"report"}
    finally:
        reset_to_baseline(exp_repo)


def test_exp_branch_makes_a_git_branch_holding_the_experiment(queued: dict, exp_repo: Path) -> None:
    dvc(exp_repo, "exp", "branch", "q-b6", "batch-6")
    assert yaml.safe_load(git(exp_repo, "show", "batch-6:params.yaml"))["bench"]["batch"] == 6
    assert metrics_at(exp_repo, "batch-6") == metrics_at(exp_repo, queued["experiments"]["q-b6"]["rev"])
    assert git(exp_repo, "rev-parse", "batch-6^") == git(exp_repo, "rev-parse", "HEAD")  # on the baseline


# ----------------------------------------------------------------------------- remotes


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
