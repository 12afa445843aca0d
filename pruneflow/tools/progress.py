"""Where a `make run` is: one line when each stage starts and when it ends, with the time elapsed and an
estimate of the time left (no TensorFlow).

    repro: prune started · stage 3 of 21 · elapsed 4:02 · about 31 min left (estimate from
    reports/timings/ of AMD EPYC x86_64, 2 cores, at --jobs 2)        [one line]

The estimate replays the runner's own rule (`pruneflow.tools.scheduler.schedule`: what each stage reads,
`--jobs`, timed stages alone, the early headline's stages first, then the runner's ranks: longest recorded
path first, a ready timed stage holding back those ranked below it) on a virtual clock, each stage taking
the seconds its timing file recorded (`paths.stage_timings/<stage>.json`, field `seconds`, as the files
stood when the run began) plus DVC's own time per stage; a running stage takes what is left of that.
The recorded seconds are those of the machine that last ran each stage (named from `paths.machine` as it
stood when the run began) and already include the slow-down of the stage that ran beside it. A stage
with no timing file counts as DVC's time alone, and the line says the estimate is partial.

`python -m pruneflow.tools.progress [--jobs 2]` replays a whole cold run the same way, in table order (the
runner's order with no timing files) and in its order by critical path, next to a lower bound.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pruneflow.artifacts.results import read_stage_timing, stage_timing_file
from pruneflow.config.params import load_config
from pruneflow.pipeline.stage import Stage
from pruneflow.pipeline.stages import pipeline_stages, upstream
from pruneflow.tools.headline import HEADLINE_STAGES
from pruneflow.tools.scheduler import critical_path, jobs_main, schedule, with_upstream

# DVC's own time per stage on top of the stage's recorded seconds (hashing, locking, the process start):
# about 14 s, measured in issue 23 on the 2-core machine (docs/results.md, "Where a cold run's time goes").
DVC_OVERHEAD_S = 14.0
SHOWN_MISSING = 3  # stages without a timing file named in a line; the others are counted


@dataclass(frozen=True)
class Estimate:
    """Seconds until the last planned stage ends, and the stages left that have no recorded seconds."""

    seconds: float
    missing: tuple[str, ...]


def recorded_seconds(names: Iterable[str], stage_timings: Path) -> dict[str, float]:
    """Each stage's `seconds` from its timing file; stages with no (readable) file are left out."""
    out = {}
    for name in names:
        seconds = read_stage_timing(stage_timing_file(stage_timings, name)).get("seconds")
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds >= 0:
            out[name] = float(seconds)
    return out


def machine_label(machine_json: Path) -> str:
    """A short name of the machine a `paths.machine` file describes: `AMD EPYC x86_64, 2 cores`."""
    try:
        machine = json.loads(Path(machine_json).read_text())
    except (OSError, ValueError):
        return "an unrecorded machine"
    return f"{machine.get('cpu', 'unknown CPU')} {machine.get('arch', '?')}, {machine.get('cores', '?')} cores"


def clock_text(seconds: float) -> str:
    """Elapsed time as m:ss (`4:02`, `72:15`)."""
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def replay(waiting: list[Stage], running: list[tuple[Stage, float]], graph: dict[str, set[str]], done: set[str],
           jobs: int, recorded: Mapping[str, float], first: Collection[str] = frozenset(),
           overhead_s: float = DVC_OVERHEAD_S, priority: Mapping[str, float] | None = None
           ) -> dict[str, tuple[float, float]]:
    """Each stage's start and end, in seconds from now, replaying the runner's schedule on a virtual clock.

    Args:
        waiting: the stages not started yet, in table order.
        running: each running stage and the seconds it has run so far.
        graph: stage name → the stages whose outputs it reads.
        done: the stages finished or up to date.
        jobs: the most stages at once (`--jobs`).
        recorded: stage name → its recorded seconds (`recorded_seconds`).
        first: the stages the runner starts first (`schedule`'s `first`).
        overhead_s: DVC's own seconds per stage, added to each.
        priority: the runner's ranks (`schedule`'s `priority`).

    Returns:
        Stage name → (start, end) for every stage in `waiting` and `running`.
    """
    now = [0.0]
    spans: dict[str, tuple[float, float]] = {}

    class _Virtual:
        def __init__(self, seconds: float) -> None:
            self.end = now[0] + max(0.0, seconds)

        def poll(self) -> int | None:
            return 0 if now[0] >= self.end else None

    so_far = {stage.name: seconds for stage, seconds in running}
    started = [stage for stage, _ in running]

    def start(stage: Stage) -> _Virtual:
        job = _Virtual(recorded.get(stage.name, 0.0) + overhead_s - so_far.get(stage.name, 0.0))
        spans[stage.name] = (now[0], job.end)
        return job

    def advance(_tick: float) -> None:
        later = [end for _, end in spans.values() if end > now[0]]
        if later:
            now[0] = min(later)

    # The running stages go first, whatever their rank: they started before any waiting one and their
    # inputs are done.
    ranks = {**(priority or {}), **{name: math.inf for name in so_far}}
    schedule([*started, *waiting], graph, set(done), jobs, start, tick=0.0, first={*first, *so_far}, sleep=advance,
             priority=ranks)
    return spans


def estimate_left(waiting: list[Stage], running: list[tuple[Stage, float]], graph: dict[str, set[str]], done: set[str],
                  jobs: int, recorded: Mapping[str, float], first: Collection[str] = frozenset(),
                  overhead_s: float = DVC_OVERHEAD_S, priority: Mapping[str, float] | None = None) -> Estimate:
    """The seconds until the last of `waiting` ends, replaying the runner's schedule (`replay`, the same
    arguments).

    Returns:
        The estimate, and the stages in `waiting` or `running` with no recorded seconds.
    """
    spans = replay(waiting, running, graph, done, jobs, recorded, first, overhead_s, priority)
    missing = tuple(stage.name for stage in [*(stage for stage, _ in running), *waiting] if stage.name not in recorded)
    return Estimate(max((end for _, end in spans.values()), default=0.0), missing)


class Progress:
    """The runner's progress lines: `started` and `finished` update what runs and return the line."""

    def __init__(self, planned: list[Stage], graph: dict[str, set[str]], done: set[str], jobs: int,
                 recorded: Mapping[str, float], source: str, first: Collection[str] = frozenset(),
                 overhead_s: float = DVC_OVERHEAD_S, clock: Callable[[], float] = time.monotonic,
                 priority: Mapping[str, float] | None = None) -> None:
        """`source` names where the recorded seconds come from (`reports/timings/ of AMD EPYC …`);
        `first` and `priority` are the runner's (`schedule`'s)."""
        self.total, self.graph, self.jobs, self.recorded = len(planned), graph, jobs, recorded
        self.source, self.first, self.overhead_s, self.clock = source, first, overhead_s, clock
        self.priority = priority
        self.waiting, self.done, self.failed = list(planned), set(done), False
        self.running: dict[str, tuple[Stage, float]] = {}
        self.number: dict[str, int] = {}
        self.begin = clock()

    def started(self, stage: Stage) -> str:
        """The line for a stage that starts now."""
        self.waiting.remove(stage)
        self.number[stage.name] = len(self.number) + 1
        self.running[stage.name] = (stage, self.clock())
        return self.line(f"{stage.name} started", stage.name)

    def finished(self, stage: Stage, status: int) -> str:
        """The line for a stage that ended now with exit `status`."""
        del self.running[stage.name]
        self.done.add(stage.name)
        self.failed = self.failed or bool(status)
        return self.line(f"{stage.name} done" if not status else f"{stage.name} FAILED (exit {status})", stage.name)

    def estimate(self) -> Estimate:
        """The time left as things stand now."""
        now = self.clock()
        running = [(stage, now - since) for stage, since in self.running.values()]
        return estimate_left(self.waiting, running, self.graph, self.done, self.jobs, self.recorded, self.first,
                             self.overhead_s, self.priority)

    def line(self, what: str, name: str) -> str:
        """`repro: <what> · stage k of N · elapsed m:ss · about M min left (estimate from …)`."""
        elapsed = clock_text(self.clock() - self.begin)
        head = f"repro: {what} · stage {self.number[name]} of {self.total} · elapsed {elapsed}"
        if self.failed:
            return f"{head} · nothing more starts; the running stages finish"
        if not self.waiting and not self.running:
            return f"{head} · no stage left"
        estimate = self.estimate()
        left = f"about {max(1, round(estimate.seconds / 60))} min left"
        where = f"from {self.source}, at --jobs {self.jobs}"
        if not estimate.missing:
            return f"{head} · {left} (estimate {where})"
        named = ", ".join(estimate.missing[:SHOWN_MISSING])
        more = len(estimate.missing) - SHOWN_MISSING
        return (f"{head} · {left} (partial estimate {where}: no timing for {named}"
                f"{f' and {more} more' if more > 0 else ''})")


def duration_text(seconds: float) -> str:
    """Seconds as `48 min 53 s`."""
    whole = max(0, round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s"


def lower_bound(planned: list[Stage], graph: dict[str, set[str]], seconds: Mapping[str, float],
                jobs: int) -> tuple[float, list[str]]:
    """No schedule of `planned` ends sooner: the stages that always run alone one after another, the
    others at best `jobs` at a time; and none ends before its longest path.

    A stage runs alone when it is timed, or when every other planned stage reads from it, is read by it
    (transitively), or is timed: then nothing can run beside it.

    Args:
        planned: the stages to run.
        graph: stage name → the stages whose outputs it reads.
        seconds: stage name → the seconds it takes (recorded plus DVC's own).
        jobs: the most stages at once.

    Returns:
        The bound, and the stages that run alone (table order).
    """
    names = {stage.name for stage in planned}
    above = {name: with_upstream([name], graph) & names for name in names}

    def alone(stage: Stage) -> bool:
        return stage.timed or all(other.timed or other.name in above[stage.name] or stage.name in above[other.name]
                                  for other in planned)

    single = [stage.name for stage in planned if alone(stage)]
    together = sum(seconds.get(name, 0.0) for name in names - set(single))
    longest = max(critical_path(names, graph, seconds, 0.0).values(), default=0.0)
    return max(sum(seconds.get(name, 0.0) for name in single) + together / jobs, longest), single


def cold_run(root: Path, jobs: int) -> str:
    """A cold `make run` (every stage planned but the always-run ones) replayed from `root`'s timing
    files: in table order, by critical path, and its lower bound."""
    cfg = load_config(root / "params.yaml")
    stages = pipeline_stages(cfg)
    graph = upstream(stages, cfg)
    planned = [stage for stage in stages if not stage.always]  # the runner runs those before it plans
    done = {stage.name for stage in stages if stage.always}
    recorded = recorded_seconds((stage.name for stage in planned), root / cfg.paths.stage_timings)
    first = with_upstream(HEADLINE_STAGES, graph)
    ranks = critical_path([stage.name for stage in planned], graph, recorded, DVC_OVERHEAD_S)
    source = f"{cfg.paths.stage_timings}/ of {machine_label(root / cfg.paths.machine)}"
    lines = [f"Simulated cold make run at --jobs {jobs} from {source}, each stage {DVC_OVERHEAD_S:.0f} s of DVC's "
             "own on top (the early headline's process counts 0 s):"]
    for label, priority in (("table order (the runner's with no timing files)", None),
                            ("longest path first, timed stages drained (the runner's)", ranks)):
        spans = replay(planned, [], graph, done, jobs, recorded, first, priority=priority)
        headline = max((spans[name][1] for name in HEADLINE_STAGES if name in spans), default=0.0)
        lines.append(f"  {label}: {duration_text(max(end for _, end in spans.values()))}; the early headline's "
                     f"stages done at {duration_text(headline)}")
    seconds = {stage.name: recorded.get(stage.name, 0.0) + DVC_OVERHEAD_S for stage in planned}
    bound, single = lower_bound(planned, graph, seconds, jobs)
    lines.append(f"  lower bound: {duration_text(bound)} ({', '.join(single)} alone, the other "
                 f"{len(planned) - len(single)} stages at best {jobs} at a time); longest path "
                 f"{duration_text(max(ranks.values(), default=0.0))}")
    missing = [stage.name for stage in planned if stage.name not in recorded]
    if missing:
        lines.append(f"  no timing for {', '.join(missing)}: counted as DVC's time alone")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return jobs_main("A cold make run replayed from the timing files, by the runner's rule: table order, "
                     "critical path, lower bound.", cold_run, argv)


if __name__ == "__main__":
    sys.exit(main())
