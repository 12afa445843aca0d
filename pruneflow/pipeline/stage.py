"""One stage of the pipeline (`Stage`) and one of its outputs (`Out`): what a stage reads, which
params it depends on, what it writes, and how it runs (its edge `tasks/<name>.py`, its timing file).
The table of every stage is `pruneflow.pipeline.stages`."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pruneflow.artifacts import phases
from pruneflow.artifacts.files import stage_commit
from pruneflow.artifacts.results import record_execution, stage_timing_file, write_stage_timing
from pruneflow.config.params import Config
from pruneflow.config.studies import ChannelPoint, SeedPoint, SweepPoint
from pruneflow.pipeline.code_deps import REPO, code_deps

SWEEP_POINT = "sweep_point"
CHANNEL_POINT = "channel_point"
SEED_RUN = "seed_run"
# The matrix stages: each point writes one folder, named as the point, under this paths key.
MATRIX_FOLDERS = {SWEEP_POINT: "paths.sweep", CHANNEL_POINT: "paths.channel_sweep", SEED_RUN: "paths.seeds"}


@dataclass(frozen=True)
class Out:
    """One output: a params key (`paths.prepared`), kept in git instead of DVC's cache when `git`,
    a DVC plot when `plot` holds its x/y columns, the metrics file when `metric`.

    A `timing` output holds wall-clock values (latency, seconds), which differ on every run: it is kept
    in git but is not a DVC output of its stage and no stage lists it as a dependency, so a rerun that
    reproduces every other output exactly leaves `dvc status` clean (a `metric` one is a top-level
    DVC metric: `dvc metrics diff` still shows it).
    """

    key: str
    git: bool = False
    plot: dict[str, str] | None = None
    metric: bool = False
    timing: bool = False
    # A `measured` output is a DVC output that holds measurements of this machine (the latency table):
    # stages downstream depend on it, so it is measured once per machine and reused, not re-measured
    # by every run; two builds measure two tables, and the flow's cache asks only that it exists.
    measured: bool = False


@dataclass(frozen=True)
class Stage:
    """A pipeline step: its edge is `tasks/<name>.py`, whose `run(cfg, *args)` does the work."""

    name: str
    params: tuple[str, ...]
    deps: tuple[str, ...]
    outs: tuple[Out, ...]
    # Files read that dvc.yaml cannot list (an optional local weights file; timing files, which would
    # make every rerun of a timed stage look like a change): the flow's cache key includes them.
    optional_deps: Callable[[Config], tuple[Path, ...]] = lambda cfg: ()
    point: SweepPoint | ChannelPoint | SeedPoint | None = None  # a matrix stage's point (sweep, channel, seed)
    # Measures wall-clock latency: run alone, never beside another stage (it would time the contention).
    timed: bool = False
    # Runs every time (DVC `always_changed`, never a flow cache hit): it reads the machine, not files.
    always: bool = False

    @property
    def module(self) -> str:
        """The edge module, named exactly as the stage (`sweep_point@0.5-polynomial` → `tasks.sweep_point`)."""
        return f"tasks.{self.name.split('@')[0]}"

    def run(self, cfg: Config, startup_s: float = 0.0) -> None:
        """Run the stage's edge; its outputs are published together when it returns. Then write its
        wall-clock seconds, the edge's own timings (epoch seconds) and where the time went (`phases`:
        `startup_s`, the process's age when it got here, plus the edge's import) to its timing file."""
        begin = time.perf_counter()
        function = importlib.import_module(self.module).run  # TensorFlow's import, in a fresh process
        startup = startup_s + time.perf_counter() - begin
        phases.take()  # what this thread timed before this stage is not this stage's
        start = time.perf_counter()
        with stage_commit():
            timed = function(cfg, *((self.point,) if self.point else ()))
        seconds = time.perf_counter() - start
        write_stage_timing(self.timing_file(cfg), self.name, seconds,
                           {**(timed or {}), "phases": phases.breakdown(seconds, startup, phases.take())})
        record_execution(self.name, seconds)

    def timing_file(self, cfg: Config) -> Path:
        """`paths.stage_timings/<stage>.json`: this stage's seconds (not a DVC output)."""
        return stage_timing_file(cfg.paths.stage_timings, self.name)

    def dep_paths(self, cfg: Config) -> tuple[Path, ...]:
        """The data files and folders the stage reads."""
        return tuple(Path(lookup(cfg, key)) for key in self.deps)

    def out_paths(self, cfg: Config) -> tuple[Path, ...]:
        """The files and folders the stage writes that DVC tracks: a pure function of its inputs."""
        if self.point:
            return (Path(lookup(cfg, MATRIX_FOLDERS[self.name.split("@")[0]])) / self.point.name,)
        return tuple(Path(lookup(cfg, out.key)) for out in self.outs if not out.timing)

    def timing_out_paths(self, cfg: Config) -> tuple[Path, ...]:
        """The outputs the edge publishes that hold wall-clock values (in git, not tracked by DVC)."""
        return tuple(Path(lookup(cfg, out.key)) for out in self.outs if out.timing)

    def measured_paths(self, cfg: Config) -> tuple[Path, ...]:
        """The DVC outputs that hold this machine's measurements (see `Out.measured`)."""
        return tuple(Path(lookup(cfg, out.key)) for out in self.outs if out.measured)

    def timing_paths(self, cfg: Config) -> tuple[Path, ...]:
        """The files the stage writes that hold wall-clock values: its timing outputs and timing file."""
        return (*self.timing_out_paths(cfg), self.timing_file(cfg))

    def sources(self) -> tuple[Path, ...]:
        """The code the stage runs: its edge and every library module it imports, transitively."""
        return code_deps(REPO / f"{self.module.replace('.', '/')}.py")


def lookup(cfg: Config, key: str) -> Any:
    """The value of a dotted params key (`paths.prepared`, `train.batch_size`)."""
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value
