"""`dvc repro` end to end in a throw-away git+DVC repo on a tiny config."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pruneflow.config import load_config
from pruneflow.io import digest
from pruneflow.metrics import VARYING_FIELDS, reproducible_fields
from pruneflow.stages import pipeline_stages
from tests.conftest import REPO, write_params

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if check and proc.returncode:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _dvc(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "dvc", *args], repo, check)


def _stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git+DVC repo holding this project's pipeline code and a tiny params.yaml, reproduced once."""
    root = tmp_path_factory.mktemp("dvcrepo")
    for name in ("tasks", "flows"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "dvc.yaml", root)
    shutil.copy(REPO / "tests" / "kill_at_commit.py", root)
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "README.md").write_text("raw data\n")
    write_params(root)
    _run(["git", "init", "-q"], root)
    _run(["git", "config", "user.email", "t@example.com"], root)
    _run(["git", "config", "user.name", "test"], root)
    _dvc(root, "init", "-q")
    _dvc(root, "config", "core.analytics", "false")
    shutil.copy(REPO / ".dvcignore", root)
    first = _dvc(root, "repro")
    assert _stages_run(first.stdout) == {"ingest", "train_dense", "prune", "strip", "pqat", "export", "bench",
                                         "evaluate", "sensitivity", "sweep_point@0.5-polynomial",
                                         "sweep_point@0.8-polynomial", "sweep_derived", "sweep", "report"}
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "baseline"], root)
    return root


def test_second_repro_does_nothing(repo: Path) -> None:
    again = _dvc(repo, "repro")
    assert _stages_run(again.stdout) == set()
    assert "up to date" in again.stdout


def _outputs(repo: Path) -> dict[str, str]:
    """Digest of every output of every stage, by path."""
    cfg = load_config(repo / "params.yaml")
    return {str(out): digest(repo / out) for stage in pipeline_stages(cfg) for out in stage.outs(cfg)}


def _command(stage: str) -> list[str]:
    """`python -m pruneflow` arguments of a stage, as dvc.yaml runs it."""
    if stage.startswith("sweep_point@"):
        sparsity, schedule = stage.split("@")[1].split("-")
        return ["sweep_point", "--sparsity", sparsity, "--schedule", schedule]
    return [stage]


def test_sigkill_while_publishing_each_stage_leaves_the_previous_outputs_intact(repo: Path) -> None:
    before = _outputs(repo)
    cfg = load_config(repo / "params.yaml")
    stages = {stage.name.split("@")[0]: stage for stage in pipeline_stages(cfg)}  # one sweep point: same code
    for stage in stages.values():
        killed = _run([sys.executable, "kill_at_commit.py", *_command(stage.name)], repo, check=False)
        assert killed.returncode == -signal.SIGKILL, f"{stage.name} was not killed while writing:\n{killed.stderr[-2000:]}"
        assert _outputs(repo) == before, f"{stage.name}: killed mid-write changed an earlier output"
    assert list(repo.rglob("*.pruneflow-tmp-*"))  # the kills left temporaries behind (ignored by git and DVC)
    status = _dvc(repo, "status", "--json")
    assert json.loads(status.stdout) == {}, status.stdout  # nothing to rerun: every output matches dvc.lock


def test_forced_rerun_repeats_every_metric_but_wall_clock_timings_and_the_files_bit_for_bit(repo: Path) -> None:
    from pruneflow.sweep import FLOAT_FILE, INT8_FILE, MODEL_FILE

    cfg = load_config(repo / "params.yaml")
    first = json.loads((repo / "metrics.json").read_text())
    p = cfg.paths
    deterministic = [p.prepared, p.dense_model, p.pruned_model, p.stripped_model, p.strip_check, p.export, p.pqat,
                     p.sensitivity, p.derived, p.sparsity_table, p.per_class_table, p.predictions, p.weight_histogram,
                     *(p.sweep / point.name / name for point in cfg.sweep_points() for name in (MODEL_FILE, FLOAT_FILE, INT8_FILE))]
    files = {str(path): digest(repo / path) for path in deterministic}

    rerun = _dvc(repo, "repro", "--force")  # also completes after the kills above and sweeps their temporaries
    assert len(_stages_run(rerun.stdout)) == len(pipeline_stages(cfg))
    assert not list(repo.rglob("*.pruneflow-tmp-*"))
    second = json.loads((repo / "metrics.json").read_text())
    assert reproducible_fields(second) == reproducible_fields(first)
    assert second["reproducibility"]["varies_run_to_run"] == list(VARYING_FIELDS)
    assert {str(path): digest(repo / path) for path in deterministic} == files
    assert first["dense"]["latency_p50_ms"] != second["dense"]["latency_p50_ms"]  # timings were measured anew
    _run(["git", "add", "-A"], repo)  # the rerun's timings are the new baseline of the tests below
    _run(["git", "commit", "-qm", "forced rerun"], repo)


def test_prune_param_change_reruns_only_prune_and_downstream_and_shows_in_metrics_diff(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["prune"]["final_sparsity"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(repo, "repro")
    assert _stages_run(out.stdout) == {"prune", "strip", "pqat", "export", "bench", "evaluate", "report"}

    diff = json.loads(_dvc(repo, "metrics", "diff", "--json").stdout)["metrics.json"]
    sparsity = diff["pruned.sparsity_prunable_pct"]
    assert sparsity["old"] == pytest.approx(80.0, abs=1.0)
    assert sparsity["new"] == pytest.approx(50.0, abs=1.0)
    assert "dense.sparsity_prunable_pct" not in diff  # the dense baseline did not move
    shown = _dvc(repo, "metrics", "diff", "--md").stdout
    assert "pruned.sparsity_prunable_pct" in shown
    params_diff = json.loads(_dvc(repo, "params", "diff", "--json").stdout)["params.yaml"]
    assert (params_diff["prune.final_sparsity"]["old"], params_diff["prune.final_sparsity"]["new"]) == (0.8, 0.5)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "final_sparsity 0.5"], repo)  # the second commit the PR test compares


def test_pr_comment_shows_lower_target_sparsity_as_negative_sparsity_and_positive_gzip_change(repo: Path) -> None:
    from pruneflow.tools.pr_comment import asset_name
    from tests.test_pr_comment import _row

    assert _run(["git", "log", "-1", "--format=%s"], repo).stdout.strip() == "final_sparsity 0.5"  # runs after the test above
    done = _run([sys.executable, "-m", "tasks.pr_comment", "--base", "HEAD~1", "--image-base-url",
                 "https://img.example/pr-7/sha"], repo, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = repo / "reports" / "pr"
    body = (out / "comment.md").read_text()
    print(body)  # shown with `pytest -rP`: the comment a reviewer would read
    params, rest = body.split("### Metrics")
    metrics, plots = rest.split("### Changed plots")

    assert _row(params, "prune.final_sparsity")[2:] == ["0.8", "0.5"]
    sparsity = _row(metrics, "pruned.sparsity_prunable_pct")
    assert float(sparsity[-1]) == pytest.approx(-30.0, abs=2.0)
    assert float(sparsity[-1]) == pytest.approx(float(sparsity[3]) - float(sparsity[2]), abs=1e-3)
    assert float(_row(metrics, "pruned.size_keras_gzip_bytes")[-1]) > 0  # fewer zeros compress worse
    # The dense model is not retrained; only its latency is re-timed (noise).
    dense = [line for line in metrics.splitlines() if "| dense." in line and "latency" not in line]
    assert dense == []
    assert "- `reports/prune_steps.csv` (changed)" in plots.splitlines()
    assert "reports/train_dense.csv" not in plots  # the dense stage did not rerun

    def differs_from_base(figure: Path) -> bool:
        base = subprocess.run(["git", "show", f"HEAD~1:{figure.relative_to(repo).as_posix()}"], cwd=repo,
                              capture_output=True)
        return base.returncode != 0 or base.stdout != figure.read_bytes()

    changed = [f for f in sorted((repo / "reports" / "figures").glob("*.png")) if differs_from_base(f)]
    assert "sizes.png" in {f.name for f in changed}  # 50 % sparsity gzips to other sizes
    for figure in changed:
        name = figure.relative_to(repo).as_posix()
        assert f"![{name}](https://img.example/pr-7/sha/{asset_name(name)})" in plots
        assert (out / asset_name(name)).read_bytes() == figure.read_bytes()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(asset_name(f.relative_to(repo).as_posix()) for f in changed)


def test_bad_param_fails_with_one_line_and_keeps_previous_outputs(repo: Path) -> None:
    metrics_before = (repo / "metrics.json").read_bytes()
    model_before = (repo / "models" / "pruned_wrapped.keras").read_bytes()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["prune"]["final_sparsity"] = 1.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        failed = _dvc(repo, "repro", check=False)
    finally:
        params["prune"]["final_sparsity"] = 0.5
        (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert failed.returncode != 0
    ours = [line for line in failed.stderr.splitlines() if line.startswith("pruneflow: error:")]
    assert ours == ["pruneflow: error: params.yaml: prune.final_sparsity=1.5: Input should be less than 1"]
    assert "Traceback" not in failed.stderr + failed.stdout
    assert (repo / "metrics.json").read_bytes() == metrics_before
    assert (repo / "models" / "pruned_wrapped.keras").read_bytes() == model_before


def test_editing_one_sweep_sparsity_reruns_only_that_point_then_the_table_and_report(repo: Path) -> None:
    import pandas as pd

    kept = (repo / "sweep" / "0.8-polynomial" / "point.json").read_bytes()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["sweep"]["sparsities"] == [0.5, 0.8]
    params["sweep"]["sparsities"] = [0.6, 0.8]
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _dvc(repo, "repro")
    assert _stages_run(out.stdout) == {"sweep_point@0.6-polynomial", "sweep", "report"}
    assert (repo / "sweep" / "0.8-polynomial" / "point.json").read_bytes() == kept
    table = pd.read_csv(repo / "reports" / "sweep.csv")
    assert table["point"].tolist() == ["dense", "0.6-polynomial", "0.8-polynomial"]
    assert table.loc[1, "sparsity_prunable_pct"] == pytest.approx(60.0, abs=0.5)
