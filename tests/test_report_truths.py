"""Every sentence from the model's own facts (issue 33): the title names the model the run used, a
speed-up is never printed outside the interval printed beside it, a pair measured by two benchmarks is
labelled with each benchmark and its spread, and a step count is counted against the plan's steps."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pruneflow.config.params import parse_config
from pruneflow.config.prune import PruneConfig
from pruneflow.evaluation.metrics import compare, speedup_spread
from pruneflow.evaluation.tables import comparison_rows
from pruneflow.models.schedule import FineTune
from pruneflow.report.channels import speed_sentences
from pruneflow.report.headline import format_headline
from pruneflow.report.method import pruning_sentence
from pruneflow.report.render import Document, render_html, render_markdown, report_title
from pruneflow.report.sentences import explanation
from pruneflow.stats.noise import noise_band

pytestmark = pytest.mark.timeout(60)

# Per-round times (ms) whose ratio of medians, 4 / 3 = 1.33x, lies above the per-round ratios'
# quartiles 0.50–1.25x (median 1.00x): the shape behind "1.13x (paired rounds' quartiles 1.00–1.04x)".
DENSE_MS, CHANNEL_MS = np.array([4.0, 5.0, 1.0, 4.0, 1.0]), np.array([3.0, 4.0, 2.0, 4.0, 3.0])
OUTSIDE = {"x": 4 / 3, "median": 1.0, "q25": 0.5, "q75": 1.25}

# A printed value with the interval printed right after it: `1.33x (paired rounds' quartiles 0.50–1.25x)`,
# `1.33x (bench stage, threads 1; paired rounds' quartiles …)` or a table cell `1.33x [0.50–1.25]`.
_WITH_INTERVAL = (re.compile(r"(\d+\.\d+)x \((?:bench stage, threads \d+; )?paired rounds' quartiles (\d+\.\d+)–(\d+\.\d+)x\)"),
                  re.compile(r"(\d+\.\d+)x \[(\d+\.\d+)–(\d+\.\d+)\]"))


def _printed_intervals(text: str) -> list[tuple[float, float, float]]:
    return [tuple(float(g) for g in m.groups()) for pattern in _WITH_INTERVAL for m in pattern.finditer(text)]


def _assert_each_value_inside_its_interval(text: str, at_least: int) -> None:
    found = _printed_intervals(text)
    assert len(found) >= at_least, text
    assert all(low <= value <= high for value, low, high in found), found


# ----------------------------------------------------------------------------- the title


@pytest.mark.parametrize(("model", "says"), [
    ({"architecture": "toy"}, "toy architecture"),
    ({"architecture": "EfficientNetB0"}, "EfficientNetB0"),
    ({"file": "models/own/my_net.keras"}, "my_net.keras (adopted model)"),
])
def test_report_title_names_the_runs_own_model_not_mobilenet(model: dict, says: str) -> None:
    title = report_title(parse_config({"model": model}))
    assert says in title and "MobileNet" not in title
    document = Document(title, [])
    assert render_markdown(document, "figures").splitlines()[0] == f"# {title}"
    assert f"<h1>{title}</h1>" in render_html(document)


def test_report_title_names_mobilenet_v2_for_the_default_model() -> None:
    assert report_title(parse_config({})).endswith("magnitude-pruned MobileNetV2")


# ----------------------------------------------------------------------------- a value inside its interval


def test_channel_speedup_is_the_paired_median_so_its_quartiles_hold_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from pruneflow.evaluation import channel_bench

    class Runner:
        def __init__(self, *args: object) -> None: ...
        def prepare(self, x: np.ndarray) -> np.ndarray: return x
        def invoke(self, x: np.ndarray) -> None: ...

    monkeypatch.setattr(channel_bench, "TFLiteRunner", Runner)
    monkeypatch.setattr(channel_bench, "interleaved_ms", lambda calls, *a, **k: {
        "dense.float": DENSE_MS, "channel.float": CHANNEL_MS})
    files = {"dense": {"float": Path("d.tflite")}, "channel": {"float": Path("c.tflite")}}
    entry = channel_bench.latency(files, np.zeros((4, 4, 3)), 1, 0, len(DENSE_MS), 0)["channel.float"]
    assert entry["speedup_vs_dense_same_format_x"] == pytest.approx(OUTSIDE["median"])
    assert entry["speedup_paired_q25_x"] <= entry["speedup_vs_dense_same_format_x"] <= entry["speedup_paired_q75_x"]


def test_a_ratio_of_medians_outside_the_quartiles_is_named_as_a_different_statistic() -> None:
    inside = speedup_spread(1.02, 1.00, 1.04)
    assert inside == " (paired rounds' quartiles 1.00–1.04x)"
    outside = speedup_spread(OUTSIDE["x"], OUTSIDE["q25"], OUTSIDE["q75"], OUTSIDE["median"])
    assert "ratio of medians" in outside and "median 1.00x" in outside
    _assert_each_value_inside_its_interval(f"1.02x{inside} 1.33x{outside}", at_least=1)


def _channel_table(x: float, q25: float, q75: float) -> dict:
    timing = lambda p50, gain: {"p50_ms": p50, "speedup_vs_dense_same_format_x": gain,  # noqa: E731
                                "speedup_paired_q25_x": q25 * gain / x, "speedup_paired_q75_x": q75 * gain / x}
    return {"models": {"dense": {"macs": 3e6}, "channel": {"macs": 1e6}},
            "setup": {"sides_px": [48], "threads": [1]},
            "latency": {"48px_threads_1": {"dense.float": timing(2.0, 1.0), "dense.int8": timing(1.0, 1.0),
                                           "channel.float": timing(2.0 / x, x), "channel.int8": timing(1.0 / x, x)}}}


def test_channel_speed_sentences_never_print_a_speedup_outside_its_quartiles() -> None:
    (consistent,) = speed_sentences(_channel_table(2.4, 2.3, 2.5))
    _assert_each_value_inside_its_interval(consistent, at_least=2)
    (old,) = speed_sentences(_channel_table(OUTSIDE["x"], OUTSIDE["q25"], OUTSIDE["q75"]))  # a table from before the fix
    _assert_each_value_inside_its_interval(old, at_least=0)
    assert "speed-up 1.33x (a ratio of medians" in old


def test_noise_band_of_a_ratio_of_medians_always_holds_the_ratio() -> None:
    v = "variants.pruned.float.threads_1.batch1_vs_dense_float"
    flat = {"comparison.latency_p50_speedup_x": OUTSIDE["x"], f"{v}_x": OUTSIDE["x"],
            f"{v}_paired_median_x": OUTSIDE["median"], f"{v}_paired_q25_x": OUTSIDE["q25"],
            f"{v}_paired_q75_x": OUTSIDE["q75"]}
    low, high = noise_band("comparison.latency_p50_speedup_x", flat)
    assert low <= OUTSIDE["x"] <= high
    assert (low, high) == pytest.approx((OUTSIDE["x"] - 0.5, OUTSIDE["x"] + 0.25))  # the median's distances


# ----------------------------------------------------------------------------- one pair, two benchmarks


def _side(ms: float) -> dict:
    return {"test_accuracy_pct": 97.0, "tflite_test_accuracy_pct": 97.0, "test_loss": 0.1, "sparsity_prunable_pct": 80.0,
            "sparsity_all_weights_pct": 72.0, "params": 1000, "nonzero_params": 300, "size_keras_bytes": 4500,
            "size_keras_gzip_bytes": 4100, "size_tflite_bytes": 4000, "size_tflite_gzip_bytes": 1100,
            "latency_p50_ms": ms, "latency_p95_ms": 1.2 * ms}


def _metrics(q25: float, q75: float) -> dict:
    """Bench: pruned float 1.00 / 0.80 = 1.25x; channel_bench: the same pair 0.95x [0.90–1.00]."""
    dense, pruned = _side(1.0), _side(0.8)
    bench = {"batch1_vs_dense_float_x": 1.25, "batch1_vs_dense_float_paired_median_x": (q25 + q75) / 2,
             "batch1_vs_dense_float_paired_q25_x": q25, "batch1_vs_dense_float_paired_q75_x": q75}
    s = "48px_threads_1"
    channel = lambda ms, x: {"test_accuracy_pct": 97.0, f"float_p50_{s}_ms": ms, f"float_speedup_{s}_x": x,  # noqa: E731
                             f"float_speedup_paired_q25_{s}_x": x - 0.05, f"float_speedup_paired_q75_{s}_x": x + 0.05}
    return {"dense": dense, "pruned": pruned, "comparison": compare(dense, pruned), "data": {"image_size": 48},
            "setup": {"test_samples": 500, "latency_threads": 1},
            "variants": {"pruned.float": {"threads_1": bench}},
            "channels": {"dense": channel(1.0, 1.0), "unstructured": channel(1.05, 0.95)}}


LAYERS = pd.DataFrame([{"layer": "conv", "type": "Conv2D", "weight": "kernel", "params": 700, "zeros": 560,
                        "sparsity_pct": 80.0, "model": "pruned"}])


def test_latency_sentence_cites_the_tables_speedup_with_its_benchmark_and_spread() -> None:
    m = _metrics(1.20, 1.30)
    cell = comparison_rows(m).set_index("metric").loc["TFLite latency p50 ms", "pruned vs dense"]
    assert cell == "1.25x (bench stage, threads 1; paired rounds' quartiles 1.20–1.30x)"
    latency = next(s for s in explanation(m, LAYERS) if s.startswith("Latency:"))
    assert "faster (1.25× at p50); bench stage, threads 1 (paired rounds' quartiles 1.20–1.30x)" in latency
    _assert_each_value_inside_its_interval(f"{cell} {latency}", at_least=1)
    skewed = _metrics(1.00, 1.04)  # the bench's ratio of medians above its rounds' quartiles
    text = comparison_rows(skewed).to_string() + " ".join(explanation(skewed, LAYERS))
    _assert_each_value_inside_its_interval(text, at_least=0)
    assert "a ratio of medians; the paired rounds' ratios have median 1.02x, quartiles 1.00–1.04x" in text


def test_show_labels_each_benchmarks_speedup_of_the_same_pair_with_its_spread() -> None:
    m = _metrics(1.20, 1.30)
    headline = format_headline(m)
    assert "(channel_bench stage)" in headline.splitlines()[0]
    unstructured = next(line for line in headline.splitlines() if line.startswith("pruned, unstructured"))
    assert unstructured.endswith("0.95x (paired rounds' quartiles 0.90–1.00x)")
    table = comparison_rows(m).to_string()
    assert "1.25x (bench stage" in table
    _assert_each_value_inside_its_interval(headline + table, at_least=2)


# ----------------------------------------------------------------------------- step counts


def test_target_step_is_counted_against_the_plans_steps_like_the_schedule() -> None:
    plan = FineTune(steps_per_epoch=8, epochs=8, begin_step=0, end_step=60, frequency=20)  # 64 steps, logged to 60
    steps = pd.DataFrame({"step": [1, 20, 40, 60], "sparsity": [0.0, 0.5, 0.8, 0.9], "loss": [0.3] * 4})
    sentence = pruning_sentence(PruneConfig(), steps, plan)
    assert "to step 60 of 64" in sentence and "reached at step 60 of 64" in sentence
    assert not re.search(r"of (?!64\b)\d+ \(|step \d+ of 60\b", sentence)
