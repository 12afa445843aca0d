"""metrics.json vs timings.json, and the review sections built from them: the headline per model, the exact
changes, and timings judged against the runs' own noise (pure, no TensorFlow)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pruneflow.artifacts.results import flatten, is_timing, merge_timings, read_run_metrics, split_timings
from pruneflow.errors import PipelineError
from pruneflow.report.review import exact_changes_table, headline_table, timings_section
from pruneflow.stats.noise import noise_band, verdict


def _channel_model(acc: float, sparsity: float, size: int, gzip: int, macs: int, p50: float, x: float) -> dict:
    """A model of the channel benchmark at 48 px, 1 thread: IQR a tenth of p50, speed-up quartiles ± 0.1."""
    s = "48px_threads_1"
    return {"test_accuracy_pct": acc, "sparsity_prunable_pct": sparsity, "tflite_bytes": size, "tflite_gzip_bytes": gzip,
            "macs": macs, f"float_p50_{s}_ms": p50, f"float_iqr_{s}_ms": p50 / 10, f"float_speedup_{s}_x": x,
            f"float_speedup_paired_q25_{s}_x": x - 0.1, f"float_speedup_paired_q75_{s}_x": x + 0.1}


RUN = {
    "dense": {"test_accuracy_pct": 98.0, "sparsity_prunable_pct": 0.0, "size_tflite_bytes": 1000,
              "size_tflite_gzip_bytes": 900, "latency_p50_ms": 2.0, "latency_p95_ms": 2.5},
    "pruned": {"test_accuracy_pct": 97.0, "sparsity_prunable_pct": 80.0, "size_tflite_bytes": 1000,
               "size_tflite_gzip_bytes": 300, "latency_p50_ms": 2.0, "latency_p95_ms": 2.4},
    "comparison": {"test_accuracy_delta_pts": -1.0, "latency_p50_speedup_x": 1.0},
    "training": {"dense_epoch_median_s": 3.0},
    "setup": {"latency_threads": 1, "latency_runs": 100},
    "data": {"image_size": 48},
    "variants": {
        "dense.float": {"size_bytes": 1000, "threads_1": {"batch1_p50_ms": 2.0, "batch1_iqr_ms": 0.2}},
        "pruned.float": {"size_bytes": 1000, "threads_1": {
            "batch1_p50_ms": 2.0, "batch1_iqr_ms": 0.2, "batch1_vs_dense_float_x": 1.0,
            "batch1_vs_dense_float_paired_q25_x": 0.95, "batch1_vs_dense_float_paired_q75_x": 1.05,
            "batch32_p50_ms": 10.0, "batch32_iqr_ms": 1.0, "throughput_batch32_images_per_s": 3200.0}},
    },
    "channels": {name: _channel_model(*values) for name, values in {
        "dense": (98.0, 0.0, 1000, 900, 1_000_000, 2.0, 1.0),
        "unstructured": (97.0, 80.0, 1000, 300, 1_000_000, 2.0, 1.0),
        "channel": (96.0, 0.0, 400, 350, 300_000, 0.7, 2.8)}.items()},
}


def _with(changes: dict[str, float]) -> dict[str, float]:
    return {**flatten(RUN), **changes}


def test_split_puts_every_wall_clock_field_in_timings_and_merging_restores_the_run() -> None:
    fixed, timed = split_timings(RUN)
    assert all(is_timing(k) for k in flatten(timed)) and not any(is_timing(k) for k in flatten(fixed))
    assert {"dense.latency_p50_ms", "comparison.latency_p50_speedup_x", "training.dense_epoch_median_s",
            "variants.pruned.float.threads_1.throughput_batch32_images_per_s",
            "channels.channel.float_speedup_48px_threads_1_x"} <= set(flatten(timed))
    assert {"dense.test_accuracy_pct", "comparison.test_accuracy_delta_pts", "channels.channel.macs",
            "variants.pruned.float.size_bytes"} <= set(flatten(fixed))
    assert "training" not in fixed  # a section with only timings leaves metrics.json
    assert merge_timings(fixed, timed) == RUN


def test_readers_merge_timings_back_and_read_an_unsplit_metrics_file_alike(tmp_path: Path) -> None:
    fixed, timed = split_timings(RUN)
    (tmp_path / "m.json").write_text(json.dumps(fixed))
    (tmp_path / "t.json").write_text(json.dumps(timed))
    assert read_run_metrics(tmp_path / "m.json", tmp_path / "t.json") == RUN
    (tmp_path / "old.json").write_text(json.dumps(RUN))  # written before the split: no timings file
    assert read_run_metrics(tmp_path / "old.json", tmp_path / "missing.json") == RUN
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(PipelineError, match="t.json: no readable timings"):
        read_run_metrics(tmp_path / "m.json", tmp_path / "t.json")


def test_noise_band_comes_from_the_same_benchmark_spread() -> None:
    flat = flatten(RUN)
    assert noise_band("variants.pruned.float.threads_1.batch1_p50_ms", flat) == pytest.approx((1.8, 2.2))
    assert noise_band("dense.latency_p50_ms", flat) == pytest.approx((1.8, 2.2))  # the bench's dense.float spread
    assert noise_band("comparison.latency_p50_speedup_x", flat) == (0.95, 1.05)  # paired-ratio quartiles
    assert noise_band("channels.channel.float_speedup_48px_threads_1_x", flat) == pytest.approx((2.7, 2.9))
    assert noise_band("channels.channel.float_p50_48px_threads_1_ms", flat) == pytest.approx((0.63, 0.77))
    assert noise_band("variants.pruned.float.threads_1.throughput_batch32_images_per_s", flat) == pytest.approx((2880, 3520))
    assert noise_band("training.dense_epoch_median_s", flat) is None
    assert noise_band("variants.pruned.float.threads_1.batch1_iqr_ms", flat) is None


def _speedup(x: float, spread: float = 0.05) -> dict[str, float]:
    """A head run whose pruned float speed-up is `x`, with the bench's paired quartiles around it."""
    v = "variants.pruned.float.threads_1.batch1_vs_dense_float"
    return {"comparison.latency_p50_speedup_x": x, f"{v}_x": x, f"{v}_paired_q25_x": x - spread,
            f"{v}_paired_q75_x": x + spread}


@pytest.mark.parametrize(("key", "head", "expected"), [
    ("comparison.latency_p50_speedup_x", _speedup(1.04), "within noise"),
    ("comparison.latency_p50_speedup_x", _speedup(1.30), "beyond noise"),
    ("comparison.latency_p50_speedup_x", _speedup(1.30, spread=0.4), "within noise"),  # a noisy head run
    ("pruned.latency_p50_ms", {"pruned.latency_p50_ms": 2.1}, "within noise"),
    ("pruned.latency_p50_ms", {"pruned.latency_p50_ms": 1.0}, "beyond noise"),
    ("training.dense_epoch_median_s", {"training.dense_epoch_median_s": 9.0}, "no noise measure"),
    ("variants.pruned.float.threads_1.batch1_iqr_ms", {"variants.pruned.float.threads_1.batch1_iqr_ms": 0.4},
     "noise measure"),
])
def test_a_timing_change_is_beyond_noise_only_when_neither_runs_spread_covers_it(key: str, head: dict, expected: str) -> None:
    assert verdict(key, flatten(RUN), _with(head)) == expected


def _headline(base: dict, head: dict) -> dict[str, list[str]]:
    lines = headline_table(base, head)
    return {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]] for line in lines[2:]}


def test_headline_has_a_row_per_model_of_one_benchmark_with_base_head_and_change() -> None:
    u, s = "channels.unstructured", "48px_threads_1"
    head = _with({f"{u}.test_accuracy_pct": 96.5, f"{u}.tflite_gzip_bytes": 330, f"{u}.float_p50_{s}_ms": 1.5,
                  f"{u}.float_speedup_{s}_x": 1.3, f"{u}.float_speedup_paired_q25_{s}_x": 1.25,
                  f"{u}.float_speedup_paired_q75_{s}_x": 1.35})
    rows = _headline(flatten(RUN), head)
    assert list(rows) == ["dense", "pruned, unstructured", "channel-pruned"]
    pruned = rows["pruned, unstructured"]
    # without per-image predictions of both revisions, an accuracy change is shown but not judged
    assert pruned[:6] == ["97.0 → 96.5 (-0.50 pts); not judged: no per-image predictions were compared", "–",
                          "80.0 (=)", "1,000 (=)", "300 → 330 (+10.0 %)", "1.00 (=)"]
    assert pruned[6] == "2.000 → 1.500 (-25.0 %), beyond noise"
    assert pruned[7] == "1.00 → 1.30 (+0.30), beyond noise"
    assert rows["dense"][1] == "reference" and rows["dense"][7] == "1.00× (reference)"
    assert rows["channel-pruned"][5] == "0.30 (=)" and rows["channel-pruned"][7] == "2.80 (=)"
    # a speed-up inside the other run's paired quartiles is noise
    noisy = _with({f"{u}.float_speedup_{s}_x": 1.05})
    assert _headline(flatten(RUN), noisy)["pruned, unstructured"][7] == "1.00 → 1.05 (+0.05), within noise"


def test_headline_falls_back_to_the_bench_stage_without_a_channel_benchmark() -> None:
    run = {k: v for k, v in flatten(RUN).items() if not k.startswith("channels.")}
    rows = _headline(run, {**run, **_speedup(1.3)})
    assert list(rows) == ["dense", "pruned, unstructured"]
    assert rows["pruned, unstructured"][5] == "–"  # MACs come from the channel benchmark
    assert rows["pruned, unstructured"][7] == "1.00 → 1.30 (+0.30), beyond noise"


def test_exact_changes_leave_timings_out_and_timings_list_beyond_noise_first() -> None:
    head = _with({"pruned.test_accuracy_pct": 96.5, "pruned.latency_p50_ms": 2.05, "comparison.latency_p50_speedup_x": 1.3,
                  "training.dense_epoch_median_s": 3.5})  # the bench's own ratio and quartiles unchanged: 1.3 is beyond them
    exact = exact_changes_table(flatten(RUN), head)
    assert exact[2:] == ["| pruned.test_accuracy_pct | 97.0 | 96.5 | -0.5 (-0.5 %) |"]
    assert exact_changes_table(flatten(RUN), flatten(RUN)) == []
    summary, rows = timings_section(flatten(RUN), head)
    assert summary.startswith("3 timing fields changed: 1 beyond the noise the runs measured themselves, 1 within it, "
                              "1 without a noise measure")
    assert [row.split("|")[1].strip() for row in rows[2:]] == [
        "comparison.latency_p50_speedup_x", "pruned.latency_p50_ms", "training.dense_epoch_median_s"]


def test_show_prints_the_headline_of_one_run_with_its_benchmark_setting() -> None:
    from pruneflow.report.headline import format_headline

    lines = format_headline(RUN).splitlines()
    assert lines[0] == ("Headline: float TFLite, p50 at batch 1 (48 px, 1 thread), every model in one interleaved benchmark "
                        "(channel_bench stage)")
    assert lines[1].split()[:3] == ["model", "test", "accuracy"]
    assert lines[3].split("  ")[0] == "pruned, unstructured"
    # each pruned model's speed-up with the paired rounds' quartiles it is the median of
    assert lines[2].endswith("1.00x")
    assert lines[3].endswith("1.00x (paired rounds' quartiles 0.90–1.10x)")
    assert lines[4].endswith("2.80x (paired rounds' quartiles 2.70–2.90x)")
    macs = [re.search(r"(\d+\.\d+) +\d+\.\d{3} +\d+\.\d+x", line).group(1) for line in lines[2:]]
    assert macs == ["1.00", "1.00", "0.30"]  # MACs (M), before p50 ms and the speed-up
    assert format_headline({"setup": {}}) == ""
