"""The runner's scheduling rule, with no processes in it: which waiting stage starts next (`schedule`).

`make run`'s runner (`pruneflow.tools.repro`) starts real `dvc repro --single-item` processes through
it; its progress estimate (`pruneflow.tools.progress`) replays the same rule on a virtual clock with
the recorded stage seconds, so the estimate follows the order the run will take.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pruneflow.errors import PipelineError
from pruneflow.stages import Stage


class Job(Protocol):
    """A started stage: `poll()` is None while it runs, then its exit status (`subprocess.Popen`'s)."""

    def poll(self) -> int | None: ...


@dataclass
class Outcome:
    """What a schedule did: the stages it started in order, the most that ran at once, the failures."""

    started: list[str] = field(default_factory=list)
    most_at_once: int = 0
    failed: list[str] = field(default_factory=list)


def with_upstream(names: Iterable[str], graph: dict[str, set[str]]) -> set[str]:
    """`names` and every stage they read from, transitively (names not in `graph` are left out)."""
    seen = {name for name in names if name in graph}
    todo = list(seen)
    while todo:
        for before in graph[todo.pop()] - seen:
            seen.add(before)
            todo.append(before)
    return seen


def schedule(waiting: list[Stage], graph: dict[str, set[str]], done: set[str], jobs: int,
             start: Callable[[Stage], Job], tick: float = 0.2, first: Collection[str] = frozenset(),
             finished: Callable[[Stage, int], Job | None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Start each of `waiting` once every stage it reads from is in `done`, at most `jobs` at a time,
    a timed stage only when nothing else runs (and nothing beside it); after a failure, start nothing
    more and wait for the running ones.

    Args:
        waiting: the stages to run, in table order (the order ties are broken in).
        graph: stage name → the stages whose outputs it reads (`pruneflow.stages.upstream`).
        done: the stages already up to date; the finished ones are added.
        jobs: the most stages at once.
        start: starts a stage, returning its job.
        tick: seconds between polls.
        first: stages that start before any other that is ready at the same time (the early
            headline's stages and what they read); table order among each group.
        finished: called with each stage that ends and its exit status; a job it returns (the early
            headline) runs beside the stages, outside `jobs`, and keeps timed stages from starting
            until it ends. The schedule does not wait for it when no stage is left.
        sleep: waits `tick` seconds (a virtual clock in the progress estimate).

    Returns:
        What was started, the most at once, and which stages failed.
    """
    waiting, outcome = sorted(waiting, key=lambda stage: stage.name not in first), Outcome()  # stable sort
    running: dict[str, tuple[Job, Stage]] = {}
    beside: list[Job] = []
    while waiting or running:
        for name, (job, stage) in list(running.items()):
            status = job.poll()
            if status is not None:
                del running[name]
                done.add(name)
                if status:
                    outcome.failed.append(f"{name} (exit {status})")
                extra = finished(stage, status) if finished else None
                if extra is not None:
                    beside.append(extra)
        beside = [job for job in beside if job.poll() is None]
        exclusive = any(stage.timed for _, stage in running.values())
        for stage in list(waiting):
            if outcome.failed or exclusive or len(running) >= jobs or not graph[stage.name] <= done:
                continue
            if stage.timed and (running or beside):
                continue  # a benchmark waits until it has the machine to itself
            running[stage.name] = (start(stage), stage)
            waiting.remove(stage)
            outcome.started.append(stage.name)
            outcome.most_at_once = max(outcome.most_at_once, len(running))
            exclusive = stage.timed
        if outcome.failed and not running:
            break
        if running or (waiting and beside):
            sleep(tick)
        elif waiting:
            raise PipelineError(f"repro: stages {[s.name for s in waiting]} wait for stages that are not planned")
    return outcome
