"""Where a `make run` is: one line when each stage starts and when it ends, with the time elapsed and an
estimate of the time left (no TensorFlow).

    repro: prune started · stage 3 of 21 · elapsed 4:02 · about 31 min left (estimate from
    reports/timings/ of AMD EPYC x86_64, 2 cores, at --jobs 2)        [one line]

The estimate replays the runner's own rule (`pruneflow.tools.scheduler.schedule`: what each stage reads,
`--jobs`, timed stages alone, the early headline's stages first) on a virtual clock, each stage taking
the seconds its timing file recorded (`paths.stage_timings/<stage>.json`, field `seconds`, as the files
stood when the run began) plus DVC's own time per stage; a running stage takes what is left of that.
The recorded seconds are those of the machine that last ran each stage (named from `paths.machine` as it
stood when the run began) and already include the slow-down of the stage that ran beside it. A stage
with no timing file counts as DVC's time alone, and the line says the estimate is partial.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from pruneflow.stages import Stage
from pruneflow.timings import read_stage_timing, stage_timing_file
from pruneflow.tools.scheduler import schedule

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


def estimate_left(waiting: list[Stage], running: list[tuple[Stage, float]], graph: dict[str, set[str]], done: set[str],
                  jobs: int, recorded: dict[str, float], first: Collection[str] = frozenset(),
                  overhead_s: float = DVC_OVERHEAD_S) -> Estimate:
    """The seconds until the last of `waiting` ends, replaying the runner's schedule on a virtual clock.

    Args:
        waiting: the stages not started yet, in table order.
        running: each running stage and the seconds it has run so far.
        graph: stage name → the stages whose outputs it reads.
        done: the stages finished or up to date.
        jobs: the most stages at once (`--jobs`).
        recorded: stage name → its recorded seconds (`recorded_seconds`).
        first: the stages the runner starts first (`schedule`'s `first`).
        overhead_s: DVC's own seconds per stage, added to each.

    Returns:
        The estimate, and the stages in `waiting` or `running` with no recorded seconds.
    """
    now = [0.0]
    ends: list[float] = []

    class _Virtual:
        def __init__(self, seconds: float) -> None:
            self.end = now[0] + max(0.0, seconds)
            ends.append(self.end)

        def poll(self) -> int | None:
            return 0 if now[0] >= self.end else None

    so_far = {stage.name: seconds for stage, seconds in running}
    started = [stage for stage, _ in running]

    def start(stage: Stage) -> _Virtual:
        return _Virtual(recorded.get(stage.name, 0.0) + overhead_s - so_far.get(stage.name, 0.0))

    def advance(_tick: float) -> None:
        later = [end for end in ends if end > now[0]]
        if later:
            now[0] = min(later)

    # The running stages go first: they started before any waiting one and their inputs are done.
    schedule([*started, *waiting], graph, set(done), jobs, start, tick=0.0, first={*first, *so_far}, sleep=advance)
    missing = tuple(stage.name for stage in [*started, *waiting] if stage.name not in recorded)
    return Estimate(now[0], missing)


class Progress:
    """The runner's progress lines: `started` and `finished` update what runs and return the line."""

    def __init__(self, planned: list[Stage], graph: dict[str, set[str]], done: set[str], jobs: int,
                 recorded: dict[str, float], source: str, first: Collection[str] = frozenset(),
                 overhead_s: float = DVC_OVERHEAD_S, clock: Callable[[], float] = time.monotonic) -> None:
        """`source` names where the recorded seconds come from (`reports/timings/ of AMD EPYC …`)."""
        self.total, self.graph, self.jobs, self.recorded = len(planned), graph, jobs, recorded
        self.source, self.first, self.overhead_s, self.clock = source, first, overhead_s, clock
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
                             self.overhead_s)

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
