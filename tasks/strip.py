"""Stage 4 — strip: remove the pruning wrappers, keeping the (now sparse) weights.

A wrapped model carries a mask and a threshold per weight and is no smaller than the dense one;
only the stripped model exports small. The stage proves two invariants before writing anything:
no wrapper remains, and the stripped model predicts exactly what the wrapped one does.
"""

from __future__ import annotations

import numpy as np

from tasks.config import Config
from tasks.errors import PipelineError
from tasks.ingest import load_split
from tasks.io import write_json
from tasks.model import load_model, save_model
from tasks.prune import wrapped_layers
from tasks.tf_env import keras, tfmot


def strip(pruned: keras.Model) -> keras.Model:
    """`strip_pruning`: a plain Keras model with the masked weights of `pruned`."""
    return tfmot.sparsity.keras.strip_pruning(pruned)


def check_stripped(pruned: keras.Model, stripped: keras.Model, x: np.ndarray) -> dict[str, float | int]:
    """Invariants of stripping, measured on `x`.

    Returns:
        wrappers left, max |Δ probability|, and the share of identical top-1 predictions.
    """
    before = pruned.predict(x, batch_size=256, verbose=0)
    after = stripped.predict(x, batch_size=256, verbose=0)
    return {
        "wrappers_remaining": len(wrapped_layers(stripped)),
        "max_abs_prediction_diff": float(np.max(np.abs(before - after))),
        "top1_agreement": float(np.mean(before.argmax(1) == after.argmax(1))),
        "samples": int(len(x)),
    }


# Same weights, same graph: float results may differ only by op scheduling, never beyond this.
PREDICTION_TOLERANCE = 1e-5


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
