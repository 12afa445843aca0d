"""The report's sentences, computed from hand-made numbers and params (the built report itself:
tests/test_report_build.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from pruneflow.artifacts.results import VARYING_FIELDS
from pruneflow.config.params import parse_config
from pruneflow.config.prune import PruneConfig
from pruneflow.deploy.compression import binary_entropy, gzip_bound_x
from pruneflow.evaluation.metrics import compare
from pruneflow.models.schedule import FineTune
from pruneflow.report.figures import pruning_schedule_figure, size_figure
from pruneflow.report.method import pruning_sentence, schedule_label, sensitivity_note, target_sparsity
from pruneflow.report.sentences import explanation, layer_summary
from pruneflow.report.sweep import SWEEP_COLUMNS, rerun_sentence, sweep_sentences
from pruneflow.report.variants import deployment_sentences


def _side(acc: float, sparsity: float, raw: int, gz: int, ms: float) -> dict:
    return {
        "test_accuracy_pct": acc, "tflite_test_accuracy_pct": acc, "test_loss": 0.1,
        "sparsity_prunable_pct": sparsity, "sparsity_all_weights_pct": sparsity * 0.9,
        "params": 1000, "nonzero_params": round(1000 * (1 - sparsity * 0.009)),
        "size_keras_bytes": raw + 500, "size_keras_gzip_bytes": gz + 400, "size_tflite_bytes": raw,
        "size_tflite_gzip_bytes": gz, "latency_p50_ms": ms, "latency_p95_ms": 1.2 * ms,
    }


def _metrics(pruned_acc: float = 97.0, pruned_ms: float = 1.0) -> dict:
    dense, pruned = _side(98.0, 0.0, 4000, 3700, 1.0), _side(pruned_acc, 80.0, 4000, 1100, pruned_ms)
    pruned.update(size_keras_unstripped_bytes=12_000, size_keras_unstripped_gzip_bytes=3_000)
    return {"dense": dense, "pruned": pruned, "comparison": compare(dense, pruned),
            "setup": {"test_samples": 500},
            "training": {"dense_epoch_median_s": 10.0, "prune_epoch_median_s": 12.0, "prune_over_dense_epoch_time_x": 1.2}}


LAYERS = pd.DataFrame([
    {"layer": "conv_small", "type": "Conv2D", "weight": "kernel", "params": 100, "zeros": 80, "sparsity_pct": 80.0, "model": "pruned"},
    {"layer": "conv_big", "type": "Conv2D", "weight": "kernel", "params": 600, "zeros": 480, "sparsity_pct": 80.0, "model": "pruned"},
    {"layer": "head", "type": "Dense", "weight": "kernel", "params": 200, "zeros": 158, "sparsity_pct": 79.0, "model": "pruned"},
    {"layer": "conv_big", "type": "Conv2D", "weight": "kernel", "params": 600, "zeros": 0, "sparsity_pct": 0.0, "model": "dense"},
])


def _sentence(sentences: list[str], start: str) -> str:
    return next(s for s in sentences if s.startswith(start))


def test_gzip_bound_is_one_without_zeros_and_matches_the_formula_at_80_percent() -> None:
    assert binary_entropy(0.0) == 0.0 and binary_entropy(0.5) == pytest.approx(1.0)
    assert gzip_bound_x(0.0) == pytest.approx(1.0)
    assert gzip_bound_x(0.8) == pytest.approx(32 / (0.2 * 32 + 0.7219281), rel=1e-6)
    assert gzip_bound_x(0.9) > gzip_bound_x(0.8) > gzip_bound_x(0.5) > 1.0


def test_bound_sentence_uses_the_measured_sparsity_and_the_achieved_ratio() -> None:
    metrics = _metrics()
    metrics["pruned"]["size_tflite_gzip_bytes"] = 1400
    bound = _sentence(explanation(metrics, LAYERS), "Bound:")
    s = 0.72  # sparsity_all_weights_pct of the pruned side
    assert f"s = {100 * s:.1f} %" in bound
    assert f"32 / {(1 - s) * 32 + binary_entropy(s):.2f} = {gzip_bound_x(s):.2f}×" in bound
    achieved = 4000 / 1400
    assert f"gzip reaches {achieved:.2f}×" in bound and f"{100 * achieved / gzip_bound_x(s):.0f} % of the bound" in bound


def test_bound_sentence_says_why_gzip_can_beat_the_bound() -> None:
    bound = _sentence(explanation(_metrics(), LAYERS), "Bound:")  # 4000 / 1100 = 3.64× > 3.24×
    assert "gzip reaches 3.64×" in bound and "above the bound" in bound and "shrinks the dense file 1.08×" in bound


def test_accuracy_sentence_says_cost_or_gain_with_the_number_of_test_images() -> None:
    cost = _sentence(explanation(_metrics(pruned_acc=97.0), LAYERS), "Accuracy:")
    assert "cost 1.0 pts" in cost and "5 of 500 test images" in cost
    gain = _sentence(explanation(_metrics(pruned_acc=98.4), LAYERS), "Accuracy:")
    assert "gained 0.4 pts" in gain and "2 of 500 test images" in gain


@pytest.mark.parametrize(("pruned_ms", "verdict"), [
    (0.5, "the pruned model is faster (2.00× at p50)"),
    (1.03, "no measurable difference (0.97×"),
    (2.0, "the pruned model is slower (2.00× the dense p50)"),
])
def test_latency_verdict_follows_the_measured_speedup(pruned_ms: float, verdict: str) -> None:
    assert verdict in _sentence(explanation(_metrics(pruned_ms=pruned_ms), LAYERS), "Latency:")


def test_unstripped_and_raw_size_sentences_cite_the_file_sizes() -> None:
    sentences = explanation(_metrics(), LAYERS)
    raw = _sentence(sentences, "Uncompressed")
    assert "no smaller" in raw and "TFLite 4,000 bytes vs 4,000 bytes (1.00×)" in raw
    unstripped = _sentence(sentences, "Not stripped")
    assert "12,000 bytes, 2.67× the dense file" in unstripped  # 12,000 / 4,500
    # 12,000 − 4,500 stripped = 7,500 extra bytes against 900 pruned weights × 4 bytes
    assert "7,500 extra bytes are 2.08× the 3,600 bytes of the pruned kernels" in unstripped


def test_layer_sentence_names_the_layers_that_keep_the_most_weights() -> None:
    table = layer_summary(LAYERS)
    assert list(table["layer"]) == ["conv_big", "head", "conv_small"]  # pruned rows only, most nonzero first
    assert table["share_of_remaining_pct"].sum() == pytest.approx(100.0)
    where = _sentence(explanation(_metrics(), LAYERS), "Where the weights are:")
    assert where.index("conv_big") < where.index("head") < where.index("conv_small")
    assert "uniform (79.0–80.0 % per layer across 3 pruned Conv2D/Dense layers), so the biggest layers keep the most" in where


def test_where_sentence_counts_only_layers_that_were_pruned_when_the_scope_is_the_head() -> None:
    head_only = LAYERS.assign(zeros=[0, 0, 158, 0], sparsity_pct=[0.0, 0.0, 79.0, 0.0])  # convs kept every weight
    where = _sentence(explanation(_metrics(), head_only), "Where the weights are:")
    assert "(79.0–79.0 % per layer across 1 pruned Dense layers; 2 more prunable layers kept every weight)" in where
    assert "Conv2D/Dense" not in where and "biggest layers keep the most" not in where


def test_compression_sentence_credits_the_zeros_only_when_the_pruned_file_gzips_better() -> None:
    pays = _sentence(explanation(_metrics(), LAYERS), "Compression")  # 4000/1100 = 3.64x vs 4000/3700 = 1.08x
    assert pays.startswith("Compression is where the zeros pay: gzip shrinks the pruned TFLite file 3.64× but the dense one only 1.08×")
    metrics = _metrics()
    metrics["pruned"]["size_tflite_gzip_bytes"] = 3650  # 1.10x: within 5 % of the dense file's 1.08x
    metrics["comparison"] = compare(metrics["dense"], metrics["pruned"])
    same = _sentence(explanation(metrics, LAYERS), "Compression")
    assert same.startswith("Compression does not tell the two apart: gzip shrinks the pruned TFLite file 1.10× and the dense one 1.08×")
    assert "zeros pay" not in same


def test_size_figure_claims_only_compressed_files_shrink_only_when_the_ratios_show_it() -> None:
    assert size_figure(_metrics()).axes[0].get_title() == "File size: only stripped + compressed files shrink"
    metrics = _metrics()
    metrics["pruned"].update(size_tflite_gzip_bytes=3700, size_keras_gzip_bytes=4100)  # gzip no better than dense
    assert size_figure(metrics).axes[0].get_title() == "File size, dense vs stripped pruned, raw and gzip"


# ----------------------------------------------------------------------------- params → sentences

STEPS = pd.DataFrame({"step": [1, 20, 40, 60], "sparsity": [0.0, 0.5, 0.5, 0.9], "loss": [0.3, 0.4, 0.35, 0.3]})
PLAN = FineTune(steps_per_epoch=15, epochs=8, begin_step=0, end_step=60, frequency=20)  # 120 steps


def test_pruning_sentence_names_the_configured_schedule_and_its_steps() -> None:
    polynomial = pruning_sentence(PruneConfig(), STEPS, PLAN)
    assert ("a PolynomialDecay schedule from 0 % to 90 % sparsity from step 0 to step 60 of 120 (prune.begin 0, "
            "prune.end 0.5 of the fine-tune, on a mask update), masks updated every 20 steps (derived: prune.frequency "
            "null) (target 90 % reached at step 60 of 120); fine-tuned 8 epochs of 15 steps") in polynomial
    assert "ConstantSparsity" not in polynomial
    plan = FineTune(steps_per_epoch=15, epochs=4, begin_step=20, end_step=40, frequency=10)
    constant = pruning_sentence(PruneConfig(schedule="constant", begin=0.2, end=0.4, frequency=10), STEPS, plan)
    assert ("a ConstantSparsity schedule at 90 % sparsity from step 20 to step 40 of 60 (prune.begin 0.2, prune.end 0.4 "
            "of the fine-tune, on a mask update), masks recomputed every 10 steps (target") in constant
    assert "olynomial" not in constant.lower()


def test_schedule_figure_title_and_target_line_follow_the_schedule_and_structure() -> None:
    constant = pruning_schedule_figure(STEPS, 0.9, schedule_label(PruneConfig(schedule="constant")))
    assert constant.axes[0].get_title() == "Pruning schedule (ConstantSparsity) and the loss it costs"
    structured = PruneConfig(sparsity_m_by_n=(2, 4))
    assert schedule_label(structured) == "2:4 structured, PolynomialDecay" and target_sparsity(structured) == 0.5
    figure = pruning_schedule_figure(STEPS, target_sparsity(structured), schedule_label(structured))
    target = next(line for line in figure.axes[0].get_lines() if line.get_label() == "target")
    assert list(target.get_ydata()) == [50.0, 50.0]


@pytest.mark.parametrize(("prune", "says", "not_says"), [
    ({}, "on every layer tfmot can prune (prune.scope all)", "Dense layers only"),
    ({"scope": "head"}, "on the Dense layers only (prune.scope head)", "every layer"),
    ({"policy": "xnnpack"}, "on the 1x1 convolutions only, as tfmot's PruneForLatencyOnXNNPack policy picks them", "every layer"),
    ({"sparsity_m_by_n": (2, 4)}, "on every Conv2D (not depthwise) and Dense layer tfmot can prune (prune.scope all); "
     "structured 2:4 sparsity (2 zeros in every 4 consecutive input-channel weights, 50 % of each pruned kernel)", "90 %"),
])
def test_pruning_sentence_words_the_layers_from_scope_policy_and_structure(prune: dict, says: str, not_says: str) -> None:
    sentence = pruning_sentence(PruneConfig(**prune), STEPS, PLAN)
    assert says in sentence and not_says not in sentence


def test_pruning_sentence_measures_n_by_m_against_m_over_n_not_the_final_sparsity() -> None:
    early = STEPS.assign(sparsity=[0.0, 0.5, 0.5, 0.5])
    assert "(target 50 % reached at step 20 of 120)" in pruning_sentence(PruneConfig(sparsity_m_by_n=(2, 4)), early, PLAN)
    assert "(target 90 % not reached: the last logged mask sparsity is 50.0 %)" in pruning_sentence(PruneConfig(), early, PLAN)


def test_sensitivity_note_follows_the_unit_and_whether_targets_are_derived() -> None:
    base = {"sweep": {"sparsities": [0.5, 0.8]}}
    derived = sensitivity_note(parse_config(base))
    assert "each block (sensitivity.unit) is pruned alone to each of 0.5, 0.7, 0.8, 0.9, 0.95, 0.98 sparsity" in derived
    assert "less sensitive blocks more sparsity at the same overall sparsity 0.9, no layer above 0.98 (sweep_derived)" in derived
    plain = sensitivity_note(parse_config({**base, "sensitivity": {"unit": "layer", "derive": False, "sparsities": [0.5]},
                                           "paths": {"sensitivity": "out/scan.csv"}}))
    assert "each layer (sensitivity.unit) is pruned alone to each of 0.5 sparsity" in plain
    assert "(out/scan.csv); no per-layer targets were derived (sensitivity.derive false)" in plain


def _variant(acc: float, gzip_bytes: int, p50: float, vs_float: float | None, vs_same: float | None,
             delegate: str = "xnnpack") -> dict:
    stats = {"batch1_p50_ms": p50, "batch1_p95_ms": 1.2 * p50, "throughput_batch32_images_per_s": 1000 / p50}
    if vs_float is not None:
        stats["batch1_vs_dense_float_x"] = vs_float
    if vs_same is not None:
        stats["batch1_vs_dense_same_format_x"] = vs_same
    return {"test_accuracy_pct": acc, "size_bytes": 4 * gzip_bytes, "size_gzip_bytes": gzip_bytes,
            "weights_sparsity_pct": 80.0, "weights_sparse_encoded_tensors": 0, "delegate": delegate,
            "gzip_ratio_vs_dense_keras_x": 4100 / gzip_bytes, "threads_1": stats}


def _deploy_metrics(int8_gzip: int, int8_acc: float, int8_speed: float, int8_vs_same: float) -> dict:
    m = _metrics()
    m["variants"] = {
        "dense.float": _variant(98.0, 3700, 1.0, None, None),
        "dense.int8": _variant(98.0, 1000, 1.0 / int8_speed, int8_speed, None),
        "pruned.float": _variant(97.5, 1100, 1.0, 1.0, 1.0),
        "pruned.sparse": _variant(97.5, 1000, 1.0, 1.0, 1.0),
        "pruned.int8": _variant(int8_acc, int8_gzip, 1.0 / int8_speed, int8_speed, int8_vs_same),
        "pruned.sparse_int8": _variant(int8_acc, 500, 3.0, 0.33, 0.3, delegate="builtin (XNNPACK refused: failed to delegate)"),
    }
    return m


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
