"""`dvc repro` with independent stages side by side: `python -m pruneflow.tools.repro [--jobs N]` (`make run`).

DVC runs a pipeline one stage at a time; its documented way to run independent stages at once is one
`dvc repro --single-item <stage>` per stage, launched in parallel (DVC releases its repository lock
while a stage's command runs; `--wait-for-lock` makes the others wait for it instead of failing). This
runner does that in the order of the stage table's graph (`pruneflow.pipeline.stages.upstream`): a stage starts
as soon as every stage it reads from is done, at most `--jobs` at a time, and a timed stage (a
latency benchmark) only alone, so that it never times the contention.

Which ready stage starts first: the stages that feed the headline (dense, unstructured, channel-pruned:
`pruneflow.tools.headline.HEADLINE_STAGES`) and what they read, then the one with the longest path to
the end of the graph in the last run's recorded seconds (`pruneflow.tools.scheduler.critical_path`;
table order without timing files), and a ready timed stage holds back the stages ranked below it until
the running ones end. Replayed from the committed timings, that cuts a cold run at --jobs 2 from
52 min 19 s to 48 min 53 s (`python -m pruneflow.tools.progress`): latency_table, and channel_budget
after it, no longer wait until minute 34 (of the replay).

What a user sees while it runs: once the headline's stages are done, the early headline (accuracy with
its paired CI and McNemar p, sizes, MACs) prints from a process of its own while the rest runs
(`python -m pruneflow.tools.headline`; timed stages wait for it to end); and each stage's start and end
print `stage k of N · elapsed m:ss · about M min left`, estimated from the last run's stage timings
(`pruneflow.tools.progress`).

Why it pays on a 2-core machine: a stage's training loop keeps about one core busy (measured: 101 %
CPU over train_dense), so two training stages side by side take little longer than one. Every stage
still runs in its own process with op determinism, so each output is the same bytes as with plain
`dvc repro`, and dvc.lock records the same entries. `make run` ends with a plain `dvc repro`, which
finds nothing left to do (or does what is left, one stage at a time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError
from pruneflow.pipeline.dvc_cache import stale
from pruneflow.pipeline.stage import Stage
from pruneflow.pipeline.stages import pipeline_stages, upstream
from pruneflow.tools.headline import HEADLINE_STAGES, EarlyHeadline
from pruneflow.tools.progress import DVC_OVERHEAD_S, Progress, machine_label, recorded_seconds
from pruneflow.tools.scheduler import Job, Outcome, critical_path, jobs_main, schedule, with_upstream

__all__ = ["Job", "Outcome", "main", "plan", "run", "schedule"]  # schedule's home is pruneflow.tools.scheduler

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
    """Each child's output line by line, prefixed with its stage when several may run at once; the
    runner's own lines and the early headline (a block, kept whole) between them."""

    def __init__(self, prefix: bool) -> None:
        self.prefix, self.lock = prefix, threading.Lock()

    def say(self, text: str) -> None:
        if not text:
            return
        with self.lock:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()

    def follow(self, name: str, proc: subprocess.Popen, block: bool = False) -> threading.Thread:
        def pump() -> None:
            if block:
                self.say(proc.stdout.read())  # type: ignore[union-attr]
                return
            for line in proc.stdout:  # type: ignore[union-attr]
                self.say(f"[{name}] {line}" if self.prefix else line)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return thread


def run(root: Path, jobs: int) -> str:
    """Reproduce every stale stage of the pipeline in `root`, up to `jobs` at a time; timed stages alone;
    the early headline's stages first, then the early headline beside the rest, the others longest
    recorded path first; a progress line per stage started and ended.

    Returns:
        The summary line.

    Raises:
        PipelineError: bad params (one line), or a stage failed (its output is above).
    """
    cfg = load_config(root / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    # Read before the machine stage rewrites its file and the stages their timing files: the last run's.
    recorded = recorded_seconds((stage.name for stage in stages), root / cfg.paths.stage_timings)
    source = f"{cfg.paths.stage_timings}/ of {machine_label(root / cfg.paths.machine)}"
    always = refresh_always(root, stages)
    waiting = plan(stages, graph, stale_stages(root))
    done = {stage.name for stage in stages} - {stage.name for stage in waiting}
    first = with_upstream(HEADLINE_STAGES, graph)
    priority = critical_path((stage.name for stage in waiting), graph, recorded, DVC_OVERHEAD_S)
    printer, pumps, begin, early = _Printer(prefix=jobs > 1), [], time.monotonic(), []
    progress = Progress(waiting, graph, done, jobs, recorded, source, first, priority=priority)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(stage: Stage) -> subprocess.Popen:
        printer.say(progress.started(stage))
        proc = subprocess.Popen([*DVC, "repro", "--single-item", stage.name], cwd=root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pumps.append(printer.follow(stage.name, proc))
        return proc

    def launch() -> subprocess.Popen:
        printer.say(f"repro: {', '.join(HEADLINE_STAGES)} done: the early headline follows while the rest runs")
        proc = subprocess.Popen([sys.executable, "-m", "pruneflow.tools.headline", "--params", "params.yaml"],
                                cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pumps.append(printer.follow("headline", proc, block=True))
        early.append(proc)
        return proc

    headline = EarlyHeadline((stage.name for stage in waiting), launch)

    def finished(stage: Stage, status: int) -> Job | None:
        printer.say(progress.finished(stage, status))
        return headline.finished(stage.name, status)

    outcome = schedule(waiting, graph, done, jobs, start, first=first, finished=finished, priority=priority)
    for pump in pumps:
        pump.join()
    for proc in early:
        if proc.wait():
            printer.say(f"repro: the early headline failed (exit {proc.returncode}; its error is above): no stage "
                        "depends on it, and `python -m pruneflow show` prints the full headline at the end of `make run`")
    if outcome.failed:
        raise PipelineError(f"repro: stage {', '.join(outcome.failed)} failed (its output is above); the stages "
                            "that succeeded are recorded in dvc.lock")
    return (f"repro: {len(outcome.started)} of {len(stages)} stages stale or downstream of a change (and "
            f"{', '.join(always) or 'none'} always), run at most {outcome.most_at_once} at once (--jobs {jobs}) in "
            f"{time.monotonic() - begin:.0f} s")


def main(argv: list[str] | None = None) -> int:
    return jobs_main(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    sys.exit(main())
