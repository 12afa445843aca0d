"""Stage strip: remove the pruning wrappers, keeping the (now sparse) weights.

A wrapped model carries a mask and a threshold per weight and is no smaller than the dense one;
only the stripped model exports small. The stage proves two invariants before writing anything:
no wrapper remains, and the stripped model predicts exactly what the wrapped one does.
"""

from __future__ import annotations

import numpy as np

from pruneflow.artifacts.files import write_json
from pruneflow.config.params import Config
from pruneflow.errors import PipelineError
from pruneflow.magnitude.pruning import PREDICTION_TOLERANCE, check_stripped, strip
from pruneflow.models.data import load_split
from pruneflow.models.store import load_model, save_model
from pruneflow.tf_env import tfmot


def run(cfg: Config) -> None:
    """Edge: strip the wrapped model, verify, write the stripped model and the check report."""
    pruned = load_model(cfg.paths.pruned_model, custom_scope=tfmot.sparsity.keras.prune_scope)
    stripped = strip(pruned)
    x, _ = load_split(cfg.paths.prepared, "test")
    check = check_stripped(pruned, stripped, x.astype(np.float32))
    if check["wrappers_remaining"] or check["max_abs_prediction_diff"] > PREDICTION_TOLERANCE:
        raise PipelineError(f"strip: stripped model differs from the pruned one: {check}")
    save_model(stripped, cfg.paths.stripped_model)
    write_json(cfg.paths.strip_check, check)
    print(f"strip: {check} → {cfg.paths.stripped_model}")

