"""Sharing runs (docs/sharing.md), on copies of the session's tiny build (tests/conftest.py `dvc_build`):
DVC experiments (`dvc exp run -S`, two queued experiments on `dvc queue start -j 2`, `make exp-show`,
`dvc exp apply`, `dvc exp branch`). The remotes (`make push` / `make pull`) are in
tests/test_dvc_share_remotes.py.

The experiments set `bench.batch`, the throughput batch: its claim is DVC's (what a set param reruns,
queued runs on their own params, equal to a run in the workspace), so it changes a param that reruns
two stages in seconds (bench and evaluate), not one that retrains (`prune.final_sparsity`, the docs'
example, reruns seven stages: tests/test_dvc_pipeline.py reruns a prune param once)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pruneflow.artifacts.results import reproducible_fields
from pruneflow.pipeline.dvc_cache import stale
from tests.builds import changed_stages, copy_build, dvc, stages_run
from tests.helpers_sharing import VENV, git, make

pytestmark = pytest.mark.slow

# What `-S bench.batch=...` with target `evaluate` reruns: the benchmark (its throughput batch) and
# evaluate (its TFLite accuracy pass runs at that batch; metrics.json records the bench setup); every
# model, export and the channel benchmark stay as recorded.
BATCH_TO_EVALUATE = {"bench", "evaluate"}
BASELINE_BATCH = 4  # the build's bench.batch (tests/helpers.py TINY)


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
