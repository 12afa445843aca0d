"""Stage sensitivity: each unit (MobileNet block or layer) of the dense model pruned alone, one-shot,
at each `sensitivity.sparsities` level, scored on the validation split."""

from __future__ import annotations

import numpy as np

from pruneflow.artifacts.files import atomic_path
from pruneflow.config.params import Config
from pruneflow.errors import require
from pruneflow.magnitude.sensitivity import layer_units, scan
from pruneflow.models.data import load_split
from pruneflow.models.store import load_model


def run(cfg: Config) -> None:
    """Edge: scan the saved dense model on the validation split; write `paths.sensitivity`."""
    model = load_model(require(cfg.paths.dense_model, "train_dense"))
    x, y = load_split(cfg.paths.prepared, "val")
    table = scan(model, layer_units(model, cfg.prune, cfg.sensitivity.unit), cfg.sensitivity.sparsities,
                 x.astype(np.float32), y)
    with atomic_path(cfg.paths.sensitivity) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    worst = table[table["sparsity"] == max(cfg.sensitivity.sparsities)].nlargest(3, "drop_pts")
    print(f"sensitivity: {table['unit'].nunique()} units × {len(cfg.sensitivity.sparsities)} levels; most sensitive at "
          f"{max(cfg.sensitivity.sparsities)}: " + ", ".join(f"{r.unit} −{r.drop_pts:.1f} pts" for r in worst.itertuples()))

