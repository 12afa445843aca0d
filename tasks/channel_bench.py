"""Stage channel_bench: dense, unstructured, channel-pruned, stacked and uniform-width models side by
side — accuracy, MACs, params, sizes and interleaved batch-1 latency at the data's side and at
`channels.resolution` → `paths.channel_bench` (see `pruneflow.evaluation.channel_bench`); the latencies go to the
timing file `paths.channel_latency`."""

from __future__ import annotations

from pruneflow.artifacts.files import write_json
from pruneflow.config.params import Config
from pruneflow.evaluation.channel_bench import channel_table


def run(cfg: Config) -> None:
    """Edge: measure every model, write the table."""
    table = channel_table(cfg)
    write_json(cfg.paths.channel_bench, {key: value for key, value in table.items() if key not in ("latency", "prediction")})
    write_json(cfg.paths.channel_latency, {"latency": table["latency"], "prediction": table["prediction"]})
    setup = table["setup"]
    if setup["resolution_note"]:
        print(f"channel_bench channels.resolution {setup['resolution_asked_px']} px: {setup['resolution_note']}")
    for setting, variants in table["latency"].items():
        line = "  ".join(f"{name} {entry['p50_ms']:.3f} ms ({entry['speedup_vs_dense_same_format_x']:.2f}x)"
                         for name, entry in variants.items())
        print(f"channel_bench {setting}: {line}")
    for setting, models in table["prediction"]["table"].items():
        print(f"channel_bench table {setting}: " + "  ".join(f"{name} predicted {c['predicted_ms']:.3f} / measured "
                                                            f"{c['measured_p50_ms']:.3f} ms ({c['error_pct']:+.1f} %)"
                                                            for name, c in models.items()))
    for name, check in table["prediction"]["budgets"].items():
        print(f"channel_bench {name}: {check['format']} measured {check['measured_p50_ms']:.4f} ms against the budget "
              f"{check['target_ms']:.4f} ms ({check['off_budget_pct']:+.1f} %)")
