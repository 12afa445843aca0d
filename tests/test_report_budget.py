"""The latency-budget section: sentences, goals, the greedy-vs-uniform comparison, tables and the front
figure, computed from a small channel_bench table built here (three budgets, the uniform-keep and
uniform-width models). Nothing trains."""

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
    budget_goals,
    budget_rows,
    budget_sentences,
    prediction_rows,
)
from pruneflow.report.figures import DENSE_COLOR, png_bytes
from pruneflow.report.front import FRONT_STYLE, latency_front_figure
from pruneflow.report.inputs import RunArtifacts
from pruneflow.report.render import budget_section, machine_phrase
from pruneflow.stats.differences import significance

SIDE, BIG, TEST_IMAGES = 48, 224, 500
GREEDY, UNIFORM, FLOAT = "budget-int8-2.2x-greedy", "budget-int8-2.2x-uniform", "budget-float-5.5x-greedy"
DENSE_MS = {"float": 2.0, "int8": 1.0}  # this benchmark's, at 48 px, 1 thread; at 224 px (224/48)^2 times that
# the latency table's dense medians when channel_budget chose the widths (another run: they differ from
# the benchmark's), so a speed-up budget has two targets: table 0.9 / 2.2 = 0.4091 ms, benchmark 0.4545 ms
TABLE_DENSE_MS = {"float": 1.9, "int8": 0.9}
# name → (test accuracy %, int8 test accuracy %), (float speed-up, int8 speed-up) over dense at every side
ACCURACY = {"dense": (90.0, 89.8), GREEDY: (89.8, 89.6), UNIFORM: (89.4, 89.0), FLOAT: (89.6, 88.8),
            "channel": (89.9, 89.7), "channel-0.35": (89.0, 88.9), "uniform_width": (88.5, 88.3),
            "unstructured": (89.9, 89.7)}
SPEEDUP = {"dense": (1.0, 1.0), GREEDY: (1.8, 2.3), UNIFORM: (1.7, 2.25), FLOAT: (5.3, 3.0), "channel": (2.0, 1.6),
           "channel-0.35": (3.1, 2.2), "uniform_width": (2.1, 1.7), "unstructured": (1.0, 1.05)}
BUDGETS = {GREEDY: (2.2, "int8", "greedy"), UNIFORM: (2.2, "int8", "uniform"), FLOAT: (5.5, "float", "greedy")}


def _record(name: str, accuracy: dict) -> dict:
    acc, int8_acc = accuracy[name]
    macs = 300e6 / {"dense": 1.0, "unstructured": 1.0}.get(name, 3.0)
    record = {"test_accuracy_pct": acc, "int8_test_accuracy_pct": int8_acc, "macs": macs, "params": 1_000_000,
              "tflite_bytes": 4_000_000, "int8_tflite_bytes": 1_000_000, "accuracy_change_pts": acc - accuracy["dense"][0],
              "mac_reduction_x": 300e6 / macs}
    if name in BUDGETS:
        x, fmt, allocation = BUDGETS[name]
        target = TABLE_DENSE_MS[fmt] / x
        record |= {"kind": "budget", "format": fmt, "format_choice": fmt, "target_ms": target,
                   "dense_ms": TABLE_DENSE_MS[fmt], "predicted_ms": {fmt: 0.98 * target}, "importance_kept": 0.7,
                   "uniform_keep": 0.45 if allocation == "uniform" else None, "mac_ratio_x": 3.0,
                   "budget": {"latency_ms": None, "speedup_x": x, "format": fmt, "threads": 1, "resolution": None,
                              "allocation": allocation}}
    if name.startswith("channel"):
        record |= {"kind": "channel", "keep": 0.5 if name == "channel" else 0.35}
    if name == "uniform_width":
        record |= {"kind": "uniform_width", "alpha": 0.35}
    return record


def _timing(ms: float, x: float) -> dict:
    return {"p50_ms": ms, "iqr_ms": 0.1 * ms, "speedup_vs_dense_same_format_x": x,
            "speedup_paired_q25_x": 0.95 * x, "speedup_paired_q75_x": 1.05 * x}


def _table(accuracy: dict | None = None, speedup: dict | None = None, errors: dict | None = None,
           prediction: bool = True) -> dict:
    """A channel_bench table of `ACCURACY`'s models timed at 48 and 224 px, 1 thread, with channel_bench's
    prediction check (each budget's target this benchmark's dense p50 ÷ x, its off_budget_pct computed
    from that target and the measured p50, as channel_bench does). By default the 2.2x int8 budget's goal
    is met by its greedy model (2.3x at 0.2 pts lost; its uniform twin loses 0.8 pt), the 5.5x float
    budget's goal is missed (5.3x), every model is within 10 % of its benchmark target (greedy -4.3 %,
    uniform -2.2 %, float +3.8 %) and every prediction within 10 % of its p50."""
    accuracy, speedup = {**ACCURACY, **(accuracy or {})}, {**SPEEDUP, **(speedup or {})}
    latency = {}
    for side in (SIDE, BIG):
        scale = (side / SIDE) ** 2
        latency[f"{side}px_threads_1"] = {f"{name}.{fmt}": _timing(scale * DENSE_MS[fmt] / x, x)
                                          for name, xs in speedup.items() for fmt, x in zip(("float", "int8"), xs)}
    table = {"models": {name: _record(name, accuracy) for name in accuracy}, "latency": latency}
    if prediction:
        checks = {}
        for name, (x, fmt, _) in BUDGETS.items():
            run = latency["48px_threads_1"]
            target, measured = run[f"dense.{fmt}"]["p50_ms"] / x, run[f"{name}.{fmt}"]["p50_ms"]
            checks[name] = {"format": fmt, "target_ms": target, "target_when_chosen_ms": table["models"][name]["target_ms"],
                            "measured_p50_ms": measured, "predicted_ms": table["models"][name]["predicted_ms"][fmt],
                            "off_budget_pct": 100 * (measured - target) / target}
        errors = {("float-t1-48px", "dense"): 0.0, ("float-t1-48px", GREEDY): 6.0, ("int8-t1-48px", "channel"): -7.5,
                  ("int8-t1-48px", UNIFORM): 2.0, **(errors or {})}
        by_setting: dict[str, dict] = {}
        for (setting, name), error in errors.items():
            by_setting.setdefault(setting, {})[name] = {"predicted_ms": 1.0 + error / 100, "measured_p50_ms": 1.0,
                                                        "error_pct": error}
        table["prediction"] = {"table": by_setting, "budgets": checks}
    return table


def _goal(table: dict, start: str) -> str:
    return next(s for s in budget_goals(table, SIDE) if s.startswith(start))


INT8_GOAL, FLOAT_GOAL = "Goal (budget 2.2x over dense int8)", "Goal (budget 5.5x over dense float)"
OFF_GOAL, PREDICTION_GOAL = "Goal: every budgeted model's measured p50", "Goal: the latency table's prediction"


def test_budget_sentence_gives_target_measured_prediction_speedup_macs_and_accuracy() -> None:
    sentences = budget_sentences(_table(), SIDE)
    assert [s.split(":")[0] for s in sentences] == [GREEDY, UNIFORM, FLOAT]
    greedy = sentences[0]
    # table target 0.9 / 2.2 = 0.4091 ms, benchmark's 1.0 / 2.2 = 0.4545 ms, measured 1.0 / 2.3 = 0.4348 ms:
    # +6.3 % against the first, -4.3 % against the second, each worded by its sign
    assert ("budget 2.2x over dense int8, greedy allocation, format int8; targets 0.4091 ms (the latency table's "
            "dense ÷ 2.2, when the widths were chosen) and 0.4545 ms (this benchmark's dense p50 ÷ 2.2); "
            "measured p50 0.4348 ms at 48 px, 1 thread: 6.3 % slower than the table's target 0.4091 ms, "
            "4.3 % faster than the benchmark's target 0.4545 ms;") in greedy
    assert "off the target" not in greedy
    assert ("the table predicted 0.4009 ms; 2.30x faster than dense int8 (paired rounds' quartiles "
            f"{0.95 * 2.3:.2f}–{1.05 * 2.3:.2f}x)") in greedy
    assert "3.00x fewer MACs; test accuracy 89.8 % (-0.20 pts vs dense); int8 file 89.6 % (-0.20 pts vs dense int8)" in greedy
    assert "uniform allocation (keeps 45 % of every group)" in sentences[1]
    assert "budget 5.5x over dense float" in sentences[2] and "int8 file" not in sentences[2]


@pytest.mark.parametrize(("greedy_int8_x", "verdict"), [(2.3, "met"), (2.2, "met"), (2.1, "missed")])
def test_int8_goal_takes_the_fastest_model_of_its_budget_within_half_a_point(greedy_int8_x: float, verdict: str) -> None:
    goals = budget_goals(_table(speedup={GREEDY: (1.8, greedy_int8_x)}), SIDE)
    goal = next(g for g in goals if g.startswith(INT8_GOAL))
    assert "a budgeted model ≥ 2.2x faster than dense int8 at 48 px, 1 thread" in goal
    # its uniform twin (2.25x) loses 0.8 pt of int8 accuracy: outside the loss, never the best; the float
    # budget's int8 file (3.0x) belongs to its own budget's goal, not this one
    assert (f"best within the loss {GREEDY} {greedy_int8_x:.2f}x (paired rounds' quartiles "
            f"{0.95 * greedy_int8_x:.2f}–{1.05 * greedy_int8_x:.2f}x) at 0.20 pts lost (of 1 within it)") in goal
    assert FLOAT not in goal and "3.00x" not in goal
    assert goal.endswith(f"— {verdict}.")
    # one goal per configured budget (greedy and uniform 2.2x share one), then the off-budget and prediction goals
    assert [g.split(":")[0] for g in goals] == [INT8_GOAL, FLOAT_GOAL, "Goal", "Goal"]
    assert not any("≥ 2x" in g or "≥ 5x" in g for g in goals)


def test_int8_goal_takes_the_faster_of_two_models_within_the_loss() -> None:
    goal = _goal(_table(speedup={GREEDY: (1.8, 2.1)}, accuracy={UNIFORM: (89.4, 89.5)}), INT8_GOAL)
    assert f"best within the loss {UNIFORM} 2.25x" in goal and "at 0.30 pts lost (of 2 within it)" in goal
    assert goal.endswith("— met.")


@pytest.mark.parametrize(("greedy_int8_acc", "within"), [(89.3, True), (89.2, False)])
def test_int8_goal_counts_a_model_at_exactly_half_a_point_lost_and_not_beyond(greedy_int8_acc: float, within: bool) -> None:
    goal = _goal(_table(accuracy={GREEDY: (89.8, greedy_int8_acc)}), INT8_GOAL)
    quartiles = f"(paired rounds' quartiles {0.95 * 2.3:.2f}–{1.05 * 2.3:.2f}x)"
    if within:
        assert f"best within the loss {GREEDY} 2.30x {quartiles} at 0.50 pts lost" in goal and goal.endswith("— met.")
    else:
        assert "no budgeted model within the loss" in goal and f"{GREEDY} 2.30x {quartiles} at 0.60 pts lost" in goal
        assert f"{UNIFORM} 2.25x" in goal and "at 0.80 pts lost" in goal
        assert goal.endswith("— missed.")


@pytest.mark.parametrize(("float_x", "verdict"), [(5.6, "met"), (5.5, "met"), (5.3, "missed")])
def test_float_goal_is_met_only_at_its_budgets_own_speedup(float_x: float, verdict: str) -> None:
    # 5.3x would have met a fixed 5x goal: the 5.5x budget's goal asks for 5.5x
    goal = _goal(_table(speedup={FLOAT: (float_x, 3.0)}), FLOAT_GOAL)
    assert "a budgeted model ≥ 5.5x faster than dense float at 48 px, 1 thread" in goal
    assert f"best within the loss {FLOAT} {float_x:.2f}x" in goal and "at 0.40 pts lost (of 1 within it)" in goal
    assert GREEDY not in goal and UNIFORM not in goal
    assert goal.endswith(f"— {verdict}.")


@pytest.mark.parametrize(("float_off", "verdict"), [(9.9, "met"), (10.5, "missed"), (-10.5, "missed")])
def test_off_budget_goal_lists_every_model_and_misses_beyond_ten_percent_either_way(float_off: float, verdict: str) -> None:
    float_x = 5.5 / (1 + float_off / 100)  # the float model's measured p50 float_off % from 2.0 / 5.5 ms
    table = _table(speedup={FLOAT: (float_x, 3.0)})
    assert table["prediction"]["budgets"][FLOAT]["off_budget_pct"] == pytest.approx(float_off)
    goal = _goal(table, OFF_GOAL)
    # each % against the benchmark's target printed beside it (1.0 / 2.2 ms for int8, 2.0 / 5.5 ms for float)
    assert (f"{GREEDY} 0.4348 ms vs 0.4545 ms -4.3 %; {UNIFORM} 0.4444 ms vs 0.4545 ms -2.2 %; "
            f"{FLOAT} {2.0 / float_x:.4f} ms vs 0.3636 ms {float_off:+.1f} %") in goal
    assert goal.endswith(f"— {verdict}.")


@pytest.mark.parametrize(("error", "verdict"), [(9.5, "met"), (-10.5, "missed")])
def test_prediction_goal_names_the_worst_model_per_setting(error: float, verdict: str) -> None:
    goal = _goal(_table(errors={("int8-t1-48px", "channel-0.35"): error}), PREDICTION_GOAL)
    worst_int8 = f"channel-0.35 {error:+.1f} %" if abs(error) > 7.5 else "channel -7.5 %"
    assert f"float-t1-48px worst {GREEDY} +6.0 %; int8-t1-48px worst {worst_int8}" in goal
    assert goal.endswith(f"— {verdict}.")


def test_goals_without_a_prediction_entry_say_the_checks_are_missing() -> None:
    table = _table(prediction=False)
    assert _goal(table, PREDICTION_GOAL).endswith("not checked (channel_bench recorded no prediction) — missed.")
    assert _goal(table, OFF_GOAL).endswith(f"{FLOAT} not measured — missed.")
    assert ("target 0.4091 ms (the latency table's); no measured p50 against it at 48 px, 1 thread;"
            in budget_sentences(table, SIDE)[0])


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
