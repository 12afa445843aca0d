"""What the numbers belong to: the data source, its size and the params digest a metrics file was made
with, and whether `dvc status` says the pipeline's outputs are stale (`python -m pruneflow show`): stale
numbers when a stage metrics.json depends on changed, only unfinished later stages (report, sweep) after a
partial `dvc repro evaluate`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pruneflow.config.params import Config
from pruneflow.pipeline.dvc_cache import stale
from pruneflow.pipeline.stages import STAGES, ancestors, pipeline_stages

# The stage that writes metrics.json (evaluate), as the stage table says.
METRICS_STAGE = next(stage.name for stage in STAGES if any(out.key == "paths.metrics" for out in stage.outs))


def source_line(metrics: dict[str, Any], digest_now: str) -> str:
    """One line: source, images, side, majority-class rate and params digest of `metrics` (and whether
    params.yaml still has that digest)."""
    data = metrics.get("data", {})
    made = data.get("params_digest")
    majority = data.get("majority_class") or {}
    chance = (f"; majority class '{majority['class']}' scores {majority['test_accuracy_pct']:.1f} % on test"
              if majority else "")
    same = ("" if made is None else "  (params.yaml now: same)" if made == digest_now
            else f"  (params.yaml now: {digest_now}, different)")
    return (f"metrics of data.source {data.get('source', '?')}: {data.get('images', '?')} images at "
            f"{data.get('image_size', '?')} px {data.get('images_per_split', {})}{chance}; params digest "
            f"{made or 'not recorded'}{same}")


def metrics_stages(cfg: Config) -> set[str]:
    """The stages metrics.json depends on: evaluate and every stage upstream of it (the stage table's graph)."""
    return ancestors(cfg, METRICS_STAGE)


def _listed(names: list[str]) -> str:
    return ", ".join(names[:6]) + (", …" if len(names) > 6 else "")


def later_stages(cfg: Config) -> set[str]:
    """The stages after metrics.json (report, sweep): every stage of this config that evaluate does not read."""
    return {stage.name for stage in pipeline_stages(cfg)} - metrics_stages(cfg)


def stale_message(changed: list[str], later: set[str], metrics: str = "metrics.json") -> str | None:
    """What `show` says of the stages `dvc status` lists: a warning when one that `metrics` depends on
    changed; a note naming the `later` stages (report, sweep) when only they have not run, as after
    `dvc repro evaluate`; None when none changed. Any stage not known to come later (one the table of
    this config does not list) counts as feeding: better a warning too many than stale numbers called current.

    Args:
        changed: stage names `dvc status` lists (always-run stages already left out).
        later: `later_stages(cfg)`.
        metrics: the metrics file's path, for the message.
    Returns:
        One line, or None.
    """
    before = sorted(name for name in changed if name not in later)
    after = sorted(name for name in changed if name in later)
    if before:
        later = f"; later stages not yet run either: {_listed(after)}" if after else ""
        return (f"warning: these metrics are stale: dvc status lists {len(before)} changed stage(s) that "
                f"{metrics} depends on ({_listed(before)}){later}; run `make run` (dvc repro) to refresh them")
    if after:
        return f"note: {metrics} is current; later stages not yet run: {_listed(after)} (run `dvc repro` for them)"
    return None


def dvc_status(root: Path = Path(".")) -> dict[str, Any] | None:
    """`dvc status --json` in `root`, or None when it cannot be run or read."""
    try:
        done = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, capture_output=True,
                              text=True, timeout=300, check=False)
        return (json.loads(done.stdout or "null") or {}) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def stale_warning(cfg: Config, root: Path = Path(".")) -> str | None:
    """`stale_message` for `dvc status` in `root` (the always-run machine stage left out); a line saying
    why when the status cannot be read."""
    status = dvc_status(root)
    if status is None:
        return "warning: could not run `dvc status`; these metrics may not match params.yaml and the code"
    return stale_message(sorted(stale(status)), later_stages(cfg), str(cfg.paths.metrics))
