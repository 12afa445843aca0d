"""The report's sentences, computed from hand-made numbers and params (the built report itself:
tests/test_report_build.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from pruneflow.config.params import parse_config
from pruneflow.config.prune import PruneConfig
from pruneflow.deploy.compression import binary_entropy, gzip_bound_x
from pruneflow.evaluation.metrics import compare
from pruneflow.models.schedule import FineTune
from pruneflow.report.figures import pruning_schedule_figure, size_figure
from pruneflow.report.method import pruning_sentence, schedule_label, sensitivity_note, target_sparsity
from pruneflow.report.sentences import explanation, layer_summary
from tests.helpers_report import LAYERS, _metrics, _sentence


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
