"""`dvc repro` with independent stages side by side: `python -m pruneflow.tools.repro [--jobs N]` (`make run`).

DVC runs a pipeline one stage at a time; its documented way to run independent stages at once is one
`dvc repro --single-item <stage>` per stage, launched in parallel (DVC releases its repository lock
while a stage's command runs; `--wait-for-lock` makes the others wait for it instead of failing). This
runner does that in the order of the stage table's graph (`pruneflow.stages.upstream`): a stage starts
as soon as every stage it reads from is done, at most `--jobs` at a time, and a timed stage (a
latency benchmark) only alone, so that it never times the contention.

Why it pays on a 2-core machine: a stage's training loop keeps about one core busy (measured: 101 %
CPU over train_dense), so two training stages side by side take little longer than one. Every stage
still runs in its own process with op determinism, so each output is the same bytes as with plain
`dvc repro`, and dvc.lock records the same entries. `make run` ends with a plain `dvc repro`, which
finds nothing left to do (or does what is left, one stage at a time).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pruneflow.config import load_config
from pruneflow.dvc_cache import stale
from pruneflow.errors import PipelineError, command
from pruneflow.stages import Stage, pipeline_stages, upstream

DVC = (sys.executable, "-m", "dvc", "--wait-for-lock")


def stale_stages(root: Path) -> set[str]:
    """The stages `dvc status` calls changed (their code, params, deps or outputs); not the ones it lists
    only because they always run (those run first: `refresh_always`)."""
    done = subprocess.run([*DVC, "status", "--json"], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode:
        raise PipelineError(f"dvc status failed in {root}: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return set(stale(json.loads(done.stdout or "{}")))


def refresh_always(root: Path, stages: tuple[Stage, ...]) -> list[str]:
    """Run the always-run stages (the machine) before planning, printing their output: on another
    machine their output changes and every latency stage becomes stale; on this one it does not.
    Returns their names."""
    ran = []
    for stage in (stage for stage in stages if stage.always):
        done = subprocess.run([*DVC, "repro", "--single-item", stage.name], cwd=root, capture_output=True,
                              text=True, check=False)
        sys.stdout.write(done.stdout)
        if done.returncode:
            raise PipelineError(f"repro: stage {stage.name} failed: "
                                f"{((done.stderr or done.stdout).strip().splitlines() or ['?'])[-1]}")
        ran.append(stage.name)
    return ran


def plan(stages: tuple[Stage, ...], graph: dict[str, set[str]], stale: set[str]) -> list[Stage]:
    """The stale stages and every stage downstream of one, in table order (DVC skips any whose inputs
    come out unchanged)."""
    todo = set(stale)
    grew = True
    while grew:
        grew = False
        for stage in stages:
            if stage.name not in todo and graph[stage.name] & todo:
                todo.add(stage.name)
                grew = True
    return [stage for stage in stages if stage.name in todo]


class _Printer:
    """Each child's output line by line, prefixed with its stage when several may run at once."""

    def __init__(self, prefix: bool) -> None:
        self.prefix, self.lock = prefix, threading.Lock()

    def follow(self, name: str, proc: subprocess.Popen) -> threading.Thread:
        def pump() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                with self.lock:
                    sys.stdout.write(f"[{name}] {line}" if self.prefix else line)
                    sys.stdout.flush()

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return thread


class Job(Protocol):
    """A started stage: `poll()` is None while it runs, then its exit status (`subprocess.Popen`'s)."""

    def poll(self) -> int | None: ...


@dataclass
class Outcome:
    """What a schedule did: the stages it started in order, the most that ran at once, the failures."""

    started: list[str] = field(default_factory=list)
    most_at_once: int = 0
    failed: list[str] = field(default_factory=list)


def schedule(waiting: list[Stage], graph: dict[str, set[str]], done: set[str], jobs: int,
             start: Callable[[Stage], Job], tick: float = 0.2) -> Outcome:
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

    Returns:
        What was started, the most at once, and which stages failed.
    """
    waiting, outcome = list(waiting), Outcome()
    running: dict[str, tuple[Job, Stage]] = {}
    while waiting or running:
        for name, (job, _) in list(running.items()):
            status = job.poll()
            if status is not None:
                del running[name]
                done.add(name)
                if status:
                    outcome.failed.append(f"{name} (exit {status})")
        exclusive = any(stage.timed for _, stage in running.values())
        for stage in list(waiting):
            if outcome.failed or exclusive or len(running) >= jobs or not graph[stage.name] <= done:
                continue
            if stage.timed and running:
                continue  # a benchmark waits until it has the machine to itself
            running[stage.name] = (start(stage), stage)
            waiting.remove(stage)
            outcome.started.append(stage.name)
            outcome.most_at_once = max(outcome.most_at_once, len(running))
            exclusive = stage.timed
        if outcome.failed and not running:
            break
        if running:
            time.sleep(tick)
        elif waiting and not outcome.failed:
            raise PipelineError(f"repro: stages {[s.name for s in waiting]} wait for stages that are not planned")
    return outcome


def run(root: Path, jobs: int) -> str:
    """Reproduce every stale stage of the pipeline in `root`, up to `jobs` at a time; timed stages alone.

    Returns:
        The summary line.

    Raises:
        PipelineError: bad params (one line), or a stage failed (its output is above).
    """
    cfg = load_config(root / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    always = refresh_always(root, stages)
    waiting = plan(stages, graph, stale_stages(root))
    done = {stage.name for stage in stages} - {stage.name for stage in waiting}
    printer, pumps, begin = _Printer(prefix=jobs > 1), [], time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(stage: Stage) -> subprocess.Popen:
        proc = subprocess.Popen([*DVC, "repro", "--single-item", stage.name], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pumps.append(printer.follow(stage.name, proc))
        return proc

    outcome = schedule(waiting, graph, done, jobs, start)
    for pump in pumps:
        pump.join()
    if outcome.failed:
        raise PipelineError(f"repro: stage {', '.join(outcome.failed)} failed (its output is above); the stages "
                            "that succeeded are recorded in dvc.lock")
    return (f"repro: {len(outcome.started)} of {len(stages)} stages stale or downstream of a change (and "
            f"{', '.join(always) or 'none'} always), run at most {outcome.most_at_once} at once (--jobs {jobs}) in "
            f"{time.monotonic() - begin:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", "-j", type=int, default=2, help="stages at once (default 2)")
    parser.add_argument("--root", type=Path, default=Path("."), help="the project (default: here)")
    args = parser.parse_args(argv)

    def action() -> str:
        if args.jobs < 1:
            raise PipelineError(f"--jobs {args.jobs}: allowed is 1 or more, e.g. --jobs 2")
        return run(args.root, args.jobs)

    return command(action)


if __name__ == "__main__":
    sys.exit(main())
