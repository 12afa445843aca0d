"""The runner's scheduling rule, with no processes in it: which waiting stage starts next (`schedule`),
and the priority it breaks ties by (`critical_path`).

`make run`'s runner (`pruneflow.tools.repro`) starts real `dvc repro --single-item` processes through
it; its progress estimate (`pruneflow.tools.progress`) replays the same rule on a virtual clock with
the recorded stage seconds, so the estimate follows the order the run will take.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pruneflow.errors import PipelineError
from pruneflow.pipeline.stage import Stage


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


def critical_path(names: Iterable[str], graph: dict[str, set[str]], recorded: Mapping[str, float],
                  overhead_s: float) -> dict[str, float]:
    """Each stage's longest path to the end of the graph: its own recorded seconds plus DVC's
    `overhead_s`, plus the longest such path among the stages that read it (within `names`).

    A stage with no recorded seconds counts `overhead_s` alone. With no recorded seconds at all the
    result is empty, so that `schedule` keeps table order rather than order by counts of stages.

    Args:
        names: the stages to rank (the planned ones; paths run only through them).
        graph: stage name → the stages whose outputs it reads.
        recorded: stage name → the seconds it took when it last ran (`progress.recorded_seconds`).
        overhead_s: DVC's own seconds per stage.

    Returns:
        Stage name → seconds from its start to the end of the run, were nothing else to run.
    """
    names = list(names)
    if not any(name in recorded for name in names):
        return {}
    readers: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for before in graph[name]:
            if before in readers:
                readers[before].append(name)
    path: dict[str, float] = {}

    def longest(name: str) -> float:
        if name not in path:  # the graph is acyclic (`pruneflow.pipeline.stages.upstream`), the table is ~20 stages
            path[name] = recorded.get(name, 0.0) + overhead_s + max(map(longest, readers[name]), default=0.0)
        return path[name]

    return {name: longest(name) for name in names}


def schedule(waiting: list[Stage], graph: dict[str, set[str]], done: set[str], jobs: int,
             start: Callable[[Stage], Job], tick: float = 0.2, first: Collection[str] = frozenset(),
             finished: Callable[[Stage, int], Job | None] | None = None,
             sleep: Callable[[float], None] = time.sleep, priority: Mapping[str, float] | None = None) -> Outcome:
    """Start each of `waiting` once every stage it reads from is in `done`, at most `jobs` at a time,
    a timed stage only when nothing else runs (and nothing beside it); after a failure, start nothing
    more and wait for the running ones. Among ready stages the highest `priority` starts first, and a
    ready timed stage that waits for the machine holds back every stage ranked below it, so that the
    running ones drain: with only "start what is ready", two jobs always find an untimed stage to
    start and a benchmark waits until near the end, with the long stages that read it after it.

    Args:
        waiting: the stages to run, in table order (the order the last ties are broken in).
        graph: stage name → the stages whose outputs it reads (`pruneflow.pipeline.stages.upstream`).
        done: the stages already up to date; the finished ones are added.
        jobs: the most stages at once.
        start: starts a stage, returning its job.
        tick: seconds between polls.
        first: stages that start before any other that is ready at the same time (the early
            headline's stages and what they read); `priority` among each group.
        finished: called with each stage that ends and its exit status; a job it returns (the early
            headline) runs beside the stages, outside `jobs`, and keeps timed stages from starting
            until it ends. The schedule does not wait for it when no stage is left.
        sleep: waits `tick` seconds (a virtual clock in the progress estimate).
        priority: stage name → its rank, highest first among ready stages (`critical_path`); a stage
            not in it ranks 0; ties, and all stages when it is None or empty, in table order.

    Returns:
        What was started, the most at once, and which stages failed.
    """
    rank = priority or {}
    # A stable sort: the table order breaks ties. The order is fixed once: ranks do not change as stages end.
    waiting = sorted(waiting, key=lambda stage: (stage.name not in first, -rank.get(stage.name, 0.0)))
    outcome = Outcome()
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
        held: float | None = None  # the rank of a ready timed stage that waits for the machine to drain
        for stage in list(waiting):
            if outcome.failed or exclusive or len(running) >= jobs or not graph[stage.name] <= done:
                continue
            if held is not None and rank.get(stage.name, 0.0) < held:
                continue  # started now, it would keep the timed stage on a longer path waiting until it ends
            if stage.timed and (running or beside):
                if held is None:
                    held = rank.get(stage.name, 0.0)
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


def jobs_main(description: str, work: Callable[[Path, int], str], argv: list[str] | None = None) -> int:
    """The command line of a tool that works on a project with `--jobs` stages at once (the runner, the
    cold-run replay): `--jobs N` (1 or more, default 2) and `--root DIR`; one line on an error."""
    import argparse

    from pruneflow.errors import command

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--jobs", "-j", type=int, default=2, help="stages at once (default 2)")
    parser.add_argument("--root", type=Path, default=Path("."), help="the project (default: here)")
    args = parser.parse_args(argv)

    def action() -> str:
        if args.jobs < 1:
            raise PipelineError(f"--jobs {args.jobs}: allowed is 1 or more, e.g. --jobs 2")
        return work(args.root, args.jobs)

    return command(action)
