"""The PR comment: its pure body builder, the CLI's one-line errors, and a real two-commit pipeline diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from pruneflow.tools.pr_comment import asset_name, build_body, machine_lines
from pruneflow.tools.revisions import ChangedPlot, changed_plots, load_failures, plot_failures
from tests.builds import dvc as _dvc
from tests.builds import run_command as _run

PARAMS_MD = """\
| Path        | Param                | HEAD~1   | workspace   |
|-------------|----------------------|----------|-------------|
| params.yaml | prune.final_sparsity | 0.8      | 0.5         |
"""
# Flat metrics of two revisions (what `dvc metrics diff --json --all` gives, files merged)
BASE = {"pruned.sparsity_prunable_pct": 80.0, "pruned.test_accuracy_pct": 97.0, "pruned.latency_p50_ms": 1.0}
HEAD = {"pruned.sparsity_prunable_pct": 50.0, "pruned.test_accuracy_pct": 98.0, "pruned.latency_p50_ms": 1.1}
EMPTY_MD = "| Path   | Param   | main   | workspace   |\n|--------|---------|--------|-------------|\n\n"
FIGURE = ChangedPlot("reports/figures/sparsity.png", "image", "changed")
CSV = ChangedPlot("reports/prune_steps.csv", "data", "changed")


def _row(md: str, metric: str) -> list[str] | None:
    """The cells after `metric` in the Markdown table row naming it (first or second column), or None."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for i in (0, 1):
            if len(cells) > i + 1 and cells[i] == metric:
                return cells[i + 1:]
    return None


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _run([sys.executable, "-m", "pruneflow.tools.pr_comment", *args], cwd, check=False)


def _git_repo(root: Path, dvc_dir: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for cmd in (["init", "-q"], ["config", "user.email", "t@example.com"], ["config", "user.name", "test"]):
        _run(["git", *cmd], root)
    if dvc_dir:
        (root / ".dvc").mkdir()
    (root / "README.md").write_text("x\n")
    _run(["git", "add", "-A"], root)
    _run(["git", "commit", "-qm", "first"], root)
    return root


# ---- pure core ----


def test_body_reads_headline_params_exact_metrics_plots_then_collapsed_timings() -> None:
    body = build_body(PARAMS_MD, BASE, HEAD, [CSV], "HEAD~1", None)
    heads = [line for line in body.splitlines() if line.startswith("#")]
    assert heads == ["## pruneflow: this branch vs `HEAD~1`", "### Headline", "### Params",
                     "### Metrics that repeat exactly (metrics.json)", "### Changed plots", "### Timings (timings.json)"]
    headline = body.split("### Headline")[1].split("### Params")[0]
    assert _row(headline, "pruned, unstructured")[:3] == [
        "97.0 → 98.0 (+1.00 pts); not judged: no per-image predictions were compared", "–", "80.0 → 50.0 (-30.00 pts)"]
    assert _row(body, "prune.final_sparsity") == ["0.8", "0.5"]
    exact = body.split("### Metrics that repeat exactly")[1].split("### Changed plots")[0]
    assert _row(exact, "pruned.sparsity_prunable_pct") == ["80.0", "50.0", "-30.0 (-37.5 %)"]
    assert "latency" not in exact  # wall-clock fields only in the timings section, collapsed
    timings = body.split("### Timings (timings.json)")[1]
    assert timings.lstrip().startswith("<details><summary>1 timing fields changed") and "</details>" in timings
    assert _row(timings, "pruned.latency_p50_ms")[-1] == "no noise measure"
    assert "- `reports/prune_steps.csv` (changed)" in body.splitlines()


def test_the_comment_names_the_machine_and_warns_when_the_two_sides_were_timed_on_different_ones() -> None:
    same = machine_lines("main", {"machine": "AMD EPYC (x86_64, 2 cores)"}, {"machine": "AMD EPYC (x86_64, 2 cores)"})
    assert same[0] == "Latencies of both sides measured on: AMD EPYC (x86_64, 2 cores)."
    other = machine_lines("main", {"machine": "Intel Xeon (x86_64, 8 cores)"}, {"machine": "AMD EPYC (x86_64, 2 cores)"})
    assert other[0].startswith("> [!WARNING]") and "`main` on Intel Xeon (x86_64, 8 cores)" in other[0]
    assert "this branch on AMD EPYC (x86_64, 2 cores)" in other[0] and "compare machines, not code" in other[0]
    # a base from before machine.json: said so, not guessed
    assert "`main` on an unrecorded machine" in machine_lines("main", {}, {"machine": "AMD EPYC"})[0]


def test_empty_diffs_are_stated_in_one_line_each() -> None:
    body = build_body(EMPTY_MD, {}, {}, [], "main", None)
    assert "No params changed against main." in body.splitlines()
    assert "No metrics changed against main: the same params and data give these bit for bit." in body.splitlines()
    assert "No plots changed against main." in body.splitlines()
    assert "No timings changed against main." in body.splitlines()
    assert "| Path" not in body  # DVC's header-only table is not shown


def test_image_plots_embed_under_the_image_base_url() -> None:
    body = build_body(PARAMS_MD, BASE, HEAD, [FIGURE], "main", "https://raw.example/pr-3/abc/")
    assert "![reports/figures/sparsity.png](https://raw.example/pr-3/abc/reports-figures-sparsity.png)" in body


def test_image_plots_link_relative_to_the_comment_without_a_base_url() -> None:
    body = build_body(PARAMS_MD, BASE, HEAD, [FIGURE], "main", None)
    assert f"![reports/figures/sparsity.png]({asset_name(FIGURE.name)})" in body
    assert "://" not in body


def test_removed_image_is_named_but_not_embedded() -> None:
    body = build_body(PARAMS_MD, BASE, HEAD, [ChangedPlot("reports/figures/old.png", "image", "removed")], "main", None)
    assert "**reports/figures/old.png** (removed)" in body
    assert "![" not in body


def test_changed_plots_finds_changed_new_and_removed_and_skips_equal_ones() -> None:
    def vega(rows_by_rev: dict[str, list[dict]]) -> list[dict]:
        values = [{**row, "rev": rev} for rev, rows in rows_by_rev.items() for row in rows]
        return [{"type": "vega", "revisions": list(rows_by_rev), "content": {"data": {"values": values}}}]

    def image(rev: str, url: str) -> dict:
        return {"type": "image", "revisions": [rev], "url": url}

    files = {"a_ws": b"A2", "a_base": b"A1", "b_ws": b"B", "b_base": b"B", "c_ws": b"C", "d_base": b"D"}
    plots = {
        "reports/figures/a.png": [image("workspace", "a_ws"), image("main", "a_base")],
        "reports/figures/b.png": [image("workspace", "b_ws"), image("main", "b_base")],
        "reports/figures/c.png": [image("workspace", "c_ws")],
        "reports/figures/d.png": [image("main", "d_base")],
        "reports/same.csv": vega({"workspace": [{"x": "1"}], "main": [{"x": "1"}]}),
        "reports/steps.csv": vega({"workspace": [{"x": "1"}, {"x": "3"}], "main": [{"x": "1"}, {"x": "2"}]}),
        "reports/new.csv": vega({"workspace": [{"x": "1"}]}),
    }
    assert changed_plots(plots, files.__getitem__) == [
        ChangedPlot("reports/figures/a.png", "image", "changed"),
        ChangedPlot("reports/figures/c.png", "image", "new"),
        ChangedPlot("reports/figures/d.png", "image", "removed"),
        ChangedPlot("reports/new.csv", "data", "new"),
        ChangedPlot("reports/steps.csv", "data", "changed"),
    ]


def test_dvc_load_warnings_become_revision_and_message() -> None:
    stderr = (
        "WARNING: failed to load metrics in revision 'origin/main', unable to read: 'dvc.yaml', corrupted\n"
        "DVC failed to load some metrics for following revisions: 'origin/main'.\n"
        "WARNING: failed to load params in revision 'workspace', [Errno 2] No such file\n"
    )
    assert load_failures(stderr) == [
        ("origin/main", "metrics: unable to read: 'dvc.yaml', corrupted"),
        ("workspace", "params: [Errno 2] No such file"),
    ]
    errors = [{"name": "steps", "rev": "main", "source": "s.csv", "type": "X", "msg": "bad file\nsecond line"},
              {"rev": "main", "type": "YAMLSyntaxError", "msg": "unable to read: 'dvc.yaml'"}]
    assert plot_failures(errors) == [("main", "plots (steps): bad file"), ("main", "plots: unable to read: 'dvc.yaml'")]


def test_what_dvc_could_not_read_at_the_base_is_a_warning_under_the_title() -> None:
    body = build_body(EMPTY_MD, {}, {}, [], "main", None, ["metrics: unable to read: 'dvc.yaml'"])
    before_params = body.split("### Params")[0]
    assert "> [!WARNING]" in before_params
    assert "> - metrics: unable to read: 'dvc.yaml'" in before_params.splitlines()
    assert "[!WARNING]" not in build_body(EMPTY_MD, {}, {}, [], "main", None)


# ---- CLI: one-line errors ----


def test_unknown_base_fails_with_one_line_and_exit_2(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo")
    failed = _cli(repo, "--base", "no-such-branch")
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        "pruneflow: error: --base=no-such-branch: not a git revision in this repo; "
        "allowed: a branch, tag or commit (e.g. main, HEAD~1)"
    )
    assert not (repo / "reports").exists()


def test_base_that_looks_like_an_option_is_not_passed_on(tmp_path: Path) -> None:
    failed = _cli(_git_repo(tmp_path / "repo"), "--base=--all")
    assert failed.returncode == 2
    assert failed.stderr.startswith("pruneflow: error: --base=--all: not a git revision")


@pytest.mark.parametrize(("git", "dvc", "says"), [(False, False, "not a git repository"), (True, False, "not a DVC")])
def test_outside_a_git_dvc_repo_fails_with_one_line(tmp_path: Path, git: bool, dvc: bool, says: str) -> None:
    where = _git_repo(tmp_path / "repo", dvc_dir=dvc) if git else tmp_path
    failed = _cli(where, "--base", "HEAD")
    assert failed.returncode == 2
    assert len(failed.stderr.strip().splitlines()) == 1
    assert failed.stderr.startswith(f"pruneflow: error: {where}: {says}")
    assert "Traceback" not in failed.stderr + failed.stdout


def test_out_folder_holding_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo")
    (repo / "notes").mkdir()
    (repo / "notes" / "keep.txt").write_text("mine\n")
    failed = _cli(repo, "--base", "HEAD", "--out", "notes")
    assert failed.returncode == 2
    assert failed.stderr.strip() == (
        "pruneflow: error: --out=notes: holds other files; allowed: a folder of its own (default reports/pr)"
    )
    assert (repo / "notes" / "keep.txt").read_text() == "mine\n"


# ---- CLI on a real (tiny, untrained) DVC repo ----


def _dvc_repo(root: Path, dvc_yaml: str) -> Path:
    repo = _git_repo(root, dvc_dir=False)
    _dvc(repo, "init", "-q")
    _dvc(repo, "config", "core.analytics", "false")
    (repo / "dvc.yaml").write_text(dvc_yaml)
    (repo / "params.yaml").write_text("a: 1\n")
    (repo / "m.json").write_text('{"x": 1}\n')
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "base"], repo)
    return repo


STAGE = 'stages:\n  s:\n    cmd: "true"\n    params: [a]\n    metrics: [{m.json: {cache: false}}]\n'


def test_unreadable_workspace_fails_with_dvcs_reason_in_one_line(tmp_path: Path) -> None:
    # DVC itself exits 0 here and only warns: without the check the comment would say "No params changed".
    repo = _dvc_repo(tmp_path / "repo", STAGE)
    (repo / "dvc.yaml").write_text("stages: [\n")
    failed = _cli(repo, "--base", "HEAD")
    assert failed.returncode == 2
    assert failed.stderr.strip().splitlines() == [
        "pruneflow: error: dvc params diff HEAD: workspace: params: unable to read: 'dvc.yaml', "
        "YAML file structure is corrupted; allowed: a workspace where `dvc repro` ran through"
    ]
    assert not (repo / "reports" / "pr").exists()


def test_unreadable_base_is_reported_in_the_comment_not_as_no_change(tmp_path: Path) -> None:
    repo = _dvc_repo(tmp_path / "repo", "stages: [\n")
    (repo / "dvc.yaml").write_text(STAGE)
    done = _cli(repo, "--base", "HEAD")
    assert done.returncode == 0, done.stderr
    body = (repo / "reports" / "pr" / "comment.md").read_text()
    assert "> - metrics: unable to read: 'dvc.yaml', YAML file structure is corrupted" in body.splitlines()
    assert _row(body, "x") == ["–", "1", "new"]



def _png(path: Path, rgb: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), rgb).save(path)


def test_cli_writes_comment_and_copies_only_changed_images_replacing_stale_ones(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "repo", dvc_dir=False)
    _dvc(repo, "init", "-q")
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"report": {
        "cmd": "true",
        "params": ["prune.final_sparsity"],
        "metrics": [{"metrics.json": {"cache": False}}],
        "plots": [{"reports/figures": {"cache": False}}, {"reports/steps.csv": {"x": "step", "y": "s", "cache": False}}],
    }}}))
    (repo / "params.yaml").write_text("prune:\n  final_sparsity: 0.8\n")
    (repo / "metrics.json").write_text(json.dumps({"pruned": {"sparsity_prunable_pct": 80.0}}))
    (repo / "reports").mkdir()
    (repo / "reports" / "steps.csv").write_text("step,s\n1,0.8\n")
    _png(repo / "reports" / "figures" / "changes.png", (255, 0, 0))
    _png(repo / "reports" / "figures" / "stays.png", (0, 255, 0))
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "base"], repo)

    (repo / "params.yaml").write_text("prune:\n  final_sparsity: 0.5\n")
    (repo / "metrics.json").write_text(json.dumps({"pruned": {"sparsity_prunable_pct": 50.00004}}))
    (repo / "reports" / "steps.csv").write_text("step,s\n1,0.5\n")
    _png(repo / "reports" / "figures" / "changes.png", (0, 0, 255))
    _png(repo / "reports" / "pr" / "stale.png", (1, 1, 1))  # from an earlier run: must not be published

    done = _cli(repo, "--base", "HEAD", "--image-base-url", "https://img.example/pr-1")
    assert done.returncode == 0, done.stderr
    out = repo / "reports" / "pr"
    assert sorted(p.name for p in out.iterdir()) == ["comment.md", "reports-figures-changes.png"]
    assert (out / "reports-figures-changes.png").read_bytes() == (repo / "reports/figures/changes.png").read_bytes()
    body = (out / "comment.md").read_text()
    assert _row(body, "prune.final_sparsity") == ["0.8", "0.5"]
    assert _row(body, "pruned.sparsity_prunable_pct") == ["80.0", "50.0", "-30.0 (-37.5 %)"]
    assert "![reports/figures/changes.png](https://img.example/pr-1/reports-figures-changes.png)" in body
    assert "stays.png" not in body
    assert "- `reports/steps.csv` (changed)" in body.splitlines()
