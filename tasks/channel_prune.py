"""Stage channel_prune: the saved dense model with whole channels removed (`channels.keep` of every
channel group in `channels.scope`), rebuilt narrower and fine-tuned → `paths.channel/`."""

from __future__ import annotations

from pruneflow.artifacts.points import is_model
from pruneflow.channels.training import channel_point
from pruneflow.config.params import Config


def run(cfg: Config) -> None:
    """Edge: channel-prune, fine-tune, export (float, int8) and score the main channel-pruned model."""
    point = channel_point(cfg, cfg.channels.keep, cfg.paths.channel)
    if not is_model(point):
        print(f"channel_prune: keep {cfg.channels.keep}: not trained, no model: {point['reason']}")
        return
    print(f"channel_prune: keep {cfg.channels.keep}: accuracy {point['test_accuracy_pct']:.2f} %, "
          f"{point['macs'] / 1e6:.1f} M MACs ({point['mac_ratio_x']:.2f}x fewer), {point['params']} params, "
          f"float TFLite {point['tflite_bytes']} B")
