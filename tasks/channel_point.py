"""Stage channel_point@<keep>: the channel pruning of channel_prune at another kept fraction
(`channels.sweep_keeps`), from the same dense model → `paths.channel_sweep/<keep>/`: the sweep's
channel series."""

from __future__ import annotations

from pruneflow.artifacts.points import is_model
from pruneflow.channels.training import channel_point
from pruneflow.config.params import Config
from pruneflow.config.studies import ChannelPoint


def run(cfg: Config, point: ChannelPoint) -> None:
    """Edge: channel-prune, fine-tune, export (float, int8) and score one kept fraction."""
    result = channel_point(cfg, point.keep, cfg.paths.channel_sweep / point.name)
    if not is_model(result):
        print(f"channel_point {point.name}: not trained, no model: {result['reason']}")
        return
    print(f"channel_point {point.name}: accuracy {result['test_accuracy_pct']:.2f} %, "
          f"{result['macs'] / 1e6:.1f} M MACs ({result['mac_ratio_x']:.2f}x fewer)")
