"""The stacked model (stage stacked): the channel-pruned model's remaining weights magnitude-pruned by
the prune recipe at `channels.stacked_sparsity`. It reads the channel-pruned model as a file, so
magnitude pruning never imports the channel pruner and an edit to either reruns only its own stages
and this one."""

from __future__ import annotations

from typing import Any

from pruneflow.artifacts.points import MODEL_FILE, is_model, read_point, write_record
from pruneflow.config.params import Config
from pruneflow.config.studies import SweepPoint
from pruneflow.magnitude.sweep_points import point_config, prune_and_write


def stacked(cfg: Config) -> dict[str, Any]:
    """Magnitude-prune the channel-pruned model to `channels.stacked_sparsity` (the prune recipe), strip,
    export; write `paths.stacked` (only the record saying why, where the channel model is none)."""
    channel = read_point(cfg.paths.channel, "channel_prune")
    if not is_model(channel):
        return write_record(cfg.paths.stacked, {"point": "stacked", "kind": "stacked", "applicable": False,
                                                "reason": f"no channel-pruned model to stack on: {channel['reason']}"})
    base = cfg.model_copy(update={"paths": cfg.paths.model_copy(update={"dense_model": cfg.paths.channel / MODEL_FILE})})
    point = point_config(base, SweepPoint(cfg.channels.stacked_sparsity, cfg.prune.schedule))
    return prune_and_write(point, cfg.paths.stacked, {"point": "stacked", "kind": "stacked", "keep": cfg.channels.keep,
                                                      "target_sparsity": cfg.channels.stacked_sparsity})
