"""`show`'s line on `dvc status` after a partial run: stale numbers only when a stage metrics.json depends
on changed; after `dvc repro evaluate`, the later stages not yet run (issue 33, defect 9).

`dvc status` is replaced by a synthetic status dict: no DVC process, no pipeline build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pruneflow.config.params import Config, load_config
from pruneflow.pipeline import freshness as provenance
from pruneflow.pipeline.stages import pipeline_stages
from tests.helpers import REPO

CHANGED_DEPS = [{"changed deps": {"reports/metrics.json": "modified"}}]


@pytest.fixture(scope="module")
def cfg() -> Config:
    return load_config(REPO / "params.yaml")


def _dvc_status_says(monkeypatch: pytest.MonkeyPatch, status: dict[str, Any] | None) -> None:
    monkeypatch.setattr(provenance, "dvc_status", lambda root=Path("."): status)


def test_after_dvc_repro_evaluate_show_calls_the_metrics_current_and_names_the_later_stages(
        cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    # what `dvc status` says after `dvc repro evaluate` on a fresh clone: the two stages after evaluate
    _dvc_status_says(monkeypatch, {"machine": ["always changed"], "report": CHANGED_DEPS, "sweep": CHANGED_DEPS})
    line = provenance.stale_warning(cfg)
    assert line == "note: metrics.json is current; later stages not yet run: report, sweep (run `dvc repro` for them)"


def test_a_changed_stage_before_evaluate_keeps_the_stale_warning_and_names_later_stages_apart(
        cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    _dvc_status_says(monkeypatch, {"prune": CHANGED_DEPS, "report": CHANGED_DEPS})
    line = provenance.stale_warning(cfg)
    assert line.startswith("warning: these metrics are stale: dvc status lists 1 changed stage(s) that "
                           "metrics.json depends on (prune); later stages not yet run either: report;")


def test_sweep_points_and_seed_runs_feed_the_metrics_and_report_and_sweep_come_after(cfg: Config) -> None:
    feeding = provenance.metrics_stages(cfg)
    points = {stage.name for stage in pipeline_stages(cfg) if "@" in stage.name}
    assert points and points <= feeding  # a matrix point is read by evaluate
    assert {"ingest", "train_dense", "prune", "strip", "pqat", "export", "bench", "evaluate"} <= feeding
    assert feeding.isdisjoint({"report", "sweep"})
    point = sorted(points)[0]
    assert provenance.stale_message([point, "sweep"], provenance.later_stages(cfg)).startswith(f"warning: these metrics are stale: "
                                                                          f"dvc status lists 1 changed stage(s) that "
                                                                          f"metrics.json depends on ({point})")


def test_a_stage_the_table_does_not_know_counts_as_stale_not_as_later() -> None:
    line = provenance.stale_message(["seed_run@44"], later={"report", "sweep"})  # a seed dvc.yaml has, params not
    assert line is not None and line.startswith("warning: these metrics are stale") and "seed_run@44" in line


def test_only_the_always_run_machine_stage_means_nothing_to_say(cfg: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    _dvc_status_says(monkeypatch, {"machine": ["always changed"]})
    assert provenance.stale_warning(cfg) is None


def test_show_prints_the_later_stages_note_on_stderr_beside_the_table(
        cfg: Config, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from pruneflow.__main__ import main

    monkeypatch.chdir(REPO)  # show reads the committed metrics.json; it writes nothing
    _dvc_status_says(monkeypatch, {"report": CHANGED_DEPS, "sweep": CHANGED_DEPS})
    assert main(["show"]) == 0
    out, err = capsys.readouterr()
    assert "note: metrics.json is current; later stages not yet run: report, sweep" in err
    assert "stale" not in err and out.startswith("metrics of data.source")
