"""`make run`'s runner and the early headline: the headline's stages and what they read start before
other ready stages, and the headline starts once when they are done, with no timed stage beside it;
none when its stages were not planned or one of them failed."""

from __future__ import annotations

from pruneflow.pipeline.stages import BY_NAME
from pruneflow.tools.headline import HEADLINE_STAGES, EarlyHeadline
from pruneflow.tools.repro import plan, schedule
from tests.helpers_repro import FakeJob, _run, _table


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
