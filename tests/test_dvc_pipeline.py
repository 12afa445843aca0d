"""`dvc repro` end to end, on a copy of the session's one tiny build (tests/conftest.py `dvc_build`):
what an edit makes stale, what a param change reruns, the PR comment on it, a sweep edit."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pruneflow.artifacts.results import is_timing
from pruneflow.config.params import load_config
from pruneflow.pipeline.stages import pipeline_stages
from tests.builds import (
    changed_stages,
    copy_build,
    dvc,
    edit_params,
    run_command,
    stages_run,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(dvc_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the build for this module's tests, which change it in order."""
    return copy_build(dvc_build, tmp_path_factory.mktemp("dvc") / "repo")


def test_the_build_ran_every_stage_once_two_at_a_time_and_a_second_repro_does_nothing(dvc_build: Path, repo: Path) -> None:
    cfg = load_config(repo / "params.yaml")
    log = (dvc_build / "repro.log").read_text()
    names = [stage.name for stage in pipeline_stages(cfg)]
    assert sorted(re.findall(r"Running stage '([^']+)'", log)) == sorted(names)  # each once
    always = [stage.name for stage in pipeline_stages(cfg) if stage.always]
    assert always == ["machine"]
    assert (f"repro: {len(names) - 1} of {len(names)} stages stale or downstream of a change (and machine always), "
            "run at most 2 at once") in log
    # `make run`'s plain `dvc repro` after the runner found nothing left to do: only the machine stage ran
    # (it always does) and wrote the same machine.json, so every other stage was skipped
    after = (dvc_build / "repro_after.log").read_text()
    assert stages_run(after) == set() and "Running stage 'machine'" in after
    again = dvc(repo, "repro")
    assert stages_run(again.stdout) == set()
    assert "Stage 'bench' didn't change, skipping" in again.stdout


# What each edit makes stale by itself (DVC then reruns these, and whatever reads an output that changed).
# (tests/test_dvc_yaml.py checks more edits against the table; these check that DVC agrees with it)
EDITS = [
    ("a sentence of the report", "pruneflow/report/sentences.py", {"report"}),
    ("the printed tables", "pruneflow/evaluation/tables.py", {"evaluate", "report"}),
    ("the PR comment", "pruneflow/tools/pr_comment.py", set()),
    ("the benchmark's timing code", "pruneflow/deploy/benchmark.py", {"bench", "latency_table", "sweep", "channel_bench"}),
    # the magnitude recipe: its own stages and the stacked model (which reads the channel model as a
    # file); no channel stage, and no reader of the points (sweep, channel_bench)
    ("a sweep point's recipe", "pruneflow/magnitude/sweep_points.py",
     {"sweep_point@0.5-polynomial", "sweep_derived", "stacked"}),
    ("magnitude pruning", "pruneflow/magnitude/pruning.py",
     {"prune", "strip", "sensitivity", "sweep_point@0.5-polynomial", "sweep_derived", "stacked", "evaluate"}),
    # the channel pruner: the channel models, the latency table (it reads the channel groups) and the
    # budgeted models; no magnitude stage, not stacked, not channel_bench
    ("the channel pruner", "pruneflow/channels/graph.py", {"channel_prune", "channel_point@0.25", "uniform_baseline",
                                                           "latency_table", "channel_budget"}),
    # the fit loop: every stage that trains (and evaluate, which seeds); no bench, export or latency table
    ("the fit loop", "pruneflow/models/fit.py",
     {"train_dense", "prune", "strip", "pqat", "sensitivity", "sweep_point@0.5-polynomial", "sweep_derived",
      "channel_prune", "channel_point@0.25", "stacked", "uniform_baseline", "channel_budget", "evaluate"}),
    ("the stage edge of strip", "tasks/strip.py", {"strip"}),
]


@pytest.mark.parametrize(("what", "path", "stale"), EDITS, ids=[e[0] for e in EDITS])
def test_an_edit_makes_stale_only_the_stages_whose_code_reads_it(repo: Path, what: str, path: str, stale: set) -> None:
    source = repo / path
    text = source.read_text()
    try:
        source.write_text(text + "\n# an edit\n")
        assert changed_stages(repo) == stale, what
    finally:
        source.write_text(text)
    assert changed_stages(repo) == set()


def test_changing_prune_final_sparsity_makes_stale_the_main_prune_the_sweep_table_and_the_report(repo: Path) -> None:
    original = (repo / "params.yaml").read_text()
    try:
        edit_params(repo, {"prune": {"final_sparsity": 0.7}})
        # sweep_point@0.5 and sweep_derived do not read it (a point's target is on its command line);
        # the report words the schedule and target from it; evaluate names the main prune's sweep point
        # by it (the paired comparisons of every sweep point against dense, metrics.json `significance`)
        assert changed_stages(repo) == {"prune", "sweep", "evaluate", "report"}
    finally:
        (repo / "params.yaml").write_text(original)


# Over the suite's 120 s limit by design: reruns prune and every stage downstream, each a process of its own: 442 s measured on the loaded 2-core machine.
@pytest.mark.timeout(420)
def test_prune_param_change_reruns_only_prune_and_downstream_and_shows_in_metrics_diff(repo: Path) -> None:
    edit_params(repo, {"prune": {"final_sparsity": 0.6}})
    out = dvc(repo, "repro")
    assert stages_run(out.stdout) == {"prune", "strip", "pqat", "export", "bench", "channel_bench", "evaluate", "sweep",
                                      "report"}

    diffs = json.loads(dvc(repo, "metrics", "diff", "--json").stdout)
    diff = diffs["metrics.json"]
    sparsity = diff["pruned.sparsity_prunable_pct"]
    assert sparsity["old"] == pytest.approx(80.0, abs=1.0)
    assert sparsity["new"] == pytest.approx(60.0, abs=1.0)
    assert "dense.sparsity_prunable_pct" not in diff  # the dense baseline did not move
    # metrics.json: exact fields only, so its diff is what the change did; the re-timed bench is in timings.json
    assert [key for key in diff if is_timing(key)] == []
    assert "dense.latency_p50_ms" not in diff and "dense.latency_p50_ms" in diffs["timings.json"]
    shown = dvc(repo, "metrics", "diff", "--md", "--targets", "metrics.json").stdout
    assert "pruned.sparsity_prunable_pct" in shown and "_ms " not in shown
    params_diff = json.loads(dvc(repo, "params", "diff", "--json").stdout)["params.yaml"]
    assert (params_diff["prune.final_sparsity"]["old"], params_diff["prune.final_sparsity"]["new"]) == (0.8, 0.6)
    import pandas as pd

    table = pd.read_csv(repo / "reports" / "sweep.csv")  # the main prune is the sweep's point at its target
    assert table["point"].tolist() == ["dense", "0.5-polynomial", "0.6-polynomial", "derived-0.5",
                                         "channel-0.5", "channel-0.25"]
    assert table.loc[2, "sparsity_prunable_pct"] == pytest.approx(60.0, abs=0.5)
    run_command(["git", "add", "-A"], repo)
    run_command(["git", "commit", "-qm", "final_sparsity 0.6"], repo)  # the second commit the PR test compares


def test_pr_comment_shows_lower_target_sparsity_as_negative_sparsity_and_positive_gzip_change(repo: Path) -> None:
    from pruneflow.tools.pr_comment import asset_name
    from tests.test_pr_comment import _row

    assert run_command(["git", "log", "-1", "--format=%s"], repo).stdout.strip() == "final_sparsity 0.6"  # runs after the test above
    done = run_command([sys.executable, "-m", "pruneflow.tools.pr_comment", "--base", "HEAD~1", "--image-base-url",
                        "https://img.example/pr-7/sha"], repo, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    out = repo / "reports" / "pr"
    body = (out / "comment.md").read_text()
    print(body)  # shown with `pytest -rP`: the comment a reviewer would read
    headline, rest = body.split("### Headline")[1].split("### Params")
    params, rest = rest.split("### Metrics that repeat exactly (metrics.json)")
    metrics, rest = rest.split("### Changed plots")
    plots, timings = rest.split("### Timings (timings.json)")

    assert _row(params, "prune.final_sparsity") == ["0.8", "0.6"]
    # headline: the pruned row shows base → head; the dense row did not change but for its re-timed latency
    pruned = _row(headline, "pruned, unstructured")
    # cells: accuracy, vs dense [CI] p, sparsity, bytes, gzip bytes, MACs, p50, speed-up
    old, new = re.fullmatch(r"(\d+\.\d) → (\d+\.\d) \(-\d+\.\d\d pts\)", pruned[2]).groups()
    assert (float(old), float(new)) == (pytest.approx(80, abs=1), pytest.approx(60, abs=1))
    assert re.fullmatch(r"[\d,]+ → [\d,]+ \(\+\d+\.\d %\)", pruned[4]), pruned  # fewer zeros gzip worse
    # the head's paired difference from dense, from metrics.json `significance`
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\], p = [\d.e+-]+", pruned[1]), pruned
    if "(=)" not in pruned[0]:  # a changed accuracy is judged on both revisions' per-image predictions
        assert re.search(r"McNemar p = [\d.e+-]+: (within|beyond) noise$", pruned[0]), pruned
    dense = _row(headline, "dense")
    assert dense[1] == "reference"
    assert all(cell.endswith("(=)") for cell in [dense[0], *dense[2:6]]), dense
    assert re.search(r", (within|beyond) noise$", dense[6]) and dense[7] == "1.00× (reference)"
    sparsity = _row(metrics, "pruned.sparsity_prunable_pct")
    assert float(sparsity[2].split()[0]) == pytest.approx(-20.0, abs=2.0)
    assert float(sparsity[2].split()[0]) == pytest.approx(float(sparsity[1]) - float(sparsity[0]), abs=1e-3)
    assert _row(metrics, "pruned.size_keras_gzip_bytes")[2].startswith("+")  # fewer zeros compress worse
    # The dense model is not retrained: no exact dense field changed; its re-timed latency is a timing
    assert [line for line in metrics.splitlines() if line.startswith("| dense.")] == []
    assert "dense.latency_p50_ms" not in metrics and _row(timings, "dense.latency_p50_ms")[-1] in (
        "within noise", "beyond noise")
    assert timings.lstrip().startswith("<details><summary>") and timings.rstrip().endswith("</details>")
    assert "- `reports/prune_steps.csv` (changed)" in plots.splitlines()
    assert "reports/train_dense.csv" not in plots  # the dense stage did not rerun

    def differs_from_base(figure: Path) -> bool:
        base = subprocess.run(["git", "show", f"HEAD~1:{figure.relative_to(repo).as_posix()}"], cwd=repo,
                              capture_output=True)
        return base.returncode != 0 or base.stdout != figure.read_bytes()

    changed = [f for f in sorted((repo / "reports" / "figures").glob("*.png")) if differs_from_base(f)]
    assert "sizes.png" in {f.name for f in changed}  # 60 % sparsity gzips to other sizes
    for figure in changed:
        name = figure.relative_to(repo).as_posix()
        assert f"![{name}](https://img.example/pr-7/sha/{asset_name(name)})" in plots
        assert (out / asset_name(name)).read_bytes() == figure.read_bytes()
    assert sorted(p.name for p in out.glob("*.png")) == sorted(asset_name(f.relative_to(repo).as_posix()) for f in changed)


# Over the suite's 120 s limit by design: a sweep point, the table and the report: 136 s measured on the loaded 2-core machine.
@pytest.mark.timeout(300)
def test_editing_one_sweep_sparsity_reruns_only_that_point_then_the_table_and_report(repo: Path) -> None:
    import pandas as pd

    kept = (repo / "sweep_derived" / "point.json").read_bytes()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["sweep"]["sparsities"] == [0.5]
    edit_params(repo, {"sweep": {"sparsities": [0.4, 0.5]}})
    out = dvc(repo, "repro")
    # evaluate compares every sweep point with dense on the same test images (the new point too)
    assert stages_run(out.stdout) == {"sweep_point@0.4-polynomial", "sweep", "evaluate", "report"}
    against = json.loads((repo / "metrics.json").read_text())["significance"]["against_dense"]["0.4-polynomial"]
    assert against["n"] == len(pd.read_csv(repo / "sweep" / "0.4-polynomial" / "predictions.csv"))
    assert (repo / "sweep_derived" / "point.json").read_bytes() == kept
    table = pd.read_csv(repo / "reports" / "sweep.csv")
    assert table["point"].tolist() == ["dense", "0.4-polynomial", "0.5-polynomial", "0.6-polynomial",
                                         "derived-0.5", "channel-0.5", "channel-0.25"]
    assert table.loc[1, "sparsity_prunable_pct"] == pytest.approx(40.0, abs=0.5)
