"""`make run`'s runner ranks the ready stages by their longest recorded path (table order without
timings), and a ready timed stage holds back the stages ranked below it."""

from __future__ import annotations

import pytest

from pruneflow.pipeline.stage import Stage
from pruneflow.tools.scheduler import critical_path
from tests.helpers_repro import _priorities, _run, _table


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
