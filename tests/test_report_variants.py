"""The report's deployment, sparse-encoding and sweep sentences and the printed differences, computed
from hand-made numbers (the built report itself: tests/test_report_build.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from pruneflow.artifacts.results import VARYING_FIELDS
from pruneflow.report.sweep import SWEEP_COLUMNS, rerun_sentence, sweep_sentences
from pruneflow.report.variants import deployment_sentences
from tests.helpers_report import _deploy_metrics, _sentence


def test_deployment_sentences_check_both_goals_and_separate_format_from_pruning() -> None:
    short = deployment_sentences(_deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=2.0, int8_vs_same=1.0))
    size = _sentence(short, "Smallest pruned file within 1 pt")
    # dense Keras gzip 4,100 B: int8 at 410 B is 10x (short of 13x by 1.3x) and beats sparse_int8's 8.2x
    assert "pruned.int8, 410 bytes" in size and "10.00x" in size and "falls short of (by 1.30x) the 13x goal" in size
    speed = _sentence(short, "Fastest pruned variant at batch 1 (threads 1): pruned.int8")
    assert "2.00x — it meets the 1.3x goal" in speed and "the gain comes from the format, not from pruning" in speed
    assert any(s.startswith("pruned.sparse_int8: XNNPACK refused the file") for s in short)

    met = deployment_sentences(_deploy_metrics(int8_gzip=250, int8_acc=97.5, int8_speed=1.2, int8_vs_same=1.5))
    assert "16.40x smaller" in _sentence(met, "Smallest pruned file") and "it meets the 13x goal" in _sentence(met, "Smallest")
    assert "1.20x — it misses the 1.3x goal" in _sentence(met, "Fastest pruned variant")
    # too inaccurate: a variant more than 1 pt below the dense model never counts toward the size goal
    lossy = deployment_sentences(_deploy_metrics(int8_gzip=100, int8_acc=96.0, int8_speed=2.0, int8_vs_same=1.0))
    assert "pruned.sparse" in _sentence(lossy, "Smallest pruned file") and "41.00x" not in _sentence(lossy, "Smallest")


def test_variant_table_has_a_row_per_variant_with_speedups_from_the_bench() -> None:
    from pruneflow.evaluation.tables import variant_rows

    rows = variant_rows(_deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=2.0, int8_vs_same=1.0)).set_index("variant")
    assert list(rows.index[:2]) == ["dense.float", "dense.int8"]
    assert rows.loc["pruned.int8", "speed-up t1"] == "2.00x" and rows.loc["pruned.int8", "vs dense same format t1"] == "1.00x"
    assert rows.loc["dense.float", "speed-up t1"] == "1.00x" and rows.loc["pruned.int8", "gzip bytes"] == "410"
    # without per-image comparisons (a run from before them) the difference from dense in the same format, alone
    assert rows.loc["pruned.int8", "vs dense same format pts [95 % CI] p"] == "-0.5"
    assert rows.loc["dense.int8", "vs dense same format pts [95 % CI] p"] == "reference"
    assert rows.loc["pruned.sparse_int8", "runtime"] == "built-in kernels"


@pytest.mark.parametrize(("sparse_ms", "speed"), [
    (0.7, "and runs 1.43x faster than the same pruned model dense-encoded."),
    (1.02, "and runs at 0.98x the speed of the same pruned model dense-encoded: no measurable speed change (inside "
           "the ±10 % run-to-run noise); XNNPACK densifies the weights when it loads the file"),
    (1.5, "and runs 1.50x slower than the same pruned model dense-encoded."),
])
def test_sparse_encoding_verdict_follows_the_measured_latency_ratio(sparse_ms: float, speed: str) -> None:
    metrics = _deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=2.0, int8_vs_same=1.0)
    metrics["variants"]["pruned.sparse"]["threads_1"]["batch1_p50_ms"] = sparse_ms  # pruned.float: 1.0 ms
    sentence = _sentence(deployment_sentences(metrics), "Sparse encoding:")
    assert "4,000 bytes raw vs 4,400 bytes dense-encoded (1.10x smaller)" in sentence and speed in sentence
    assert ("densifies" in sentence) == (sparse_ms == 1.02)  # the why only where no speed change was measured


def test_sparse_encoding_gives_no_xnnpack_reason_for_a_file_xnnpack_refused() -> None:
    metrics = _deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=2.0, int8_vs_same=1.0)
    metrics["variants"]["pruned.sparse"]["delegate"] = "builtin (XNNPACK refused: failed to delegate)"
    sentence = _sentence(deployment_sentences(metrics), "Sparse encoding:")
    assert "no measurable speed change" in sentence and "densifies" not in sentence


@pytest.mark.parametrize(("int8_speed", "int8_vs_same", "cause"), [
    (2.0, 1.5, "so pruning itself made it faster"),
    (2.0, 0.8, "so pruning itself made it slower"),
    (1.02, 1.0, "so neither the format nor pruning changed the speed measurably"),
])
def test_fastest_variant_sentence_attributes_the_speed_within_the_latency_noise(
        int8_speed: float, int8_vs_same: float, cause: str) -> None:
    sentences = deployment_sentences(_deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=int8_speed,
                                                     int8_vs_same=int8_vs_same))
    assert cause in _sentence(sentences, "Fastest pruned variant at batch 1 (threads 1): pruned.int8")


def _tiny_sweep() -> pd.DataFrame:
    rows = [("dense", "dense", 0.0, 98.0), ("0.5-polynomial", "uniform", 0.5, 97.8)]
    table = pd.DataFrame(rows, columns=["point", "kind", "target_sparsity", "test_accuracy_pct"])
    return table.assign(schedule="polynomial", accuracy_change_pts=table["test_accuracy_pct"] - 98.0,
                        tflite_gzip_bytes=[9000, 5000], gzip_bound_bytes=[9500, 4800], int8_tflite_gzip_bytes=[2500, 1700],
                        gzip_ratio_x=[1.0, 1.8], sparsity_prunable_pct=[0.0, 50.0])


def test_rerun_sentence_claims_exact_repeats_only_as_metrics_json_states_them() -> None:
    stated = rerun_sentence({"varies_run_to_run": list(VARYING_FIELDS)}, SWEEP_COLUMNS)
    assert stated.startswith("A rerun with the same params and data on the same machine repeats every column exactly "
                             "except float p50 ms and int8 p50 ms, which vary run to run")
    nothing_varies = rerun_sentence({"varies_run_to_run": []}, SWEEP_COLUMNS)
    assert "repeats every column exactly (metrics.json: reproducibility)" in nothing_varies and "except" not in nothing_varies
    unstated = rerun_sentence(None, SWEEP_COLUMNS)
    assert unstated.startswith("Float p50 ms and int8 p50 ms are wall-clock timings that vary run to run; this run's "
                               "metrics.json has no reproducibility statement, so no column is claimed to repeat exactly")
    assert "repeats every column" not in unstated and "except" not in unstated


def test_sweep_sentences_take_the_rerun_claim_from_the_metrics_reproducibility_entry() -> None:
    def rerun(reproducibility: dict | None) -> str:
        return _sentence(sweep_sentences(_tiny_sweep(), 1.0, 500, reproducibility), "One test image is 0.20 points here.")

    assert "except float p50 ms and int8 p50 ms" in rerun({"varies_run_to_run": ["*_ms"]})
    assert "except int8 p50 ms, which vary" in rerun({"varies_run_to_run": ["int8_p50_ms"]})
    assert "except int8 accuracy %, int8 gzip kB and int8 p50 ms, which vary" in rerun({"varies_run_to_run": ["int8_*"]})
    assert "no reproducibility statement" in rerun(None)
    assert all("exactly (deterministic training)" not in rerun(r) for r in (None, {"varies_run_to_run": []}))


def test_every_accuracy_difference_make_show_prints_carries_its_paired_ci_and_mcnemar_p() -> None:
    from pruneflow.evaluation.tables import channel_rows, comparison_rows, variant_rows

    # the hand count: 8 images lost, 4 won on 500 → −0.8 pt, bootstrap CI −2.2 to +0.6, exact p 0.39
    entry = {"diff_pts": -0.8, "ci_low_pts": -2.2, "ci_high_pts": 0.6, "p_value": 0.3877}
    m = _deploy_metrics(int8_gzip=410, int8_acc=97.5, int8_speed=2.0, int8_vs_same=1.0)
    m["significance"] = {"against_dense": {"pruned": entry, "pruned.float": entry, "pruned.int8": entry}}
    variants = variant_rows(m).set_index("variant")["vs dense same format pts [95 % CI] p"]
    assert variants["pruned.int8"] == "-0.8 [-2.2, +0.6] p=0.39"
    assert variants["pruned.sparse"] == ""  # no dense model in that format: nothing to compare it with
    table = comparison_rows(m).set_index("metric")["pruned vs dense"]
    assert table["test accuracy (Keras) %"] == table["test accuracy (TFLite) %"] == "-0.8 [-2.2, +0.6] p=0.39"
    channels = {"dense": {"test_accuracy_pct": 98.0}, "unstructured": {"test_accuracy_pct": 97.2}}
    for r in channels.values():
        r.update(int8_test_accuracy_pct=97.0, macs=1e6, params=10, tflite_bytes=1, tflite_gzip_bytes=1,
                 int8_tflite_bytes=1, int8_tflite_gzip_bytes=1)
    rows = channel_rows(channels, m["significance"]).set_index("model")["vs dense pts [95 % CI] p"]
    assert (rows["dense"], rows["unstructured"]) == ("reference", "-0.8 [-2.2, +0.6] p=0.39")
