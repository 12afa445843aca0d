"""The channel-pruning stages in the shared build: the narrowed models are what the params ask, the
stacked model really is sparse on top, the baseline matches the MACs, and every number reaches
channels.json, metrics.json and the sweep's second series."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pruneflow.artifacts.results import read_table_with_timings
from pruneflow.channels.plan import kept_count
from tests.builds import build_config

pytestmark = pytest.mark.slow
MODELS = ("dense", "unstructured", "channel", "stacked", "uniform_width")


def timed_models(cfg) -> set[str]:
    """Every model channel_bench times: the five, the keep series (`channel-<keep>`) and the budget points."""
    return {*MODELS, *(f"channel-{keep}" for keep in cfg.channels.sweep_keeps),
            *(f"budget-{budget.name}" for budget in cfg.channels.budgets())}


@pytest.fixture(scope="module")
def table(dvc_build: Path) -> dict:
    """The channel_bench table with its timing half (the latencies) merged back, as readers see it."""
    from pruneflow.artifacts.results import read_with_timings

    p = build_config(dvc_build).paths
    assert "latency" not in json.loads(p.channel_bench.read_text()), "latency stays out of the DVC output"
    return read_with_timings(p.channel_bench, p.channel_latency)


def test_every_group_in_scope_is_narrowed_to_the_kept_fraction(dvc_build: Path) -> None:
    cfg = build_config(dvc_build)
    for keep, folder in ((cfg.channels.keep, cfg.paths.channel),
                         *((k, cfg.paths.channel_sweep / str(k)) for k in cfg.channels.sweep_keeps)):
        widths = pd.read_csv(dvc_build / folder / "widths.csv")
        in_scope = widths[widths["in_scope"]]
        assert len(in_scope) > 0
        expected = [kept_count(n, keep, cfg.channels.multiple) for n in in_scope["channels_before"]]
        assert in_scope["channels_after"].tolist() == expected, keep
        fixed = widths[~widths["in_scope"]]
        assert (fixed["channels_after"] == fixed["channels_before"]).all()


def test_channel_models_have_fewer_macs_params_and_bytes_than_dense(table: dict) -> None:
    dense, channel, stacked = (table["models"][m] for m in ("dense", "channel", "stacked"))
    assert channel["macs"] < dense["macs"] and channel["params"] < dense["params"]
    assert channel["tflite_bytes"] < dense["tflite_bytes"]
    assert stacked["macs"] == channel["macs"], "magnitude pruning removes no channel"
    assert stacked["sparsity_prunable_pct"] > 50.0 > channel["sparsity_prunable_pct"]
    assert stacked["int8_tflite_gzip_bytes"] < channel["int8_tflite_gzip_bytes"]


def test_uniform_baseline_width_is_the_one_whose_macs_are_closest_to_the_channel_model(dvc_build: Path, table: dict) -> None:
    from pruneflow.channels.training import matching_alpha

    cfg = build_config(dvc_build)
    baseline, channel = table["models"]["uniform_width"], table["models"]["channel"]
    assert baseline["target_macs"] == channel["macs"]
    alpha, macs = matching_alpha(cfg, channel["macs"], num_classes=2)
    assert (alpha, macs) == (baseline["alpha"], baseline["macs"])
    assert 0 < alpha < cfg.model.alpha


def test_latency_covers_every_model_and_format_at_both_sides_and_thread_counts(table: dict, dvc_build: Path) -> None:
    cfg = build_config(dvc_build)
    settings = {f"{side}px_threads_{t}" for side in (cfg.data.image_size, cfg.channels.resolution)
                for t in cfg.bench.threads}
    assert set(table["latency"]) == settings
    for by_variant in table["latency"].values():
        assert set(by_variant) == {f"{m}.{f}" for m in timed_models(cfg) for f in ("float", "int8")}
        for fmt in ("float", "int8"):
            assert by_variant[f"dense.{fmt}"]["speedup_vs_dense_same_format_x"] == 1.0
        assert all(np.isfinite(v["p50_ms"]) and v["p50_ms"] > 0 for v in by_variant.values())


def test_metrics_json_and_the_sweep_carry_the_channel_models(dvc_build: Path, table: dict) -> None:
    cfg = build_config(dvc_build)
    metrics = json.loads((dvc_build / cfg.paths.metrics).read_text())["channels"]
    timings = json.loads((dvc_build / cfg.paths.timings).read_text())["channels"]
    assert set(metrics) == timed_models(cfg) == set(timings)
    assert "channel-0.25" in metrics  # the tiny build's keep series
    side = f"{cfg.channels.resolution}px_threads_{cfg.bench.threads[0]}"
    latency = table["latency"][side]["channel.float"]
    assert timings["channel"][f"float_p50_{side}_ms"] == latency["p50_ms"]
    # the run's own noise sits beside each latency (the PR comment judges changes against it)
    assert timings["channel"][f"float_iqr_{side}_ms"] == latency["iqr_ms"]
    assert timings["channel"][f"float_speedup_paired_q25_{side}_x"] == latency["speedup_paired_q25_x"]
    assert not [key for key in metrics["channel"] if key.endswith("_ms") or "_speedup_" in key], "timings stay out"
    assert metrics["channel"]["macs"] == table["models"]["channel"]["macs"]
    assert not [key for key in metrics["stacked"] if key.endswith("_seconds")], "wall time stays out of metrics.json"
    assert "int8_p50_ms" not in pd.read_csv(cfg.paths.sweep_table).columns, "latency stays out of the DVC output"
    sweep = read_table_with_timings(cfg.paths.sweep_table, cfg.paths.sweep_latency)
    channel_rows = sweep[sweep["kind"] == "channel"]
    assert sorted(channel_rows["keep"]) == sorted([cfg.channels.keep, *cfg.channels.sweep_keeps])
    assert channel_rows["int8_p50_ms"].notna().all() and (channel_rows["macs"] < sweep["macs"].max()).all()
