"""The latency-budget section's greedy-vs-uniform comparison, tables, front figure and placement,
computed from a small channel_bench table built here. Nothing trains."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from PIL import Image

from pruneflow.config.params import parse_config
from pruneflow.report.budget import (
    allocation_pairs,
    allocation_sentences,
    budget_rows,
    prediction_rows,
)
from pruneflow.report.figures import DENSE_COLOR, png_bytes
from pruneflow.report.front import FRONT_STYLE, latency_front_figure
from pruneflow.report.inputs import RunArtifacts
from pruneflow.report.render import budget_section, machine_phrase
from pruneflow.stats.differences import significance
from tests.helpers_report_budget import (
    BIG,
    FLOAT,
    GREEDY,
    SIDE,
    TEST_IMAGES,
    UNIFORM,
    _table,
)


def _paired(lost: int, won: int, uniform_right: int = 445) -> dict:
    """metrics.json's `significance` for a run whose greedy int8 file loses `lost` of the test images the
    uniform one gets right (uniform right on `uniform_right` of 500) and wins `won` of its mistakes."""
    actual = np.zeros(TEST_IMAGES, dtype=int)
    uniform = np.where(np.arange(TEST_IMAGES) < uniform_right, 0, 1)
    greedy = uniform.copy()
    greedy[:lost] = 1
    greedy[uniform_right:uniform_right + won] = 0
    table = pd.DataFrame({"actual": actual, "dense": uniform, f"{GREEDY}.int8": greedy, f"{UNIFORM}.int8": uniform})
    return significance(table, budget_pts=1.0)


def test_allocation_pairs_match_budgets_that_differ_only_in_allocation() -> None:
    assert allocation_pairs(_table()) == [(GREEDY, UNIFORM)]  # the float budget has no uniform twin


def test_equal_latency_comparison_cannot_tell_a_small_difference_apart_on_500_images() -> None:
    sig = _paired(lost=2, won=5)  # +0.6 pt, as the table's 89.6 % vs 89.0 %
    (sentence,) = allocation_sentences(_table(), SIDE, sig)
    assert sentence.startswith("Greedy vs uniform at 2.2x over dense int8 (48 px, 1 thread): greedy 89.6 % vs "
                               "uniform 89.0 % at 0.435 vs 0.444 ms int8 (equal within the ±10 % latency noise): +0.6 pts")
    entry = sig["pairs"][f"{GREEDY}.int8 vs {UNIFORM}.int8"]
    assert entry["ci_low_pts"] < 0 < entry["ci_high_pts"]
    assert (f"paired, greedy loses 2 test images uniform gets right and wins 5: +0.6 pt (95 % CI "
            f"{entry['ci_low_pts']:+.1f} to {entry['ci_high_pts']:+.1f}, McNemar p = {entry['p_value']:.2g})"
            ).replace("-", "\u2212") in sentence
    assert "Newcombe" not in sentence and "unpaired" not in sentence
    assert sentence.endswith("not distinguishable from no change on 500 images — the test set cannot tell them apart.")


def test_equal_latency_comparison_without_paired_predictions_judges_nothing() -> None:
    (sentence,) = allocation_sentences(_table(), SIDE, None)
    assert sentence.endswith("no paired 95 % CI: this run's metrics.json is from before issue 26, so this is a "
                             "single-run point estimate — cannot judge the difference.")


@pytest.mark.parametrize(("uniform_int8_acc", "lost", "won", "verdict"), [
    (80.0, 0, 48, "greedy is more accurate (the interval excludes zero)"),
    (97.0, 37, 0, "uniform is more accurate (the interval excludes zero)"),
])
def test_equal_latency_comparison_calls_a_big_difference_real(uniform_int8_acc: float, lost: int, won: int,
                                                              verdict: str) -> None:
    uniform_right = round(uniform_int8_acc / 100 * TEST_IMAGES)
    (sentence,) = allocation_sentences(_table(accuracy={UNIFORM: (89.4, uniform_int8_acc)}), SIDE,
                                       _paired(lost, won, uniform_right))
    assert sentence.endswith(f"— {verdict}.")
    assert "cannot tell" not in sentence and "a real " in sentence


@pytest.mark.parametrize(("lost", "won", "verdict"), [
    # 12 lost, 2 won: the CI excludes 0 and McNemar p = 0.013 — a real loss for greedy
    (12, 2, "uniform is more accurate (the interval excludes zero)"),
    # 9 lost, 2 won: the CI (−2.8 to −0.2) excludes 0 but McNemar p = 0.065 — not called real
    (9, 2, "the test set cannot tell them apart"),
])
def test_equal_latency_comparison_calls_a_difference_real_only_when_the_interval_and_mcnemar_agree(
        lost: int, won: int, verdict: str) -> None:
    sig = _paired(lost, won)
    entry = sig["pairs"][f"{GREEDY}.int8 vs {UNIFORM}.int8"]
    assert entry["ci_high_pts"] < 0  # both intervals exclude zero
    (sentence,) = allocation_sentences(_table(), SIDE, sig)
    assert f"McNemar p = {entry['p_value']:.2g}" in sentence and sentence.endswith(f"— {verdict}.")


def test_equal_latency_comparison_says_when_the_latencies_differ() -> None:
    (sentence,) = allocation_sentences(_table(speedup={UNIFORM: (1.7, 1.8)}), SIDE, _paired(2, 5))
    assert "(not equal: uniform 1.28x slower)" in sentence


def test_budget_table_orders_dense_greedy_uniform_keep_then_uniform_width() -> None:
    rows = budget_rows(_table(), SIDE).set_index("model")
    assert list(rows.index) == ["dense", GREEDY, FLOAT, UNIFORM, "channel", "channel-0.35", "uniform_width"]
    assert "unstructured" not in rows.index
    greedy = rows.loc[GREEDY]
    assert (greedy["kind"], greedy["format"], greedy["target ms"]) == ("budget, greedy", "int8", "0.409")
    assert (greedy["int8 p50 ms 48px t1"], greedy["int8 speed-up 48px t1"], greedy["float speed-up 48px t1"]) == (
        "0.435", "2.30x", "1.80x")
    assert (greedy["accuracy %"], greedy["Δ pts"], greedy["int8 accuracy %"], greedy["MACs reduction"]) == (
        "89.8", "-0.20", "89.6", "3.00x")
    assert rows.loc["channel-0.35", "kind"] == "uniform keep 0.35" and rows.loc["channel", "target ms"] == ""
    assert rows.loc["uniform_width", "kind"] == "uniform width (alpha 0.35)"


def test_prediction_table_has_a_row_per_setting_and_model() -> None:
    rows = prediction_rows(_table())
    assert list(zip(rows["setting"], rows["model"])) == [("float-t1-48px", "dense"), ("float-t1-48px", GREEDY),
                                                         ("int8-t1-48px", "channel"), ("int8-t1-48px", UNIFORM)]
    assert rows.iloc[2][["predicted ms", "measured ms", "error %"]].tolist() == ["0.925", "1.000", "-7.5"]
    assert prediction_rows(_table(prediction=False)).empty


def test_front_figure_has_four_panels_and_plots_int8_accuracy_at_measured_latency() -> None:
    fig = latency_front_figure(_table(), SIDE, BIG)
    assert [ax.get_title() for ax in fig.axes] == ["float, 48 px, 1 thread", "float, 224 px, 1 thread",
                                                  "int8, 48 px, 1 thread", "int8, 224 px, 1 thread"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["dense", "greedy budget", "uniform keep", "uniform width"]
    int8_48 = fig.axes[2]
    greedy = next(c for c in int8_48.collections if c.get_label() == "greedy budget")
    assert sorted(map(tuple, greedy.get_offsets().tolist())) == sorted([(1.0 / 2.3, 89.6), (1.0 / 3.0, 88.8)])
    assert tuple(greedy.get_facecolor()[0]) == to_rgba(FRONT_STYLE["greedy budget"][0])
    uniform = next(c for c in int8_48.collections if c.get_label() == "uniform keep")
    assert len(uniform.get_offsets()) == 3  # the uniform budget and both keep points
    dense = next(c for c in fig.axes[1].collections if c.get_label() == "dense")
    assert dense.get_offsets()[0].tolist() == pytest.approx([2.0 * (BIG / SIDE) ** 2, 90.0])
    assert tuple(dense.get_facecolor()[0]) == to_rgba(DENSE_COLOR)
    assert {"int8-2.2x-greedy", "keep 0.35", "width alpha 0.35"} <= {t.get_text() for t in int8_48.texts}
    assert [ax.get_ylabel() for ax in fig.axes] == ["float test accuracy, %"] * 2 + ["int8 test accuracy, %"] * 2
    assert Image.open(io.BytesIO(png_bytes(fig))).format == "PNG"


def _artifacts(table: dict, machine: dict | None = None) -> RunArtifacts:
    empty = pd.DataFrame()
    return RunArtifacts(metrics={}, train_log=empty, prune_log=empty, prune_steps=empty, layers=empty, per_class=empty,
                        predictions=empty, histogram=empty, latency=empty, classes=(), split_sizes={"test": TEST_IMAGES},
                        channels=table, machine=machine or {})


BUDGETED = parse_config({"channels": {"budget": {"speedup_x": 2.2, "format": "int8"}, "budget_series": [
    {"speedup_x": 2.2, "format": "int8", "allocation": "uniform"}, {"speedup_x": 5.5, "format": "float"}]}})


def test_budget_section_is_omitted_without_budgets_or_without_the_budgeted_models() -> None:
    old = _table()
    old["models"] = {name: r for name, r in old["models"].items() if r.get("kind") != "budget"}
    assert budget_section(BUDGETED, _artifacts(old)) == []
    budgets_off = parse_config({"channels": {"budget": None, "budget_series": []}})
    assert budget_section(budgets_off, _artifacts(_table())) == []
    assert budget_section(BUDGETED, _artifacts({})) == []                # no channel_bench table
    partial = _table()
    del partial["models"][FLOAT]  # a table from before the float budget was configured
    assert budget_section(BUDGETED, _artifacts(partial)) == []


def test_budget_section_names_the_machine_and_holds_sentences_tables_and_the_front() -> None:
    machine = {"cpu": "Test CPU 9000", "arch": "x86_64", "cores": 4, "isa": {"avx2": True}, "versions": {}}
    (section,) = budget_section(BUDGETED, _artifacts(_table(), machine))
    assert section.title == "Latency budget"
    assert section.blocks[0].startswith("Budgets are batch-1 p50 latencies measured on Test CPU 9000 (x86_64, 4 cores; avx2")
    kinds = [type(block).__name__ for block in section.blocks]
    assert kinds == ["str", "list", "list", "list", "DataFrame", "DataFrame", "Plot"]
    assert section.blocks[-1].file == "latency_front.png"
    assert machine_phrase({}) == "an unrecorded machine"
