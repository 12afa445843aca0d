"""Where the last run's time went, per stage: `python -m pruneflow.tools.breakdown [--params params.yaml]`
(`make breakdown`).

Reads every stage's timing file (`paths.stage_timings/<stage>.json`) and prints one markdown row per
stage: its wall seconds and their phases (`pruneflow.artifacts.phases`: start-up, training, TFLite conversion,
latency benchmark, other), then the totals. Under `make run`'s two stages at a time the phases of
stages that overlapped each include the other's contention: compare stage sums, not wall time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from pruneflow.artifacts.phases import PHASES
from pruneflow.artifacts.results import read_stage_timing
from pruneflow.config.params import load_config
from pruneflow.errors import PipelineError, command


def breakdown_table(stage_timings: Path) -> pd.DataFrame:
    """One row per stage timing file: seconds (the stage's work) and each phase's seconds."""
    rows = []
    for path in sorted(Path(stage_timings).glob("*.json")):
        timing = read_stage_timing(path)
        if "seconds" not in timing:
            continue
        parts = timing.get("phases") or {}
        rows.append({"stage": timing.get("stage", path.stem), "seconds": timing["seconds"],
                     **{f"{name}_s": parts.get(name) for name in PHASES}})
    if not rows:
        raise PipelineError(f"{stage_timings}: no stage timing files; run the pipeline first (make run)")
    table = pd.DataFrame(rows)
    total = {"stage": "total", **{column: table[column].sum(min_count=1) for column in table.columns[1:]}}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    return command(lambda: breakdown_table(load_config(args.params).paths.stage_timings).to_markdown(
        index=False, floatfmt=".1f"))


if __name__ == "__main__":
    sys.exit(main())
