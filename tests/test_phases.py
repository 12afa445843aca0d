"""Where a stage's time goes (pruneflow/artifacts/phases.py): phases add up per thread, a phase inside itself counts
once, and the breakdown's parts add up to the stage's time plus its start-up."""

from __future__ import annotations

import threading
import time

from pruneflow.artifacts import phases


def test_a_phase_nested_in_itself_counts_once_and_take_resets() -> None:
    phases.take()
    with phases.phase("convert"):
        with phases.phase("convert"):
            time.sleep(0.05)
        time.sleep(0.05)
    with phases.phase("bench"):
        time.sleep(0.02)
    taken = phases.take()
    assert 0.1 <= taken["convert"] < 0.15 and 0.02 <= taken["bench"] < 0.05
    assert phases.take() == {}


def test_each_thread_keeps_its_own_totals() -> None:
    phases.take()
    seen = {}

    def other() -> None:
        with phases.phase("train"):
            time.sleep(0.03)
        seen.update(phases.take())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert set(seen) == {"train"} and phases.take() == {}


def test_the_breakdown_adds_up_to_the_stage_and_its_start_up() -> None:
    parts = phases.breakdown(10.0, 7.5, {"train": 6.0, "convert": 3.0})
    assert parts == {"startup": 7.5, "train": 6.0, "convert": 3.0, "bench": 0.0, "other": 1.0}
    assert sum(parts.values()) == 10.0 + 7.5
    assert tuple(parts) == phases.PHASES


def test_the_process_age_is_this_processes_time_since_it_started() -> None:
    age = phases.process_age_s()
    assert age is None or 0.0 < age < 24 * 3600
