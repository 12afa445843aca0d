"""`make run`'s progress lines (pruneflow/tools/progress.py): `stage k of N · elapsed m:ss · about M min
left`, the time left replayed from timing files the tests write, with --jobs and timed stages alone; and
the early headline's printed form (pruneflow/tools/headline.py). No TensorFlow, nothing trained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pruneflow.stages import Stage
from pruneflow.tools.headline import format_rows
from pruneflow.tools.progress import Progress, clock_text, estimate_left, machine_label, recorded_seconds

SOURCE = "reports/timings/ of Test CPU x86_64, 2 cores"


def _stage(name: str, timed: bool = False) -> Stage:
    return Stage(name, (), (), (), timed=timed)


def _timings(folder: Path, seconds: dict[str, float]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in seconds.items():
        (folder / f"{name}.json").write_text(json.dumps({"stage": name, "seconds": value, "phases": {}}))
    return folder


# a and b read nothing; c reads both
A, B, C = _stage("a"), _stage("b"), _stage("c")
GRAPH = {"a": set(), "b": set(), "c": {"a", "b"}}


def test_the_recorded_seconds_are_each_timing_files_seconds_and_stages_without_one_are_left_out(tmp_path: Path) -> None:
    folder = _timings(tmp_path / "timings", {"a": 120.5, "b": 60})
    (folder / "c.json").write_text("{not json")
    assert recorded_seconds(["a", "b", "c", "d"], folder) == {"a": 120.5, "b": 60.0}


def test_the_estimate_runs_independent_stages_side_by_side_up_to_jobs(tmp_path: Path) -> None:
    recorded = recorded_seconds("abc", _timings(tmp_path, {"a": 120, "b": 60, "c": 60}))
    two = estimate_left([A, B, C], [], GRAPH, set(), 2, recorded, overhead_s=0)
    one = estimate_left([A, B, C], [], GRAPH, set(), 1, recorded, overhead_s=0)
    assert (two.seconds, two.missing) == (180.0, ())  # a beside b (120 s), then c
    assert one.seconds == 240.0
    assert estimate_left([A, B, C], [], GRAPH, set(), 1, recorded, overhead_s=14).seconds == 240.0 + 3 * 14


def test_the_estimate_runs_a_timed_stage_alone(tmp_path: Path) -> None:
    recorded = recorded_seconds(["a", "t"], _timings(tmp_path, {"a": 60, "t": 60}))
    timed = _stage("t", timed=True)
    assert estimate_left([A, timed], [], {"a": set(), "t": set()}, set(), 2, recorded, overhead_s=0).seconds == 120.0
    assert estimate_left([A, B], [], {"a": set(), "b": set()}, set(), 2, {"a": 60, "b": 60}, overhead_s=0).seconds == 60.0


def test_a_running_stage_counts_only_its_recorded_seconds_not_yet_spent(tmp_path: Path) -> None:
    recorded = {"a": 120.0, "b": 60.0, "c": 60.0}
    assert estimate_left([B, C], [(A, 100.0)], GRAPH, set(), 2, recorded, overhead_s=0).seconds == 120.0  # b, then c
    assert estimate_left([C], [(A, 500.0)], GRAPH, {"b"}, 2, recorded, overhead_s=0).seconds == 60.0  # overran: 0 left


def test_each_start_and_end_prints_stage_k_of_n_elapsed_and_the_estimate_left(tmp_path: Path) -> None:
    recorded = recorded_seconds("abc", _timings(tmp_path, {"a": 120, "b": 60, "c": 60}))
    now = [1000.0]
    progress = Progress([A, B, C], GRAPH, set(), 2, recorded, SOURCE, overhead_s=0, clock=lambda: now[0])
    where = f"(estimate from {SOURCE}, at --jobs 2)"
    assert progress.started(A) == f"repro: a started · stage 1 of 3 · elapsed 0:00 · about 3 min left {where}"
    now[0] += 65
    assert progress.started(B) == f"repro: b started · stage 2 of 3 · elapsed 1:05 · about 2 min left {where}"
    now[0] += 60
    assert progress.finished(A, 0) == f"repro: a done · stage 1 of 3 · elapsed 2:05 · about 1 min left {where}"
    assert progress.finished(B, 0).startswith("repro: b done · stage 2 of 3 · elapsed 2:05 · about 1 min left")
    assert progress.started(C).startswith("repro: c started · stage 3 of 3 · ")
    now[0] += 3600
    assert progress.finished(C, 0) == "repro: c done · stage 3 of 3 · elapsed 62:05 · no stage left"


def test_a_stage_without_a_timing_file_makes_the_estimate_partial_and_is_named(tmp_path: Path) -> None:
    recorded = recorded_seconds("abc", _timings(tmp_path, {"a": 120, "b": 60}))
    progress = Progress([A, B, C], GRAPH, set(), 2, recorded, SOURCE, overhead_s=0, clock=lambda: 0.0)
    assert progress.started(A) == ("repro: a started · stage 1 of 3 · elapsed 0:00 · about 2 min left "
                                   f"(partial estimate from {SOURCE}, at --jobs 2: no timing for c)")


def test_after_a_failure_the_line_says_nothing_more_starts_instead_of_an_estimate() -> None:
    progress = Progress([A, B, C], GRAPH, set(), 2, {"a": 1.0, "b": 1.0, "c": 1.0}, SOURCE, clock=lambda: 0.0)
    progress.started(A)
    progress.started(B)
    assert progress.finished(A, 3) == ("repro: a FAILED (exit 3) · stage 1 of 3 · elapsed 0:00 · "
                                       "nothing more starts; the running stages finish")


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (59.9, "0:59"), (61, "1:01"), (4335, "72:15")])
def test_elapsed_time_reads_minutes_and_seconds(seconds: float, text: str) -> None:
    assert clock_text(seconds) == text


def test_the_machine_is_named_from_its_file_or_said_to_be_unrecorded(tmp_path: Path) -> None:
    (tmp_path / "machine.json").write_text(json.dumps({"cpu": "AMD EPYC", "arch": "x86_64", "cores": 2}))
    assert machine_label(tmp_path / "machine.json") == "AMD EPYC x86_64, 2 cores"
    assert machine_label(tmp_path / "missing.json") == "an unrecorded machine"


def test_the_early_headline_says_first_that_latency_follows_then_one_row_per_model() -> None:
    rows = [{"model": name, "test accuracy %": "97.6", "vs dense pts": "–", "95 % CI pts": "–", "McNemar p": "–",
             "Keras bytes": "9,527,264", "gzip bytes": "8,783,065", "MACs (M)": "16.73"}
            for name in ("dense", "pruned, unstructured", "channel-pruned")]
    lines = format_rows(500, rows).splitlines()
    assert lines[0].startswith("Early headline (500 test images")
    assert "latency columns follow when the timed stages have run" in lines[0]
    assert lines[1].split()[:3] == ["model", "test", "accuracy"] and len(lines) == 5
    assert [line[:20].rstrip() for line in lines[2:]] == ["dense", "pruned, unstructured", "channel-pruned"]
