"""`make run`'s runner (pruneflow/tools/repro.py): the stage table's graph decides what may run side
by side, nothing starts before what it reads, timed stages run alone, and a failure starts nothing
more; it plans the stale stages and everything downstream of them. The early headline's stages start
first and the headline starts once when they are done (tests/test_repro_headline.py); the rest start
longest recorded path first, table order without timings, and a ready timed stage holds back the
stages ranked below it (tests/test_repro_priority.py).
The real pipeline under it is the shared build (tests/builds.py `build_with_dvc`). The progress
lines and their estimate are in tests/test_repro_progress.py."""

from __future__ import annotations

import pytest

from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.pipeline.stages import BY_NAME, pipeline_stages, upstream
from pruneflow.tools.repro import main, plan, schedule
from tests.helpers import REPO
from tests.helpers_repro import FakeJob, _priorities, _run, _table


@pytest.mark.parametrize("priority_kind", ["none", "committed", "random1", "random2", "random3", "random4"])
@pytest.mark.parametrize("headline_first", [False, True])
def test_every_stage_starts_after_all_it_reads_at_most_jobs_at_once_and_timed_stages_alone(
        headline_first: bool, priority_kind: str) -> None:
    stages, graph, first = _table()
    priority, polls = _priorities(priority_kind, stages, graph)
    outcome, log = _run(stages, graph, first=first if headline_first else frozenset(), priority=priority, polls=polls)
    assert sorted(outcome.started) == sorted(s.name for s in stages) and outcome.failed == []
    order = {name: i for i, name in enumerate(outcome.started)}
    assert all(order[before] < order[name] for name, reads in graph.items() for before in reads)
    assert outcome.most_at_once == 2  # independent training stages did run side by side
    timed = {s.name for s in stages if s.timed}
    assert timed == {"bench", "latency_table", "channel_bench", "sweep"}
    for name, beside in log:  # each start, with every stage running right after it
        assert len(beside) <= 2
        if name in timed:
            assert beside == (name,), (name, beside)
        else:
            assert not timed & set(beside), (name, beside)


def test_one_job_runs_the_stages_one_at_a_time_in_table_order() -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    outcome, _ = _run(stages, upstream(stages, cfg), jobs=1)  # schedule's default: no stages first
    assert outcome.most_at_once == 1
    assert outcome.started == [s.name for s in stages]  # the table is in dependency order


def test_after_a_failure_nothing_more_starts_and_the_running_stages_finish() -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    outcome, log = _run(stages, upstream(stages, cfg), failing={"prune"})
    assert outcome.failed == ["prune (exit 1)"]
    assert "strip" not in outcome.started and "evaluate" not in outcome.started
    started_after = outcome.started[outcome.started.index("prune") + 1:]
    assert all("prune" not in upstream(stages, cfg)[name] for name in started_after)


def test_the_plan_is_the_stale_stages_and_everything_downstream_of_them() -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    # not the latency table (it converts the dense model itself) nor the budgets: a prune change re-measures
    # no table and retrains no budgeted model
    assert [s.name for s in plan(stages, graph, {"strip"})] == ["strip", "pqat", "export", "bench", "channel_bench",
                                                                 "evaluate", "sweep", "report"]
    assert [s.name for s in plan(stages, graph, {"report"})] == ["report"]
    assert plan(stages, graph, set()) == []
    assert BY_NAME["bench"].timed


def test_a_new_machine_plans_only_the_latency_stages_and_what_reads_them() -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    # no training stage, no export: the budgeted models are re-chosen on the new machine's table
    assert [s.name for s in plan(stages, graph, {"machine"})] == ["machine", "bench", "latency_table", "channel_budget",
                                                                   "channel_bench", "evaluate", "sweep", "report"]
    assert BY_NAME["machine"].always and not any(s.always for s in stages if s.name != "machine")


def test_jobs_below_one_is_one_line_naming_a_valid_value(capsys: pytest.CaptureFixture) -> None:
    assert main(["--jobs", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "pruneflow: error: --jobs 0: allowed is 1 or more, e.g. --jobs 2"


def test_bad_params_stop_the_runner_with_one_line(tmp_path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "params.yaml").write_text("prune:\n  final_sparsity: 1.5\n")
    assert main(["--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pruneflow: error:") and "prune.final_sparsity" in err and len(err.splitlines()) == 1


def test_a_stage_waiting_on_an_unplanned_stage_is_an_error_not_a_hang() -> None:
    stage = BY_NAME["strip"]
    with pytest.raises(PipelineError, match="wait for stages that are not planned"):
        schedule([stage], {"strip": {"prune"}}, set(), 2, lambda s: FakeJob(s, [], 1, 0), tick=0)
