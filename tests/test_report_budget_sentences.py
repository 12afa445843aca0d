"""The report's budget sentences against their own table: on a small synthetic channel_bench table (no
pipeline), every number a budget sentence prints is the table value it cites, every % is computed
against the target printed beside it and worded slower or faster by its sign, goals come from the
configured budgets and accuracy gains are worded as gains."""

from __future__ import annotations

import re

import pytest

from pruneflow.report.budget import budget_goals, budget_sentences

SIDE = 48
GREEDY, FLOAT_MS = "budget-int8-2.2x-greedy", "budget-float-0.3ms-greedy"
# the measured case: the table's target when the widths were chosen (0.047 ms), this benchmark's
# (its dense p50 ÷ 2.2 = 0.0706 ms) and the measured p50 between them (0.061 ms)
TABLE_TARGET, BENCH_TARGET, MEASURED = 0.0470, 0.0706, 0.0610


def _budget(fmt: str, speedup_x: float | None = None, latency_ms: float | None = None) -> dict:
    return {"latency_ms": latency_ms, "speedup_x": speedup_x, "format": fmt, "threads": 1, "resolution": None,
            "allocation": "greedy"}


def _model(acc: float, int8_acc: float, **extra) -> dict:
    return {"test_accuracy_pct": acc, "int8_test_accuracy_pct": int8_acc, "accuracy_change_pts": acc - 80.0,
            "mac_reduction_x": 2.0, **extra}


def _timing(p50: float, x: float) -> dict:
    return {"p50_ms": p50, "speedup_vs_dense_same_format_x": x}


def small_table(measured: float = MEASURED, table_target: float = TABLE_TARGET, float_ms: float = 0.25) -> dict:
    """dense (80.0 %, int8 79.0 %), an int8 speed-up budget (2.2x; 1.30x measured, int8 file 83.69 %: a
    gain) and a float latency budget (0.3 ms; `float_ms` measured, float 79.8 %: a loss)."""
    budget = {"kind": "budget", "uniform_keep": None, "format_choice": None}
    models = {"dense": _model(80.0, 79.0),
              GREEDY: _model(81.0, 83.69, **budget, budget=_budget("int8", speedup_x=2.2), format="int8",
                             target_ms=table_target, predicted_ms={"int8": 0.0455}),
              FLOAT_MS: _model(79.8, 79.5, **budget, budget=_budget("float", latency_ms=0.3), format="float",
                               target_ms=0.3, predicted_ms={"float": 0.29})}
    latency = {f"{SIDE}px_threads_1": {"dense.int8": _timing(0.1553, 1.0), "dense.float": _timing(0.5, 1.0),
                                       f"{GREEDY}.int8": _timing(measured, 1.30), f"{FLOAT_MS}.float": _timing(float_ms, 2.0)}}
    checks = {GREEDY: {"format": "int8", "target_ms": BENCH_TARGET, "target_when_chosen_ms": table_target,
                       "measured_p50_ms": measured, "predicted_ms": 0.0455, "off_budget_pct": -13.4},
              FLOAT_MS: {"format": "float", "target_ms": 0.3, "target_when_chosen_ms": 0.3,
                         "measured_p50_ms": float_ms, "predicted_ms": 0.29, "off_budget_pct": 99.0}}
    return {"models": models, "latency": latency, "prediction": {"table": {}, "budgets": checks}}


MS = r"(\d+\.\d{4}) ms"
AGAINST = rf"(on|(\d+\.\d) % (slower|faster) than) (the table's target|the benchmark's target|the target) {MS}"


def _check_against(match: tuple[str, ...], measured_printed: float, measured: float, target: float) -> None:
    """One `… % slower|faster than <label> <target> ms`: the target printed is the table's figure, the %
    is computed against it and its direction is the sign of measured − target."""
    _, pct, direction, _, printed = match
    assert float(printed) == round(target, 4)
    expected = 100 * (measured - target) / target
    assert float(pct) == pytest.approx(abs(round(expected, 1)), abs=1e-9)
    assert direction == ("slower" if expected > 0 else "faster")
    # … and the same % follows from the two figures as printed (within their rounding)
    assert float(pct) == pytest.approx(abs(100 * (measured_printed - float(printed)) / float(printed)), abs=0.2)


@pytest.mark.parametrize(("measured", "table_target"), [(MEASURED, TABLE_TARGET), (0.147, 0.120)])
def test_each_printed_target_has_its_own_percentage_worded_by_its_sign(measured: float, table_target: float) -> None:
    sentence = next(s for s in budget_sentences(small_table(measured, table_target), SIDE) if s.startswith(GREEDY))
    head = re.search(rf"targets {MS} \(the latency table's dense ÷ 2.2, when the widths were chosen\) and {MS} "
                     rf"\(this benchmark's dense p50 ÷ 2.2\); measured p50 {MS} at 48 px, 1 thread: ", sentence)
    assert head is not None, sentence
    printed_table, printed_bench, printed_measured = map(float, head.groups())
    assert (printed_table, printed_bench, printed_measured) == (round(table_target, 4), BENCH_TARGET, measured)
    found = re.findall(AGAINST, sentence)
    assert [m[3] for m in found] == ["the table's target", "the benchmark's target"]
    _check_against(found[0], printed_measured, measured, table_target)
    _check_against(found[1], printed_measured, measured, BENCH_TARGET)
    assert "the table predicted 0.0455 ms" in sentence and "off the target" not in sentence


def test_a_latency_budget_prints_one_target_and_its_percentage() -> None:
    for float_ms in (0.25, 0.36):
        sentence = next(s for s in budget_sentences(small_table(float_ms=float_ms), SIDE) if s.startswith(FLOAT_MS))
        assert "targets" not in sentence and sentence.count("0.3000 ms") == 2, sentence
        found = re.findall(AGAINST, sentence)
        assert len(found) == 1 and found[0][3] == "the target"
        _check_against(found[0], float_ms, float_ms, 0.3)


def test_the_off_budget_goal_prints_the_figures_its_percentage_is_computed_from() -> None:
    goal = next(g for g in budget_goals(small_table(), SIDE) if g.startswith("Goal: every budgeted model's"))
    # channel_bench's stored off_budget_pct (-13.4, 99.0) is not what is printed: the % follows the figures
    assert f"{GREEDY} 0.0610 ms vs 0.0706 ms {100 * (0.061 - 0.0706) / 0.0706:+.1f} %" in goal
    assert f"{FLOAT_MS} 0.2500 ms vs 0.3000 ms {100 * (0.25 - 0.3) / 0.3:+.1f} %" in goal
    assert "99.0" not in goal and "-13.4" not in goal and goal.endswith("— missed.")  # -13.6 % is beyond 10 %


def test_goals_follow_the_configured_budgets_and_word_gains_as_gains() -> None:
    goals = budget_goals(small_table(), SIDE)
    int8 = next(g for g in goals if g.startswith("Goal (budget 2.2x over dense int8)"))
    assert "≥ 2.2x faster than dense int8 at 48 px, 1 thread" in int8 and "≥ 2x" not in int8
    assert f"best within the loss {GREEDY} 1.30x at +4.69 pts gained" in int8 and "lost" not in int8
    assert int8.endswith("— missed.")  # 1.30x < 2.2x
    latency = next(g for g in goals if g.startswith("Goal (budget 0.3 ms in float)"))
    assert "at ≤ 0.3 ms p50 in float" in latency and f"{FLOAT_MS} 0.2500 ms at 0.20 pts lost" in latency
    assert latency.endswith("— met.")  # 0.25 ms ≤ 0.3 ms at 0.2 pt lost ≤ 0.5 pt
    assert not any("≥ 5x" in g for g in goals)
