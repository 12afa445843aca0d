"""`make run`'s progress lines (pruneflow/tools/progress.py): `stage k of N · elapsed m:ss · about M min
left`, the time left replayed from timing files the tests write, with --jobs, timed stages alone and the
runner's ranks; the cold run replayed against its lower bound; and the early headline's printed form
(pruneflow/tools/headline.py). No TensorFlow, nothing trained."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from pruneflow.config.params import load_config
from pruneflow.pipeline.stage import Stage
from pruneflow.pipeline.stages import pipeline_stages, upstream
from pruneflow.tools.headline import format_rows
from pruneflow.tools.progress import (
    Progress,
    clock_text,
    cold_run,
    estimate_left,
    lower_bound,
    machine_label,
    recorded_seconds,
    replay,
)
from pruneflow.tools.scheduler import critical_path
from tests.helpers import REPO
from tests.helpers_repro import COMMITTED_SECONDS

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


# x and y read nothing; the benchmark t neither, and w, the longest stage, reads t
X, Y, W, T = _stage("x"), _stage("y"), _stage("w"), _stage("t", timed=True)
RANKED = {"x": set(), "y": set(), "t": set(), "w": {"t"}}
RANKED_SECONDS = {"x": 1000.0, "y": 1000.0, "t": 100.0, "w": 1500.0}


def test_the_estimate_follows_the_runners_ranks() -> None:
    ranks = critical_path(RANKED, RANKED, RANKED_SECONDS, 0.0)
    # table order: x beside y, then t alone, then w; by rank: t alone first, then w beside x, then y
    assert estimate_left([X, Y, T, W], [], RANKED, set(), 2, RANKED_SECONDS, overhead_s=0).seconds == 2600.0
    assert estimate_left([X, Y, T, W], [], RANKED, set(), 2, RANKED_SECONDS, overhead_s=0,
                         priority=ranks).seconds == 2100.0
    progress = Progress([X, Y, T, W], RANKED, set(), 2, RANKED_SECONDS, SOURCE, overhead_s=0, clock=lambda: 0.0,
                        priority=ranks)
    assert progress.started(T).endswith("· about 35 min left (estimate from " + SOURCE + ", at --jobs 2)")


def test_a_running_stage_keeps_its_place_in_the_replay_whatever_its_rank() -> None:
    a, b, c, h = _stage("a"), _stage("b"), _stage("c"), _stage("h")
    graph = {"a": set(), "b": set(), "c": {"a"}, "h": set()}
    recorded = {"a": 100.0, "b": 100.0, "c": 100.0, "h": 100.0}
    # h, a headline stage that outranks both running stages, waits for a slot: a and b end at 10 s, then c and h
    spans = replay([c, h], [(a, 90.0), (b, 90.0)], graph, set(), 2, recorded, first={"h"}, overhead_s=0,
                   priority={"h": 1000.0, "a": 5.0, "b": 1.0, "c": 0.0})
    assert spans == {"a": (0.0, 10.0), "b": (0.0, 10.0), "h": (10.0, 110.0), "c": (10.0, 110.0)}


def test_the_lower_bound_runs_the_stages_that_must_run_alone_in_series_and_the_rest_jobs_at_a_time() -> None:
    x, y, t = _stage("x"), _stage("y"), _stage("t", timed=True)
    apart = {"x": set(), "y": set(), "t": set()}
    assert lower_bound([x, y, t], apart, {"x": 100, "y": 100, "t": 10}, 2) == (110.0, ["t"])  # t, then x beside y
    chain = {"x": set(), "y": {"x"}}  # y reads x: nothing can run beside either
    assert lower_bound([x, y], chain, {"x": 100, "y": 100}, 2) == (200.0, ["x", "y"])
    # x then y beside z: no two-at-a-time packing ends before the longest path
    z = _stage("z")
    assert lower_bound([x, y, z], {**chain, "z": set()}, {"x": 100, "y": 100, "z": 10}, 2) == (200.0, [])


@pytest.mark.parametrize("seed", range(6))
def test_no_replayed_schedule_ends_before_the_lower_bound(seed: int) -> None:
    cfg = load_config(REPO / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    rng = random.Random(seed)
    recorded = {s.name: rng.uniform(1, 600) for s in stages}
    jobs = 1 + seed % 3
    bound, _ = lower_bound(list(stages), graph, {name: value + 14.0 for name, value in recorded.items()}, jobs)
    for ranks in (None, critical_path(graph, graph, recorded, 14.0), {s.name: rng.random() for s in stages}):
        spans = replay(list(stages), [], graph, set(), jobs, recorded, priority=ranks)
        assert max(end for _, end in spans.values()) >= bound - 1e-6
    if jobs == 1:
        assert max(end for _, end in spans.values()) == pytest.approx(bound)  # one at a time: the bound is exact


def test_the_committed_timings_replay_to_the_documented_cold_run_times(tmp_path: Path) -> None:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    cfg = load_config(tmp_path / "params.yaml")
    _timings(tmp_path / cfg.paths.stage_timings, COMMITTED_SECONDS)
    lines = cold_run(tmp_path, 2).splitlines()
    assert lines[0].startswith("Simulated cold make run at --jobs 2 from reports/timings/ of an unrecorded machine")
    assert lines[1].endswith(": 52 min 19 s; the early headline's stages done at 9 min 02 s")  # docs/results.md
    assert lines[2].endswith("(the runner's): 48 min 53 s; the early headline's stages done at 9 min 02 s")
    assert lines[3].startswith("  lower bound: 47 min 32 s (") and lines[3].endswith("longest path 24 min 33 s")
    assert len(lines) == 4  # every planned stage has a timing file


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
