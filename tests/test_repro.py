"""`make run`'s runner (pruneflow/tools/repro.py): the stage table's graph decides what may run side
by side, nothing starts before what it reads, timed stages run alone, and a failure starts nothing
more; the early headline's stages start first and the headline starts once when they are done; the
rest start longest recorded path first (table order without timings), and a ready timed stage holds
back the stages ranked below it.
The real pipeline under it is the shared build (tests/conftest.py `build_with_dvc`). The progress
lines and their estimate are in tests/test_repro_progress.py."""

from __future__ import annotations

import random

import pytest

from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.pipeline.stages import BY_NAME, Stage, pipeline_stages, upstream
from pruneflow.tools.headline import HEADLINE_STAGES, EarlyHeadline
from pruneflow.tools.repro import main, plan, schedule
from pruneflow.tools.scheduler import critical_path, with_upstream
from tests.conftest import REPO


class FakeJob:
    """A stage that runs for `polls` polls, then exits with `status`; it logs what ran beside it."""

    def __init__(self, stage: Stage, clock: list, polls: int, status: int) -> None:
        self.stage, self.clock, self.left, self.status = stage, clock, polls, status

    def poll(self) -> int | None:
        self.left -= 1
        return self.status if self.left <= 0 else None


def _run(stages, graph, failing=(), jobs=2, first=frozenset(), finished=None, done=None, priority=None, polls=None):
    running, log = [], []

    def start(stage):
        length = polls(stage) if polls else 3 if not stage.timed else 2
        job = FakeJob(stage, log, polls=length, status=1 if stage.name in failing else 0)
        original = job.poll

        def poll():
            status = original()
            if status is not None:
                running.remove(stage.name)
            return status

        job.poll = poll
        running.append(stage.name)
        log.append((stage.name, tuple(running)))
        return job

    outcome = schedule(list(stages), graph, set() if done is None else done, jobs, start, tick=0, first=first,
                       finished=finished, priority=priority)
    return outcome, log


def _table():
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    return stages, graph, with_upstream(HEADLINE_STAGES, graph)


# Each stage's seconds in the cold run of the committed reports/timings/ (2-core AMD EPYC, --jobs 2),
# frozen here so that a new run's timings do not change what the tests prove.
COMMITTED_SECONDS = {
    "machine": 0.006, "ingest": 2.409, "train_dense": 225.67, "prune": 248.879, "strip": 9.244, "pqat": 277.612,
    "export": 225.979, "bench": 73.798, "channel_prune": 232.916, "channel_point@0.35": 183.839,
    "latency_table": 97.568, "channel_budget": 531.922, "stacked": 250.302, "uniform_baseline": 573.592,
    "channel_bench": 303.465, "sensitivity": 98.718, "sweep_point@0.5-polynomial": 375.31,
    "sweep_point@0.95-polynomial": 393.113, "sweep_derived": 350.557, "evaluate": 30.107, "sweep": 32.848,
    "report": 6.82,
}


def _priorities(kind: str, stages, graph):
    """No ranks, the committed timings' critical path, or (`random<seed>`) ranks and stage lengths at random."""
    if kind == "none":
        return None, None
    if kind == "committed":
        return critical_path((s.name for s in stages), graph, COMMITTED_SECONDS, 14.0), None
    rng = random.Random(int(kind.removeprefix("random")))
    ranks = {s.name: rng.uniform(0, 100) for s in stages}
    lengths = {s.name: rng.randint(1, 8) for s in stages}
    return ranks, lambda stage: lengths[stage.name]


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


def test_the_headline_stages_and_what_they_read_start_before_other_ready_stages_the_rest_in_table_order() -> None:
    stages, graph, first = _table()
    assert first == {"ingest", "train_dense", "prune", "strip", "channel_prune"}
    table = [s.name for s in stages]
    plain, _ = _run(stages, graph, jobs=1)
    assert plain.started.index("pqat") < plain.started.index("channel_prune")  # table order: pqat comes first
    ordered, _ = _run(stages, graph, jobs=1, first=first)
    assert ordered.started[:5] == ["ingest", "train_dense", "prune", "strip", "channel_prune"]
    assert ordered.started[5:] == [name for name in table if name not in first]


def test_a_ready_headline_stage_starts_before_a_ready_stage_ahead_of_it_in_the_table() -> None:
    stages, graph, first = _table()
    ready = [BY_NAME["sensitivity"], BY_NAME["channel_prune"]]  # both read only ingest and train_dense
    outcome, _ = _run(ready, graph, jobs=1, first=first, done={"ingest", "train_dense"})
    assert outcome.started == ["channel_prune", "sensitivity"]


class _Headline:
    """The early headline's launches: what was done then, and a job that runs `polls` polls."""

    def __init__(self, done: set[str], polls: int = 1) -> None:
        self.done, self.polls, self.launches, self.job = done, polls, [], None

    def launch(self) -> FakeJob:
        self.launches.append(set(self.done))
        self.job = FakeJob(BY_NAME["evaluate"], [], self.polls, 0)
        return self.job


def test_the_early_headline_starts_once_when_its_stages_are_done_while_the_rest_still_waits() -> None:
    stages, graph, first = _table()
    done: set[str] = set()
    headline = _Headline(done)
    trigger = EarlyHeadline((s.name for s in stages), headline.launch)
    outcome, _ = _run(stages, graph, first=first, done=done,
                      finished=lambda stage, status: trigger.finished(stage.name, status))
    assert outcome.failed == [] and len(headline.launches) == 1
    (at_launch,) = headline.launches
    assert set(HEADLINE_STAGES) <= at_launch
    assert "evaluate" not in at_launch and "bench" not in at_launch  # the rest was still to run


def test_no_timed_stage_starts_while_the_early_headline_runs() -> None:
    stages, graph, first = _table()
    done: set[str] = set()
    headline = _Headline(done, polls=40)  # longer than any fake stage: timed stages would start beside it
    trigger = EarlyHeadline((s.name for s in stages), headline.launch)
    timed_beside = []

    def finished(stage, status):
        return trigger.finished(stage.name, status)

    def start(stage):
        if stage.timed and headline.job is not None and headline.job.left > 0:
            timed_beside.append(stage.name)
        return FakeJob(stage, [], 3, 0)

    outcome = schedule(list(stages), graph, done, 2, start, tick=0, first=first, finished=finished)
    assert len(headline.launches) == 1 and sorted(outcome.started) == sorted(s.name for s in stages)
    assert timed_beside == []
    assert headline.job.left <= 0  # it ran to its end before the last timed stage started


def test_no_early_headline_when_its_stages_were_not_planned() -> None:
    stages, graph, first = _table()
    waiting = plan(stages, graph, {"sensitivity"})
    done = {s.name for s in stages} - {s.name for s in waiting}
    headline = _Headline(done)
    trigger = EarlyHeadline((s.name for s in waiting), headline.launch)
    outcome, _ = _run(waiting, graph, first=first, done=done,
                      finished=lambda stage, status: trigger.finished(stage.name, status))
    assert "sensitivity" in outcome.started and headline.launches == []


def test_no_early_headline_after_a_headline_stage_fails() -> None:
    stages, graph, first = _table()
    done: set[str] = set()
    headline = _Headline(done)
    trigger = EarlyHeadline((s.name for s in stages), headline.launch)
    outcome, _ = _run(stages, graph, failing={"strip"}, first=first, done=done,
                      finished=lambda stage, status: trigger.finished(stage.name, status))
    assert outcome.failed == ["strip (exit 1)"] and headline.launches == []


def _stages(*names: str, timed: tuple[str, ...] = ()) -> list[Stage]:
    return [Stage(name, (), (), (), timed=name in timed) for name in names]


def test_a_stages_path_is_its_recorded_seconds_plus_the_longest_path_of_what_reads_it() -> None:
    graph = {"x": set(), "y": set(), "z": {"y"}}
    ranks = critical_path("xyz", graph, {"x": 100.0, "y": 10.0, "z": 200.0}, 14.0)
    assert ranks == {"x": 114.0, "y": 238.0, "z": 214.0}
    # a stage without a timing file counts DVC's seconds alone; a path runs only through the named stages
    assert critical_path("yz", graph, {"z": 200.0}, 14.0) == {"y": 228.0, "z": 214.0}
    assert critical_path("y", graph, {"y": 10.0, "z": 200.0}, 14.0) == {"y": 24.0}


def test_the_ready_stage_with_the_longer_recorded_path_starts_first() -> None:
    stages = _stages("x", "y", "z")  # x is ahead in the table, but y leads to z, the longest stage
    graph = {"x": set(), "y": set(), "z": {"y"}}
    ranks = critical_path("xyz", graph, {"x": 100.0, "y": 10.0, "z": 200.0}, 14.0)
    assert _run(stages, graph, jobs=1, priority=ranks)[0].started == ["y", "z", "x"]
    assert _run(stages, graph, jobs=1)[0].started == ["x", "y", "z"]


@pytest.mark.parametrize("priority_kind", ["committed", "random5", "random6"])
def test_one_job_always_starts_the_highest_ranked_ready_stage_the_headline_group_first(priority_kind: str) -> None:
    stages, graph, first = _table()
    ranks, polls = _priorities(priority_kind, stages, graph)
    outcome, _ = _run(stages, graph, jobs=1, first=first, priority=ranks, polls=polls)
    assert sorted(outcome.started) == sorted(s.name for s in stages)
    done: set[str] = set()
    for name in outcome.started:  # one at a time: each ended before the next started
        ready = [s for s in graph if s not in done and graph[s] <= done]
        best = max(ready, key=lambda s: (s in first, ranks[s]))
        assert name == best, (name, best)
        done.add(name)


def test_without_timings_there_are_no_ranks_and_the_order_is_the_table_order() -> None:
    stages, graph, first = _table()
    ranks = critical_path((s.name for s in stages), graph, {}, 14.0)
    assert ranks == {}
    assert _run(stages, graph, jobs=1, priority=ranks)[0].started == [s.name for s in stages]
    for jobs in (1, 2):  # the same schedule as with no priority at all, headline stages first or not
        for group in (frozenset(), first):
            assert _run(stages, graph, jobs=jobs, first=group, priority=ranks) == _run(stages, graph, jobs=jobs,
                                                                                      first=group)


def test_a_ready_timed_stage_holds_back_the_stages_ranked_below_it_until_the_running_ones_end() -> None:
    # p and q start at once; when p ends, the benchmark t (reads p) is ready but q still runs, and u too is ready
    stages = _stages("p", "q", "t", "u", timed=("t",))
    graph = {"p": set(), "q": set(), "t": {"p"}, "u": set()}
    lengths = {"p": 1, "q": 6, "t": 2, "u": 3}

    def order(ranks):
        outcome, log = _run(stages, graph, priority=ranks, polls=lambda stage: lengths[stage.name])
        return outcome.started, dict(log)

    held, log = order({"p": 50.0, "q": 40.0, "t": 30.0, "u": 10.0})
    assert held == ["p", "q", "t", "u"] and log["t"] == ("t",)  # u waited: t ran alone as soon as q ended
    assert order({"p": 50.0, "q": 40.0, "t": 30.0, "u": 35.0})[0] == ["p", "q", "u", "t"]  # u outranks t
    assert order(None)[0] == ["p", "q", "u", "t"]  # no ranks: nothing is held, u starts beside q
