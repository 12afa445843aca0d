"""What the numbers belong to: the data source, its size and the params digest a metrics file was made
with, and whether `dvc status` says the pipeline's outputs are stale (`python -m pruneflow show`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pruneflow.dvc_cache import stale


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


def stale_warning(root: Path = Path(".")) -> str | None:
    """One warning line when `dvc status` lists changed stages (None when up to date); a line saying
    why when the status cannot be read."""
    try:
        done = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, capture_output=True,
                              text=True, timeout=300, check=False)
        changed = sorted(stale(json.loads(done.stdout or "null") or {})) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        changed = None
    if changed is None:
        return "warning: could not run `dvc status`; these metrics may not match params.yaml and the code"
    if not changed:
        return None
    names = ", ".join(changed[:6]) + (", …" if len(changed) > 6 else "")
    return (f"warning: these metrics are stale: dvc status lists {len(changed)} changed stage(s) ({names}); "
            "run `make run` (dvc repro) to refresh them")
