"""Deterministic metrics and wall-clock timings, kept in two DVC metrics files (pure; no TensorFlow).

The evaluate stage measures both in one pass, then splits them: `metrics.json` holds every field that
repeats exactly for the same params, data and machine (accuracy, sparsity, bytes, MACs), `timings.json`
the fields that differ on every run (latency, throughput, speed-ups, epoch seconds: the globs of
`metrics.VARYING_FIELDS`). Both files keep the same nested layout, so a field has the same dotted name
in either, `dvc metrics diff` of metrics.json shows only real changes, and readers merge them back.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path
from typing import Any

from pruneflow.errors import PipelineError
from pruneflow.metrics import VARYING_FIELDS, read_metrics


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


def reproducibility_note(timings_path: Path) -> dict[str, Any]:
    """metrics.json's own statement of where the run-to-run fields went."""
    return {
        "varies_run_to_run": list(VARYING_FIELDS),
        "timings_file": str(timings_path),
        "note": f"every field of this file repeats exactly for the same params and data on the same machine; "
                f"the wall-clock fields (latency, throughput, speed-ups, epoch seconds) are in {timings_path}",
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

