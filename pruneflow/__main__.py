"""Command line for DVC stages and humans: `python -m pruneflow <stage> [--params params.yaml]`.

`python -m pruneflow sweep_point --sparsity 0.5 --schedule polynomial` prunes one sweep point;
`python -m pruneflow channel_point --keep 0.35` one point of the channel series;
`python -m pruneflow seed_run --seed 43` retrains the headline models with one extra seed.
`python -m pruneflow show` prints the dense-vs-pruned table of the last evaluation, what data and params
it belongs to, and a warning when `dvc status` says it is stale. `python -m pruneflow preset small` writes a
named recipe (presets/small.yaml) into params.yaml. Bad input ends
with one line on stderr and exit status 2; outputs already on disk are left as they were. Started by a
python that lacks the dependencies (a plain shell's `python`, as `.venv/bin/dvc repro` runs dvc.yaml's
commands), it re-runs itself in the repo's `.venv/bin/python`; with no .venv, a missing module is one
error line naming `source .venv/bin/activate`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REEXEC = "PRUNEFLOW_VENV_REEXEC"  # set on the re-run in .venv's python: never a second hop


def project_python(venv: Path = REPO / ".venv", prefix: str = sys.prefix,
                   pyproject: Path = REPO / "pyproject.toml") -> Path | None:
    """The repo's `.venv/bin/python` when this interpreter is another one that lacks a dependency
    pyproject.toml lists; None: run here.

    dvc.yaml's commands say `python -m pruneflow <stage>` so that they run in any environment that has
    the dependencies. From a plain shell, `.venv/bin/dvc repro` hands them to the shell's `python`
    (no pandas, no TensorFlow): that case re-runs itself in .venv's python. An environment that has
    every dependency (an activated venv, a conda env) is left alone.
    """
    python = venv / "bin" / "python"
    if os.environ.get(REEXEC) or not python.is_file() or Path(prefix).resolve() == venv.resolve():
        return None
    try:
        requirements = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    for requirement in requirements:
        try:
            importlib.metadata.distribution(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
        except importlib.metadata.PackageNotFoundError:
            return python
    return None


def missing_module_line(exc: ModuleNotFoundError) -> str | None:
    """The one error line for a dependency this interpreter lacks (None for a module of the project
    itself: a bug, whose traceback should show)."""
    if (exc.name or "pruneflow").split(".")[0] in {"pruneflow", "tasks", "flows"}:
        return None
    return (f"pruneflow: error: this python ({sys.executable}) has no module {exc.name!r}: run "
            "`source .venv/bin/activate` first (`make run` creates .venv), or `pip install -e .` into this python")


def main(argv: list[str] | None = None) -> int:
    """Run one stage (or `show`); return the process exit status."""
    from pruneflow.artifacts.lineage import metrics_digest
    from pruneflow.artifacts.phases import process_age_s
    from pruneflow.config.params import MAX_SEED, load_config
    from pruneflow.config.studies import ChannelPoint, SeedPoint, SweepPoint
    from pruneflow.errors import PipelineError
    from pruneflow.pipeline.stages import BY_NAME, CHANNEL_POINT, SEED_RUN, SWEEP_POINT, sweep_stage

    parser = argparse.ArgumentParser(prog="python -m pruneflow", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=[*BY_NAME, "show", "preset"])
    parser.add_argument("name", nargs="?", help="preset only: the preset's name (presets/<name>.yaml)")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--sparsity", type=float, help="sweep_point only: the target sparsity, 0 < s < 1")
    parser.add_argument("--schedule", choices=["polynomial", "constant"], help="sweep_point only: the schedule")
    parser.add_argument("--keep", type=float, help="channel_point only: the kept fraction of channels, 0 < keep <= 1")
    parser.add_argument("--seed", type=int, help="seed_run only: the seed the headline models are retrained with")
    args = parser.parse_args(argv)
    try:
        if args.stage == "preset":
            from pruneflow.config.presets import apply_preset, preset_names

            if args.name is None:
                raise PipelineError(f"preset: give a name; allowed: {', '.join(preset_names())}")
            print(apply_preset(args.name, Path(args.params)).summary(args.name, Path(args.params)))
            return 0
        cfg = load_config(args.params)
        if args.stage == SWEEP_POINT:
            if args.sparsity is None or not 0.0 < args.sparsity < 1.0 or args.schedule is None:
                raise PipelineError(f"sweep_point: --sparsity={args.sparsity} --schedule={args.schedule}; "
                                    "allowed: --sparsity 0 < s < 1 and --schedule polynomial|constant")
            sweep_stage(SweepPoint(args.sparsity, args.schedule)).run(cfg, startup_s=process_age_s() or 0.0)
        elif args.stage == CHANNEL_POINT:
            if args.keep is None or not 0.0 < args.keep <= 1.0:
                raise PipelineError(f"channel_point: --keep={args.keep}; allowed: --keep 0 < keep <= 1, e.g. --keep 0.5")
            sweep_stage(ChannelPoint(args.keep)).run(cfg, startup_s=process_age_s() or 0.0)
        elif args.stage == SEED_RUN:
            if args.seed is None or not 0 <= args.seed <= MAX_SEED:
                raise PipelineError(f"seed_run: --seed={args.seed}; allowed: --seed 0..{MAX_SEED}, e.g. --seed 43")
            sweep_stage(SeedPoint(args.seed)).run(cfg, startup_s=process_age_s() or 0.0)
        elif args.stage == "show":
            from pruneflow.artifacts.files import read_json
            from pruneflow.artifacts.results import read_run_metrics
            from pruneflow.evaluation.tables import format_run
            from pruneflow.pipeline.freshness import source_line, stale_warning
            from pruneflow.report.headline import format_headline

            metrics = read_run_metrics(cfg.paths.metrics, cfg.paths.timings)
            # channel_bench's table: why a model is absent, repeated plans, the side channel latency was timed at
            table = read_json(cfg.paths.channel_bench) if Path(cfg.paths.channel_bench).is_file() else {}
            print(source_line(metrics, metrics_digest(cfg)))
            print(format_headline(metrics, table.get("not_applicable")))
            print(f"Latencies measured on: {metrics.get('machine') or 'an unrecorded machine (a run from before reports/machine.json)'}")
            warning = stale_warning(cfg)
            if warning:
                print(warning, file=sys.stderr)
            print(format_run(metrics, table))
        else:
            BY_NAME[args.stage].run(cfg, startup_s=process_age_s() or 0.0)
    except PipelineError as exc:
        print(f"pruneflow: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    python = project_python()
    if python is not None:
        os.environ[REEXEC] = "1"
        os.execv(python, [str(python), "-m", "pruneflow", *sys.argv[1:]])
    try:
        from pruneflow.pipeline.console import run_stage_command

        sys.exit(run_stage_command(main, sys.argv[1:]))
    except ModuleNotFoundError as exc:
        line = missing_module_line(exc)
        if line is None:
            raise
        print(line, file=sys.stderr)
        sys.exit(2)
