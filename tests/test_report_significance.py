"""The report's accuracy differences with their paired 95 % CI and exact McNemar p: every verdict met,
missed or "cannot tell with this test set", never a difference called real when its CI covers zero, the
test-set size that would resolve 0.5 pt, and the int8-collapse flag. The `significance` section is made
by `pruneflow.stats.differences.significance` from predictions built here (500 images). Nothing trains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pruneflow.report.change_words import NO_PAIRED, significance_blocks, significance_rows
from pruneflow.report.channels import baseline_sentence, goal_sentences, stacked_sentence
from pruneflow.report.render import Section, render_markdown
from pruneflow.report.sentences import explanation
from pruneflow.report.sweep import sweep_recommendation, sweep_sentences
from pruneflow.report.variants import deployment_sentences
from pruneflow.stats.differences import significance
from tests.helpers_report import LAYERS, _deploy_metrics, _metrics
from tests.test_report_channels import SIDE, _table

N, DENSE_RIGHT = 500, 488  # dense: 97.6 %, error 2.4 %
MAIN = "0.9-polynomial"  # the main prune's name in the sweep table; `pruned` in the section
# the issue's case: the pruned model loses 8 images dense gets and wins 4
TAIL = ("and wins 4: \u22120.8 pt (95 % CI \u22122.2 to +0.6, McNemar p = 0.39): not distinguishable from no change "
        "on 500 images")
ISSUE = f"loses 8 test images the dense one gets right {TAIL}"
AGAINST_DENSE = f"loses 8 test images dense gets right {TAIL}"


def _model(lost: int, won: int = 0) -> np.ndarray:
    """Predictions (class 0 right) that lose the first `lost` images dense gets and win `won` of its misses."""
    pred = np.where(np.arange(N) < DENSE_RIGHT, 0, 1)
    pred[:lost] = 1
    pred[DENSE_RIGHT:DENSE_RIGHT + won] = 0
    return pred


def _sig(**columns: np.ndarray) -> dict:
    dense = _model(0)
    table = {"actual": np.zeros(N, dtype=int), "dense": dense, "dense.float": dense, "dense.int8": dense, **columns}
    return significance(pd.DataFrame(table), budget_pts=1.0)


@pytest.fixture(scope="module")
def sig() -> dict:
    """A run in which: pruned is the issue's case (float file equal, int8 file the same images); the
    channel model loses 30 images (clearly more than 0.5 pt), the uniform-width baseline 26 (the two cannot
    be told apart); stacked is the issue's case; 0.5-polynomial equals dense, 0.95-polynomial loses 30 and
    its int8 file 36 more than its float one (a collapse); derived-0.9 equals pruned."""
    return _sig(pruned=_model(8, 4), **{"pruned.float": _model(0), "pruned.int8": _model(8, 4)},
                channel=_model(30), uniform_width=_model(26), stacked=_model(8, 4),
                **{"0.5-polynomial": _model(0), "0.95-polynomial": _model(30), "0.95-polynomial.float": _model(0),
                   "0.95-polynomial.int8": _model(36), "derived-0.9": _model(8, 4)})


def test_accuracy_sentence_gives_the_issues_paired_ci_and_calls_no_cost_inside_the_noise(sig: dict) -> None:
    metrics = {**_metrics(pruned_acc=97.2), "significance": sig}
    sentence = next(s for s in explanation(metrics, LAYERS) if s.startswith("Accuracy:"))
    assert f"on the same 500 test images the pruned model {ISSUE}" in sentence
    assert "prunable weights moved test accuracy 98.0 % → 97.2 %" in sentence and "cost" not in sentence
    old = next(s for s in explanation(_metrics(pruned_acc=97.2), LAYERS) if s.startswith("Accuracy:"))
    assert NO_PAIRED in old and "McNemar" not in old


def test_channel_goal_is_missed_for_a_loss_whose_whole_ci_lies_beyond_the_budget(sig: dict) -> None:
    goal = next(s for s in goal_sentences(_table(), SIDE, sig) if s.startswith("Goal: channel accuracy loss"))
    entry = sig["against_dense"]["channel"]
    assert entry["ci_high_pts"] < -0.5
    assert "the channel model loses 30 test images dense gets right and wins 0: \u22126.0 pt" in goal
    assert goal.endswith(f"— missed (the 95 % CI {entry['ci_low_pts']:+.1f} to {entry['ci_high_pts']:+.1f} pt lies "
                         "wholly below \u22120.5 pt).".replace("-", "\u2212"))


def test_stacked_goal_cannot_tell_when_the_ci_straddles_the_budget(sig: dict) -> None:
    goal = next(s for s in goal_sentences(_table(), SIDE, sig) if s.startswith("Goal: stacked"))
    assert f"(the stacked model {AGAINST_DENSE})" in goal
    # size met (30x), accuracy neither shown within 1 pt nor beyond it
    assert goal.endswith("— cannot tell with this test set (accuracy: the 95 % CI \u22122.2 to +0.6 pt straddles "
                         "\u22121 pt).")
    short = next(s for s in goal_sentences(_table(stacked_int8_gz=500_000), SIDE, sig) if s.startswith("Goal: stacked"))
    assert "— missed (2.00x short on size, accuracy: the 95 % CI \u22122.2 to +0.6 pt straddles" in short
    assert f"(-0.50 pts: the stacked model {AGAINST_DENSE})" in stacked_sentence(_table(), SIDE, sig)


def test_baseline_cannot_be_told_apart_when_the_ci_covers_zero_and_names_the_scratch_b_budget(sig: dict) -> None:
    table = _table()
    table["models"]["uniform_width"]["training_budget"] = {"rule": "scratch-b", "dense_epochs": 20,
                                                           "fine_tune_epochs": 5, "epochs": 25, "steps": 1250}
    sentence = baseline_sentence(table, sig)
    entry = sig["channel_vs_uniform_width"]
    assert entry["ci_low_pts"] < 0 < entry["ci_high_pts"] or not entry["differs"]
    assert ("channel pruning cannot be told apart from the from-scratch baseline trained for the same total steps "
            "(Scratch-B: 20 dense + 5 fine-tune epochs, 1,250 steps): the channel model loses 4 test images the "
            "baseline gets right and wins 0: \u22120.8 pt") in sentence
    assert "beat" not in sentence and "lost to" not in sentence


@pytest.mark.parametrize(("uniform_lost", "said"), [(60, "beat"), (0, "lost to")])
def test_baseline_is_beaten_or_lost_to_only_when_the_paired_difference_is_real(uniform_lost: int, said: str) -> None:
    sig = _sig(channel=_model(30), uniform_width=_model(uniform_lost))
    sentence = baseline_sentence(_table(), sig)
    assert sig["channel_vs_uniform_width"]["differs"]
    assert f"channel pruning {said} the from-scratch baseline (its training budget is not recorded" in sentence
    assert f"a real {'gain' if said == 'beat' else 'loss'}" in sentence


def _sweep(points: dict[str, float]) -> pd.DataFrame:
    rows = [{"point": "dense", "kind": "dense", "target_sparsity": 0.0, "schedule": "none", "test_accuracy_pct": 97.6}]
    rows += [{"point": point, "kind": "derived" if point.startswith("derived") else "uniform",
              "target_sparsity": float(point.split("-")[-1] if point.startswith("derived") else point.split("-")[0]),
              "schedule": "polynomial", "test_accuracy_pct": acc} for point, acc in points.items()]
    table = pd.DataFrame(rows)
    size = 1e6 * (1 - table["target_sparsity"]) + 1e4
    return table.assign(accuracy_change_pts=table["test_accuracy_pct"] - 97.6, tflite_gzip_bytes=size,
                        gzip_bound_bytes=0.8 * size, int8_tflite_gzip_bytes=size / 3, gzip_ratio_x=size[0] / size,
                        sparsity_prunable_pct=100 * table["target_sparsity"])


SWEEP = {"0.5-polynomial": 97.6, MAIN: 96.8, "0.95-polynomial": 91.6}


def test_sweep_recommends_the_highest_sparsity_whose_drop_is_met_not_a_point_estimate_within(sig: dict) -> None:
    sweep = _sweep(SWEEP)
    assert sweep_recommendation(sweep, 1.0)["point"] == MAIN  # −0.8 pt: within 1 pt as a point estimate
    assert sweep_recommendation(sweep, 1.0, sig, MAIN)["point"] == "0.5-polynomial"  # its CI reaches −2.2
    first = sweep_sentences(sweep, 1.0, N, None, sig, MAIN)[0]
    assert first.startswith("Recommended: 0.5-polynomial — its drop is met (rule: the highest-sparsity uniform point "
                            "whose whole paired 95 % CI against dense lies above \u22121 pt")
    assert (f"the next step up, {MAIN}, scores 96.8 % — cannot tell with this test set (the 95 % CI \u22122.2 to "
            "+0.6 pt straddles \u22121 pt)") in first


def test_sweep_without_a_met_point_names_the_unresolved_one_and_recommends_none(sig: dict) -> None:
    first = sweep_sentences(_sweep({MAIN: 96.8, "0.95-polynomial": 91.6}), 1.0, N, None, sig, MAIN)[0]
    assert first.startswith("No sweep point is shown to stay within the 1-point accuracy budget on 500 test images")
    assert (f"so none is recommended: the highest-sparsity point the test set cannot rule out, {MAIN} — cannot "
            f"tell with this test set (the 95 % CI \u22122.2 to +0.6 pt straddles \u22121 pt): 96.8 % test accuracy vs "
            f"97.6 % dense ({MAIN} {AGAINST_DENSE})") in first
    missed = sweep_sentences(_sweep({"0.95-polynomial": 91.6}), 1.0, N, None, sig, MAIN)[0]
    assert "every judged point missed it: the best, 0.95-polynomial — missed (the 95 % CI" in missed


def test_derived_targets_cannot_be_told_apart_from_uniform_without_a_real_difference(sig: dict) -> None:
    sentences = sweep_sentences(_sweep({**SWEEP, "derived-0.9": 97.0}), 1.0, N, None, sig, MAIN)
    derived = next(s for s in sentences if s.startswith("Sensitivity-derived"))
    assert "— cannot be told apart from uniform;" in derived and "better than" not in derived
    assert "derived loses 0 test images uniform gets right and wins 0: 0.0 pt" in derived


def test_smallest_file_within_the_goal_is_one_whose_drop_is_met_and_a_smaller_unresolved_one_is_named(sig: dict) -> None:
    metrics = {**_deploy_metrics(int8_gzip=410, int8_acc=96.8, int8_speed=2.0, int8_vs_same=1.0), "significance": sig}
    size = next(s for s in deployment_sentences(metrics) if s.startswith("Smallest pruned file"))
    assert size.startswith("Smallest pruned file within 1 pt of dense accuracy (met: the whole paired 95 % CI of its "
                           "difference from dense in the same format lies above \u22121 pt): pruned.float")
    assert "the smaller pruned.int8 (10.00x): cannot tell with this test set (the 95 % CI \u22122.2 to +0.6 pt" in size
    assert "Not judged (no paired comparison with a dense file of the same format): pruned.sparse, pruned.sparse_int8." in size


def test_section_gives_the_resolving_size_the_method_and_flags_the_collapsed_int8_file(sig: dict) -> None:
    sentences, table, seeds = significance_blocks({"significance": sig})
    assert "One seed (`seeds: 1`)" in seeds
    assert ("to resolve a 0.5 pt difference at dense's measured 2.4 % error rate (two-sided α = 0.05, 80 % power, "
            "statsmodels' unpaired power for two proportions, conservative for paired models) would take 16,164 test "
            "images.") in " ".join(sentences)
    assert any("percentile bootstrap over images (10,000 resamples, fixed seed" in s for s in sentences)
    assert ("int8 of 0.95-polynomial scores 90.4 % against 97.6 % for its float twin (\u22127.2 pt, 95 % CI") in " ".join(sentences)
    assert "the int8 file is broken, not merely less precise" in " ".join(sentences)
    row = table.set_index("model").loc["pruned"]
    assert (row["reference"], row["difference pts"], row["95 % CI pts"], row["McNemar p"], row["lost / won"]) == (
        "dense", "-0.8", "-2.2 to +0.6", "0.39", "8 / 4")
    assert row["verdict"] == "not distinguishable from no change; ≤ 1 pt loss: cannot tell with this test set"
    assert "INT8 COLLAPSE" in table.loc[table["reference"] == "0.95-polynomial.float", "verdict"].iloc[0]
    md = render_markdown([Section("How sure are these differences?", tuple(significance_blocks({"significance": sig})))], ".")
    assert "| model" in md and "| pruned " in md


def test_section_says_when_no_int8_file_collapsed_and_when_the_run_predates_the_comparisons() -> None:
    sentences, _, _ = significance_blocks({"significance": _sig(pruned=_model(8, 4), **{"pruned.float": _model(0),
                                                                                     "pruned.int8": _model(1)})})
    assert "No int8 file scores more than 2 pt below its float twin (1 pruned models checked)." in sentences
    (old,) = significance_blocks({"dense": {}})
    assert "no paired comparisons (it is from before issue 26)" in old


def test_no_row_calls_a_difference_real_when_its_ci_covers_zero(sig: dict) -> None:
    rows = significance_rows(sig)
    for ci, verdict in zip(rows["95 % CI pts"], rows["verdict"]):
        low, high = (float(v) for v in ci.split(" to "))
        if low <= 0 <= high:
            assert "real" not in verdict


def test_the_seed_spread_stands_next_to_the_single_run_interval() -> None:
    from pruneflow.report.change_words import seed_blocks

    seeds = {"dense": {"n": 3, "mean_pct": 97.6, "sd_pct": 0.2, "min_pct": 97.4, "max_pct": 97.8,
                       "per_seed": {"42": 97.6, "43": 97.4, "44": 97.8}},
             "channel": {"n": 3, "mean_pct": 97.0, "sd_pct": 0.4, "min_pct": 96.6, "max_pct": 97.4,
                         "per_seed": {"42": 97.4, "43": 96.6, "44": 97.0}}}
    sig = {"against_dense": {"channel": {"diff_pts": -0.2, "ci_low_pts": -1.4, "ci_high_pts": 1.0}}}
    sentences, table = seed_blocks({"seeds": seeds, "significance": sig})
    row = table.set_index("model").loc["channel"]
    assert row["accuracy %, mean ± sd"] == "97.0 ± 0.40" and row["range %"] == "96.6 – 97.4"
    # per seed: 97.4 − 97.6, 96.6 − 97.4, 97.0 − 97.8 = −0.2, −0.8, −0.8 → mean −0.6
    assert row["vs same-seed dense, pts: mean [min, max]"] == "-0.6 [-0.8, -0.2]"
    assert row["this run vs dense: 95 % CI"] == "-0.2 [-1.4, +1.0]"
    assert "3 seeds" in sentences[0]


def test_one_seed_says_how_to_measure_the_seed_spread() -> None:
    from pruneflow.report.change_words import seed_blocks

    (sentence,) = seed_blocks({"significance": {}})
    assert "seeds: 3" in sentence and "docs/seeds.md" in sentence
