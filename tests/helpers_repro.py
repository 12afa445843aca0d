"""The runner tests' fakes (tests/test_repro*.py): stages that run for a number of polls, the real stage
table and its graph, and ranks from the committed timings or at random."""

from __future__ import annotations

import random

from pruneflow.config.params import load_config
from pruneflow.pipeline.stage import Stage
from pruneflow.pipeline.stages import pipeline_stages, upstream
from pruneflow.tools.headline import HEADLINE_STAGES
from pruneflow.tools.repro import schedule
from pruneflow.tools.scheduler import critical_path, with_upstream
from tests.helpers import REPO


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
