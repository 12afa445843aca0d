"""Deterministic results and wall-clock timings, kept in separate files (pure; no TensorFlow).

Every output DVC tracks is a pure function of its stage's inputs; wall-clock values go to timing files,
which are kept in git but are no stage's DVC output or dependency, so a rerun that reproduces the results
leaves `dvc status` clean. The evaluate stage measures both in one pass, then splits them:
`metrics.json` holds every field that repeats exactly for the same params, data and machine (accuracy,
sparsity, bytes, MACs), `timings.json` the fields that differ on every run (latency, throughput,
speed-ups, epoch seconds: the globs of `VARYING_FIELDS`). Both keep the same nested layout, so a
field has the same dotted name in either and readers merge them back. The timed stages split their
tables the same way, and every stage records its seconds in `paths.stage_timings/<stage>.json`.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from pruneflow.artifacts.files import write_json
from pruneflow.errors import PipelineError

# Same params, data and machine → the same values except these wall-clock fields: seeds, TensorFlow
# op determinism and timestamp-free files make everything else repeat bit for bit (tests/test_flow.py
# checks it: the flow's build and `dvc repro`'s of the same tiny inputs agree). The evaluate stage
# writes these to timings.json and the rest to metrics.json (this module).
VARYING_FIELDS = ("*_ms", "*throughput_*", "*batch*_vs_dense_*", "comparison.latency_*",
                  "training.*_s", "training.prune_over_dense_epoch_time_x", "channels.*_speedup_*_x",
                  "channels.*_error_*_pct", "channels.*off_budget_pct", "machine")


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metrics as {"dotted.key": value} (lists kept whole)."""
    flat: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def reproducible_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    """Every field that must repeat exactly across identical reruns (all but VARYING_FIELDS)."""
    return {key: value for key, value in flatten(metrics).items()
            if not any(fnmatch.fnmatchcase(key, pattern) for pattern in VARYING_FIELDS)}


def read_metrics(path: Path) -> dict[str, Any]:
    """The metrics file written by the evaluate stage.

    Raises:
        PipelineError: missing, not JSON, or not the dense/pruned/comparison layout.
    """
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: no readable metrics ({type(exc).__name__}); run `dvc repro` first") from None
    if not isinstance(metrics, dict) or not {"dense", "pruned", "comparison"} <= set(metrics):
        raise PipelineError(f"{path}: not a pruneflow metrics file (needs dense, pruned, comparison); rerun evaluate")
    return metrics


def is_timing(key: str) -> bool:
    """Whether a dotted metrics key is a wall-clock field (one of VARYING_FIELDS' globs)."""
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in VARYING_FIELDS)


def split_timings(metrics: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(deterministic, timings): the nested metrics with each leaf on one side, same layout on both.

    A section left empty on one side is dropped there.
    """
    fixed: dict[str, Any] = {}
    timed: dict[str, Any] = {}
    for key, value in metrics.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            f, t = split_timings(value, f"{dotted}.")
            if f:
                fixed[key] = f
            if t:
                timed[key] = t
        elif is_timing(dotted):
            timed[key] = value
        else:
            fixed[key] = value
    return fixed, timed


def merge_timings(fixed: dict[str, Any], timed: dict[str, Any]) -> dict[str, Any]:
    """The two halves as one nested dict (the inverse of `split_timings`)."""
    out = copy.deepcopy(fixed)
    for key, value in timed.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_timings(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def reproducibility_note(timings_path: Path, timing_files: list[str]) -> dict[str, Any]:
    """metrics.json's own statement of where the run-to-run fields went."""
    return {
        "varies_run_to_run": list(VARYING_FIELDS),
        "timings_file": str(timings_path),
        "timing_files": timing_files,
        "note": f"every field of this file, and every output DVC tracks, repeats exactly for the same params and "
                f"data on the same machine; the wall-clock fields (latency, throughput, speed-ups, epoch seconds) "
                f"are in {timings_path} and the other timing files, which are kept in git but are no stage's DVC "
                f"output or dependency",
    }


def read_run_metrics(metrics_path: Path, timings_path: Path) -> dict[str, Any]:
    """metrics.json with timings.json merged back in: the layout every reader (show, report, flow) uses.

    A metrics file from before the split (timings inside it, no timings file) reads the same.

    Raises:
        PipelineError: the metrics file is missing or malformed, or the timings file is not JSON.
    """
    metrics = read_metrics(metrics_path)
    if not timings_path.exists():
        return metrics
    try:
        timed = json.loads(timings_path.read_text())
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{timings_path}: no readable timings ({type(exc).__name__}); rerun evaluate "
                            "(dvc repro evaluate)") from None
    if not isinstance(timed, dict):
        raise PipelineError(f"{timings_path}: not a pruneflow timings file (a JSON object); rerun evaluate")
    return merge_timings(metrics, timed)



def stage_timing_file(stage_timings: Path, stage: str) -> Path:
    """`paths.stage_timings/<stage>.json`: a stage's seconds (a timing file, not a DVC output)."""
    return Path(stage_timings) / f"{stage}.json"


# When set, every stage execution appends a line here (stage, seconds, working folder, and the pytest
# test that caused it): how the test suite counts its stage executions (tests/conftest.py).
EXECUTION_LOG = "PRUNEFLOW_STAGE_LOG"


def record_execution(stage: str, seconds: float) -> None:
    """Append one JSON line for this stage execution to `$PRUNEFLOW_STAGE_LOG`, if set (one write: lines
    from processes running at once do not interleave)."""
    target = os.environ.get(EXECUTION_LOG)
    if not target:
        return
    line = json.dumps({"stage": stage, "seconds": round(seconds, 3), "cwd": os.getcwd(),
                       "test": os.environ.get("PYTEST_CURRENT_TEST", "")}) + "\n"
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def write_stage_timing(path: Path, stage: str, seconds: float, extra: dict[str, Any]) -> None:
    """A stage's timing file: its wall-clock seconds and the edge's own timings (epoch seconds)."""
    write_json(path, {"stage": stage, "seconds": round(seconds, 3), **extra})


def read_stage_timing(path: Path) -> dict[str, Any]:
    """A stage's timing file, or {} when it is missing or unreadable: timings are never a reason to stop."""
    try:
        timing = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return timing if isinstance(timing, dict) else {}


def read_with_timings(table_path: Path, timings_path: Path) -> dict[str, Any]:
    """A timed stage's deterministic JSON table with its timing half merged back in (the timing half
    may be missing: the table alone is returned).

    Raises:
        PipelineError: the table is not JSON (the caller checks that it exists).
    """
    try:
        table = json.loads(table_path.read_text())
    except ValueError:
        raise PipelineError(f"{table_path}: not JSON; rerun the stage that writes it (dvc repro)") from None
    timed = read_stage_timing(timings_path)
    return merge_timings(table, timed) if timed else table


def read_table_with_timings(table_path: Path, timings_path: Path, key: str = "point") -> pd.DataFrame:
    """A timed stage's deterministic CSV table with its timing columns joined back on `key` (absent
    timing file: the table alone)."""
    table = pd.read_csv(table_path)
    if not timings_path.exists():
        return table
    return table.merge(pd.read_csv(timings_path), on=key, how="left")
