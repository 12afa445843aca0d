"""The run's paired accuracy comparisons (pruneflow.stats.differences): which pairs are compared, the int8
collapse flag, the printed table, and base → head changes in the PR comment's headline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pruneflow.artifacts.results import flatten
from pruneflow.report.review import headline_table
from pruneflow.stats.differences import format_significance, revision_changes, significance
from pruneflow.stats.paired import Paired

N = 500


def predictions(dense_right: int, lost: int, won: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a reference right on `dense_right` images, and a model that loses `lost` of them and wins
    `won` of the reference's mistakes (classes 0/1: a mistake predicts the other class)."""
    actual = np.zeros(N, dtype=int)
    ref = np.where(np.arange(N) < dense_right, 0, 1)
    other = ref.copy()
    other[:lost] = 1
    other[dense_right:dense_right + won] = 0
    return actual, ref, other


def table() -> pd.DataFrame:
    actual, dense, pruned = predictions(488, 8, 4)          # the case: −0.8 pt, p = 0.39
    _, _, broken = predictions(488, 150, 0)                 # an int8 file that collapsed: −30 pt
    _, _, channel = predictions(488, 0, 0)
    _, _, uniform = predictions(488, 30, 0)                 # uniform width: clearly worse than channel
    return pd.DataFrame({"actual": actual, "dense": dense, "pruned": pruned, "dense.float": dense, "dense.int8": dense,
                         "pruned.int8": pruned, "0.95-polynomial": dense, "0.95-polynomial.float": dense,
                         "0.95-polynomial.int8": broken, "channel": channel, "uniform_width": uniform,
                         "derived-0.9": pruned, "budget-int8-2.2x-greedy.int8": dense,
                         "budget-int8-2.2x-uniform.int8": pruned})


def test_every_model_and_file_is_paired_with_dense_of_the_same_format() -> None:
    sig = significance(table(), budget_pts=1.0)
    against = sig["against_dense"]
    assert against["pruned"]["reference"] == "dense"
    assert against["pruned.int8"]["reference"] == "dense.int8"
    assert against["0.95-polynomial.int8"]["reference"] == "dense.int8"
    assert not any(name.startswith("dense") for name in against)
    # the hand-computed case: 8 lost, 4 won on 500 images
    e = against["pruned"]
    assert (e["a_only"], e["b_only"], e["diff_pts"]) == (8, 4, -0.8)
    assert e["p_value"] == pytest.approx(0.3877, abs=1e-4)
    assert e["ci_low_pts"] < 0 < e["ci_high_pts"] and not e["differs"]
    assert e["drop_verdict"] == "cannot tell with this test set"


def test_an_int8_file_far_below_its_float_twin_is_flagged_as_a_collapse() -> None:
    sig = significance(table(), budget_pts=1.0)
    assert sig["int8_collapse"] == ["0.95-polynomial"]
    assert sig["int8_vs_float"]["0.95-polynomial"]["diff_pts"] == pytest.approx(-30.0)
    assert sig["int8_vs_float"]["0.95-polynomial"]["differs"]
    assert "pruned" not in sig["int8_collapse"]  # pruned has an int8 file but no float twin column here
    assert "INT8 COLLAPSE" in format_significance({"significance": sig})
    assert "WARNING: int8 scores more than 2 pt below its float twin for 0.95-polynomial" in format_significance(
        {"significance": sig})


def test_channel_is_compared_with_its_from_scratch_twin_and_derived_and_budget_pairs_with_theirs() -> None:
    sig = significance(table(), budget_pts=1.0)
    c = sig["channel_vs_uniform_width"]
    assert c["reference"] == "uniform_width" and c["diff_pts"] == pytest.approx(6.0) and c["differs"]
    assert set(sig["pairs"]) == {"derived-0.9 vs pruned",
                                 "budget-int8-2.2x-greedy.int8 vs budget-int8-2.2x-uniform.int8"}
    assert sig["pairs"]["derived-0.9 vs pruned"]["diff_pts"] == 0.0


def test_the_resolving_size_uses_dense_error_rate() -> None:
    sig = significance(table(), budget_pts=1.0)
    assert sig["dense_error_pct"] == pytest.approx(2.4)
    assert sig["resolving_images"] == 16164  # tests/test_significance.py hand-checks this size
    assert "16,164 test images would resolve 0.5 pt" in format_significance({"significance": sig})


def test_a_metrics_file_from_before_the_comparisons_prints_nothing() -> None:
    assert format_significance({"dense": {}}) == ""


def test_base_to_head_changes_are_paired_only_on_the_same_test_images() -> None:
    head = table()
    base = head.copy()
    base["pruned"] = base["dense"]
    changes = revision_changes(base, head)
    assert isinstance(changes["unstructured"], Paired) and changes["unstructured"].diff_pts == pytest.approx(-0.8)
    assert changes["dense"].diff_pts == 0.0
    assert "no per-image predictions" in revision_changes(base.drop(columns=["channel"]), head)["channel"]
    shuffled = base.assign(actual=np.r_[base["actual"].to_numpy()[1:], 1])
    assert "the test set changed" in revision_changes(shuffled, head)["unstructured"]
    assert all("no per-image predictions" in v for v in revision_changes(None, head).values())


def _flat(accuracy: float) -> dict:
    return flatten({"setup": {"latency_threads": 1}, "data": {"image_size": 48},
                    "channels": {"dense": {"test_accuracy_pct": 97.6}, "unstructured": {"test_accuracy_pct": accuracy}},
                    "significance": {"against_dense": {"pruned": {"diff_pts": accuracy - 97.6, "ci_low_pts": -2.2,
                                                                  "ci_high_pts": 0.6, "p_value": 0.39}}}})


def test_the_pr_headline_judges_an_accuracy_change_within_or_beyond_noise_and_shows_the_ci_against_dense() -> None:
    head = table()
    base = head.copy()
    base["pruned"] = base["dense"]
    small = headline_table(_flat(97.6), _flat(96.8), revision_changes(base, head))
    row = next(line for line in small if line.startswith("| pruned, unstructured"))
    assert "97.6 → 96.8 (-0.80 pts), 95 % CI" in row and "McNemar p = 0.39: within noise" in row
    assert "-0.8 [-2.2, +0.6], p = 0.39" in row  # the head's difference from dense, with its CI
    base["pruned"] = np.where(np.arange(N) < 60, 1, base["dense"])  # the base lost 60 images: a real change
    big = headline_table(_flat(85.6), _flat(96.8), revision_changes(base, head))
    assert "beyond noise" in next(line for line in big if line.startswith("| pruned, unstructured"))
